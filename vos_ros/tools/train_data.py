"""Training clips for the tracker (no ROS): synthetic multi-object clips and DAVIS-2016 train clips.

Every item is generated from its index alone (``numpy.random.default_rng([seed, epoch, index])``), so a
clip is the same whatever the worker count, and ``set_epoch`` gives fresh clips each epoch.
Item format (all datasets)::

    frames  uint8 T x 3 x H x W (RGB)       masks   bool T x K x H x W (visible pixels, disjoint)
    valid   bool K (used object slots)      times   long T (frame number in the source video)
    instance long K (index into the COCO instance bank, -1 for DAVIS objects and unused slots)

Data (read-only): ``../shared/data`` from the repo root, or ``$VOS_ROS_DATA``. Object instances come from
``train_extra/coco_train2017``, backgrounds from DAVIS-2016 train frames and the same COCO images; the
held-out sets (``coco_subset``, ``davis2016/val``) are never read. See docs/training_data.md.
"""
from __future__ import annotations

import argparse
import functools
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from vos_ros.core.box_path import BoxCrop
from vos_ros.core.types import Box
from vos_ros.tools.davis_io import data_root, read_labels

COCO_DIR = "train_extra/coco_train2017"
DAVIS_TRAIN_DIR = "davis2016/train"
# Cap on an instance crop's sqrt(area) at load: larger crops are only ever shrunk, and pre-shrinking with
# INTER_AREA avoids aliasing from warpAffine and keeps the bank small.
MAX_INSTANCE_SIDE = 256
# Overlay colours of object slots in contact sheets (RGB).
PALETTE = np.array([(230, 25, 75), (60, 180, 75), (0, 130, 200), (255, 225, 25), (240, 50, 230),
                    (70, 240, 240), (245, 130, 48), (145, 30, 180)], np.uint8)


def _require_dir(path: Path) -> Path:
    if not path.is_dir():
        raise FileNotFoundError(f"training data folder {path} not found (set VOS_ROS_DATA to the shared data)")
    return path


def read_rgb_fast(path: Path) -> np.ndarray:
    # cv2, not davis_io.read_rgb (PIL): decoding is most of a clip's cost and cv2 is ~2x faster here.
    img = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if img is None:
        raise OSError(f"cannot read image {path}")
    return cv2.cvtColor(img, cv2.COLOR_BGR2RGB)


# ----------------------------------------------------------------------------------------------------------
# COCO instance bank


@dataclass(frozen=True)
class Instance:
    """One COCO object cut out with its mask: ``rgb`` h x w x 3 uint8, ``alpha`` h x w uint8 (0/255)."""

    rgb: np.ndarray
    alpha: np.ndarray
    area: int  # mask pixels at the stored crop size
    image_id: str
    category: str


def _drop_fragments(mask: np.ndarray, min_frac: float = 0.15) -> np.ndarray:
    """``mask`` without connected parts under ``min_frac`` of its area (stray bits of occluded objects)."""
    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    keep = np.flatnonzero(stats[:, cv2.CC_STAT_AREA] >= min_frac * mask.sum())
    keep = keep[keep > 0]  # label 0 is the background
    return np.isin(comp, keep)


def _coco_objects(root: Path | None) -> dict:
    """coco_train2017's objects.json: image id -> {"width", "height", "objects": [{"id", "visible_px", ...}]}."""
    coco = _require_dir((data_root() if root is None else Path(root)) / COCO_DIR)
    with open(coco / "objects.json", encoding="utf-8") as f:
        return json.load(f)


@functools.lru_cache(maxsize=4)
def load_instances(root: Path, min_px: int = 1500, max_border_frac: float = 0.1) -> tuple[Instance, ...]:
    """Crops of all COCO train instances with >= ``min_px`` visible pixels.

    Instances cut by the image border over more than ``max_border_frac`` of (bbox width + height) are
    skipped: pasted elsewhere their straight cut edge would be an easy, unrealistic cue.
    Cached per process (forked loader workers share it).
    """
    coco = _require_dir(root / COCO_DIR)
    objects = _coco_objects(root)
    bank = []
    for image_id in tqdm(sorted(objects), desc="COCO instances", leave=False, disable=None):
        wanted = [o for o in objects[image_id]["objects"] if o["visible_px"] >= min_px]
        if not wanted:
            continue
        rgb = read_rgb_fast(coco / "JPEGImages" / image_id / "00000.jpg")
        lab = read_labels(coco / "Annotations" / image_id / "00000.png")  # void (crowd) -> 0
        cut = (cut_instance(rgb, lab == obj["id"], image_id, obj["category"], min_px, max_border_frac)
               for obj in wanted)
        bank.extend(inst for inst in cut if inst is not None)
    if not bank:
        raise ValueError(f"no COCO instance in {coco} has >= {min_px} visible pixels")
    return tuple(bank)


