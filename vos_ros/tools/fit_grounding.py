"""Fit the grounding score's calibration (``vos_ros.prompts.scoring.ScoreCalibration``).

    vos-ros fit grounding [--data ../shared/data] [--out models/grounding_scores.json]

On the COCO train2017 images of ``train_extra/coco_train2017`` (never the val2017 images that
``eval text`` scores), the same prompts as ``eval text`` builds for COCO ("the cat", "all the
cups", an absent household category) are put to the grounder; every candidate of every prompt is
one sample: its cues (``CATEGORY_FEATURES``) and whether its box matches an instance of the named
class (box IoU > 0.5). Prompts of classes with a common other name are also put with that name
("the mug" for a cup, SYNONYMS), so the fit sees nouns that mean a class only in part. A
logistic regression over the cues then gives each candidate the probability of being such an
object: the score that grounding thresholds and returns.
The file written holds the weights, the data and command, and on the same training prompts the
score's reliability per bin and a success proxy per acceptance threshold (boxes, not masks:
a category prompt succeeds when at least half the chosen boxes are right and at least half of
the named instances are chosen; a negative one when nothing is chosen).
Caveat: the COCO detectors were trained on train2017, so their scores are somewhat more often
right on these images than on new ones; `eval text` shows the reliability on held-out images.
"""
from __future__ import annotations

import argparse
import datetime
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from vos_ros.tools.davis_io import DATA_HELP, data_root
from vos_ros.tools.eval_text import MATCH_IOU, coco_prompts, score_bins

TRAIN_FOLDER = "train_extra/coco_train2017"
L2 = 1e-2                # ridge on the standardised weights (the bias is free)
THRESHOLDS = (0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.5)
# COCO class -> (another name, its plural): what people call these objects as often as the class name.
SYNONYMS = {"cup": ("mug", "mugs"), "dining table": ("table", "tables"), "potted plant": ("plant", "plants"),
            "donut": ("doughnut", "doughnuts"), "laptop": ("computer", "computers"),
            "wine glass": ("glass", "glasses"), "cell phone": ("phone", "phones"),
            "motorcycle": ("motorbike", "motorbikes"), "handbag": ("bag", "bags"), "couch": ("sofa", "sofas"),
            "refrigerator": ("fridge", "fridges"), "tv": ("television", "televisions"),
            "bicycle": ("bike", "bikes")}


def with_synonyms(prompts: list[tuple[str, str, str]]) -> list[tuple[str, str, str]]:
    """``coco_prompts`` plus, for each category prompt of a class in SYNONYMS, the same with its other name."""
    out = list(prompts)
    for text, kind, name in prompts:
        if kind == "category" and name in SYNONYMS:
            one, many = SYNONYMS[name]
            out.append((f"the {one}" if text.startswith("the ") else f"all the {many}", kind, name))
    return out


def instances(root: Path, image_id: str, objects: list[dict]) -> list[tuple[str, float, tuple[int, ...]]]:
    """(category, visible pixels, x1 y1 x2 y2 box) of every instance of one image, from its label PNG."""
    labels = np.asarray(Image.open(root / "Annotations" / image_id / "00000.png"))
    out = []
    for obj in objects:
        ys, xs = np.nonzero(labels == obj["id"])
        if xs.size:  # a few instances are painted over entirely
            out.append((obj["category"], float(xs.size), (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)))
    return out


