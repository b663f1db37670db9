"""Colour names of pixels from HSV, and how much of a region has a named colour.

Thresholds are OpenCV HSV (H in 0..179, S and V in 0..255). Achromatic pixels (low saturation or
dark) are black, white or gray whatever their hue; brown is a dark orange or red.
"""
from __future__ import annotations

import cv2
import numpy as np

from vos_ros.prompts.phrase import COLOURS

# Hue ranges (OpenCV units, half degrees) of the chromatic names; red wraps around 0.
HUES = {"red": ((0, 8), (165, 180)), "orange": ((8, 20),), "yellow": ((20, 34),), "green": ((34, 85),),
        "blue": ((85, 130),), "purple": ((130, 150),), "pink": ((150, 165),)}  # fmt: skip
MIN_SATURATION = 60   # below: achromatic
DARK = 50             # value below: black
WHITE = 170           # value above (and unsaturated): white
BROWN_VALUE = 130     # orange/red hue this dark (and not vivid) reads as brown


def colour_names(rgb: np.ndarray) -> np.ndarray:
    """H x W uint8 index into COLOURS of every pixel of an RGB uint8 image."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"colour_names needs an H x W x 3 uint8 RGB image, got {rgb.shape} {rgb.dtype}")
    hsv = cv2.cvtColor(rgb, cv2.COLOR_RGB2HSV)
    h, s, v = (hsv[..., i].astype(np.int16) for i in range(3))
    out = np.full(h.shape, COLOURS.index("gray"), np.uint8)
    for name, ranges in HUES.items():
        inside = np.zeros(h.shape, bool)
        for lo, hi in ranges:
            inside |= (h >= lo) & (h < hi)
        out[inside] = COLOURS.index(name)
    brown = (out == COLOURS.index("orange")) | (out == COLOURS.index("red"))
    out[brown & (v < BROWN_VALUE) & (s < 200)] = COLOURS.index("brown")
    achromatic = s < MIN_SATURATION
    out[achromatic] = COLOURS.index("gray")
    out[achromatic & (v > WHITE)] = COLOURS.index("white")
    out[v < DARK] = COLOURS.index("black")
    return out


def colour_fractions(names: np.ndarray, region: np.ndarray) -> np.ndarray:
    """Fraction of ``region`` (H x W bool) pixels per colour (len(COLOURS),), from ``colour_names``."""
    if names.shape != region.shape:
        raise ValueError(f"colour map {names.shape} and region {region.shape} differ in size")
    counts = np.bincount(names[region], minlength=len(COLOURS)).astype(np.float32)
    return counts / max(1.0, float(counts.sum()))
