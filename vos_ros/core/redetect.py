"""Find a missing object again where its box prior says it should be, with the box path.

The memory readout loses an object that a hand moves or covers for a moment, and a covered object's
memory then says little about where it is. Its box prior (vos_ros/core/motion.py) still knows: a cup
pushed on keeps moving the way it went, one let go stops where it was last seen, so its searches
alternate between its predicted box and that last box. For one absent object per frame whose spot
is not taken by a visible object, the box path (vos_ros/core/box_path.py) segments that spot;
the mask is taken as the object when it looks like the object did when it was prompted (cosine
similarity of stride-8 features pooled over the masks) and has about its size. A different object
in the spot (the cup now covering the ball) does not look like it and is refused.

A look-alike is also searched for where it cannot be predicted: at the free region (not covered by a
visible object) that looks most like it, nearest where it was last seen. The memory readout cannot
find it there: the readout's nearest memory tokens for a cup's pixels are those of the other cups,
which say "not this object". A LOST look-alike, whose prediction says nothing, is searched for there
only; in a shell game the cup no id is on is the one whose id went missing.

Look-alikes that differ a little (a shade, a size) are also told apart by how each looked lately: ids
that came back on each other's objects are exchanged back (``appearance_order``).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from scipy import ndimage

from vos_ros.core.motion import MAX_EXTRAPOLATION, PRESENT_PROBABILITY, BoxPrior
from vos_ros.core.track_state import Track
from vos_ros.core.types import TrackState

SPOT_TAKEN = 0.5     # skip a spot when visible objects cover more than this fraction of its predicted box
SIMILAR_CELL = 0.5   # a stride-8 cell looks like an object at this cosine with its appearance (3 x 3 mean)
MIN_REGION = 0.25    # a similar region (or a mask) smaller than this fraction of the object's area is noise
APPEARANCE_MARGIN = 0.02  # cosine by which a mask must look more like another look-alike to be that one's
APPEARANCE_SMOOTHING = 0.1  # weight of the newest reliable mask in how a look-alike looks lately
INDISTINCT = 0.97    # look-alikes this similar lately (cosine) are not told apart by how they look


def appearances(f8: torch.Tensor, masks4: torch.Tensor) -> torch.Tensor:
    """Unit-length means of stride-8 features 1 x C x h8 x w8 over K stride-4 masks (K x h4 x w4, weights
    in [0, 1]) -> K x C (zeros for an empty mask)."""
    weights = F.avg_pool2d(masks4.float(), 2)                                       # K x h8 x w8
    pooled = torch.einsum("chw,khw->kc", f8[0].float(), weights) / weights.sum((1, 2)).clamp(min=1e-6)[:, None]
    return F.normalize(pooled, dim=1)


def appearance_order(f8: torch.Tensor, probs4: torch.Tensor, recent: list[torch.Tensor | None],
                     alike: list[bool], priors: list[BoxPrior], frame: int) -> list[int] | None:
    """Look-alikes whose ids came back on each other: the slot order to read the K objects' probabilities
    (1 x K x h4 x w4) in (slot k takes ``order[k]``), None when none did. Look-alikes differ a little (a
    shade, a size); a mask that looks more like another look-alike's ``recent`` appearance (how each looked
    lately: prompt-time looks change with the view) than like its own, by more than APPEARANCE_MARGIN, is
    that one's, when (a) that one's mask looks more like the first one in the same way (both exchanged),
    or (b) that one has no mask and the first one is coming back (not seen reliably for more than
    MAX_EXTRAPOLATION frames: the readout put the id on the nearest look-alike, e.g. the one that slid
    over to its place while it was carried away). Look-alikes that look INDISTINCT alike are left alone:
    their masks' likeness to one or the other is noise (three red cups)."""
    slots = [k for k, a in enumerate(recent) if alike[k] and a is not None]
    if len(slots) < 2:
        return None
    masks = probs4[0, torch.tensor(slots, device=probs4.device)] > PRESENT_PROBABILITY   # S x h4 x w4
    areas = masks.flatten(1).sum(1).tolist()
    seen = appearances(f8, masks)                                                   # S x C
    looks = torch.stack([recent[k] for k in slots]).to(seen)                   # S x C
    similarity, alikeness = (seen @ looks.T).tolist(), (looks @ looks.T).tolist()    # mask x look, look x look
    shown = [areas[i] >= MIN_REGION * priors[k].area for i, k in enumerate(slots)]
    order = list(range(len(recent)))
    taken = set()
    for i, k in enumerate(slots):
        if not shown[i] or k in taken:
            continue
        for j, other in enumerate(slots):
            if (other == k or other in taken or alikeness[i][j] >= INDISTINCT
                    or similarity[i][j] - similarity[i][i] <= APPEARANCE_MARGIN):
                continue
            both = shown[j] and similarity[j][i] - similarity[j][j] > APPEARANCE_MARGIN
            returning = not shown[j] and frame - priors[k].last_frame > MAX_EXTRAPOLATION
            if both or returning:
                order[k], order[other] = other, k
                taken.update((k, other))
                break
    return order if order != sorted(order) else None


