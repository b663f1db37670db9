"""The stateless box path: a box prompt -> object probability / mask with the tracker's box head.

Used by the Session for box prompts, by the prompt node to turn grounded boxes into masks, and by
training and evaluation (``BoxCrop`` gives them the same crops).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vos_ros.core.backbone import STRIDE
from vos_ros.core.geometry import FrameGeometry, check_frame
from vos_ros.core.model import VOSModel, compute_precision
from vos_ros.core.types import Box

BOX_CROP_CONTEXT = 2.0  # a box is segmented in a crop this many times its size: context around it


@dataclass
class BoxCrop:
    """The context crop a box is segmented in: window of the frame and the size it is scaled to.

    The window is BOX_CROP_CONTEXT times the box, clipped to the frame; it is scaled (up or down) to
    ``crop_side`` short side with the long side capped at four times that. Shared by ``box_probabilities``
    and the box-path training crops, so both see boxes at the same scale.
    """

    x0: int
    y0: int
    x1: int
    y1: int
    size: tuple[int, int]  # network input w, h of the scaled window

    @classmethod
    def around(cls, height: int, width: int, box: Box, crop_side: int) -> BoxCrop:
        x, y, w, h = box
        cx, cy, half_w, half_h = x + w / 2, y + h / 2, BOX_CROP_CONTEXT * w / 2, BOX_CROP_CONTEXT * h / 2
        x0, y0 = int(max(0, np.floor(cx - half_w))), int(max(0, np.floor(cy - half_h)))
        x1, y1 = int(min(width, np.ceil(cx + half_w))), int(min(height, np.ceil(cy + half_h)))
        x1, y1 = max(x1, x0 + 1), max(y1, y0 + 1)
        scale = min(crop_side / min(x1 - x0, y1 - y0), 4 * crop_side / max(x1 - x0, y1 - y0))
        size = (max(STRIDE, round((x1 - x0) * scale)), max(STRIDE, round((y1 - y0) * scale)))
        return cls(x0, y0, x1, y1, size)

    def image(self, frame: np.ndarray) -> np.ndarray:
        """The window of an H x W (x C) array, resized to ``size``."""
        window = frame[self.y0:self.y1, self.x0:self.x1]
        shrink = self.size[0] < window.shape[1]
        return cv2.resize(window, self.size, interpolation=cv2.INTER_AREA if shrink else cv2.INTER_LINEAR)

    def box(self, box: Box) -> Box:
        """An x, y, w, h box of the frame in the scaled crop's pixels."""
        sx, sy = self.size[0] / (self.x1 - self.x0), self.size[1] / (self.y1 - self.y0)
        x, y, w, h = box
        return (x - self.x0) * sx, (y - self.y0) * sy, w * sx, h * sy

    def paste(self, crop_values: np.ndarray, height: int, width: int) -> np.ndarray:
        """Values at the crop's size back into an H x W array of zeros."""
        out = np.zeros((height, width), crop_values.dtype)
        out[self.y0:self.y1, self.x0:self.x1] = cv2.resize(crop_values, (self.x1 - self.x0, self.y1 - self.y0),
                                                           interpolation=cv2.INTER_LINEAR)
        return out


@torch.inference_mode()
def box_probabilities(model: VOSModel, frame: np.ndarray, boxes: Sequence[Box], *, crop_side: int,
                      precision: str) -> list[np.ndarray]:
    """Stateless box -> object probability with the tracker's box path. -> one H x W float32 per box.

    Each box is segmented in its own context crop (``BoxCrop``) scaled to ``crop_side`` short side, so
    a 40-pixel cup and a table filling the image both reach the network at the scale of its training
    clips; the probability is zero outside the box (a prior, refined but not exceeded). ``precision``:
    ``model.precision`` of the tracker's config.
    """
    check_frame(frame)
    device = next(model.parameters()).device
    height, width = frame.shape[:2]
    out = []
    for box in boxes:
        crop = BoxCrop.around(height, width, box, crop_side)
        geometry = FrameGeometry.for_frame(crop.size[1], crop.size[0], 0)
        rect = geometry.boxes_to_stride4([crop.box(box)], device)
        with compute_precision(device, precision):
            feats = model.encode_frame(geometry.image_tensor(crop.image(frame), device))
            logits, _ = model.box_logits(feats, rect, torch.ones(1, 1, dtype=torch.bool, device=device))
        probs = geometry.stride4_to_input(torch.sigmoid(logits[0].float()) * rect[0])[0].cpu().numpy()
        out.append(crop.paste(probs, height, width))
    return out


def boxes_to_masks(model: VOSModel, frame: np.ndarray, boxes: Sequence[Box], *, crop_side: int,
                  threshold: float, precision: str) -> list[np.ndarray]:
    """Box -> mask: ``box_probabilities`` above ``threshold``. -> one H x W bool mask per box.

    ``crop_side``, ``threshold`` and ``precision``: ``model.box_crop_side``, ``model.box_threshold`` and
    ``model.precision`` of the tracker's config.
    """
    return [p > threshold for p in box_probabilities(model, frame, boxes, crop_side=crop_side, precision=precision)]
