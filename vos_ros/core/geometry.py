"""Frame geometry: how an input frame maps to the network input (scale, pad to stride 16) and back."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vos_ros.core.backbone import STRIDE
from vos_ros.core.types import Box


@dataclass
class FrameGeometry:
    """How an input frame maps to the network input: scale, then zero-pad to multiples of 16."""

    height: int          # input frame
    width: int
    scaled_h: int        # after scaling
    scaled_w: int
    padded_h: int        # network input
    padded_w: int

    @classmethod
    def for_frame(cls, height: int, width: int, short_side: int, upscale: bool = False) -> FrameGeometry:
        """Scale so the short side is ``short_side`` (at most that unless ``upscale``; 0 = as is)."""
        scale = short_side / min(height, width) if short_side > 0 else 1.0
        scale = scale if upscale else min(1.0, scale)
        sh, sw = max(STRIDE, round(height * scale)), max(STRIDE, round(width * scale))
        pad = lambda n: -(-n // STRIDE) * STRIDE  # noqa: E731
        return cls(height, width, sh, sw, pad(sh), pad(sw))

    def image_tensor(self, frame: np.ndarray, device: torch.device) -> torch.Tensor:
        """H x W x 3 uint8 -> 1 x 3 x padded_h x padded_w float in [0, 255]."""
        # torch warns on read-only arrays (decoded images, message buffers): copy those
        pixels = np.ascontiguousarray(frame) if frame.flags.writeable else np.array(frame)
        x = torch.from_numpy(pixels).to(device).permute(2, 0, 1)[None].float()
        if (self.scaled_h, self.scaled_w) != (self.height, self.width):
            x = F.interpolate(x, size=(self.scaled_h, self.scaled_w), mode="bilinear", align_corners=False,
                              antialias=True)
        return F.pad(x, (0, self.padded_w - self.scaled_w, 0, self.padded_h - self.scaled_h))

    def masks_to_stride4(self, masks: np.ndarray, device: torch.device) -> torch.Tensor:
        """K x H x W bool -> 1 x K x padded_h/4 x padded_w/4 float (area fractions)."""
        return self.to_stride4(torch.from_numpy(masks.astype(np.float32)).to(device))

    def to_stride4(self, x: torch.Tensor) -> torch.Tensor:
        """K x H x W float in input pixels -> 1 x K x padded_h/4 x padded_w/4 (area means)."""
        m = x[None]
        m = F.interpolate(m, size=(self.scaled_h, self.scaled_w), mode="area") if m.shape[-2:] != (
            self.scaled_h, self.scaled_w) else m
        m = F.pad(m, (0, self.padded_w - self.scaled_w, 0, self.padded_h - self.scaled_h))
        return F.avg_pool2d(m, 4)

    def boxes_to_stride4(self, boxes: Sequence[Box], device: torch.device) -> torch.Tensor:
        """Boxes in input pixels -> 1 x K x padded_h/4 x padded_w/4 filled rectangles."""
        s = self.scaled_h / self.height
        h4, w4 = self.padded_h // 4, self.padded_w // 4
        out = torch.zeros(1, len(boxes), h4, w4, device=device)
        for k, (x, y, w, h) in enumerate(boxes):
            x0, y0 = int(np.floor(x * s / 4)), int(np.floor(y * s / 4))
            x1, y1 = int(np.ceil((x + w) * s / 4)), int(np.ceil((y + h) * s / 4))
            out[0, k, max(0, y0):max(y0 + 1, y1), max(0, x0):max(x0 + 1, x1)] = 1
        return out

    def cells_to_box(self, cells: tuple[float, float, float, float]) -> Box:
        """x0, y0, x1, y1 (inclusive stride-4 cells) -> x, y, w, h in input pixels, clipped to the frame
        (w or h is 0 for cells in the padding only)."""
        s = 4 * self.height / self.scaled_h
        x0, y0 = min(cells[0] * s, self.width), min(cells[1] * s, self.height)
        x1, y1 = min((cells[2] + 1) * s, self.width), min((cells[3] + 1) * s, self.height)
        return x0, y0, x1 - x0, y1 - y0

    def stride4_to_input(self, x: torch.Tensor) -> torch.Tensor:
        """C x padded_h/4 x padded_w/4 -> C x H x W (bilinear, padding cropped)."""
        x = F.interpolate(x[None], size=(self.padded_h, self.padded_w), mode="bilinear", align_corners=False)
        x = x[..., : self.scaled_h, : self.scaled_w]
        if (self.scaled_h, self.scaled_w) != (self.height, self.width):
            x = F.interpolate(x, size=(self.height, self.width), mode="bilinear", align_corners=False)
        return x[0]


def check_frame(frame: np.ndarray) -> None:
    """Raise ValueError naming what is wrong unless ``frame`` is an H x W x 3 uint8 RGB array of at least 8x8."""
    if not isinstance(frame, np.ndarray) or frame.dtype != np.uint8 or frame.ndim != 3 or frame.shape[2] != 3:
        desc = f"{frame.dtype} array of shape {frame.shape}" if isinstance(frame, np.ndarray) else type(frame)
        raise ValueError(f"frame must be an H x W x 3 uint8 RGB array, got {desc}")
    if frame.shape[0] < 8 or frame.shape[1] < 8:
        raise ValueError(f"frame of {frame.shape[1]}x{frame.shape[0]} pixels is too small (min 8x8)")
