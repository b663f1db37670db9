"""A moving-object scene built at run time from the photographs scikit-image ships (no data needed).

Elliptical cut-outs of real photos glide over a real background photo; objects may enter late and
leave the frame. Used by the demo when ../shared/data/demo_videos is absent. Deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import skimage.data

from vos_ros.core.types import Box, mask_box


@dataclass(frozen=True)
class Sprite:
    """One object: a crop of a scikit-image photo moving on a straight line."""

    label: str
    photo: str                          # skimage.data function name
    crop: tuple[int, int, int, int]     # x, y, w, h in the photo
    size: tuple[int, int]               # w, h in the scene
    start: tuple[float, float]          # top-left in the scene at ``first_frame``
    velocity: tuple[float, float]       # pixels per frame
    first_frame: int = 0

    @classmethod
    def from_dict(cls, d: dict) -> Sprite:
        return cls(d["label"], d["photo"], tuple(d["crop"]), tuple(d["size"]), tuple(d["start"]),
                   tuple(d["velocity"]), int(d.get("first_frame", 0)))


def _photo(name: str) -> np.ndarray:
    try:
        img = getattr(skimage.data, name)()
    except AttributeError:
        raise ValueError(f"scikit-image has no sample photo '{name}'") from None
    return np.repeat(img[..., None], 3, axis=2) if img.ndim == 2 else np.ascontiguousarray(img[..., :3])


class Scene:
    """Frames and per-object visible masks of the scene, rendered on demand."""

    def __init__(self, background: str, size: tuple[int, int], sprites: list[Sprite]) -> None:
        self.width, self.height = size
        self.background = cv2.resize(_photo(background), size, interpolation=cv2.INTER_AREA)
        self.sprites = sprites
        self._patches = []
        for s in sprites:
            x, y, w, h = s.crop
            patch = cv2.resize(_photo(s.photo)[y:y + h, x:x + w], s.size, interpolation=cv2.INTER_AREA)
            alpha = np.zeros(s.size[::-1], np.uint8)
            cv2.ellipse(alpha, (s.size[0] // 2, s.size[1] // 2), (s.size[0] // 2 - 1, s.size[1] // 2 - 1), 0, 0,
                        360, 255, -1)
            self._patches.append((patch, alpha > 0))

    def render(self, k: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """Frame ``k`` (H x W x 3 uint8) and one visible mask per sprite (later sprites in front)."""
        frame = self.background.copy()
        masks = []
        for s, (patch, alpha) in zip(self.sprites, self._patches, strict=True):
            full = np.zeros((self.height, self.width), bool)
            if k >= s.first_frame:
                t = k - s.first_frame
                x0, y0 = round(s.start[0] + s.velocity[0] * t), round(s.start[1] + s.velocity[1] * t)
                xs, ys = slice(max(0, x0), min(self.width, x0 + s.size[0])), slice(max(0, y0), min(self.height,
                                                                                                 y0 + s.size[1]))
                if xs.start < xs.stop and ys.start < ys.stop:
                    px = slice(xs.start - x0, xs.stop - x0)
                    py = slice(ys.start - y0, ys.stop - y0)
                    a = alpha[py, px]
                    frame[ys, xs][a] = patch[py, px][a]
                    full[ys, xs] = a
            for m in masks:  # occlusion: what this sprite covers is no longer visible below
                m &= ~full
            masks.append(full)
        return frame, masks

    def box(self, sprite: int, k: int) -> Box | None:
        return mask_box(self.render(k)[1][sprite])
