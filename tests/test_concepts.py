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
    ("the cup", [1], 0, {}, 1),                          # ... or removed
    ("two cups", [1], 0, {1: VISIBLE}, 1),
    ("all the cups", [1, 2], 0, {1: VISIBLE, 2: HIDDEN}, 0),  # an occluded cup may come back: wait
])
def test_what_a_phrase_still_wants(text: str, ids: list[int], max_instances: int, tracks: dict,
                                   missing: int) -> None:
    assert Concept(text, ids, max_instances).missing(tracks) == missing


def _object(box: tuple[float, float, float, float]) -> GroundedObject:
    return GroundedObject(mask=np.zeros((100, 100), bool), box=box, score=0.9, label="cup", source="detector")


def test_objects_overlapping_a_visible_track_are_that_track() -> None:
    tracks = {1: VISIBLE, 2: HIDDEN}  # the hidden track has no box: nothing overlaps it
    same = _object((12, 8, 40, 44))        # the tracked cup, boxed a little differently
    part = _object((20, 20, 15, 15))       # inside the tracked cup (its handle)
    new = _object((60, 10, 30, 40))        # elsewhere
    touching = _object((45, 10, 30, 40))   # overlapping the tracked box a little
    assert new_objects([same, part, new, touching], tracks) == [new, touching]
    assert new_objects([same, new], {}) == [same, new]
