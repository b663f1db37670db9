"""Read DAVIS-layout roots and write predictions in the format the official evaluation reads.

Layout: ``ROOT/ImageSets/2017/val.txt`` (official) or ``ROOT/ImageSets/all.txt`` (our data) lists the
sequences; ``ROOT/JPEGImages/480p/<seq>/<frame>.jpg`` and ``ROOT/Annotations/480p/<seq>/<frame>.png``.
Label maps are uint8 arrays, 0 = background, k = object k.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from vos_ros.core.config import PACKAGE_ROOT

VOID = 255
SEQUENCE_LISTS = ("ImageSets/2017/val.txt", "ImageSets/all.txt")


DATA_HELP = "shared data folder (default: $VOS_ROS_DATA, else ../shared/data next to the repo)"


def data_root() -> Path:
    """The shared data folder: $VOS_ROS_DATA, else ../shared/data resolved from the repo root."""
    env = os.environ.get("VOS_ROS_DATA")
    return Path(env) if env else (PACKAGE_ROOT / ".." / "shared" / "data").resolve()


@lru_cache(maxsize=1)
def davis_palette() -> list[int]:
    """The 256-colour DAVIS (PASCAL VOC) palette, flat [r0, g0, b0, r1, ...]."""
    idx = np.arange(256)
    rgb = np.zeros((256, 3), dtype=np.int64)
    for bit in range(8):  # bit triplets of the index fill the colour bits from the top
        for ch in range(3):
            rgb[:, ch] |= ((idx >> (3 * bit + ch)) & 1) << (7 - bit)
    return rgb.ravel().tolist()


def read_labels(path: str | Path, void_to_background: bool = True) -> np.ndarray:
    """Label map of an annotation or prediction PNG as uint8 ids.

    Mode 'P': palette indices are the ids (255 = VOID -> 0 when ``void_to_background``). Grey
    masks holding only 0/255 (DAVIS-2016 single-object annotations) become 0/1; other grey values are
    taken as ids. Colour images are refused unless all channels are equal.
    """
    with Image.open(path) as im:
        mode = im.mode
        a = np.array(im)
    if mode == "P":
        labels = a.astype(np.uint8)
        if void_to_background:
            labels = np.where(labels == VOID, 0, labels).astype(np.uint8)
        return labels
    if a.ndim == 3:
        if not (a[..., :3] == a[..., :1]).all():
            raise ValueError(f"{path}: colour label image (mode {mode}); expected an indexed (P) or grey PNG")
        a = a[..., 0]
    if a.dtype == bool:
        return a.astype(np.uint8)
    if a.max(initial=0) > 255 or a.min(initial=0) < 0:
        raise ValueError(f"{path}: label values outside 0..255")
    if np.isin(a, (0, 255)).all():
        return (a > 0).astype(np.uint8)
    return a.astype(np.uint8)


def write_labels(path: str | Path, labels: np.ndarray) -> None:
    """Write a label map as an indexed PNG with the DAVIS palette (ids 0..254)."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"{path}: label map must be H x W, got shape {labels.shape}")
    if labels.size and (labels.min() < 0 or labels.max() >= VOID):
        raise ValueError(f"{path}: object ids must be in 0..254, got {labels.min()}..{labels.max()}")
    im = Image.fromarray(labels.astype(np.uint8), mode="L")
    im.putpalette(davis_palette())
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def read_rgb(path: str | Path) -> np.ndarray:
    """An image file as H x W x 3 uint8 RGB."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def list_sequences(root: str | Path, sequences: list[str] | None = None) -> list[str]:
    """Sequence names: ``sequences`` (checked against the root) or the root's sequence list."""
    root = Path(root)
    ann = root / "Annotations" / "480p"
    if not ann.is_dir():
        raise FileNotFoundError(f"{root}: no Annotations/480p folder; not a DAVIS-layout root")
    if sequences:
        missing = [s for s in sequences if not (ann / s).is_dir()]
        if missing:
            raise FileNotFoundError(f"{root}: unknown sequence(s) {', '.join(missing)}")
        return list(sequences)
    for rel in SEQUENCE_LISTS:
        listing = root / rel
        if listing.is_file():
            names = [line.strip() for line in listing.read_text().splitlines() if line.strip()]
            return list_sequences(root, names)
    raise FileNotFoundError(f"{root}: no sequence list ({' or '.join(SEQUENCE_LISTS)})")


@dataclass
class DavisSequence:
    """One sequence of a DAVIS root; ``frames`` are the annotation file stems, sorted."""

    root: Path
    name: str
    frames: list[str]

    @classmethod
    def open(cls, root: str | Path, name: str) -> DavisSequence:
        root = Path(root)
        ann = root / "Annotations" / "480p" / name
        frames = sorted(p.stem for p in ann.glob("*.png"))
        if not frames:
            raise FileNotFoundError(f"{ann}: no annotation PNGs")
        return cls(root, name, frames)

    def labels(self, i: int) -> np.ndarray:
        return read_labels(self.root / "Annotations" / "480p" / self.name / f"{self.frames[i]}.png")

    def image(self, i: int) -> np.ndarray:
        path = self.root / "JPEGImages" / "480p" / self.name / f"{self.frames[i]}.jpg"
        if not path.is_file():
            raise FileNotFoundError(f"{path}: frame image missing")
        return read_rgb(path)

    def all_labels(self, limit: int | None = None) -> list[np.ndarray]:
        n = len(self.frames) if limit is None else min(limit, len(self.frames))
        return [self.labels(i) for i in range(n)]


def read_prediction(pred_dir: str | Path, seq: str, frame: str) -> np.ndarray:
    """Predicted label map ``PRED/<seq>/<frame>.png`` (ids as stored, 255 kept)."""
    path = Path(pred_dir) / seq / f"{frame}.png"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: prediction missing")
    return read_labels(path, void_to_background=False)