def cut_instance(rgb: np.ndarray, mask: np.ndarray, image_id: str, category: str, min_px: int,
                 max_border_frac: float) -> Instance | None:
    """One object of an RGB image cut out by its mask (stray fragments dropped, large crops shrunk to
    MAX_INSTANCE_SIDE); None when under ``min_px`` pixels or cut by the image border (see load_instances)."""
    mask = _drop_fragments(mask)
    ys, xs = np.nonzero(mask)
    if len(ys) < min_px:
        return None
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    border = mask[0].sum() + mask[-1].sum() + mask[:, 0].sum() + mask[:, -1].sum()
    if border > max_border_frac * ((x1 - x0) + (y1 - y0)):
        return None
    crop_rgb, crop_a = rgb[y0:y1, x0:x1], mask[y0:y1, x0:x1].astype(np.uint8) * 255
    shrink = MAX_INSTANCE_SIDE / np.sqrt(len(ys))
    if shrink < 1:
        size = (max(1, round((x1 - x0) * shrink)), max(1, round((y1 - y0) * shrink)))
        crop_rgb = cv2.resize(crop_rgb, size, interpolation=cv2.INTER_AREA)
        crop_a = cv2.resize(crop_a, size, interpolation=cv2.INTER_AREA)
        crop_a = np.where(crop_a >= 128, 255, 0).astype(np.uint8)
    return Instance(np.ascontiguousarray(crop_rgb), crop_a, int((crop_a > 0).sum()), image_id, category)


@functools.lru_cache(maxsize=4)
def background_paths(root: Path, min_side: int = 200) -> tuple[tuple[Path, ...], tuple[Path, ...]]:
    """(DAVIS-2016 train frames, COCO train images with short side >= ``min_side``) used as backgrounds."""
    davis = sorted((_require_dir(root / DAVIS_TRAIN_DIR) / "JPEGImages" / "480p").glob("*/*.jpg"))
    coco_dir = _require_dir(root / COCO_DIR)
    objects = _coco_objects(root)
    coco = [coco_dir / "JPEGImages" / i / "00000.jpg" for i, o in sorted(objects.items())
            if min(o["width"], o["height"]) >= min_side]
    if not davis or not coco:
        raise FileNotFoundError(f"no background images under {root / DAVIS_TRAIN_DIR} or {coco_dir}")
    return tuple(davis), tuple(coco)


# ----------------------------------------------------------------------------------------------------------
# Geometry and photometry shared by both datasets


def affine_matrix(scale: float, angle_deg: float, pivot: tuple[float, float], centre: np.ndarray,
            flip: bool = False) -> np.ndarray:
    """2x3 matrix: mirror (optional), rotate and scale about ``pivot`` (source px), put it at ``centre``."""
    a = np.deg2rad(angle_deg)
    rot = scale * np.array([[np.cos(a), -np.sin(a)], [np.sin(a), np.cos(a)]])
    if flip:
        rot = rot @ np.diag([-1.0, 1.0])
    return np.hstack([rot, (centre - rot @ np.asarray(pivot))[:, None]])


def camera_path(rng: np.random.Generator, src_hw: tuple[int, int], out_hw: tuple[int, int], phase: np.ndarray,
                zoom: tuple[float, float] = (1.0, 1.5), pan: float = 0.1, zoom_change: float = 0.15,
                centre: tuple[float, float] | None = None, flip: bool = False) -> list[np.ndarray]:
    """Per-frame 2x3 matrices (source -> output) of a window that pans and zooms linearly over the clip.

    ``phase`` in [0, 1] per frame. The window keeps the output's aspect, stays inside the source at every
    frame (the constraints are linear in centre and size, so checking both ends suffices), starts at
    zoom ``zoom`` (log-uniform), drifts by up to ``pan`` window widths and changes zoom by up to
    ``zoom_change`` (log). ``centre`` (source px) aims the first window there (clipped to fit).
    """
    (sh, sw), (oh, ow) = src_hw, out_hw
    base_w = min(sw, sh * ow / oh)  # widest window of the output aspect that fits
    z0 = np.exp(rng.uniform(*np.log(zoom)))
    z1 = np.clip(z0 * np.exp(rng.uniform(-zoom_change, zoom_change)), 1.0, None)
    widths = base_w / np.array([z0, z1])

    def fit(c: np.ndarray, w: float) -> np.ndarray:
        half = np.array([w / 2, w * oh / ow / 2])
        return np.clip(c, half, np.array([sw, sh]) - half)

    c0 = fit(np.array(centre, float) if centre is not None else rng.uniform([0, 0], [sw, sh]), widths[0])
    c1 = fit(c0 + rng.uniform(-pan, pan, 2) * widths[0], widths[1])
    mats = []
    for p in phase:
        w, c = widths[0] + p * (widths[1] - widths[0]), c0 + p * (c1 - c0)
        m = affine_matrix(ow / w, 0.0, (c[0], c[1]), np.array([(ow - 1) / 2, (oh - 1) / 2]))
        if flip:
            m = np.array([[-1.0, 0, ow - 1], [0, 1, 0]]) @ np.vstack([m, [0, 0, 1]])
        mats.append(m)
    return mats


def photometric(rng: np.random.Generator, frames: np.ndarray, gain: float = 0.15, bias: float = 12.0,
                tint: float = 0.05) -> np.ndarray:
    """Mild brightness/contrast drift over the clip and a fixed colour tint; float T x H x W x 3 -> uint8."""
    n = len(frames)
    g = np.linspace(*rng.uniform(1 - gain, 1 + gain, 2), n)[:, None] * rng.uniform(1 - tint, 1 + tint, 3)
    b = np.linspace(*rng.uniform(-bias, bias, 2), n)
    out = frames * g[:, None, None, :].astype(np.float32) + b[:, None, None, None].astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def _warp_into(frame_hw: tuple[int, int], m: np.ndarray, alpha: np.ndarray
               ) -> tuple[tuple[slice, slice], np.ndarray, tuple[int, int], np.ndarray] | None:
    """Where a sprite lands under ``m``: the frame ROI it covers, the matrix that warps it into that
    ROI, the ROI's (width, height) and the warped alpha; None when it lands outside the frame."""
    h, w = alpha.shape[:2]
    corners = m @ np.array([[0, w, 0, w], [0, 0, h, h], [1, 1, 1, 1]], float)
    x0, y0 = np.maximum(np.floor(corners.min(1)).astype(int) - 1, 0)
    x1, y1 = np.minimum(np.ceil(corners.max(1)).astype(int) + 2, [frame_hw[1], frame_hw[0]])
    if x1 <= x0 or y1 <= y0:
        return None
    shifted = m.copy()
    shifted[:, 2] -= (x0, y0)
    shape = (int(x1 - x0), int(y1 - y0))
    return (slice(y0, y1), slice(x0, x1)), shifted, shape, cv2.warpAffine(alpha, shifted, shape, flags=cv2.INTER_LINEAR)


