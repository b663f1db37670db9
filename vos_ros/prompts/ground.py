"""Ground a phrase on an image: ``ground(image, "the red mug") -> GroundingResult``.

Coarse to fine, after SgMg's segment-then-refine: parse the phrase; gather candidates (detector
boxes, depth / colour / region proposals); classify every candidate's crop with the ImageNet head;
score candidates against the phrase on these coarse cues; select the referred ones (count, place,
size); only then turn the chosen boxes into masks (the tracker's box path, or GrabCut before its
weights exist). Several objects come out of one pass; an empty result means nothing matches.
"""
from __future__ import annotations

import copy
import hashlib
import logging
import time
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from vos_ros.core.types import Box, mask_box, to_box
from vos_ros.prompts.box_masks import Segmenter, make_segmenter
from vos_ros.prompts.candidates import (
    Candidate,
    colour_candidates,
    depth_candidates,
    detector_candidates,
    merge_candidates,
    region_candidates,
)
from vos_ros.prompts.classifier import imagenet_probabilities
from vos_ros.prompts.colour import colour_names
from vos_ros.prompts.config import PromptConfig
from vos_ros.prompts.detector import Detector, check_image, model_dir, shared_detector
from vos_ros.prompts.phrase import COLOURS, Phrase, parse_phrase
from vos_ros.prompts.scoring import ScoreCalibration, score_candidates
from vos_ros.prompts.selection import select
from vos_ros.prompts.vocabulary import coco_vocabulary, imagenet_vocabulary

log = logging.getLogger(__name__)

DETECTOR_THRESHOLD = 0.2   # detections below are not even candidates
COCO_NOUN = 0.8            # MiniLM similarity above which the noun is one of the detector's classes


@dataclass
class GroundedObject:
    mask: np.ndarray       # H x W bool
    box: Box               # x, y, w, h of the mask
    score: float           # in [0, 1]: category evidence x colour evidence
    label: str             # the phrase's noun, or the phrase when it names none ("the red one")
    source: str            # candidate sources, e.g. "detector+depth"


@dataclass
class GroundingResult:
    phrase: Phrase
    objects: list[GroundedObject]
    candidates: int                          # how many were scored
    timings_ms: dict[str, float] = field(default_factory=dict)

    def union_mask(self, shape: tuple[int, int]) -> np.ndarray:
        """All referred objects in one H x W bool mask (all False when nothing matches)."""
        out = np.zeros(shape, bool)
        for obj in self.objects:
            out |= obj.mask
        return out