def lookalikes(appearances: list[torch.Tensor | None], similarity: float) -> list[bool]:
    """Per object: does another object look at least ``similarity`` alike (cosine of appearances)?"""
    known = [k for k, a in enumerate(appearances) if a is not None]
    out = [False] * len(appearances)
    if len(known) > 1:
        sims = torch.stack([appearances[k] for k in known])
        sims = sims @ sims.T
        sims.fill_diagonal_(-1)
        for i, k in enumerate(known):
            out[k] = bool((sims[i] >= similarity).any())
    return out


def free_spot(prior: BoxPrior, frame: int, taken: torch.Tensor, last_seen: bool = False
              ) -> tuple[float, float, float, float] | None:
    """The predicted box (cells) of an absent object, or with ``last_seen`` the box it was last seen in,
    unless it lies outside the map or visible objects (``taken``, h4 x w4 bool) cover most of it."""
    h, w = taken.shape
    x0, y0, x1, y1 = prior.box if last_seen else prior.predicted(frame)
    cx0, cy0, cx1, cy1 = max(0, int(x0)), max(0, int(y0)), min(w, int(x1) + 1), min(h, int(y1) + 1)
    if cx1 <= cx0 or cy1 <= cy0:
        return None
    if float(taken[cy0:cy1, cx0:cx1].float().mean()) > SPOT_TAKEN:
        return None
    return float(cx0), float(cy0), float(cx1 - 1), float(cy1 - 1)


def similar_spot(f8: torch.Tensor, reference: torch.Tensor, taken: torch.Tensor, prior: BoxPrior
                 ) -> tuple[float, float, float, float] | None:
    """The box (cells) of the region that looks like the object (``reference`` appearance, stride-8 features
    1 x C x h8 x w8) and is not ``taken`` (h4 x w4 bool) by visible objects, nearest to the box it was last
    seen in; None where no region is at least MIN_REGION of its area."""
    similarity = torch.einsum("chw,c->hw", F.normalize(f8[0].float(), dim=0), reference.float())
    similarity = F.avg_pool2d(similarity[None, None], 3, 1, 1, count_include_pad=False)[0, 0]
    taken8 = F.avg_pool2d(taken[None, None].float(), 2)[0, 0] > SPOT_TAKEN
    regions, _ = ndimage.label(((similarity >= SIMILAR_CELL) & ~taken8).cpu().numpy())
    x0, y0, x1, y1 = prior.box
    best, best_distance = None, float("inf")
    for label, (rows, cols) in enumerate(ndimage.find_objects(regions), start=1):
        if 4 * float((regions[rows, cols] == label).sum()) < MIN_REGION * prior.area:   # stride-8 cells: 4 each
            continue
        cx, cy = cols.start + cols.stop - 0.5, rows.start + rows.stop - 0.5      # centre in stride-4 cells
        distance = abs(2 * cx - x0 - x1) + abs(2 * cy - y0 - y1)
        if distance < best_distance:
            # a region of the most similar cells is smaller than the object: at least the object's last size
            half_w = max(cols.stop - cols.start, (x1 - x0 + 1) / 2)
            half_h = max(rows.stop - rows.start, (y1 - y0 + 1) / 2)
            best, best_distance = (cx - half_w + 0.5, cy - half_h + 0.5, cx + half_w - 0.5, cy + half_h - 0.5), distance
    return best


def search_spot(track: Track, frame: int, taken: torch.Tensor, f8: torch.Tensor, lookalike: bool
                ) -> tuple[float, float, float, float] | None:
    """Where to search for an absent object this time (cells), by turns: its predicted box, the box it was
    last seen in, and for a look-alike the free region that looks most like it (a LOST look-alike: there
    only); None where that spot is taken or outside the map."""
    ways = ("similar",) if track.state == TrackState.LOST else (
        ("predicted", "last seen", "similar") if lookalike else ("predicted", "last seen"))
    way = ways[track.redetect_tries % len(ways)]
    if way == "similar":
        return similar_spot(f8, track.appearance, taken, track.prior)
    return free_spot(track.prior, frame, taken, last_seen=way == "last seen")


def accepted(mask4: torch.Tensor, f8: torch.Tensor, prior: BoxPrior, reference: torch.Tensor,
             taken: torch.Tensor, similarity: float, max_growth: float) -> bool:
    """Is the box path's stride-4 mask (h4 x w4 float) the missing object? About its size, mostly on free
    pixels, and looking like its ``reference`` appearance."""
    cells = mask4 > PRESENT_PROBABILITY
    area = float(cells.sum())
    if not prior.area / max_growth <= area <= prior.area * max_growth:
        return False
    if float((cells & taken).sum()) > SPOT_TAKEN * area:
        return False
    return float(appearances(f8, mask4[None])[0] @ reference) >= similarity
