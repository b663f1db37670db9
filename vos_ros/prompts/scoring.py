"""How well each candidate fits a phrase: category evidence times colour evidence, each in [0, 1].

Category: the probability that the candidate is an object of the named class, from a logistic model
(``ScoreCalibration``, fitted by ``vos-ros fit grounding`` on COCO train2017 prompts) over cues
(``CATEGORY_FEATURES``): (a) the detector's confidence when its class name means the noun, (b) the
ImageNet probability mass, on the candidate's crop, of synsets whose names mean the noun, the
candidate's size and how it compares with the best candidate of the image; combined by noisy-or
with (c) for box-like nouns (box, brick, carton, ...) that no class name covers, how box-shaped the
candidate's mask is (no training data has such nouns, so its weight is set, not fitted). "Means"
is a ramp on MiniLM cosine similarity (unrelated words sit near 0.3-0.5, synonyms above 0.8) that
starts at most RELATIVE below the vocabulary's best match, so that when the noun is itself a class
("dog") a merely related class ("cat") does not count.
Colour: the share of the candidate's pixels with the named colour, ramped so that a third of the
pixels counts as fully that colour (labels, shadows and highlights cover the rest).
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np

from vos_ros.core.config import MODELS_DIR
from vos_ros.prompts.candidates import Candidate
from vos_ros.prompts.colour import colour_fractions
from vos_ros.prompts.phrase import COLOURS, Phrase
from vos_ros.prompts.vocabulary import Vocabulary

SIMILAR_FROM, SIMILAR_TO = 0.55, 0.85     # cosine ramp: below = unrelated, above = same thing
RELATIVE = 0.25                           # the ramp starts no lower than best match - RELATIVE
BOX_NOUNS = {"box", "brick", "block", "carton", "cube", "package", "packet", "crate", "case", "pack"}
BOX_SHAPE_WEIGHT = 0.5                    # a perfect box shape alone is this much category evidence
BOX_IOU_FROM, BOX_IOU_TO = 0.82, 0.92     # mask vs. its best 6-corner polygon: ramp of boxiness
DETECTOR_FROM, DETECTOR_TO = 0.2, 0.5     # detector scores: a true object sits around 0.4-0.6
COLOUR_FULL = 0.33                        # share of pixels that counts as "this colour"
MIN_AREA = 1e-4                           # area fractions below count as this (log of the area is a cue)
# The category cues the calibration weighs, in this order (names as stored in its JSON file).
CATEGORY_FEATURES = ("detector", "imagenet", "detector_raw", "detector_related", "log_area", "relative")
DETECTOR_EVIDENCE = CATEGORY_FEATURES.index("detector")  # the column that is ``Scores.detector``
CALIBRATION_FILE = MODELS_DIR / "grounding_scores.json"


def ramp(x: np.ndarray | float, lo: float, hi: float) -> np.ndarray:
    return np.clip((np.asarray(x, np.float32) - lo) / (hi - lo), 0.0, 1.0)


def name_match(similarity: np.ndarray) -> np.ndarray:
    """How much each class name means the noun, from cosine similarities to all of them."""
    lo = max(SIMILAR_FROM, float(similarity.max()) - RELATIVE)
    return ramp(similarity, lo, max(SIMILAR_TO, lo + 0.1))


def boxiness(mask: np.ndarray | None) -> float:
    """How well a convex polygon of at most 6 corners (a box seen from any side) covers the mask:
    their IoU ramped from BOX_IOU_FROM (a mug scores about 0.8) to BOX_IOU_TO; 0 for masks cut by
    the image border."""
    if mask is None or not mask.any():
        return 0.0
    if mask[:2].any() or mask[-2:].any() or mask[:, :2].any() or mask[:, -2:].any():
        return 0.0  # cut by the image border: the outline is not the object's
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (7, 7))
    smooth = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, kernel)  # ragged proposal borders
    contours, _ = cv2.findContours(smooth, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return 0.0
    hull = cv2.convexHull(max(contours, key=cv2.contourArea))
    perimeter = cv2.arcLength(hull, True)
    for eps in (0.01, 0.02, 0.03, 0.04, 0.06):
        polygon = cv2.approxPolyDP(hull, eps * perimeter, True)
        if len(polygon) <= 6:
            break
    filled = np.zeros_like(smooth)
    cv2.fillPoly(filled, [polygon], 1)
    inter = float(np.logical_and(filled, smooth).sum())
    union = float(np.logical_or(filled, smooth).sum())
    return float(ramp(inter / max(union, 1.0), BOX_IOU_FROM, BOX_IOU_TO))


@dataclass
class Scores:
    category: np.ndarray   # N
    colour: np.ndarray     # N
    total: np.ndarray      # N
    detector: np.ndarray   # N: the detector's evidence for the named class (ramped score x name match)


@dataclass(frozen=True)
class ScoreCalibration:
    """Logistic model: P(candidate is an object of the named class) = sigmoid(features @ weights + bias)."""

    weights: np.ndarray    # len(CATEGORY_FEATURES)
    bias: float

    def __call__(self, features: np.ndarray) -> np.ndarray:  # N x F -> N
        return (1.0 / (1.0 + np.exp(-(features @ self.weights + self.bias)))).astype(np.float32)

    @classmethod
    def load(cls, path: str | Path = CALIBRATION_FILE) -> ScoreCalibration:
        """Strict: the file must name exactly CATEGORY_FEATURES, in order."""
        data = json.loads(Path(path).read_text())
        if tuple(data.get("features", ())) != CATEGORY_FEATURES:
            raise ValueError(f"{path}: features {data.get('features')} are not {list(CATEGORY_FEATURES)}")
        return cls(weights=np.asarray(data["weights"], np.float32), bias=float(data["bias"]))


@lru_cache(maxsize=1)
def shipped_calibration() -> ScoreCalibration:
    return ScoreCalibration.load()


def category_features(phrase: Phrase, candidates: list[Candidate], coco: Vocabulary, imagenet: Vocabulary,
                      image_area: float) -> np.ndarray:
    """N x len(CATEGORY_FEATURES): the cues of each candidate for the phrase's noun."""
    coco_match = name_match(coco.similarity(phrase.noun))
    imagenet_match = name_match(imagenet.similarity(phrase.noun))
    coco_index = {name: i for i, name in enumerate(coco.names)}
    out = np.zeros((len(candidates), len(CATEGORY_FEATURES)), np.float32)
    for i, cand in enumerate(candidates):
        label_match = float(coco_match[coco_index[cand.label]]) if cand.label else 0.0
        out[i, 0] = float(ramp(cand.detector_score, DETECTOR_FROM, DETECTOR_TO)) * label_match
        out[i, 1] = float(cand.imagenet @ imagenet_match) if cand.imagenet is not None else 0.0
        out[i, 2] = cand.detector_score * label_match
        out[i, 3] = cand.detector_score * (label_match > 0)  # "mug" means COCO's "cup" only half, but it is one
        out[i, 4] = np.log(max(cand.area / image_area, MIN_AREA))
    either = 1.0 - (1.0 - out[:, 0]) * (1.0 - out[:, 1])  # detector or ImageNet says so
    out[:, 5] = either / max(float(either.max(initial=0.0)), 1e-6)
    return out


