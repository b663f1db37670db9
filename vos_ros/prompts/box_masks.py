"""Boxes to masks: the tracker's box path when its weights exist, else GrabCut.

A segmenter is any ``callable(image_rgb, boxes) -> list of H x W bool masks``, boxes x, y, w, h. The tracker's
path (``vos_ros.core.box_path.boxes_to_masks``: the box as a prior, refined on the features of a
context crop around it) is the one the issue asks for; GrabCut (colour models inside/outside the
box) keeps grounding usable before a trained checkpoint exists, and ``auto`` falling back to it is
logged as a warning with the reason. ``segmenter_kind`` tells which one a segmenter is. The box path
runs with the tracker's ``BOX_PATH_PARAMETERS`` (the prompt node asks the running tracker for them).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from vos_ros.core.types import Box, to_corners

log = logging.getLogger(__name__)

Segmenter = Callable[[np.ndarray, Sequence[Box]], list[np.ndarray]]


# The tracker parameters the box path runs with (weights, where and how it computes, its crop and cut).
BOX_PATH_PARAMETERS = ("model.checkpoint", "model.device", "model.precision", "model.box_crop_side",
                       "model.box_threshold")
GRABCUT_GROW = 0.05  # GrabCut's rectangle is grown by this (its border is forced background)


def grabcut_masks(image: np.ndarray, boxes: Sequence[Box], iterations: int = 3) -> list[np.ndarray]:
    """GrabCut from each x, y, w, h box: run on the box grown by GRABCUT_GROW per side (so object
    pixels at the box edge are not forced to background), then clipped to the box."""
    height, width = image.shape[:2]
    bgr = np.ascontiguousarray(image[..., ::-1])
    masks = []
    for x1, y1, x2, y2 in map(to_corners, boxes):
        left, top = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
        right, bottom = int(min(width, np.ceil(x2))), int(min(height, np.ceil(y2)))
        box_mask = np.zeros((height, width), bool)
        box_mask[top:bottom, left:right] = True
        if right - left < 4 or bottom - top < 4:
            masks.append(box_mask)
            continue
        dx, dy = GRABCUT_GROW * (right - left), GRABCUT_GROW * (bottom - top)
        # GrabCut learns the background from outside the rectangle: keep an image margin for it.
        mx, my = max(2, int(0.02 * width)), max(2, int(0.02 * height))
        gl, gt = int(max(mx, left - dx)), int(max(my, top - dy))
        gr, gb = int(min(width - mx, right + dx)), int(min(height - my, bottom + dy))
        if gr - gl < 4 or gb - gt < 4:
            masks.append(box_mask)
            continue
        state = np.zeros((height, width), np.uint8)
        try:
            cv2.grabCut(bgr, state, (gl, gt, gr - gl, gb - gt), np.zeros((1, 65)), np.zeros((1, 65)),
                        iterations, cv2.GC_INIT_WITH_RECT)
        except cv2.error:  # degenerate colour statistics (flat box): the box itself
            masks.append(box_mask)
            continue
        mask = ((state == cv2.GC_FGD) | (state == cv2.GC_PR_FGD)) & box_mask
        masks.append(mask if mask.any() else box_mask)
    return masks


grabcut_masks.kind = "grabcut"  # type: ignore[attr-defined]


def segmenter_kind(segment: Segmenter) -> str:
    """"tracker" or "grabcut" for the segmenters made here, "custom" for any other callable."""
    return getattr(segment, "kind", "custom")


def _tracker_segmenter(tracker_params: Mapping[str, Any]) -> tuple[Segmenter | None, str]:
    """The tracker's box path, or None and why it is unavailable."""
    unknown = sorted(set(tracker_params) - set(BOX_PATH_PARAMETERS))
    if unknown:
        raise ValueError(f"not box-path parameters: {unknown}; expected some of {BOX_PATH_PARAMETERS}")
    try:
        from vos_ros.core.box_path import boxes_to_masks
        from vos_ros.core.config import TrackerConfig
        from vos_ros.core.weights import load_model

        config = TrackerConfig.load(**{name.replace(".", "__"): value for name, value in tracker_params.items()})
        model = load_model(config.model)
    except (ImportError, FileNotFoundError) as err:
        return None, f"{type(err).__name__}: {err}"

    def segment(image: np.ndarray, boxes: Sequence[Box]) -> list[np.ndarray]:
        return boxes_to_masks(model, image, boxes, crop_side=config.model.box_crop_side,
                             threshold=config.model.box_threshold, precision=config.model.precision)

    segment.kind = "tracker"  # type: ignore[attr-defined]
    return segment, ""


SEGMENTERS = ("auto", "tracker", "grabcut")


def make_segmenter(kind: str = "auto", tracker_params: Mapping[str, Any] | None = None) -> Segmenter:
    """``auto``: the tracker's box path when available, else GrabCut. ``tracker_params``: the tracker
    parameters the box path runs with where they are not config/vos_tracker.yaml's (BOX_PATH_PARAMETERS)."""
    if kind not in SEGMENTERS:
        raise ValueError(f"segmenter must be one of {SEGMENTERS}, got {kind!r}")
    if kind == "grabcut":
        return grabcut_masks
    segment, reason = _tracker_segmenter(tracker_params or {})
    if segment is None:
        if kind == "tracker":
            raise RuntimeError(f"segmenter 'tracker' requested but the tracker's weights are not available ({reason})")
        log.warning("segmenter 'auto' falls back to GrabCut: the tracker's box path is unavailable (%s)", reason)
        return grabcut_masks
    return segment