def _clip_item(frames: np.ndarray, masks: np.ndarray, valid: np.ndarray, times: np.ndarray,
               instance: np.ndarray) -> dict[str, torch.Tensor]:
    return {"frames": torch.from_numpy(np.ascontiguousarray(frames.transpose(0, 3, 1, 2))),
            "masks": torch.from_numpy(masks), "valid": torch.from_numpy(valid),
            "times": torch.from_numpy(times.astype(np.int64)), "instance": torch.from_numpy(instance)}


class _ClipDataset(Dataset):
    """Common arguments, validation and per-index seeding of the clip datasets."""

    def __init__(self, length: int, frames: int, size: tuple[int, int], max_objects: int, seed: int) -> None:
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        if frames < 2:
            raise ValueError(f"frames must be >= 2 (a clip needs a prompt frame and a tracked one), got {frames}")
        if len(size) != 2 or min(size) < 32:
            raise ValueError(f"size must be (H, W) with both >= 32, got {size}")
        if max_objects < 1:
            raise ValueError(f"max_objects must be >= 1, got {max_objects}")
        self.length, self.frames, self.size = length, frames, (int(size[0]), int(size[1]))
        self.max_objects, self.seed, self.epoch = max_objects, seed, 0

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        """Draw different clips for the same indices (call before each epoch)."""
        self.epoch = epoch

    def _rng(self, index: int) -> np.random.Generator:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {type(self).__name__} of length {self.length}")
        return np.random.default_rng([self.seed, self.epoch, index])


# ----------------------------------------------------------------------------------------------------------
# Synthetic clips


@dataclass
class PastedSprite:
    """One pasted instance in one clip: its crop (colour-jittered) and its per-frame placement."""

    rgb: np.ndarray  # float32 h x w x 3
    alpha: np.ndarray  # uint8 h x w, feathered
    slot: int  # object slot, or -1 for unlabelled clutter
    mats: list[np.ndarray]  # per frame, crop -> frame
    instance: int  # index into the instance bank


