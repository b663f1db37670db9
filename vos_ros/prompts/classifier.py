"""ImageNet-1k probabilities of image crops: the backbone's own classifier (EfficientNet-Lite0 + _fc).

1000 visual words (coffee mug, water bottle, carton, ...) that the detector's 80 classes lack.
"""
from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import cv2
import numpy as np
import torch

from vos_ros.core.backbone import load_efficientnet_lite0
from vos_ros.core.types import Corners

CROP = 224
CONTEXT = 0.1  # grow each box by this fraction per side: a little context helps the classifier


@lru_cache(maxsize=1)
def _network() -> torch.nn.Module:
    return load_efficientnet_lite0()


def crop(image: np.ndarray, box: Corners, context: float = CONTEXT) -> np.ndarray:
    """``image`` cut to the box (corners) grown by ``context`` and resized to CROP x CROP."""
    height, width = image.shape[:2]
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * context, (y2 - y1) * context
    left, top = int(max(0, np.floor(x1 - dx))), int(max(0, np.floor(y1 - dy)))
    right, bottom = int(min(width, np.ceil(x2 + dx))), int(min(height, np.ceil(y2 + dy)))
    if right <= left or bottom <= top:
        raise ValueError(f"box {tuple(box)} is empty inside a {width}x{height} image")
    return cv2.resize(image[top:bottom, left:right], (CROP, CROP), interpolation=cv2.INTER_AREA)


@torch.no_grad()
def imagenet_probabilities(image: np.ndarray, boxes: Sequence[Corners], batch: int = 16) -> np.ndarray:
    """N x 1000 softmax probabilities, one row per box (corners) of the RGB uint8 image."""
    if len(boxes) == 0:
        return np.zeros((0, 1000), np.float32)
    net = _network()
    crops = np.stack([crop(image, b) for b in boxes]).astype(np.float32)
    out = []
    for start in range(0, len(crops), batch):
        x = torch.from_numpy(crops[start : start + batch]).permute(0, 3, 1, 2)
        feats = net.extract_features((x - 127.0) / 128.0)  # TF-Lite preprocessing of these weights
        out.append(net._fc(feats.mean((2, 3))).softmax(-1))
    return torch.cat(out).numpy()
