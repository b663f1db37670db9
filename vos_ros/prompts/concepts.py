"""Text prompts that stay active: grounded again on later frames so new instances become new tracks.

"all the cups" keeps watching: a cup put on the table later is grounded on a later frame and, as it
is none of the tracked objects, becomes a new track. An object the tracker still knows is never added
twice: the tracker decides which grounded objects are visible tracks (vos_ros/core/emergence.py:
it knows where each track reliably is), and a concept one of whose tracks is kept but not visible
(OCCLUDED: briefly hidden, expected back under its own id) waits until the tracker has found it
again or given up on it (LOST). ROS-free; the prompt node holds the concepts and calls the tracker.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from vos_ros.core.types import Box, TrackState
from vos_ros.prompts.phrase import parse_phrase

UNLIMITED = 2**31  # what "all the cups" without a cap still wants


@dataclass(frozen=True)
class TrackView:
    """What the tracker published of one track on one frame."""

    state: TrackState
    box: Box  # x, y, w, h; zero size when not visible

    @property
    def visible(self) -> bool:
        return self.box[2] > 0 and self.box[3] > 0


@dataclass
class Concept:
    """A phrase a client asked for, the track ids it produced and the request's limits."""

    text: str
    ids: list[int] = field(default_factory=list)
    max_instances: int = 0    # cap on its objects (0 = as many as the phrase asks for)
    min_score: float = 0.0    # grounding threshold (0 = the grounder's default)
    seen: set[int] = field(default_factory=set)  # ids the tracker has reported at least once

    def observe(self, tracks: dict[int, TrackView]) -> None:
        """Note which of its ids the tracker reports in ``tracks`` (all its tracks of one frame, by id)."""
        self.seen |= {i for i in self.ids if i in tracks}

    def missing(self, tracks: dict[int, TrackView]) -> int:
        """How many more objects the phrase wants on the frame ``tracks`` describes (call ``observe``
        first). 0 while one of its tracks is kept but not visible (OCCLUDED, or NEW without a mask
        yet), as that object may be the one grounded, and while one was never reported yet:
        ``tracks`` is then older than that track (its box unknown), and grounding on it would add
        the same object again."""
        if any(i not in self.seen for i in self.ids):
            return 0
        own = [tracks[i] for i in self.ids if i in tracks]  # removed ids are gone from ``tracks``
        if any(t.state != TrackState.LOST and not t.visible for t in own):
            return 0
        held = sum(t.state != TrackState.LOST for t in own)
        wanted = parse_phrase(self.text).count or self.max_instances  # count 0 = "all"
        if self.max_instances:
            wanted = min(wanted, self.max_instances)
        return UNLIMITED if wanted == 0 else max(0, wanted - held)