def render_sprites(bg: np.ndarray, sprites: list[PastedSprite], max_objects: int) -> tuple[np.ndarray, np.ndarray]:
    """Alpha-composite sprites bottom-up onto float T x H x W x 3 ``bg`` (in place); masks T x
    ``max_objects`` x H x W = pixels where a labelled sprite is the top one."""
    t_len, h, w = bg.shape[:3]
    frames = bg
    owner = np.full((t_len, h, w), -1, np.int16)
    for sp in sprites:
        for t, m in enumerate(sp.mats):
            placed = _warp_into((h, w), m, sp.alpha)
            if placed is None:
                continue
            roi, mm, shape, a = placed
            rgb = cv2.warpAffine(sp.rgb, mm, shape, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            af = (a.astype(np.float32) / 255.0)[..., None]
            region = frames[t][roi]
            region += af * (rgb - region)
            owner[t][roi][a >= 128] = sp.slot  # clutter (-1) hides what it covers
    masks = owner[:, None] == np.arange(max_objects, dtype=np.int16)[None, :, None, None]
    return frames, masks


class SyntheticClips(_ClipDataset):
    """Multi-object clips: COCO train instances pasted over moving DAVIS/COCO backgrounds.

    Each clip has 1..``max_objects`` labelled objects (slot order = random z-order), optionally 0-2
    unlabelled clutter instances, and with probability ``p_twin`` one object is a second copy of another's
    instance (look-alike distractor). Objects follow smooth trajectories (velocity, acceleration, scale
    change, rotation, all scaled by the time gap); with probability ``p_exit`` an object leaves the frame
    and stays out, with ``p_out_and_back`` it leaves and comes back (T >= 3). Ground truth is the visible
    part after z-order occlusion. In frame 0 every labelled object shows at least ``min_first_px``
    pixels and half of its own area.
    """

    def __init__(self, length: int = 10000, frames: int = 3, size: tuple[int, int] = (240, 432),
                 max_objects: int = 3, seed: int = 0, max_gap: int = 5, min_px: int = 1500,
                 min_first_px: int = 300, size_range: tuple[float, float] = (0.1, 0.45),
                 p_twin: float = 0.2, p_exit: float = 0.15, p_out_and_back: float = 0.1,
                 max_clutter: int = 2, root: Path | None = None) -> None:
        super().__init__(length, frames, size, max_objects, seed)
        if max_gap < 1 or max_clutter < 0:
            raise ValueError(f"max_gap must be >= 1 and max_clutter >= 0, got {max_gap}, {max_clutter}")
        if not 0 < size_range[0] <= size_range[1]:
            raise ValueError(f"size_range must be 0 < low <= high, got {size_range}")
        for name, p in (("p_twin", p_twin), ("p_exit", p_exit), ("p_out_and_back", p_out_and_back)):
            if not 0 <= p <= 1:
                raise ValueError(f"{name} must be in [0, 1], got {p}")
        if p_exit + p_out_and_back > 1:
            raise ValueError(f"p_exit + p_out_and_back must be <= 1, got {p_exit + p_out_and_back}")
        root = data_root() if root is None else Path(root)
        self.instances = load_instances(root, min_px)
        self.backgrounds = background_paths(root)
        self.max_gap, self.min_first_px, self.size_range = max_gap, min_first_px, size_range
        self.p_twin, self.p_exit, self.p_out_and_back = p_twin, p_exit, p_out_and_back
        self.max_clutter = max_clutter

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self._rng(index)
        h, w = self.size
        times = np.arange(self.frames) * rng.integers(1, self.max_gap + 1)
        n_obj = int(rng.integers(1, self.max_objects + 1))
        picks = list(rng.choice(len(self.instances), n_obj + self.max_clutter, replace=False))
        twin = n_obj >= 2 and rng.random() < self.p_twin
        if twin:  # the last labelled object copies the first one's instance
            picks[n_obj - 1] = picks[0]
        n_clutter = int(rng.integers(0, self.max_clutter + 1))
        order = rng.permutation(n_obj + n_clutter)  # z-order, bottom first
        slots = [int(i) if i < n_obj else -1 for i in order]
        sprite_ids = [int(picks[i]) for i in order]

        sprites = None
        for _ in range(10):  # a layout without any visible labelled object is practically never drawn twice
            sprites = self._place(rng, sprite_ids, slots, times, twin)
            if sprites is not None:
                break
        if sprites is None:
            raise RuntimeError(f"clip {index}: could not place any object visibly in frame 0")
        bg = self._background(rng, times)
        frames, masks = render_sprites(bg, sprites, self.max_objects)
        frames = photometric(rng, frames)
        valid = np.zeros(self.max_objects, bool)
        instance = np.full(self.max_objects, -1, np.int64)
        for sp in sprites:
            if sp.slot >= 0:
                valid[sp.slot], instance[sp.slot] = True, sp.instance
        return _clip_item(frames, masks, valid, times, instance)

    # -- background -----------------------------------------------------------------------------------------
    def _background(self, rng: np.random.Generator, times: np.ndarray) -> np.ndarray:
        davis, coco = self.backgrounds
        pool = davis if rng.random() < 0.5 else coco
        img = read_rgb_fast(pool[int(rng.integers(len(pool)))])
        mats = camera_path(rng, img.shape[:2], self.size, times / max(times[-1], 1), flip=rng.random() < 0.5)
        h, w = self.size
        return np.stack([cv2.warpAffine(img, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                         for m in mats]).astype(np.float32)

    # -- objects --------------------------------------------------------------------------------------------
    def _sprite(self, rng: np.random.Generator, instance: int, slot: int, times: np.ndarray,
                target_side: float) -> PastedSprite:
        """Colour-jittered crop and a random trajectory starting at a random in-frame centre."""
        h, w = self.size
        inst = self.instances[instance]
        rgb = inst.rgb.astype(np.float32) * rng.uniform(0.9, 1.1, 3).astype(np.float32)
        alpha = cv2.GaussianBlur(inst.alpha, (3, 3), 0)  # feathered edge: less of a paste seam
        s0 = min(target_side / np.sqrt(inst.area), 2.0)  # cap upsampling: blurry giants look fake
        ch, cw = inst.alpha.shape
        radius = 0.5 * np.hypot(ch, cw) * s0
        ys, xs = np.nonzero(inst.alpha)
        pivot = (float(xs.mean()), float(ys.mean()))
        margin = 0.3 * np.array([cw, ch]) * s0
        p0 = rng.uniform(np.minimum(margin, [w / 2, h / 2]), np.maximum([w, h] - margin, [w / 2, h / 2]))
        tau = times.astype(float)
        scale = s0 * np.exp(rng.uniform(-0.03, 0.03) * tau)
        angle = rng.uniform(-15, 15) + rng.uniform(-2, 2) * tau
        centres = self._trajectory(rng, p0, tau, radius * max(1.0, scale.max() / s0))
        flip = rng.random() < 0.5
        mats = [affine_matrix(s, a, pivot, c, flip) for s, a, c in zip(scale, angle, centres, strict=True)]
        return PastedSprite(rgb, alpha, slot, mats, instance)

    def _trajectory(self, rng: np.random.Generator, p0: np.ndarray, tau: np.ndarray, radius: float
                    ) -> np.ndarray:
        """Centres per frame: drift + acceleration, plus an exit (stays out) or an out-and-back excursion."""
        h, w = self.size
        vmax = 0.02 * w  # px per real frame
        v = rng.uniform(-vmax, vmax, 2)
        a = rng.uniform(-0.1 * vmax, 0.1 * vmax, 2)
        centres = p0 + v * tau[:, None] + 0.5 * a * tau[:, None] ** 2
        mode = rng.choice(3, p=[1 - self.p_exit - self.p_out_and_back, self.p_exit, self.p_out_and_back])
        if mode == 2 and len(tau) < 3:
            mode = 1
        if mode == 0:
            return centres
        u = rng.normal(size=2)
        u /= np.linalg.norm(u) + 1e-9
        # Distance along u until the object's bounding circle is outside the frame (+10 % margin).
        bounds = np.where(u > 0, [w + radius, h + radius], [-radius, -radius])
        dist = 1.1 * np.min([(b - p) / d for b, p, d in zip(bounds, p0, u, strict=True) if abs(d) > 1e-6])
        if mode == 1:
            t_out = tau[int(rng.integers(1, len(tau)))]
            return centres + u * dist * (tau / t_out)[:, None]  # keeps going: stays out after t_out
        # Out and back: a sine bump that is fully out at the middle frame and back by the last.
        t_mid = tau[len(tau) // 2]
        bump = np.where(tau <= t_mid, np.sin(np.pi / 2 * tau / t_mid),
                        np.cos(np.pi / 2 * (tau - t_mid) / (tau[-1] - t_mid)))
        return centres + u * dist * bump[:, None]

    def _place(self, rng: np.random.Generator, sprite_ids: list[int], slots: list[int], times: np.ndarray,
               twin: bool, tries: int = 8) -> list[PastedSprite] | None:
        """Sprites whose labelled ones are visible enough in frame 0; re-places offenders, then drops them.

        None when every labelled object had to be dropped.
        """
        h, w = self.size
        lo, hi = np.log(np.array(self.size_range) * np.sqrt(h * w))
        sides = np.exp(rng.uniform(lo, hi, len(sprite_ids)))
        if twin:  # look-alikes have similar sizes
            first, second = slots.index(0), slots.index(max(slots))
            sides[second] = sides[first] * rng.uniform(0.8, 1.25)
        sprites = [self._sprite(rng, i, s, times, side)
                   for i, s, side in zip(sprite_ids, slots, sides, strict=True)]
        for attempt in range(tries + 1):
            bad = [j for j in self._poorly_visible(sprites) if sprites[j].slot >= 0]
            if not bad:
                break
            for j in bad:
                if attempt < tries:
                    sprites[j] = self._sprite(rng, sprite_ids[j], slots[j], times, sides[j])
                else:
                    sprites[j].slot = -2  # dropped
        kept = [sp for sp in sprites if sp.slot != -2]
        # Slots stay 0..n-1 without gaps when an object had to be dropped.
        labelled = sorted(sp.slot for sp in kept if sp.slot >= 0)
        for sp in kept:
            if sp.slot >= 0:
                sp.slot = labelled.index(sp.slot)
        return kept if labelled else None

    def _poorly_visible(self, sprites: list[PastedSprite]) -> list[int]:
        """Indices of sprites showing < max(min_first_px, half their own area) pixels in frame 0."""
        h, w = self.size
        owner = np.full((h, w), -1, np.int16)
        area = np.zeros(len(sprites))
        for j, sp in enumerate(sprites):
            m = sp.mats[0]
            area[j] = (sp.alpha >= 128).sum() * abs(np.linalg.det(m[:, :2]))
            placed = _warp_into((h, w), m, sp.alpha)
            if placed is None:
                continue
            roi, _, _, a = placed
            owner[roi][a >= 128] = j
        visible = np.bincount(owner[owner >= 0].ravel(), minlength=len(sprites))
        return [j for j in range(len(sprites)) if visible[j] < max(self.min_first_px, 0.5 * area[j])]



# ----------------------------------------------------------------------------------------------------------
# DAVIS-2016 train clips


@functools.lru_cache(maxsize=4)
def davis_index(root: Path) -> tuple[tuple[str, tuple[int, ...], tuple[int, ...], tuple[int, int]], ...]:
    """(sequence, real frame numbers of the stored frames, mask area of each, frame H x W), DAVIS-2016 train."""
    base = _require_dir(root / DAVIS_TRAIN_DIR)
    names = (base / "ImageSets" / "all.txt").read_text(encoding="utf-8").split()
    index = []
    for name in tqdm(names, desc="DAVIS train index", leave=False, disable=None):
        pngs = sorted((base / "Annotations" / "480p" / name).glob("*.png"))
        if not pngs:
            raise FileNotFoundError(f"no annotations for DAVIS sequence {name} under {base}")
        labels = [read_labels(p) for p in pngs]
        index.append((name, tuple(int(p.stem) for p in pngs), tuple(int(m.sum()) for m in labels),
                      labels[0].shape))
    return tuple(index)


class DavisClips(_ClipDataset):
    """T-frame clips of DAVIS-2016 train (one object, slot 0) with random gaps, crop/zoom and flip.

    Gaps between consecutive clip frames are 1..``max_skip`` stored frames (3 real frames each);
    ``times`` are the real frame numbers. The crop window (zoom ``zoom``, slow pan) is chosen so that at
    least ``min_in_view`` of the object's first-frame mask lies inside it.
    """

    def __init__(self, length: int = 3000, frames: int = 3, size: tuple[int, int] = (240, 432),
                 max_objects: int = 3, seed: int = 0, max_skip: int = 3, min_first_px: int = 300,
                 zoom: tuple[float, float] = (1.0, 1.6), min_in_view: float = 0.8,
                 root: Path | None = None) -> None:
        super().__init__(length, frames, size, max_objects, seed)
        if max_skip < 1:
            raise ValueError(f"max_skip must be >= 1, got {max_skip}")
        if not 1.0 <= zoom[0] <= zoom[1]:
            raise ValueError(f"zoom must be 1 <= low <= high, got {zoom}")
        self.root = data_root() if root is None else Path(root)
        self.index = davis_index(self.root)
        self.max_skip, self.min_first_px, self.zoom, self.min_in_view = max_skip, min_first_px, zoom, min_in_view
        # A sequence must hold the clip at the smallest gap.
        self.index = tuple(s for s in self.index if len(s[1]) >= frames)
        if not self.index:
            raise ValueError(f"no DAVIS train sequence has {frames} stored frames")

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        rng = self._rng(index)
        name, numbers, areas, (sh, sw) = self.index[int(rng.integers(len(self.index)))]
        n = len(numbers)
        gaps = rng.integers(1, self.max_skip + 1, self.frames - 1)
        while gaps.sum() > n - 1:  # short sequence: shrink the largest gap
            gaps[np.argmax(gaps)] -= 1
        last_start = n - 1 - int(gaps.sum())
        # Start where the object shows >= min_first_px even at the widest crop (zoom 1).
        widest = (self.size[1] / min(sw, sh * self.size[1] / self.size[0])) ** 2  # output px per source px
        starts = [s for s in range(last_start + 1) if areas[s] * widest >= self.min_first_px]
        start = int(rng.choice(starts)) if starts else int(np.argmax(areas[:last_start + 1]))
        picks = start + np.concatenate([[0], np.cumsum(gaps)])
        base = self.root / DAVIS_TRAIN_DIR
        stems = [f"{numbers[i]:05d}" for i in picks]
        imgs = [read_rgb_fast(base / "JPEGImages" / "480p" / name / f"{s}.jpg") for s in stems]
        labs = [read_labels(base / "Annotations" / "480p" / name / f"{s}.png") * np.uint8(255) for s in stems]
        times = np.array([numbers[i] for i in picks])
        mats = self._crop(rng, labs[0], times)
        h, w = self.size
        frames = np.stack([cv2.warpAffine(im, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                           for im, m in zip(imgs, mats, strict=True)]).astype(np.float32)
        masks = np.zeros((self.frames, self.max_objects, h, w), bool)
        for t, (lab, m) in enumerate(zip(labs, mats, strict=True)):
            masks[t, 0] = cv2.warpAffine(lab, m, (w, h), flags=cv2.INTER_LINEAR) >= 128
        valid = np.zeros(self.max_objects, bool)
        valid[0] = True
        return _clip_item(photometric(rng, frames), masks, valid, times, np.full(self.max_objects, -1, np.int64))

    def _crop(self, rng: np.random.Generator, first_mask: np.ndarray, times: np.ndarray,
              tries: int = 10) -> list[np.ndarray]:
        """Camera matrices whose first window holds >= min_in_view of the object (else zoom out on it)."""
        h, w = self.size
        phase = (times - times[0]) / max(times[-1] - times[0], 1)
        flip = rng.random() < 0.5
        ys, xs = np.nonzero(first_mask)
        area = max(len(ys), 1)
        centre = (float(xs.mean()), float(ys.mean())) if len(ys) else None
        for _ in range(tries):
            jitter = rng.normal(0, 0.25, 2) * [np.ptp(xs) + 1, np.ptp(ys) + 1] if len(ys) else 0
            aim = None if centre is None else tuple(np.add(centre, jitter))
            mats = camera_path(rng, first_mask.shape, self.size, phase, self.zoom, pan=0.05, zoom_change=0.1,
                               centre=aim, flip=flip)
            inside = (cv2.warpAffine(first_mask, mats[0], (w, h), flags=cv2.INTER_LINEAR) >= 128).sum()
            # Output px per source px (squared): compare in-view area at output scale.
            shown = inside / abs(np.linalg.det(mats[0][:, :2]))
            if len(ys) == 0 or (shown >= self.min_in_view * area and inside >= self.min_first_px):
                return mats
        return camera_path(rng, first_mask.shape, self.size, phase, (1.0, 1.0), pan=0.0, zoom_change=0.0,
                           centre=centre, flip=flip)


# ----------------------------------------------------------------------------------------------------------
# Box prompts on real scenes

# The first images (sorted ids) of coco_train2017 are never cut into box crops: the box path's run-time
# settings (model.box_crop_side, model.box_threshold) are chosen on them (`vos-ros eval boxes --set
# tuning`), which the COCO val images of the benchmark must not be used for.
BOX_TUNING_IMAGES = 90


def box_tuning_images(root: Path | None = None) -> list[str]:
    """Ids of the coco_train2017 images kept out of CocoBoxCrops for choosing the box settings."""
    return _tuning_ids(_coco_objects(root))


def _tuning_ids(objects: dict) -> list[str]:
    return sorted(objects)[:BOX_TUNING_IMAGES]


def jittered(box: Box, rng: np.random.Generator, jitter: float, height: int, width: int) -> Box:
    """An x, y, w, h box with each side moved by N(0, jitter) of its size, kept inside the image."""
    x, y, w, h = box
    if jitter <= 0:
        return box
    d = rng.normal(0, jitter, 4) * [w, h, w, h]
    x0, x1 = np.clip([x + d[0], x + w + d[2]], 0, width)
    y0, y1 = np.clip([y + d[1], y + h + d[3]], 0, height)
    return float(x0), float(y0), float(max(x1 - x0, 2.0)), float(max(y1 - y0, 2.0))


class CocoBoxCrops(Dataset):
    """Box prompts on real COCO train images, cut the way ``boxes_to_masks`` cuts them at run time.

    An item is one instance with >= ``min_px`` visible pixels outside the box-tuning images: the box of
    its mask moved like a detector's (each side by N(0, ``jitter``) of the box's size), the context
    crop around it (``BoxCrop``, scaled to ``crop_side``), a random mirror and photometric noise. Real tables, fridges
    and clutter inside a box are what pasted sprites never show the box path.
    Item: ``frame`` h x w x 3 uint8, ``mask`` h x w bool (the instance), ``box`` (x, y, w, h) in the
    crop. Crops differ in size, so they are not batched. The index seeds everything (which instance,
    jitter, mirror), so any index is a fresh draw.
    """

    def __init__(self, crop_side: int, seed: int = 0, min_px: int = 500, jitter: float = 0.07,
                 root: Path | None = None) -> None:
        if crop_side < 32 or min_px < 1 or jitter < 0:
            raise ValueError(f"need crop_side >= 32, min_px >= 1, jitter >= 0; got {crop_side}, {min_px}, {jitter}")
        self.coco = _require_dir((data_root() if root is None else Path(root)) / COCO_DIR)
        objects = _coco_objects(root)
        tuning = set(_tuning_ids(objects))
        self.targets = [(image_id, o["id"]) for image_id, entry in sorted(objects.items()) if image_id not in tuning
                        for o in entry["objects"] if o["visible_px"] >= min_px]
        if not self.targets:
            raise ValueError(f"no COCO instance in {self.coco} has >= {min_px} visible pixels")
        self.crop_side, self.seed, self.jitter = crop_side, seed, jitter

    def __len__(self) -> int:
        return len(self.targets)

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, index])
        image_id, label = self.targets[int(rng.integers(len(self.targets)))]
        rgb = read_rgb_fast(self.coco / "JPEGImages" / image_id / "00000.jpg")
        mask = read_labels(self.coco / "Annotations" / image_id / "00000.png") == label
        height, width = mask.shape
        ys, xs = np.nonzero(mask)
        box = jittered((float(xs.min()), float(ys.min()), float(np.ptp(xs) + 1), float(np.ptp(ys) + 1)), rng,
                       self.jitter, height, width)
        crop = BoxCrop.around(height, width, box, self.crop_side)
        frame = crop.image(rgb)
        crop_mask = crop.image(mask.astype(np.uint8) * 255) >= 128
        bx, by, bw, bh = crop.box(box)
        if rng.random() < 0.5:
            frame, crop_mask, bx = frame[:, ::-1], crop_mask[:, ::-1], frame.shape[1] - bx - bw
        frame = photometric(rng, frame[None].astype(np.float32))[0]
        return {"frame": frame, "mask": np.ascontiguousarray(crop_mask), "box": (bx, by, bw, bh)}


# ----------------------------------------------------------------------------------------------------------
# Mixing and loading


class MixedClips(Dataset):
    """Each index draws from ``synthetic`` with probability ``synthetic_fraction``, else from ``davis``."""

    def __init__(self, synthetic: _ClipDataset, davis: _ClipDataset, synthetic_fraction: float = 0.7,
                 length: int | None = None, seed: int = 0) -> None:
        if not 0 <= synthetic_fraction <= 1:
            raise ValueError(f"synthetic_fraction must be in [0, 1], got {synthetic_fraction}")
        for attr in ("frames", "size", "max_objects"):
            if getattr(synthetic, attr) != getattr(davis, attr):
                raise ValueError(f"datasets differ in {attr}: synthetic {getattr(synthetic, attr)}, "
                                 f"davis {getattr(davis, attr)}")
        self.sources = (synthetic, davis)
        self.synthetic_fraction, self.seed, self.epoch = synthetic_fraction, seed, 0
        self.length = length if length is not None else len(synthetic) + len(davis)
        self.frames, self.size, self.max_objects = synthetic.frames, synthetic.size, synthetic.max_objects

    def __len__(self) -> int:
        return self.length

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch
        for src in self.sources:
            src.set_epoch(epoch)

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for MixedClips of length {self.length}")
        rng = np.random.default_rng([self.seed, self.epoch, index, 1])
        src = self.sources[0 if rng.random() < self.synthetic_fraction else 1]
        return src[int(rng.integers(len(src)))]


def _worker_init(_: int) -> None:
    # Workers already run in parallel; threaded torch ops inside each would oversubscribe the cores.
    # (cv2.setNumThreads must not be called here: in a forked child it waits on the parent's pool threads.)
    torch.set_num_threads(1)


def collate_clips(items: list[dict[str, torch.Tensor]]) -> dict[str, torch.Tensor]:
    """Stack items into a batch; bool tensors are stacked as uint8 views (torch's bool stack is ~7x slower)."""
    batch = {}
    for key, first in items[0].items():
        if first.dtype == torch.bool:
            batch[key] = torch.stack([it[key].view(torch.uint8) for it in items]).view(torch.bool)
        else:
            batch[key] = torch.stack([it[key] for it in items])
    return batch


def make_loader(dataset: Dataset, batch_size: int = 4, num_workers: int = 1, seed: int = 0,
                shuffle: bool = True, drop_last: bool = True, pin_memory: bool = False) -> DataLoader:
    """Seeded DataLoader: the same seed gives the same batches for any ``num_workers`` (0 = main process).

    Workers are not persistent so that ``dataset.set_epoch`` reaches them at the next epoch.
    """
    if batch_size < 1 or num_workers < 0:
        raise ValueError(f"batch_size must be >= 1 and num_workers >= 0, got {batch_size}, {num_workers}")
    gen = torch.Generator().manual_seed(seed)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle, num_workers=num_workers, generator=gen,
                      worker_init_fn=_worker_init if num_workers > 0 else None, drop_last=drop_last,
                      pin_memory=pin_memory, collate_fn=collate_clips)


def mixed_loader(batch_size: int = 4, length: int = 10000, synthetic_fraction: float = 0.7, frames: int = 3,
                 size: tuple[int, int] = (240, 432), max_objects: int = 3, seed: int = 0, num_workers: int = 1,
                 root: Path | None = None, davis_max_skip: int = 3, **loader_kwargs) -> DataLoader:
    """Loader over ``length`` mixed clips (``synthetic_fraction`` synthetic, the rest DAVIS-2016 train,
    ``davis_max_skip``: ``DavisClips.max_skip``)."""
    common = {"frames": frames, "size": size, "max_objects": max_objects, "root": root}
    data = MixedClips(SyntheticClips(length=length, seed=seed, **common),
                      DavisClips(length=length, seed=seed + 1, max_skip=davis_max_skip, **common),
                      synthetic_fraction, length, seed)
    return make_loader(data, batch_size, num_workers, seed, **loader_kwargs)


# ----------------------------------------------------------------------------------------------------------
# Looking at the data


def overlay(frame: np.ndarray, masks: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """RGB H x W x 3 with each valid object's mask tinted in its slot colour and outlined."""
    out = np.ascontiguousarray(frame, dtype=np.float32)
    outlines = []
    for k in np.flatnonzero(valid):
        colour = PALETTE[k % len(PALETTE)].astype(np.float32)
        out[masks[k]] = 0.5 * out[masks[k]] + 0.5 * colour
        contours, _ = cv2.findContours(masks[k].astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        outlines.append((contours, tuple(int(c) for c in PALETTE[k % len(PALETTE)])))
    out = np.ascontiguousarray(out.astype(np.uint8))
    for contours, colour in outlines:
        cv2.drawContours(out, contours, -1, colour, 1)
    return out


def save_contact_sheet(items: list[dict[str, torch.Tensor]], path: str | Path) -> Path:
    """One row per clip, one column per frame, masks overlaid; captions give t and the absent slots."""
    if not items:
        raise ValueError("save_contact_sheet needs at least one item")
    rows = []
    for item in items:
        frames = item["frames"].permute(0, 2, 3, 1).numpy()
        masks, valid, times = item["masks"].numpy(), item["valid"].numpy(), item["times"].numpy()
        tiles = []
        for t in range(len(frames)):
            tile = overlay(frames[t], masks[t], valid)
            absent = [str(k) for k in np.flatnonzero(valid) if not masks[t, k].any()]
            caption = f"t={times[t]}" + (f" absent {','.join(absent)}" if absent else "")
            cv2.putText(tile, caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 3, cv2.LINE_AA)
            cv2.putText(tile, caption, (4, 16), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (255, 255, 255), 1, cv2.LINE_AA)
            tiles.append(np.pad(tile, ((2, 2), (2, 2), (0, 0))))
        rows.append(np.concatenate(tiles, 1))
    width = max(r.shape[1] for r in rows)
    sheet = np.concatenate([np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows], 0)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(sheet, cv2.COLOR_RGB2BGR)):
        raise OSError(f"cannot write contact sheet {path}")
    return path


def build_dataset(source: str, length: int, frames: int, size: tuple[int, int], max_objects: int,
                  seed: int) -> Dataset:
    """``synthetic``, ``davis`` or ``mixed`` (70/30) dataset with the given clip shape."""
    common = {"length": length, "frames": frames, "size": size, "max_objects": max_objects}
    if source == "synthetic":
        return SyntheticClips(seed=seed, **common)
    if source == "davis":
        return DavisClips(seed=seed, **common)
    if source == "mixed":
        return MixedClips(SyntheticClips(seed=seed, **common), DavisClips(seed=seed + 1, **common), 0.7,
                          length, seed)
    raise ValueError(f"unknown source {source!r}: expected synthetic, davis or mixed")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write a contact sheet of training clips and time them.")
    parser.add_argument("--out", type=Path, required=True, help="PNG path of the contact sheet")
    parser.add_argument("--source", choices=("synthetic", "davis", "mixed"), default="mixed")
    parser.add_argument("--clips", type=int, default=8, help="rows in the sheet")
    parser.add_argument("--frames", type=int, default=3)
    parser.add_argument("--size", type=int, nargs=2, default=(240, 432), metavar=("H", "W"))
    parser.add_argument("--max-objects", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--time", type=int, default=50, help="clips to time after the sheet (0: skip)")
    args = parser.parse_args(argv)
    cv2.setNumThreads(1)  # time one worker's cost
    data = build_dataset(args.source, max(args.clips, args.time, 1), args.frames, tuple(args.size),
                         args.max_objects, args.seed)
    path = save_contact_sheet([data[i] for i in range(args.clips)], args.out)
    print(f"wrote {path}")
    if args.time > 0:
        start = time.perf_counter()
        for i in tqdm(range(args.time), desc="timing", leave=False, disable=None):
            data[i]
        ms = (time.perf_counter() - start) * 1000 / args.time
        print(f"{args.source}: {ms:.1f} ms per clip ({ms / args.frames:.1f} ms per frame) at "
              f"{args.size[0]}x{args.size[1]}, T={args.frames}, 1 thread")
    return 0


if __name__ == "__main__":
    sys.exit(main())
