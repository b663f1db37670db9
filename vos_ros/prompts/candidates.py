"""Object candidates for grounding: detector boxes and class-agnostic region proposals.

Sources, each optional:
- the COCO detector (boxes with a label and a score);
- depth: objects standing on the dominant plane (table), when a depth image is given;
- colour: connected regions of one named colour, when the phrase names a colour;
- regions: graph-based segments (Felzenszwalb) of moderate size, the fallback when the detector
  is absent or the noun is not one of its classes.
Candidates that cover the same object are merged so the detector's label meets a proposal's mask.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np
from skimage.segmentation import felzenszwalb

from vos_ros.core.types import Corners, box_iou, mask_box, to_corners
from vos_ros.prompts.detector import Detector

MIN_AREA_FRACTION = 0.002   # smaller proposals are noise at robot-camera distances
MAX_AREA_FRACTION = 0.5     # larger ones are background (table, wall, floor)
MAX_PARTS = 2               # a detection is rebuilt from at most this many proposals (a mug split at its rim);
                            # more inside one box are separate objects (a table's box holds them all)


@dataclass
class Candidate:
    """One possible referent. ``mask`` is None for boxes not segmented yet."""

    box: Corners
    source: str                               # "detector", "depth", "colour" or "region"
    mask: np.ndarray | None = None            # H x W bool
    label: str = ""                           # detector class name ("" for proposals)
    detector_score: float = 0.0
    imagenet: np.ndarray | None = None        # 1000 ImageNet probabilities of the box crop
    sources: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if not self.sources:
            self.sources = [self.source]

    @property
    def area(self) -> float:
        if self.mask is not None:
            return float(self.mask.sum())
        return max(0.0, self.box[2] - self.box[0]) * max(0.0, self.box[3] - self.box[1])


def corners_of_mask(mask: np.ndarray) -> Corners:
    return to_corners(mask_box(mask))


def _mask_candidates(masks: list[np.ndarray], source: str) -> list[Candidate]:
    return [Candidate(box=corners_of_mask(m), source=source, mask=m) for m in masks if m.any()]


def _components(binary: np.ndarray, min_area: int, max_area: int) -> list[np.ndarray]:
    """Connected components of ``binary`` with area in [min_area, max_area]."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(binary.astype(np.uint8), connectivity=8)
    keep = [i for i in range(1, count) if min_area <= stats[i, cv2.CC_STAT_AREA] <= max_area]
    return [labels == i for i in keep]


def _area_limits(shape: tuple[int, ...]) -> tuple[int, int]:
    total = shape[0] * shape[1]
    return int(MIN_AREA_FRACTION * total), int(MAX_AREA_FRACTION * total)


def detector_candidates(image: np.ndarray, detector: Detector, score_threshold: float,
                        tta: bool = False) -> list[Candidate]:
    return [
        Candidate(box=d.box, source="detector", label=d.label, detector_score=d.score)
        for d in detector(image, score_threshold=score_threshold, tta=tta)
        if d.box[2] - d.box[0] >= 2 and d.box[3] - d.box[1] >= 2
    ]


def fit_support_plane(depth: np.ndarray, iterations: int = 200, tolerance: float = 0.01,
                      seed: int = 0) -> np.ndarray | None:
    """RANSAC plane of the dominant surface, as inverse depth a*u + b*v + c (a plane in 3-D is linear
    in inverse depth over pixel coordinates, so no intrinsics are needed). None without enough depth."""
    v, u = np.nonzero(depth > 0)
    if u.size < 100:
        return None
    rng = np.random.default_rng(seed)
    pick = rng.choice(u.size, size=min(u.size, 5000), replace=False)
    u, v, z = u[pick].astype(np.float64), v[pick].astype(np.float64), depth[v[pick].astype(int), u[pick]]
    design = np.stack([u, v, np.ones_like(u)], 1)
    inv = 1.0 / z
    best, best_count = None, -1
    for _ in range(iterations):
        sample = rng.choice(u.size, 3, replace=False)
        try:
            plane = np.linalg.solve(design[sample], inv[sample])
        except np.linalg.LinAlgError:
            continue
        predicted = design @ plane
        # Tolerance in metres: |z - z_plane| < tolerance.
        inliers = (predicted > 0) & (np.abs(z - 1.0 / np.maximum(predicted, 1e-6)) < tolerance)
        if inliers.sum() > best_count:
            best, best_count = inliers, int(inliers.sum())
    if best is None or best_count < 50:
        return None
    plane, *_ = np.linalg.lstsq(design[best], inv[best], rcond=None)
    return plane


