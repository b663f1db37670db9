"""Overlay drawing (one colour per track id, contours, id + label text) and contact sheets.

ROS-free: the tracker node, the demo and ``vos-ros track`` all draw with these functions.
"""
from __future__ import annotations

import colorsys
from collections.abc import Mapping, Sequence

import cv2
import numpy as np

_FONT = cv2.FONT_HERSHEY_SIMPLEX


def colour_for(track_id: int) -> tuple[int, int, int]:
    """Stable, well separated RGB colour of a track id (golden-ratio hue steps)."""
    if track_id <= 0:
        return (0, 0, 0)
    hue = (track_id * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.85, 1.0)
    return (int(r * 255), int(g * 255), int(b * 255))


def _text(img: np.ndarray, text: str, org: tuple[int, int], colour: tuple[int, int, int],
          scale: float) -> None:
    """Text with a dark outline so it stays readable on any background."""
    thick = max(1, round(scale * 2))
    cv2.putText(img, text, org, _FONT, scale, (0, 0, 0), thick + 2, cv2.LINE_AA)
    cv2.putText(img, text, org, _FONT, scale, colour, thick, cv2.LINE_AA)


def draw_overlay(
    rgb: np.ndarray,
    label_image: np.ndarray,
    labels: Mapping[int, str] | None = None,
    alpha: float = 0.5,
) -> np.ndarray:
    """Copy of ``rgb`` with every id of ``label_image`` (H x W, 0 = background) tinted, outlined and named.

    ``labels`` maps ids to label text; the text drawn is "<id> <label>" at the box centre of the
    mask's largest part.
    """
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"overlay needs an H x W x 3 uint8 image, got {rgb.shape} {rgb.dtype}")
    if label_image.shape != rgb.shape[:2]:
        raise ValueError(f"label image {label_image.shape} does not match the frame {rgb.shape[:2]}")
    labels = labels or {}
    ids = [int(i) for i in np.unique(label_image) if i != 0]
    out = rgb.copy()
    if not ids:
        return out
    palette = np.zeros((int(max(ids)) + 1, 3), np.float32)
    for i in ids:
        palette[i] = colour_for(i)
    fg = label_image != 0
    tint = palette[label_image[fg]]
    out[fg] = np.clip(out[fg] * (1.0 - alpha) + tint * alpha, 0, 255).astype(np.uint8)
    scale = max(0.4, min(rgb.shape[:2]) / 720.0)
    for i in ids:
        mask = (label_image == i).astype(np.uint8)
        contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour_for(i), max(1, round(scale * 2)), cv2.LINE_AA)
        # text on the largest part: stray specks of a mask must not pull it elsewhere
        x, y, w, h = cv2.boundingRect(max(contours, key=cv2.contourArea))
        text = f"{i} {labels.get(i, '')}".strip()
        (tw, th), _ = cv2.getTextSize(text, _FONT, scale, 1)
        _text(out, text, (x + w // 2 - tw // 2, y + h // 2 + th // 2), colour_for(i), scale)
    return out


CAPTION_HEIGHT = 26  # px: the white strip above each tile that holds its caption


def contact_sheet(
    frames: Sequence[np.ndarray],
    columns: int = 4,
    tile_width: int = 320,
    captions: Sequence[str] | None = None,
) -> np.ndarray:
    """Grid of RGB thumbnails (all scaled to ``tile_width``), each with an optional caption written
    in a strip above it, so that no caption hides a mask."""
    if not frames:
        raise ValueError("contact sheet needs at least one frame")
    if captions is not None and len(captions) != len(frames):
        raise ValueError(f"{len(captions)} captions for {len(frames)} frames")
    h0, w0 = frames[0].shape[:2]
    tile_h = max(1, round(h0 * tile_width / w0))
    strip = CAPTION_HEIGHT if captions is not None else 0
    cell_h = strip + tile_h
    rows = -(-len(frames) // columns)
    sheet = np.full((rows * cell_h, columns * tile_width, 3), 255, np.uint8)
    for k, frame in enumerate(frames):
        r, c = divmod(k, columns)
        top, left = r * cell_h, c * tile_width
        sheet[top + strip:top + cell_h, left:left + tile_width] = cv2.resize(frame, (tile_width, tile_h),
                                                                             interpolation=cv2.INTER_AREA)
        if captions is not None:
            cell = sheet[top:top + strip, left:left + tile_width]
            cv2.putText(cell, captions[k], (6, strip - 8), _FONT, 0.5, (0, 0, 0), 1, cv2.LINE_AA)
    return sheet


def pick_evenly(n_items: int, count: int) -> list[int]:
    """Indices of ``count`` items spread evenly over ``n_items`` (first and last included)."""
    if n_items <= 0:
        return []
    count = min(count, n_items)
    return sorted({round(k * (n_items - 1) / max(1, count - 1)) for k in range(count)})
