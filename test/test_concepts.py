"""Active text prompts (vos_ros.prompts.concepts): how many objects a phrase still wants, and which
grounded objects are new rather than ones the tracker already follows."""
from __future__ import annotations

import numpy as np
import pytest

from vos_ros.core.types import TrackState
from vos_ros.prompts.concepts import UNLIMITED, Concept, TrackView, new_objects
from vos_ros.prompts.ground import GroundedObject

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


def _object(box: tuple[float, float, float, float]) -> GroundedObject:
    return GroundedObject(mask=np.zeros((100, 100), bool), box=box, score=0.9, label="cup", source="detector")


def _boxes(objects: list[GroundedObject]) -> list[tuple[float, ...]]:
    return [o.box for o in objects]


def test_objects_overlapping_a_visible_track_are_that_track() -> None:
    tracks = {1: VISIBLE, 2: HIDDEN}  # the hidden track has no box: nothing overlaps it
    same = _object((12, 8, 40, 44))        # the tracked cup, boxed a little differently
    part = _object((20, 20, 15, 15))       # inside the tracked cup (its handle)
    new = _object((60, 10, 30, 40))        # elsewhere
    touching = _object((45, 10, 30, 40))   # overlapping the tracked box a little
    assert _boxes(new_objects([same, new, touching], tracks)) == _boxes([new, touching])
    assert _boxes(new_objects([part, new], tracks)) == _boxes([new])
    assert _boxes(new_objects([same, new], {})) == _boxes([same, new])


def test_a_track_spread_over_a_look_alike_is_still_one_object() -> None:
    """The tracked cup's mask has leaked onto a second cup beside it: its box spans both. The cup it
    overlaps most is the track; the other is new."""
    tracks = {1: TrackView(TrackState.TRACKED, (10, 10, 100, 40))}
    first, second = _object((10, 10, 45, 40)), _object((62, 10, 45, 40))
    assert _boxes(new_objects([second, first], tracks)) == _boxes([second])
