"""The point path: clicks on an object -> its mask, through the box path (no training of its own).

A click says where an object is, not how large it is. Square boxes of several sizes are centred on
the positive clicks and all segmented by the box path (``box_probabilities``); each candidate's mask
is the part of its probability over the threshold that holds the positive clicks, and the candidate
kept is the one whose mask changes least between two probability cuts: a box near the object's size
gives a clear edge, a box far from it a grey ramp (no ground truth needed). Negative clicks rule out
candidates whose mask holds them, and the pixels nearer to a negative than to every positive click
are cut from the kept mask.

Used for click prompts (``Prompt(clicks=...)``: the tracker node's `clicked_point` and AddObjects
points); measured by ``vos-ros eval points`` (docs/evaluation.md).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import cv2
import numpy as np

from vos_ros.core.box_path import box_probabilities
from vos_ros.core.model import VOSModel
from vos_ros.core.types import Box

# Candidate box sides, as a share of the frame's short side: from a cup's size to the whole frame.
# Chosen on the tuning images (vos-ros eval points --set tuning), like the box path's settings.
CANDIDATE_SCALES = (0.1, 0.16, 0.25, 0.4, 0.6, 0.85)
# Probability cuts whose clicked masks are compared (stability); chosen on the tuning images, where the
# stability alone picked better candidates than it plus the probability contrast inside / outside the mask.
STABILITY_CUTS = (0.3, 0.6)


class Point(NamedTuple):
    """A click in frame pixels; a plain (x, y, positive) tuple is read as one."""

    x: float  # column
    y: float  # row
    positive: bool = True  # False: "not this object"


def as_points(clicks: Sequence[Sequence], height: int, width: int) -> list[Point]:
    """(x, y[, positive]) clicks -> Points, checked: inside the H x W frame, at least one positive."""
    points = [Point(float(c[0]), float(c[1]), bool(c[2]) if len(c) > 2 else True) for c in clicks]
    for p in points:
        if not (0 <= p.x < width and 0 <= p.y < height):
            raise ValueError(f"click ({p.x:g}, {p.y:g}) is outside the {width}x{height} frame")
    if not any(p.positive for p in points):
        raise ValueError("an object needs at least one positive click")
    return points


def candidate_boxes(points: Sequence[Point], height: int, width: int) -> list[Box]:
    """Square x, y, w, h boxes centred on the positive clicks, one per CANDIDATE_SCALES, clipped to the
    frame; each also covers the positive clicks' spread with a margin."""
    xs = np.array([p.x for p in points if p.positive])
    ys = np.array([p.y for p in points if p.positive])
    cx, cy = (xs.min() + xs.max()) / 2 + 0.5, (ys.min() + ys.max()) / 2 + 0.5  # pixel centres
    spread = 1.5 * max(xs.max() - xs.min(), ys.max() - ys.min())
    boxes = []
    for scale in CANDIDATE_SCALES:
        half = max(scale * min(height, width), spread) / 2
        x0, y0 = max(0.0, cx - half), max(0.0, cy - half)
        x1, y1 = min(float(width), cx + half), min(float(height), cy + half)
        boxes.append((x0, y0, x1 - x0, y1 - y0))
    return boxes


def clicked_parts(mask: np.ndarray, points: Sequence[Point]) -> np.ndarray:
    """The connected parts of an H x W bool mask that hold a positive click. -> H x W bool."""
    _, labels = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)
    ids = {labels[int(p.y), int(p.x)] for p in points if p.positive} - {0}
    return np.isin(labels, list(ids))


def holds_negative(mask: np.ndarray, points: Sequence[Point]) -> bool:
    return any(mask[int(p.y), int(p.x)] for p in points if not p.positive)


def candidate_score(prob: np.ndarray, points: Sequence[Point]) -> float:
    """How clearly a candidate is one object, without ground truth: the stability of its clicked mask
    between the STABILITY_CUTS of its H x W probability (in [0, 1], -1 when the clicks are off it)."""
    low, high = (clicked_parts(prob > cut, points).sum() for cut in STABILITY_CUTS)
    return float(high / low) if low else -1.0


def without_negatives(mask: np.ndarray, points: Sequence[Point]) -> np.ndarray:
    """Cut the pixels nearer to a negative click than to every positive one, keep the clicked parts."""
    negatives = [p for p in points if not p.positive]
    if not negatives:
        return mask
    ys, xs = np.indices(mask.shape)  # H x W each

    def nearest(ps: list[Point]) -> np.ndarray:  # H x W squared distance to the nearest of ps
        return np.min([(xs - p.x) ** 2 + (ys - p.y) ** 2 for p in ps], axis=0)

    return clicked_parts(mask & (nearest([p for p in points if p.positive]) <= nearest(negatives)), points)


def chosen_mask(probs: Sequence[np.ndarray], points: Sequence[Point], threshold: float) -> np.ndarray:
    """One object's mask from its candidates' H x W probabilities: among the candidates whose clicked
    mask holds no negative click (all, if none), the highest ``candidate_score``; then negatives cut."""
    candidates = []  # (holds a negative click, score, clicked mask) per candidate box
    for prob in probs:
        mask = clicked_parts(prob > threshold, points)
        candidates.append((holds_negative(mask, points), candidate_score(prob, points), mask))
    _, _, best = min(candidates, key=lambda c: (c[0], -c[1]))
    return without_negatives(best, points)


def points_to_masks(model: VOSModel, frame: np.ndarray, objects: Sequence[Sequence[Sequence]], *,
                    crop_side: int, precision: str, threshold: float) -> list[np.ndarray]:
    """Clicks -> one H x W bool mask per object.

    ``objects``: per object, its clicks as ``Point`` or (x, y, positive) in frame pixels (x = column;
    positive defaults to True), at least one positive. ``crop_side``, ``threshold`` and ``precision``:
    ``model.box_crop_side``, ``model.box_threshold`` and ``model.precision`` of the tracker's config,
    as for ``boxes_to_masks``. Raises ValueError for a click outside the frame or an object without a
    positive click. A mask is empty when no candidate's probability reaches ``threshold`` at a
    positive click. All candidate boxes of all objects go through the box path in one call
    (len(CANDIDATE_SCALES) box-path crops per object).
    """
    height, width = frame.shape[:2]
    clicks = [as_points(c, height, width) for c in objects]
    boxes = [b for points in clicks for b in candidate_boxes(points, height, width)]
    probs = box_probabilities(model, frame, boxes, crop_side=crop_side, precision=precision)
    n = len(CANDIDATE_SCALES)
    return [chosen_mask(probs[k * n:(k + 1) * n], points, threshold) for k, points in enumerate(clicks)]
