"""Track states with hysteresis: NEW -> TRACKED <-> OCCLUDED -> LOST (-> TRACKED on re-appearance).

A track is *present* in a frame when its presence score clears the threshold and its mask is not tiny.
The memory keeps an absent object's appearance, so a LOST track that reappears is re-identified by
the ordinary memory readout and keeps its id; a LOST look-alike, which the readout confuses with the
others, by a search where a free object looks like it (vos_ros/core/redetect.py).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from vos_ros.core.config import TrackConfig
from vos_ros.core.motion import BoxPrior
from vos_ros.core.types import TrackState


@dataclass
class Track:
    id: int
    label: str
    state: TrackState = TrackState.NEW
    present_frames: int = 0   # consecutive frames present
    absent_frames: int = 0    # consecutive frames absent
    prior: BoxPrior = field(default_factory=BoxPrior)  # where it may be next (vos_ros/core/motion.py)
    appearance: torch.Tensor | None = None  # C: how it looked when prompted (vos_ros/core/redetect.py)
    seen_appearance: torch.Tensor | None = None  # C: how it looked lately (mean over its reliable masks)
    redetect_frame: int = -1                # frame of the last box-path search for it
    redetect_tries: int = 0                 # box-path searches for it so far
    checked_frame: int = -1                 # frame it was last tracked in while resting (long absent)

    def update(self, present: bool, cfg: TrackConfig) -> TrackState:
        if present:
            self.present_frames += 1
            self.absent_frames = 0
            if self.state == TrackState.NEW and self.present_frames >= cfg.confirm_frames:
                self.state = TrackState.TRACKED
            elif self.state in (TrackState.OCCLUDED, TrackState.LOST):
                self.state = TrackState.TRACKED
        else:
            self.present_frames = 0
            self.absent_frames += 1
            if self.state in (TrackState.NEW, TrackState.TRACKED):
                self.state = TrackState.OCCLUDED
            elif self.state == TrackState.OCCLUDED and self.absent_frames > cfg.lost_after:
                self.state = TrackState.LOST
        return self.state

    @property
    def visible(self) -> bool:
        """Masks are published for NEW and TRACKED tracks only."""
        return self.state in (TrackState.NEW, TrackState.TRACKED)
