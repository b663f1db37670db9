"""Emergence: which objects given again on a later frame are new instances, and which are tracked.

An active phrase ("all the cups") is grounded again on later frames; each object found is either one
the tracker already follows or a new instance that becomes a new track. Objects and tracks are matched
one to one, closest pairs first, against where each visible track *reliably* is: its box prior
(vos_ros/core/motion.py), not its newest mask. A track whose mask has spread over a look-alike put down
beside it keeps the box of the one object it was (spread masks do not update the prior), so the
look-alike is new; matched against the spread mask's box, the two cups would tie and either could be
taken for the track.
"""
from __future__ import annotations

from collections.abc import Sequence

from vos_ros.core.types import Box, box_inside, box_iou, to_corners

SAME_OBJECT = 0.3  # box IoU with a track above which an object is that track ...
PART_OF = 0.5      # ... or this share of the object's box inside the track's box (a part of it)


def match_to_tracks(boxes: Sequence[Box], track_boxes: Sequence[Box]) -> list[int | None]:
    """For each of ``boxes``, the index of the track box it is (one to one, closest pairs first), or
    None for a new instance."""
    pairs = []
    for i, box in enumerate(boxes):
        for j, track in enumerate(track_boxes):
            iou, inside = box_iou(to_corners(box), to_corners(track)), box_inside(to_corners(box), to_corners(track))
            if iou > SAME_OBJECT or inside > PART_OF:
                pairs.append((iou, inside, -i, -j))  # ties go to the earlier object and track
    matched: list[int | None] = [None] * len(boxes)
    taken: set[int] = set()
    for _, _, i, j in sorted(pairs, reverse=True):
        if matched[-i] is None and -j not in taken:
            matched[-i] = -j
            taken.add(-j)
    return matched
