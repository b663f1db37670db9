"""DAVIS semi-supervised J, F and J&F, as the official davis2017-evaluation code computes them.

Behaviour follows shared/docs/davis_metric.md (official commit ac7c43f): J is the region IoU, F the
boundary F-measure with ``seg2bmap`` boundaries dilated by ``disk(r)`` (``cv2.dilate``),
r = ceil(0.008 * image diagonal); only frames 1..N-2 are scored; the number of objects K is the
largest id in the first GT frame; global numbers average over all objects of all sequences.
Pure numpy / OpenCV / scikit-image, no torch.
"""
from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np
from skimage.morphology import disk

BOUND_TH = 0.008
METRIC_KEYS = ("J-Mean", "J-Recall", "J-Decay", "F-Mean", "F-Recall", "F-Decay")


def region_similarity(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Per-frame J (IoU) of boolean stacks ``T x H x W`` (or single ``H x W`` masks); empty union -> 1."""
    pred, gt = _check_pair(pred, gt)
    inter = np.count_nonzero(pred & gt, axis=(-2, -1))
    union = np.count_nonzero(pred | gt, axis=(-2, -1))
    with np.errstate(invalid="ignore", divide="ignore"):
        j = np.where(union == 0, 1.0, inter / np.maximum(union, 1))
    return j.astype(np.float64)


def seg2bmap(mask: np.ndarray) -> np.ndarray:
    """One-pixel boundary of a boolean mask (or ``T x H x W`` stack), as the official ``seg2bmap``.

    A pixel is boundary when it differs from its right, lower or lower-right neighbour; in the last
    column only the lower neighbour counts, in the last row only the right one, and the
    bottom-right pixel never is boundary (so the image border itself is not a boundary).
    """
    m = np.asarray(mask, dtype=bool)
    b = np.zeros_like(m)
    right = m[..., :, :-1] ^ m[..., :, 1:]
    down = m[..., :-1, :] ^ m[..., 1:, :]
    diag = m[..., :-1, :-1] ^ m[..., 1:, 1:]
    b[..., :-1, :-1] = right[..., :-1, :] | down[..., :, :-1] | diag
    b[..., -1, :-1] = right[..., -1, :]
    b[..., :-1, -1] = down[..., :, -1]
    return b


def boundary_radius(height: int, width: int, bound_th: float = BOUND_TH) -> int:
    """Dilation radius in pixels: ``bound_th`` itself when >= 1, else ceil(bound_th * diagonal)."""
    if bound_th >= 1:
        return int(bound_th)
    return int(math.ceil(bound_th * math.hypot(height, width)))


@lru_cache(maxsize=8)
def _disk_kernel(radius: int) -> np.ndarray:
    return disk(radius).astype(np.uint8)


def _boundary_f(pred_b: np.ndarray, gt_b: np.ndarray, kernel: np.ndarray) -> float:
    n_p = int(np.count_nonzero(pred_b))
    n_g = int(np.count_nonzero(gt_b))
    if n_p == 0 or n_g == 0:
        # official special cases: both empty -> P = R = 1 (F = 1); exactly one empty -> F = 0
        return 1.0 if n_p == n_g else 0.0
    # Matches are only read at boundary pixels and the dilation of a pixel outside the boundaries'
    # bounding box is never read there, so dilating that box alone gives the exact same counts.
    ys, xs = np.nonzero(pred_b | gt_b)
    box = (slice(ys.min(), ys.max() + 1), slice(xs.min(), xs.max() + 1))
    pb = pred_b[box].astype(np.uint8)
    gb = gt_b[box].astype(np.uint8)
    pred_dil = cv2.dilate(pb, kernel)
    gt_dil = cv2.dilate(gb, kernel)
    precision = np.count_nonzero(pb & gt_dil) / n_p
    recall = np.count_nonzero(gb & pred_dil) / n_g
    if precision + recall == 0:
        return 0.0
    return 2.0 * precision * recall / (precision + recall)


def boundary_measure(pred: np.ndarray, gt: np.ndarray, bound_th: float = BOUND_TH) -> np.ndarray:
    """Per-frame boundary F of boolean stacks ``T x H x W`` (or single ``H x W`` masks)."""
    pred, gt = _check_pair(pred, gt)
    single = pred.ndim == 2
    if single:
        pred, gt = pred[None], gt[None]
    kernel = _disk_kernel(boundary_radius(pred.shape[-2], pred.shape[-1], bound_th))
    pred_b, gt_b = seg2bmap(pred), seg2bmap(gt)
    f = np.array([_boundary_f(p, g, kernel) for p, g in zip(pred_b, gt_b, strict=True)], dtype=np.float64)
    return f[0] if single else f


def decay_bins(n: int) -> list[tuple[int, int]]:
    """Inclusive (first, last) frame indices of the 4 decay bins over ``n`` values (bins share edges)."""
    if n < 1:
        raise ValueError("decay needs at least one value")
    # +1e-10 makes numpy's round-half-to-even round .5 up, as the official code does
    edges = (np.round(np.linspace(1, n, 5) + 1e-10) - 1).astype(int)
    return [(int(edges[i]), int(edges[i + 1])) for i in range(4)]


def statistics(values: np.ndarray) -> tuple[float, float, float]:
    """(Mean, Recall, Decay) of one object's per-frame values: mean, fraction > 0.5, first - last bin."""
    v = np.asarray(values, dtype=np.float64)
    if v.ndim != 1 or v.size == 0:
        raise ValueError(f"statistics need a non-empty 1-D array of per-frame values, got shape {v.shape}")
    bins = decay_bins(v.size)
    first, last = bins[0], bins[-1]
    decay = np.nanmean(v[first[0]:first[1] + 1]) - np.nanmean(v[last[0]:last[1] + 1])
    return float(np.nanmean(v)), float(np.mean(v > 0.5)), float(decay)


@dataclass
class ObjectScore:
    """Per-frame J and F of one object over the scored frames, with its DAVIS statistics."""

    name: str           # "<seq>_<k>", as the official code names it
    j: np.ndarray
    f: np.ndarray

    def summary(self) -> dict[str, float]:
        jm, jr, jd = statistics(self.j)
        fm, fr, fd = statistics(self.f)
        return {"J-Mean": jm, "J-Recall": jr, "J-Decay": jd, "F-Mean": fm, "F-Recall": fr, "F-Decay": fd,
                "J&F-Mean": (jm + fm) / 2}


def n_objects(gt_first: np.ndarray) -> int:
    """K of a sequence: the largest id in its first GT frame."""
    return int(np.max(gt_first)) if gt_first.size else 0


def scored_frames(n_frames: int) -> range:
    """Indices of the frames the semi-supervised task scores: all but the first and the last."""
    if n_frames < 3:
        raise ValueError(f"a sequence needs at least 3 frames to be scored (first and last are skipped), "
                         f"got {n_frames}")
    return range(1, n_frames - 1)


def evaluate_sequence(name: str, gt: Sequence[np.ndarray],
                      pred: Mapping[int, np.ndarray] | Sequence[np.ndarray],
                      bound_th: float = BOUND_TH) -> list[ObjectScore]:
    """Score one sequence: ``gt`` = all N GT label maps (ids, void already 0); ``pred`` = label maps
    of the scored frames 1..N-2, either a list in that order or ``{frame_index: labels}``.

    Raises ValueError when a predicted id exceeds K (the official code stops there too) or when sizes
    differ. Objects the prediction lacks count as empty masks.
    """
    frames = scored_frames(len(gt))
    k = n_objects(np.asarray(gt[0]))
    if k == 0:
        raise ValueError(f"{name}: the first GT frame holds no object (K = 0)")
    preds = [pred[i] for i in frames] if isinstance(pred, Mapping) else list(pred)
    if len(preds) != len(frames):
        raise ValueError(f"{name}: {len(preds)} predicted frames for {len(frames)} scored frames")
    gt_stack = np.stack([np.asarray(gt[i]) for i in frames])
    pred_stack = np.stack([np.asarray(p) for p in preds])
    if pred_stack.shape != gt_stack.shape:
        raise ValueError(f"{name}: prediction frames are {pred_stack.shape[1:]}, "
                         f"GT frames {gt_stack.shape[1:]}")
    top = int(pred_stack.max())
    if top > k:
        raise ValueError(f"{name}: the prediction holds object id {top} but the first GT frame has only "
                         f"{k} object(s)")
    scores = []
    for obj in range(1, k + 1):
        p, g = pred_stack == obj, gt_stack == obj
        scores.append(ObjectScore(f"{name}_{obj}", region_similarity(p, g), boundary_measure(p, g, bound_th)))
    return scores


def aggregate(per_sequence: Mapping[str, Iterable[ObjectScore]]) -> dict:
    """Global and per-sequence numbers; global = mean over all objects of all sequences.

    Layout (as the golden files): ``{"global": {J-Mean, ..., J&F-Mean}, "per_sequence": {seq:
    {n_frames_scored, J-Mean, ..., J&F-Mean, "objects": {"<seq>_<k>": {...}}}}}``; a sequence's own
    numbers are the means over its objects.
    """
    all_objects: list[dict[str, float]] = []
    out_seq = {}
    for seq, objects in per_sequence.items():
        objects = list(objects)
        if not objects:
            raise ValueError(f"{seq}: no scored objects")
        summaries = {o.name: o.summary() for o in objects}
        all_objects.extend(summaries.values())
        entry = {"n_frames_scored": int(objects[0].j.size), **_mean_summary(list(summaries.values()))}
        entry["objects"] = summaries
        out_seq[seq] = entry
    if not all_objects:
        raise ValueError("nothing to aggregate: no sequences")
    return {"global": _mean_summary(all_objects), "per_sequence": out_seq}


def _mean_summary(summaries: list[dict[str, float]]) -> dict[str, float]:
    out = {key: float(np.mean([s[key] for s in summaries])) for key in METRIC_KEYS}
    out["J&F-Mean"] = (out["J-Mean"] + out["F-Mean"]) / 2
    return out


def _check_pair(pred: np.ndarray, gt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    pred = np.asarray(pred, dtype=bool)
    gt = np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} differs from GT shape {gt.shape}")
    if pred.ndim not in (2, 3):
        raise ValueError(f"masks must be H x W or T x H x W, got shape {pred.shape}")
    return pred, gt