def check_depth(depth: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    if not isinstance(depth, np.ndarray) or depth.shape != shape:
        got = depth.shape if isinstance(depth, np.ndarray) else type(depth).__name__
        raise ValueError(f"depth must be an H x W array in metres matching the image {shape}, got {got}")
    return np.nan_to_num(depth.astype(np.float32), nan=0.0, posinf=0.0, neginf=0.0)


class Grounder:
    """Holds the models (shared per process) and the thresholds; call it like ``ground``."""

    def __init__(self, detector: Detector | None | str = "auto", segment: Segmenter | None = None,
                 min_score: float | None = None, detector_threshold: float = DETECTOR_THRESHOLD,
                 detector_tta: bool = False, calibration: ScoreCalibration | None = None) -> None:
        if min_score is None:  # the one default: prompt.min_score of config/vos_prompt.yaml
            min_score = PromptConfig.load().min_score
        if not 0.0 <= min_score <= 1.0:
            raise ValueError(f"min_score must be in [0, 1], got {min_score}")
        self.detector = shared_detector() if detector == "auto" else detector
        if detector == "auto" and self.detector is None:
            log.warning("no detector files in %s (run `make detectors`): grounding uses region "
                        "proposals and the ImageNet head only, with lower quality", model_dir())
        self._segment = segment
        self.min_score = min_score
        self.detector_threshold = detector_threshold
        self.detector_tta = detector_tta  # flipped image + 4 tiles: more small objects, 6x detector time
        self.calibration = calibration    # None: the shipped one (models/grounding_scores.json)
        # Per-image results reused across phrases on the same frame (the node and the benchmark
        # ground several phrases per image): image digest -> {"detections": ..., box: probabilities}.
        self._cache_key: str = ""
        self._cache: dict = {}

    def _image_cache(self, image: np.ndarray) -> dict:
        key = hashlib.sha1(image.tobytes()).hexdigest() + str(image.shape)
        if key != self._cache_key:
            self._cache_key, self._cache = key, {}
        return self._cache

    @property
    def segment(self) -> Segmenter:
        if self._segment is None:
            self._segment = make_segmenter("auto")
        return self._segment

    def candidates(self, image: np.ndarray, phrase: Phrase, depth: np.ndarray | None,
                   colour_map: np.ndarray) -> list[Candidate]:
        found: list[Candidate] = []
        cache = self._image_cache(image)
        if self.detector is not None:
            if "detections" not in cache:
                cache["detections"] = detector_candidates(image, self.detector, self.detector_threshold,
                                                          self.detector_tta)
            found += [copy.copy(c) for c in cache["detections"]]
        if depth is not None:
            key = "depth:" + hashlib.sha1(depth.tobytes()).hexdigest()
            if key not in cache:
                cache[key] = depth_candidates(depth)
            found += [copy.copy(c) for c in cache[key]]
        if phrase.colours:
            found += colour_candidates(colour_map, [COLOURS.index(c) for c in phrase.colours])
        # Region proposals only where nothing better names the object: they are many and noisy.
        noun_is_coco = bool(phrase.noun) and coco_vocabulary().has(phrase.noun, COCO_NOUN)
        if self.detector is None or (depth is None and not noun_is_coco):
            if "regions" not in cache:
                cache["regions"] = region_candidates(image)
            found += [copy.copy(c) for c in cache["regions"]]
        return merge_candidates(found)

    def classified_candidates(self, image: np.ndarray, phrase: Phrase, depth: np.ndarray | None,
                              colour_map: np.ndarray, timings: dict[str, float] | None = None) -> list[Candidate]:
        """The phrase's candidates, each with the ImageNet probabilities of its crop when the phrase has a noun."""
        timings = {} if timings is None else timings
        start = time.perf_counter()
        cands = self.candidates(image, phrase, depth, colour_map)
        timings["candidates"] = (time.perf_counter() - start) * 1000
        start = time.perf_counter()
        if phrase.noun and cands:
            cache = self._image_cache(image)
            todo = [c.box for c in cands if c.box not in cache]
            for box, p in zip(todo, imagenet_probabilities(image, todo), strict=True):
                cache[box] = p
            for cand in cands:
                cand.imagenet = cache[cand.box]
        timings["classify"] = (time.perf_counter() - start) * 1000
        return cands

    def __call__(self, image: np.ndarray, text: str, depth: np.ndarray | None = None,
                 min_score: float | None = None, max_instances: int = 0) -> GroundingResult:
        check_image(image)
        phrase = parse_phrase(text)
        shape = image.shape[:2]
        depth = check_depth(depth, shape) if depth is not None else None
        threshold = self.min_score if min_score is None or min_score <= 0 else float(min_score)
        timings: dict[str, float] = {}
        colour_map = colour_names(image)
        cands = self.classified_candidates(image, phrase, depth, colour_map, timings)
        scored = score_candidates(phrase, cands, coco_vocabulary(), imagenet_vocabulary(), shape, colour_map,
                                  self.calibration)
        scores = scored.total
        chosen = select(phrase, cands, scores, threshold, shape, depth, max_instances, scored.detector)
        start = time.perf_counter()
        need_masks = [i for i in chosen if cands[i].mask is None]
        for i, mask in zip(need_masks, self.segment(image, [to_box(cands[i].box) for i in need_masks]), strict=True):
            cands[i].mask = mask
        timings["segment"] = (time.perf_counter() - start) * 1000
        objects = []
        for i in chosen:
            mask = cands[i].mask
            box = mask_box(mask)
            if box is None:  # the box path found nothing inside: nothing to track
                continue
            label = phrase.noun or phrase.text
            objects.append(GroundedObject(mask=mask, box=box, score=float(scores[i]), label=label,
                                          source="+".join(cands[i].sources)))
        return GroundingResult(phrase=phrase, objects=objects, candidates=len(cands), timings_ms=timings)


@lru_cache(maxsize=1)
def default_grounder() -> Grounder:
    return Grounder()


def ground(image: np.ndarray, text: str, depth: np.ndarray | None = None, segment: Segmenter | None = None,
           min_score: float | None = None, max_instances: int = 0) -> GroundingResult:
    """Ground ``text`` on an RGB uint8 image (optionally with depth in metres).

    ``segment`` overrides the box -> mask step (see box_masks.py). Returns the referred objects,
    best first; none when nothing matches the phrase well enough (``min_score``, default
    ``prompt.min_score`` of config/vos_prompt.yaml).
    """
    grounder = default_grounder()
    if segment is not None:
        grounder = Grounder(grounder.detector, segment, grounder.min_score, grounder.detector_threshold,
                            grounder.detector_tta)
    return grounder(image, text, depth=depth, min_score=min_score, max_instances=max_instances)