def category_scores(phrase: Phrase, candidates: list[Candidate], coco: Vocabulary, imagenet: Vocabulary,
                    image_area: float, calibration: ScoreCalibration | None = None) -> tuple[np.ndarray, np.ndarray]:
    """-> category probability N and the detector's evidence N (``Scores.detector``)."""
    if not phrase.noun:  # "the red one": any object
        return np.ones(len(candidates), np.float32), np.zeros(len(candidates), np.float32)
    if not candidates:
        return np.zeros(0, np.float32), np.zeros(0, np.float32)
    features = category_features(phrase, candidates, coco, imagenet, image_area)
    out = (calibration or shipped_calibration())(features)
    # Only when the vocabularies lack the noun: "the carton" is ImageNet's, "the gelatin box" is not.
    unnamed = not (imagenet.has(phrase.noun, SIMILAR_TO) or coco.has(phrase.noun, SIMILAR_TO))
    if phrase.noun.split()[-1] in BOX_NOUNS and unnamed:
        shape = np.array([BOX_SHAPE_WEIGHT * boxiness(c.mask) for c in candidates], np.float32)
        out = 1.0 - (1.0 - out) * (1.0 - shape)
    return out, features[:, DETECTOR_EVIDENCE].copy()


def colour_region(cand: Candidate, shape: tuple[int, int]) -> np.ndarray:
    """The candidate's mask, or before segmentation the ellipse inscribed in the inner 70 % of its box
    (mostly object pixels for a well-fitting box)."""
    if cand.mask is not None:
        return cand.mask
    x1, y1, x2, y2 = cand.box
    region = np.zeros(shape, np.uint8)
    centre = (int(round((x1 + x2) / 2)), int(round((y1 + y2) / 2)))
    axes = (max(1, int(0.35 * (x2 - x1))), max(1, int(0.35 * (y2 - y1))))
    cv2.ellipse(region, centre, axes, 0, 0, 360, 1, -1)
    return region.astype(bool)


def colour_scores(phrase: Phrase, candidates: list[Candidate], colour_map: np.ndarray | None) -> np.ndarray:
    if not phrase.colours:
        return np.ones(len(candidates), np.float32)
    if colour_map is None:
        raise ValueError(f"phrase {phrase.text!r} names colours but no colour map was given")
    wanted = [COLOURS.index(c) for c in phrase.colours]
    out = np.zeros(len(candidates), np.float32)
    for i, cand in enumerate(candidates):
        fractions = colour_fractions(colour_map, colour_region(cand, colour_map.shape))
        out[i] = float(ramp(fractions[wanted], 0.0, COLOUR_FULL).min())  # "red and white": both
    return out


def score_candidates(phrase: Phrase, candidates: list[Candidate], coco: Vocabulary, imagenet: Vocabulary,
                     shape: tuple[int, int], colour_map: np.ndarray | None = None,
                     calibration: ScoreCalibration | None = None) -> Scores:
    """``shape``: the image's height, width (candidate sizes are cues relative to it)."""
    category, detector = category_scores(phrase, candidates, coco, imagenet, float(shape[0] * shape[1]), calibration)
    colour = colour_scores(phrase, candidates, colour_map)
    return Scores(category=category, colour=colour, total=category * colour, detector=detector)
