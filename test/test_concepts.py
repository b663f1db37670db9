"""Active text prompts (vos_ros.prompts.concepts): how many objects a phrase still wants (which grounded
objects are new is the tracker's call: test_emergence.py)."""
from __future__ import annotations

import pytest

from vos_ros.core.types import TrackState
from vos_ros.prompts.concepts import UNLIMITED, Concept, TrackView

VISIBLE = TrackView(TrackState.TRACKED, (10, 10, 40, 40))
HIDDEN = TrackView(TrackState.OCCLUDED, (0, 0, 0, 0))
GONE = TrackView(TrackState.LOST, (0, 0, 0, 0))


@pytest.mark.parametrize("text, ids, max_instances, tracks, missing", [
    ("all the cups", [1], 0, {1: VISIBLE}, UNLIMITED),   # "all": always room for one more
    ("all the cups", [1, 2], 2, {1: VISIBLE, 2: VISIBLE}, 0),  # ... up to the request's cap
    ("the cup", [1], 0, {1: VISIBLE}, 0),                # has its cup
    ("the cup", [], 0, {}, 1),                           # found nothing yet: keeps looking
    ("the cup", [1], 0, {1: GONE}, 1),                   # its cup was given up on (LOST)
    ("all the cups", [1, 2], 0, {1: VISIBLE}, 0),        # 2 not reported yet: these tracks are older
    ("two cups", [1], 0, {1: VISIBLE}, 1),
    ("all the cups", [1, 2], 0, {1: VISIBLE, 2: HIDDEN}, 0),  # an occluded cup may come back: wait
    ("all the cups", [1], 0, {1: TrackView(TrackState.NEW, (0, 0, 0, 0))}, 0),  # no mask yet: wait
])
def test_what_a_phrase_still_wants(text: str, ids: list[int], max_instances: int, tracks: dict,
                                   missing: int) -> None:
    concept = Concept(text, ids, max_instances)
    concept.observe(tracks)
    assert concept.missing(tracks) == missing


def test_a_removed_track_no_longer_counts() -> None:
    concept = Concept("the cup", [1])
    for tracks, missing in [({}, 0), ({1: VISIBLE}, 0), ({}, 1)]:  # not yet reported, held, removed
        concept.observe(tracks)
        assert concept.missing(tracks) == missing
