"""Which of the matching candidates the phrase refers to: count, place and size words.

"the cup" -> the best-scoring cup; "the cup on the left" -> the leftmost matching cup; "two cups" ->
two of them (leftmost two when a place is named, else the best two); "all cups" / "cups" -> every
match, and with a place word every match in that part of the image ("the cups on the left").
"""
from __future__ import annotations

import numpy as np

from vos_ros.core.types import box_inside, box_iou
from vos_ros.prompts.candidates import Candidate
from vos_ros.prompts.phrase import Phrase

CONTAINED = 0.8      # a candidate this much inside a larger matching one is a part of it, not another object
PART_OF_SCORE = 0.5  # ... when the larger one scores at least this fraction of the part's score
SAME_OBJECT_IOU = 0.4  # ... and, for a detector box, when their boxes overlap this much (else it is another object)
GROUP_FILL = 0.6     # matches inside a larger one filling less than this share of it make it a group
DUPLICATE = 0.7      # box IoU above which two matches are one object
NAMED = 0.5          # detector evidence from which a box is a whole object of the named class


def _depth_of(cand: Candidate, depth: np.ndarray | None, shape: tuple[int, int]) -> float:
    """Median depth (m) of the candidate, or without depth the image row of its bottom edge, negated
    and scaled, so that lower in the image reads as nearer (objects standing on a floor or table)."""
    if depth is not None and cand.mask is not None:
        values = depth[cand.mask & (depth > 0)]
        if values.size:
            return float(np.median(values))
    return 1.0 - cand.box[3] / shape[0]


def place_key(cand: Candidate, spatial: tuple[str, ...], depth: np.ndarray | None,
              shape: tuple[int, int]) -> float:
    """Smaller = more the named place (sum over the place words: "top right")."""
    height, width = shape
    cx = (cand.box[0] + cand.box[2]) / 2 / width
    cy = (cand.box[1] + cand.box[3]) / 2 / height
    keys = {
        "left": lambda: cx,
        "right": lambda: -cx,
        "top": lambda: cy,
        "bottom": lambda: -cy,
        "centre": lambda: float(np.hypot(cx - 0.5, cy - 0.5)),
        "nearest": lambda: _depth_of(cand, depth, shape),
        "farthest": lambda: -_depth_of(cand, depth, shape),
    }
    return float(sum(keys[word]() for word in spatial))


def in_named_half(cand: Candidate, word: str, shape: tuple[int, int]) -> bool:
    height, width = shape
    cx = (cand.box[0] + cand.box[2]) / 2 / width
    cy = (cand.box[1] + cand.box[3]) / 2 / height
    return {
        "left": cx < 0.5, "right": cx >= 0.5, "top": cy < 0.5, "bottom": cy >= 0.5,
        "centre": abs(cx - 0.5) < 0.25 and abs(cy - 0.5) < 0.25,
    }.get(word, True)  # nearest/farthest with "all": no half to keep


def _contained(candidates: list[Candidate], outer: int, indices: list[int]) -> list[int]:
    return [j for j in indices if j != outer and candidates[j].area < candidates[outer].area
            and box_inside(candidates[j].box, candidates[outer].box) >= CONTAINED]


def _region(cand: Candidate, shape: tuple[int, int]) -> np.ndarray:
    if cand.mask is not None:
        return cand.mask
    region = np.zeros(shape, bool)
    x1, y1, x2, y2 = (int(round(v)) for v in cand.box)
    region[y1:y2, x1:x2] = True
    return region


def is_group(candidates: list[Candidate], i: int, indices: list[int], shape: tuple[int, int]) -> bool:
    """A match holding two or more other matches that together fill little of it is a group or a
    surface (the table under three red objects), not one object; a mug whose mask is the union of
    its rim and body is filled by them and stays. A colour or region blob over two matches always is
    one (a red mug touching a red brick)."""
    inner = _contained(candidates, i, indices)
    if len(inner) < 2:
        return False
    if set(candidates[i].sources) <= {"colour", "region"}:
        return True  # a pixel-grouping blob over several matches: touching objects of one colour
    union = np.logical_or.reduce([_region(candidates[j], shape) for j in inner])
    return float(union.sum()) < GROUP_FILL * max(1.0, candidates[i].area)


def distinct(candidates: list[Candidate], scores: np.ndarray, indices: list[int],
             shape: tuple[int, int], named: np.ndarray | None = None) -> list[int]:
    """``indices`` (by decreasing score) as distinct objects: without groups (``is_group``), without
    parts (a candidate mostly inside a larger one that matches at least PART_OF_SCORE as well: a
    mug's rim, the red face of a box; a weak large match removes nothing), and without duplicates
    (box IoU above DUPLICATE with a better one, a detection of the named class, ``named``, first:
    one object detected under two class names). A detector box is a part only of a detection it
    overlaps by SAME_OBJECT_IOU (the cup inside the box of the cup on its saucer; not the child in
    front of an adult), and a detection of the named class only of another such detection (the
    pizza on a table whose crop looks like pizza to the ImageNet head is the pizza)."""
    named = np.zeros(len(candidates), bool) if named is None else named
    # Smallest first, so a group inside a larger match does not count as one of its objects: the
    # bed-sized box a detector puts over a tabletop must not make the table around it "filled".
    groups: set[int] = set()
    for i in sorted(indices, key=lambda i: candidates[i].area):
        if is_group(candidates, i, [j for j in indices if j not in groups], shape):
            groups.add(i)
    objects = [i for i in indices if i not in groups]

    def part_of(i: int, j: int) -> bool:
        if scores[j] < PART_OF_SCORE * scores[i] or i not in _contained(candidates, j, [i]):
            return False
        if candidates[i].source != "detector":
            return True
        return (named[j] or not named[i]) and box_iou(candidates[i].box, candidates[j].box) >= SAME_OBJECT_IOU

    wholes = [i for i in objects if not any(part_of(i, j) for j in objects)]
    kept: list[int] = []
    for i in sorted(wholes, key=lambda i: not named[i]):  # of two duplicates, the named one stays
        if all(box_iou(candidates[i].box, candidates[j].box) <= DUPLICATE for j in kept):
            kept.append(i)
    return [i for i in wholes if i in kept]


def select(phrase: Phrase, candidates: list[Candidate], scores: np.ndarray, min_score: float,
           shape: tuple[int, int], depth: np.ndarray | None = None, max_instances: int = 0,
           detector_evidence: np.ndarray | None = None) -> list[int]:
    """Indices of the referred candidates, best first; empty when nothing scores ``min_score``.
    ``detector_evidence`` (N, ``Scores.detector``) marks detections of the named class."""
    if len(candidates) != len(scores):
        raise ValueError(f"{len(candidates)} candidates but {len(scores)} scores")
    ranked = [int(i) for i in np.argsort(-scores, kind="stable") if scores[i] >= min_score]
    named = None if detector_evidence is None else np.asarray(detector_evidence) >= NAMED
    matching = distinct(candidates, scores, ranked, shape, named)
    if phrase.size:
        sign = -1.0 if phrase.size == "largest" else 1.0
        matching.sort(key=lambda i: sign * candidates[i].area)
    elif phrase.spatial:
        matching.sort(key=lambda i: place_key(candidates[i], phrase.spatial, depth, shape))
    if phrase.wants_all:
        chosen = [i for i in matching if all(in_named_half(candidates[i], w, shape) for w in phrase.spatial)]
    else:
        chosen = matching[: phrase.count]
    return chosen[:max_instances] if max_instances > 0 else chosen