def depth_candidates(depth: np.ndarray, height: float = 0.01, edge: float = 0.02) -> list[Candidate]:
    """Objects standing on the support plane: pixels at least ``height`` m in front of it, split where
    depth jumps by more than ``edge`` m between neighbours (objects touching in the image)."""
    if depth.ndim != 2:
        raise ValueError(f"depth must be H x W (metres), got shape {depth.shape}")
    depth = np.nan_to_num(depth.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)
    plane = fit_support_plane(depth)
    if plane is None:
        return []
    vv, uu = np.mgrid[0 : depth.shape[0], 0 : depth.shape[1]]
    inv_plane = plane[0] * uu + plane[1] * vv + plane[2]
    plane_z = np.where(inv_plane > 0, 1.0 / np.maximum(inv_plane, 1e-6), np.inf)
    above = (depth > 0) & (depth < plane_z - height)
    jumps = np.zeros_like(above)
    jumps[:, 1:] |= np.abs(np.diff(depth, axis=1)) > edge
    jumps[1:, :] |= np.abs(np.diff(depth, axis=0)) > edge
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    body = cv2.morphologyEx((above & ~cv2.dilate(jumps.astype(np.uint8), kernel).astype(bool)).astype(np.uint8),
                            cv2.MORPH_OPEN, kernel)
    lo, hi = _area_limits(depth.shape)
    masks = []
    for part in _components(body, lo, hi):
        # Grow back over the pixels removed at the depth edges, but only onto raised pixels.
        grown = cv2.dilate(part.astype(np.uint8), kernel, iterations=2).astype(bool) & above
        masks.append(grown)
    return _mask_candidates(masks, "depth")


def colour_candidates(colour_map: np.ndarray, colour_indices: list[int]) -> list[Candidate]:
    """Connected regions whose pixels have one of the given colour indices (see colour.py)."""
    binary = np.isin(colour_map, colour_indices).astype(np.uint8)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))
    binary = cv2.morphologyEx(cv2.morphologyEx(binary, cv2.MORPH_OPEN, kernel), cv2.MORPH_CLOSE, kernel)
    lo, hi = _area_limits(colour_map.shape)
    return _mask_candidates(_components(binary, lo, hi), "colour")


def solidity(mask: np.ndarray) -> float:
    """Mask area over its convex hull's area: near 1 for compact, object-like regions."""
    points = cv2.findNonZero(mask.astype(np.uint8))
    hull_area = cv2.contourArea(cv2.convexHull(points)) if points is not None else 0.0
    return float(mask.sum()) / hull_area if hull_area > 0 else 0.0


def region_candidates(image: np.ndarray, work_side: int = 320, keep: int = 30) -> list[Candidate]:
    """Graph-based segments of moderate size at a reduced resolution (class-agnostic proposals),
    the ``keep`` most compact ones (each is classified later, which costs a network pass)."""
    height, width = image.shape[:2]
    scale = min(1.0, work_side / max(height, width))
    small = cv2.resize(image, (max(1, round(width * scale)), max(1, round(height * scale))),
                       interpolation=cv2.INTER_AREA)
    masks = []
    for k in (200, 600):
        labels = felzenszwalb(small, scale=k, sigma=0.8, min_size=int(0.002 * small.shape[0] * small.shape[1]))
        lo, hi = _area_limits(small.shape)
        for i in np.unique(labels):
            part = labels == i
            area = int(part.sum())
            if lo <= area <= hi and not _touches_three_borders(part):
                masks.append(part)
    masks = sorted(masks, key=solidity, reverse=True)[:keep]
    full = [cv2.resize(m.astype(np.uint8), (width, height), interpolation=cv2.INTER_NEAREST).astype(bool)
            for m in masks]
    return _mask_candidates(full, "region")


def _touches_three_borders(mask: np.ndarray) -> bool:
    # A region that runs along three image borders is background, not an object.
    return sum(bool(b.any()) for b in (mask[0], mask[-1], mask[:, 0], mask[:, -1])) >= 3


def merge_candidates(candidates: list[Candidate], iou: float = 0.7, inside: float = 0.8) -> list[Candidate]:
    """One candidate per object. A detection takes the mask of a proposal with box IoU >= ``iou``, or
    else the union of the proposals lying (``inside`` of their area) within its box when that union
    fits the box as well (an object split by depth edges); duplicate proposals are dropped."""
    detections = sorted((c for c in candidates if c.source == "detector"), key=lambda c: -c.detector_score)
    proposals = [c for c in candidates if c.source != "detector" and c.mask is not None]
    for det in detections:
        x1, y1, x2, y2 = (int(round(v)) for v in det.box)
        parts = [p for p in proposals if p.mask[y1:y2, x1:x2].sum() >= inside * p.mask.sum()]
        union = np.logical_or.reduce([p.mask for p in parts]) if parts else None
        best = max(proposals, key=lambda p: box_iou(det.box, p.box), default=None)
        if best is not None and box_iou(det.box, best.box) >= iou:
            det.mask, det.sources = best.mask, det.sources + [best.source]
        elif union is not None and len(parts) <= MAX_PARTS and box_iou(det.box, corners_of_mask(union)) >= iou:
            det.mask, det.sources = union, det.sources + [parts[0].source]
    merged: list[Candidate] = list(detections)
    for cand in proposals:
        if all(box_iou(cand.box, other.box) < iou for other in merged):
            merged.append(cand)
    return merged
