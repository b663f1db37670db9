"""3-D object centroids from a depth image and pinhole intrinsics (ROS-free).

Depth comes in metres (H x W float32; 16UC1 millimetres are converted by the caller); 0, NaN and
inf are invalid. The centroid is the per-axis median of the valid mask pixels back-projected into
the camera optical frame (x right, y down, z forward): a median so that stray background depth at
mask borders does not drag it.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Intrinsics:
    """Pinhole intrinsics for an image of ``width`` x ``height`` pixels."""

    fx: float
    fy: float
    cx: float
    cy: float
    width: int
    height: int

    @classmethod
    def from_k(cls, k: np.ndarray | list[float], width: int, height: int) -> Intrinsics:
        """From a row-major 3x3 camera matrix (CameraInfo.k)."""
        k = np.asarray(k, dtype=np.float64).reshape(-1)
        if k.size != 9:
            raise ValueError(f"camera matrix needs 9 values, got {k.size}")
        if k[0] <= 0 or k[4] <= 0:
            raise ValueError(f"camera matrix has non-positive focal lengths fx={k[0]}, fy={k[4]}")
        return cls(float(k[0]), float(k[4]), float(k[2]), float(k[5]), int(width), int(height))

    def scaled_to(self, width: int, height: int) -> Intrinsics:
        """The same camera seen at another resolution (e.g. a resized or binned stream)."""
        if (width, height) == (self.width, self.height):
            return self
        sx, sy = width / self.width, height / self.height
        # pixel centres: u' + 0.5 = (u + 0.5) * s
        return Intrinsics(self.fx * sx, self.fy * sy, (self.cx + 0.5) * sx - 0.5, (self.cy + 0.5) * sy - 0.5,
                          width, height)


def centroid_3d(mask: np.ndarray, depth_m: np.ndarray, intrinsics: Intrinsics,
                min_valid: int = 10) -> tuple[float, float, float] | None:
    """Median back-projected point of the valid depth inside ``mask``, or None with too few valid pixels.

    A depth image of another size than the mask is assumed registered to the colour image and is
    resampled (nearest) to the mask's size; ``intrinsics`` are scaled to the mask's size as well.
    """
    if mask.ndim != 2 or depth_m.ndim != 2:
        raise ValueError(f"mask {mask.shape} and depth {depth_m.shape} must both be 2-D")
    h, w = mask.shape
    if depth_m.shape != mask.shape:
        depth_m = cv2.resize(depth_m.astype(np.float32), (w, h), interpolation=cv2.INTER_NEAREST)
    k = intrinsics.scaled_to(w, h)
    vs, us = np.nonzero(mask)
    z = depth_m[vs, us].astype(np.float64)
    valid = np.isfinite(z) & (z > 0)
    if int(valid.sum()) < min_valid:
        return None
    us, vs, z = us[valid], vs[valid], z[valid]
    x = (us - k.cx) * z / k.fx
    y = (vs - k.cy) * z / k.fy
    return float(np.median(x)), float(np.median(y)), float(np.median(z))