def fit_logistic(features: np.ndarray, labels: np.ndarray, l2: float = L2,
                 iterations: int = 50) -> tuple[np.ndarray, float]:
    """Newton steps on the L2-penalised log-likelihood of standardised features; returns the weights
    and bias for the raw features."""
    mean, std = features.mean(0), features.std(0) + 1e-6
    z = np.c_[(features - mean) / std, np.ones(len(features))]
    w = np.zeros(z.shape[1])
    penalty = np.r_[np.full(z.shape[1] - 1, l2), 0.0]
    for _ in range(iterations):
        p = 1.0 / (1.0 + np.exp(-z @ w))
        grad = z.T @ (p - labels) + penalty * w
        hess = (z * (p * (1.0 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    weights = w[:-1] / std
    return weights, float(w[-1] - weights @ mean)


def reliability(scores: np.ndarray, labels: np.ndarray) -> list[dict]:
    """Per score bin: candidates, mean score and share that are right."""
    return [{"scores": label, "candidates": int(sel.sum()), "mean_score": float(scores[sel].mean()),
             "right": float(labels[sel].mean())} for label, sel in score_bins(scores)]


def proxy_success(prompt: dict, chosen: list[int]) -> bool:
    """Box-level success of one prompt's choice (see the module docstring)."""
    if prompt["type"] == "negative":
        return not chosen
    if not chosen:
        return False
    right = sum(bool(prompt["match"][i] >= 0) for i in chosen)
    found = len({int(prompt["match"][i]) for i in chosen if prompt["match"][i] >= 0})
    return right >= 0.5 * len(chosen) and found >= 0.5 * prompt["instances"]


def collect(root: Path, limit: int = 0) -> list[dict]:
    """Every prompt of the training images with its candidates' cues and matches."""
    from vos_ros.core.types import box_iou
    from vos_ros.prompts.colour import colour_names
    from vos_ros.prompts.ground import Grounder
    from vos_ros.prompts.phrase import parse_phrase
    from vos_ros.prompts.scoring import category_features
    from vos_ros.prompts.vocabulary import coco_vocabulary, imagenet_vocabulary

    grounder = Grounder()
    objects = json.loads((root / "objects.json").read_text())
    ids = sorted(objects)[:limit] if limit > 0 else sorted(objects)
    prompts = []
    for k, image_id in enumerate(tqdm(ids, desc="training prompts", unit="image")):
        image = np.asarray(Image.open(root / "JPEGImages" / image_id / "00000.jpg").convert("RGB"))
        found = instances(root, image_id, objects[image_id]["objects"])
        areas: dict[str, list[float]] = {}
        for name, area, _ in found:
            areas.setdefault(name, []).append(area)
        colour_map = colour_names(image)
        for text, kind, name in with_synonyms(coco_prompts(areas, image.shape[0] * image.shape[1], k)):
            phrase = parse_phrase(text)
            cands = grounder.classified_candidates(image, phrase, None, colour_map)
            boxes = [box for category, _, box in found if category == name]
            match = np.full(len(cands), -1)
            for i, cand in enumerate(cands):
                ious = [box_iou(cand.box, box) for box in boxes]
                if ious and max(ious) > MATCH_IOU:
                    match[i] = int(np.argmax(ious))
            prompts.append({"image": image_id, "phrase": phrase, "type": kind, "instances": len(boxes),
                            "shape": image.shape[:2], "candidates": cands, "match": match,
                            "features": category_features(phrase, cands, coco_vocabulary(), imagenet_vocabulary(),
                                                          float(image.shape[0] * image.shape[1]))})
    return prompts


def threshold_table(prompts: list[dict], calibration) -> list[dict]:
    """The success proxy of the training prompts per acceptance threshold (selection as at run time)."""
    from vos_ros.prompts.scoring import DETECTOR_EVIDENCE
    from vos_ros.prompts.selection import select

    scored = [(prompt, calibration(prompt["features"]), prompt["features"][:, DETECTOR_EVIDENCE]) for prompt in prompts]
    rows = []
    for t in THRESHOLDS:
        success = {"category": [], "negative": []}
        for prompt, scores, evidence in scored:
            chosen = select(prompt["phrase"], prompt["candidates"], scores, t, prompt["shape"],
                            detector_evidence=evidence)
            success[prompt["type"]].append(proxy_success(prompt, chosen))
        rows.append({"threshold": t, **{kind: float(np.mean(v)) for kind, v in success.items() if v}})
    return rows


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--out", type=Path, default=None,
                        help="calibration file to write (default: models/grounding_scores.json)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N training images (0 = all)")


def run(args: argparse.Namespace) -> int:
    from vos_ros.prompts.scoring import CALIBRATION_FILE, CATEGORY_FEATURES, ScoreCalibration

    root = (args.data or data_root()) / TRAIN_FOLDER
    if not (root / "objects.json").is_file():
        print(f"error: {root}/objects.json not found (set --data or VOS_ROS_DATA)", file=sys.stderr)
        return 2
    prompts = collect(root, args.limit)
    features = np.concatenate([p["features"] for p in prompts if len(p["candidates"])])
    labels = np.concatenate([p["match"] >= 0 for p in prompts if len(p["candidates"])]).astype(np.float64)
    weights, bias = fit_logistic(features, labels)
    calibration = ScoreCalibration(weights=weights.astype(np.float32), bias=bias)
    scores = calibration(features)
    eps = 1e-6
    log_loss = float(-np.mean(labels * np.log(scores + eps) + (1 - labels) * np.log(1 - scores + eps)))
    bins, table = reliability(scores, labels), threshold_table(prompts, calibration)
    print(f"{len(prompts)} prompts, {len(labels)} candidates ({int(labels.sum())} right), log loss {log_loss:.4f}")
    print("weights: " + ", ".join(f"{n} {w:+.3f}" for n, w in zip(CATEGORY_FEATURES, weights, strict=True))
          + f", bias {bias:+.3f}")
    print("score bin      candidates  mean score  right")
    for b in bins:
        print(f"{b['scores']:14s} {b['candidates']:10d} {b['mean_score']:11.3f} {b['right']:6.3f}")
    print("threshold  category  negative  (success proxy on the training prompts)")
    for row in table:
        print(f"{row['threshold']:9.2f} {row.get('category', 0):9.3f} {row.get('negative', 0):9.3f}")
    out = args.out or CALIBRATION_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "features": list(CATEGORY_FEATURES), "weights": [round(float(w), 6) for w in weights],
        "bias": round(bias, 6),
        "fitted": {"command": "vos-ros fit grounding" + (f" --limit {args.limit}" if args.limit else ""),
                   "data": TRAIN_FOLDER, "images": len({p["image"] for p in prompts}), "prompts": len(prompts),
                   "candidates": int(len(labels)), "right": int(labels.sum()), "l2": L2,
                   "date": datetime.date.today().isoformat(), "log_loss": round(log_loss, 4),
                   "reliability": bins, "thresholds": table},
    }, indent=1) + "\n")
    print(f"wrote {out}")
    return 0
