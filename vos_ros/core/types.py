"""Plain data that crosses the Session boundary: prompts in, per-object results out."""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

import numpy as np


class TrackState(IntEnum):
    """Track states; values match the constants of vos_ros/msg/Track.msg."""

    NEW = 0
    TRACKED = 1
    OCCLUDED = 2
    LOST = 3
    REMOVED = 4


# Boxes are x, y, width, height everywhere an API takes or gives one (Session, prompts, the box path,
# segmenters, the CLI, sensor_msgs/RegionOfInterest). Corners are only for box arithmetic inside a
# module (detector outputs, IoU), converted at its edges with these two functions.
Box = tuple[float, float, float, float]      # x, y, width, height in input pixels
Corners = tuple[float, float, float, float]  # x1, y1, x2, y2 in input pixels


def to_corners(box: Box) -> Corners:
    x, y, w, h = box
    return (x, y, x + w, y + h)


def to_box(corners: Corners) -> Box:
    x1, y1, x2, y2 = corners
    return (x1, y1, x2 - x1, y2 - y1)


def box_iou(a: Corners, b: Corners) -> float:
    """IoU of two boxes given by their corners (0 for degenerate ones)."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def box_inside(inner: Corners, outer: Corners) -> float:
    """Share of the box ``inner`` lying inside ``outer`` (corners; 1 for a degenerate ``inner``)."""
    ix = max(0.0, min(inner[2], outer[2]) - max(inner[0], outer[0]))
    iy = max(0.0, min(inner[3], outer[3]) - max(inner[1], outer[1]))
    area = (inner[2] - inner[0]) * (inner[3] - inner[1])
    return ix * iy / area if area > 0 else 1.0


Click = tuple[float, float, bool]  # x, y in input pixels, and True = on the object, False = not on it


@dataclass
class Prompt:
    """One new object: a mask (H x W, nonzero = object), a box, or clicks, with an optional label."""

    mask: np.ndarray | None = None
    box: Box | None = None
    clicks: list[Click] | None = None
    label: str = ""

    def __post_init__(self) -> None:
        if sum(given is not None for given in (self.mask, self.box, self.clicks)) != 1:
            raise ValueError("a Prompt needs exactly one of mask, box or clicks")
        if self.clicks is not None:
            self.clicks = [(float(c[0]), float(c[1]), bool(c[2]) if len(c) > 2 else True) for c in self.clicks]
            if not any(positive for _, _, positive in self.clicks):
                raise ValueError("clicks: at least one must be on the object (positive)")
        if self.box is not None:
            x, y, w, h = (float(v) for v in self.box)
            if not (w > 0 and h > 0):
                raise ValueError(f"box {self.box}: width and height must be positive")
            self.box = (x, y, w, h)


@dataclass
class ObjectResult:
    """One object in one frame. ``mask`` is H x W bool at the input resolution."""

    id: int
    label: str
    mask: np.ndarray
    presence: float          # is the object visible in this frame? in [0, 1]
    state: TrackState
    box: Box | None          # bounding box of ``mask``; None when the mask is empty

    @property
    def area(self) -> int:
        return int(self.mask.sum())


@dataclass
class FrameResult:
    """Output of ``Session.step`` for one frame."""

    frame_index: int
    objects: list[ObjectResult]
    label_image: np.ndarray                  # H x W uint16, 0 = background, pixel = track id
    timings_ms: dict[str, float] = field(default_factory=dict)

    def by_id(self, track_id: int) -> ObjectResult:
        for obj in self.objects:
            if obj.id == track_id:
                return obj
        raise KeyError(f"no track {track_id} in frame {self.frame_index}")


def mask_box(mask: np.ndarray) -> Box | None:
    """Tight x, y, w, h box of a boolean mask, None when empty."""
    ys = np.flatnonzero(mask.any(axis=1))
    if ys.size == 0:
        return None
    xs = np.flatnonzero(mask.any(axis=0))
    return (float(xs[0]), float(ys[0]), float(xs[-1] - xs[0] + 1), float(ys[-1] - ys[0] + 1))
