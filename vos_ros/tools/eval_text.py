"""Text-grounding benchmark: success@IoU0.5 and mean IoU per query type on YCB-Video and COCO.

Queries are built from the data, so a held-out copy of the same layout is scored the same way:
- YCB-Video (every sequence folder, every frame, with depth): per object "the <name>" (category),
  "the <colour> <name>" (colour); "the <colour> object on the left/right" for the outermost object
  (spatial); "all the <colour> objects", "all the boxes" where two or more share it (plural);
  absent YCB objects and present ones with a wrong colour (negative).
- COCO (coco_subset): per image and category with at least MIN_COCO_AREA of the image, "the <name>"
  for one instance and "all the <plural>" for several (category, GT = union of its instances), and
  one absent household category per image (negative).
A query succeeds when the union of the grounded masks has IoU >= 0.5 with the ground truth (COCO
crowd regions of the named category left out of both, as in COCO's own evaluation), and a
negative one when nothing is returned (its IoU counts 1, else 0).
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from vos_ros.tools.davis_io import DATA_HELP, data_root

TYPES = ("category", "colour", "spatial", "plural", "negative")
MIN_COCO_AREA = 0.01  # category prompts only for categories covering this share of the image

# YCB-Video classes: (name a person would say, main colour, box-shaped). Names and colours from the
# objects' look (YCB object set, Calli et al.).
YCB_OBJECTS: dict[str, tuple[str, str, bool]] = {
    "002_master_chef_can": ("coffee can", "blue", False),
    "003_cracker_box": ("cracker box", "red", True),
    "004_sugar_box": ("sugar box", "yellow", True),
    "005_tomato_soup_can": ("soup can", "red", False),
    "006_mustard_bottle": ("mustard bottle", "yellow", False),
    "007_tuna_fish_can": ("tuna can", "gray", False),
    "008_pudding_box": ("pudding box", "brown", True),
    "009_gelatin_box": ("gelatin box", "red", True),
    "010_potted_meat_can": ("meat can", "blue", False),
    "011_banana": ("banana", "yellow", False),
    "019_pitcher_base": ("pitcher", "blue", False),
    "021_bleach_cleanser": ("bleach bottle", "white", False),
    "024_bowl": ("bowl", "red", False),
    "025_mug": ("mug", "red", False),
    "035_power_drill": ("power drill", "black", False),
    "036_wood_block": ("wooden block", "brown", True),
    "037_scissors": ("scissors", "black", False),
    "040_large_marker": ("marker", "black", False),
    "051_large_clamp": ("clamp", "black", False),
    "052_extra_large_clamp": ("large clamp", "black", False),
    "061_foam_brick": ("foam brick", "red", True),
}
WRONG_COLOUR = {"red": "blue", "blue": "red", "yellow": "green", "black": "yellow", "white": "green",
                "brown": "blue", "gray": "red"}  # fmt: skip
COCO_NEGATIVES = ("banana", "laptop", "cup", "bottle", "dog", "cat", "book", "teddy bear", "scissors",
                  "bicycle", "toaster", "umbrella", "clock", "pizza", "cell phone", "keyboard")  # fmt: skip
COCO_PLURALS = {"person": "people", "knife": "knives", "mouse": "mice", "skis": "skis", "scissors": "scissors",
                "wine glass": "wine glasses", "bus": "buses", "couch": "couches", "sandwich": "sandwiches",
                "toothbrush": "toothbrushes", "bench": "benches", "sheep": "sheep", "broccoli": "broccoli"}


@dataclass
class Query:
    dataset: str
    image: str            # path of the RGB image
    depth: str            # path of the depth image ("" = none)
    text: str
    type: str
    gt: str               # how the ground-truth mask is made: "ycb:<ids>" or "coco:<ann ids>" or ""


def _ycb_frames(root: Path) -> list[Path]:
    return sorted(root.glob("*/*-color.png"))


def ycb_queries(root: Path) -> list[Query]:
    classes = (root / "classes.txt").read_text().split()
    out: list[Query] = []
    for color in _ycb_frames(root):
        stem = str(color)[: -len("-color.png")]
        labels = np.asarray(Image.open(stem + "-label.png"))
        present = [int(i) for i in np.unique(labels) if i > 0]
        objects = {i: YCB_OBJECTS[classes[i - 1]] for i in present}

        def q(text: str, kind: str, ids: list[int], stem: str = stem) -> Query:
            return Query("ycb", stem + "-color.png", stem + "-depth.png", text, kind,
                         "ycb:" + ",".join(map(str, ids)) if ids else "")

        for i, (name, colour, _) in objects.items():
            out.append(q(f"the {name}", "category", [i]))
            out.append(q(f"the {colour} {name}", "colour", [i]))
            out.append(q(f"the {WRONG_COLOUR[colour]} {name}", "negative", []))
        centres = {i: np.nonzero(labels == i)[1].mean() for i in present}
        for side, pick in (("left", min), ("right", max)):
            i = pick(centres, key=centres.get)
            same_colour = [j for j in present if objects[j][1] == objects[i][1]]
            if len(same_colour) >= 2:  # else "the red object on the left" is just "the red object"
                out.append(q(f"the {objects[i][1]} object on the {side}", "spatial", [i]))
        for colour in sorted({c for _, c, _ in objects.values()}):
            ids = [i for i in present if objects[i][1] == colour]
            if len(ids) >= 2:
                out.append(q(f"all the {colour} objects", "plural", ids))
        boxes = [i for i in present if objects[i][2]]
        if len(boxes) >= 2:
            out.append(q("all the boxes", "plural", boxes))
        absent = [YCB_OBJECTS[c][0] for k, c in enumerate(classes, 1) if k not in present]
        for name in absent[len(out) % max(1, len(absent)) :][:2]:
            out.append(q(f"the {name}", "negative", []))
    return out


def coco_prompts(areas: dict[str, list[float]], image_area: float, k: int) -> list[tuple[str, str, str]]:
    """COCO prompts of one image (the ``k``-th) from its instance areas per category name:
    (text, type, category), a category prompt per category covering MIN_COCO_AREA of the image
    ("the cat" for one instance, "all the cats" for several), one absent household category."""
    out = []
    for name, group in sorted(areas.items()):
        if sum(group) >= MIN_COCO_AREA * image_area:
            text = f"the {name}" if len(group) == 1 else f"all the {COCO_PLURALS.get(name, name + 's')}"
            out.append((text, "category", name))
    absent = [n for n in COCO_NEGATIVES if n not in areas]
    if absent:
        out.append((f"the {absent[k % len(absent)]}", "negative", ""))
    return out


def coco_queries(root: Path) -> list[Query]:
    coco = coco_annotations(root)
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    out: list[Query] = []
    for k, image_id in enumerate(sorted(coco.getImgIds())):
        info = coco.loadImgs(image_id)[0]
        path = str(root / "val2017" / info["file_name"])
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id)) if not a.get("iscrowd", 0)]
        areas: dict[str, list[float]] = {}
        for a in anns:
            areas.setdefault(names[a["category_id"]], []).append(a["area"])
        for text, kind, name in coco_prompts(areas, info["width"] * info["height"], k):
            ids = [str(a["id"]) for a in anns if names[a["category_id"]] == name] if name else []
            out.append(Query("coco", path, "", text, kind, "coco:" + ",".join(ids) if ids else ""))
    return out


_COCO_CACHE: dict[Path, object] = {}


def coco_annotations(root: Path):  # -> pycocotools COCO of coco_subset, loaded once per root
    if root not in _COCO_CACHE:
        import contextlib
        import io

        from pycocotools.coco import COCO

        with contextlib.redirect_stdout(io.StringIO()):  # COCO() prints progress lines
            _COCO_CACHE[root] = COCO(str(root / "instances_val2017_subset.json"))
    return _COCO_CACHE[root]


def ground_truth(query: Query, coco_root: Path, shape: tuple[int, int]) -> np.ndarray:
    kind, _, ids = query.gt.partition(":")
    if not ids:
        return np.zeros(shape, bool)
    if kind == "ycb":
        labels = np.asarray(Image.open(query.image[: -len("-color.png")] + "-label.png"))
        return np.isin(labels, [int(i) for i in ids.split(",")])
    coco = coco_annotations(coco_root)
    out = np.zeros(shape, bool)
    for ann in coco.loadAnns([int(i) for i in ids.split(",")]):
        out |= coco.annToMask(ann).astype(bool)
    return out


def crowd_regions(query: Query, coco_root: Path, shape: tuple[int, int]) -> np.ndarray:
    """H x W bool: the COCO crowd regions ("iscrowd", one outline around many objects) of the
    query's category in its image, which scoring ignores, as COCO's own evaluation does: an object
    found inside one is neither right nor wrong. All False for YCB and negative queries."""
    kind, _, ids = query.gt.partition(":")
    out = np.zeros(shape, bool)
    if kind != "coco" or not ids:
        return out
    coco = coco_annotations(coco_root)
    named = coco.loadAnns([int(i) for i in ids.split(",")])
    crowd_ids = coco.getAnnIds(imgIds=named[0]["image_id"], catIds=[named[0]["category_id"]], iscrowd=True)
    for ann in coco.loadAnns(crowd_ids):
        out |= coco.annToMask(ann).astype(bool)
    return out


def load_depth(path: str, meta_factor: float = 10000.0) -> np.ndarray:
    """YCB-Video depth PNG (uint16, metres x factor_depth) to metres."""
    meta = Path(path[: -len("-depth.png")] + "-meta.json")
    if meta.is_file():
        factor = json.loads(meta.read_text()).get("factor_depth", meta_factor)
        meta_factor = float(np.asarray(factor).reshape(-1)[0])
    return np.asarray(Image.open(path)).astype(np.float32) / meta_factor


def iou(a: np.ndarray, b: np.ndarray, ignore: np.ndarray | None = None) -> float:
    """IoU of two bool masks, leaving out the ``ignore`` pixels (1 when both are empty)."""
    if ignore is not None:
        a, b = a & ~ignore, b & ~ignore
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def on_target(mask: np.ndarray, gt: np.ndarray) -> bool:
    """A returned object is on target when most of it lies on the ground truth."""
    return bool(np.logical_and(mask, gt).sum() >= 0.5 * max(1, mask.sum()))


SCORE_BINS = (0.0, 0.3, 0.5, 0.7, 0.9, 1.01)


def score_bins(scores: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """The non-empty SCORE_BINS: (label "[lo, hi]", which of ``scores`` fall in it)."""
    out = []
    for lo, hi in zip(SCORE_BINS[:-1], SCORE_BINS[1:], strict=True):
        sel = (scores >= lo) & (scores < hi)
        if sel.any():
            out.append((f"[{lo:.1f}, {min(hi, 1.0):.1f}]", sel))
    return out


def score_reliability(rows: list[dict]) -> list[dict]:
    """Per score bin: returned objects and the share on target (what a score means in practice)."""
    objects = [o for r in rows for o in r["returned"]]
    scores = np.array([o["score"] for o in objects], np.float64)
    on_target = np.array([o["on_target"] for o in objects], np.float64)
    return [{"scores": label, "objects": int(sel.sum()), "on_target": float(on_target[sel].mean())}
            for label, sel in score_bins(scores)]


RECALL_THRESHOLDS = (0.2, 0.3, 0.4)
RECALL_MIN_AREA = 1500.0  # px^2: smaller COCO instances are not counted
MATCH_IOU = 0.5           # box IoU above which a detection (or grounding candidate) is that instance


def instances_found(detections: list, boxes: list[tuple[float, ...]], labels: np.ndarray,
                    thresholds: tuple[float, ...]) -> np.ndarray:
    """thresholds x instances bool: a detection of the instance's class with box IoU > MATCH_IOU at that score."""
    from vos_ros.core.types import box_iou

    hit = np.zeros((len(thresholds), len(boxes)), bool)
    for d in detections:
        match = (np.array([box_iou(d.box, b) for b in boxes]) > MATCH_IOU) & (labels == d.label)
        hit |= np.array([d.score >= t for t in thresholds])[:, None] & match[None]
    return hit


def detector_recall(root: Path, detectors: dict, thresholds: tuple[float, ...] = RECALL_THRESHOLDS,
                    images: int = 0) -> dict:
    """Share of the coco_subset instances over RECALL_MIN_AREA that each detector, their ensemble
    (``DetectorEnsemble``, when there are several) and any of them find: a detection of the right
    class with box IoU > 0.5 at or above each score threshold (first ``images`` images only when > 0).
    Each detector runs once per image; the ensemble fuses those same detections."""
    from vos_ros.prompts.detector import DetectorEnsemble

    coco = coco_annotations(root)
    names = {c["id"]: c["name"] for c in coco.loadCats(coco.getCatIds())}
    ensemble = DetectorEnsemble(list(detectors.values())) if len(detectors) > 1 else None
    lowest = ensemble.member_threshold(min(thresholds)) if ensemble else min(thresholds)
    found = {name: np.zeros(len(thresholds)) for name in (*detectors, *(["ensemble"] if ensemble else []), "any")}
    total = 0
    ids = sorted(coco.getImgIds())
    for image_id in tqdm(ids[:images] if images > 0 else ids, desc="detector recall", unit="image"):
        info = coco.loadImgs(image_id)[0]
        rgb = np.asarray(Image.open(root / "val2017" / info["file_name"]).convert("RGB"))
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id))
                if not a.get("iscrowd", 0) and a["area"] > RECALL_MIN_AREA]
        if not anns:
            continue
        total += len(anns)
        gt = [(x, y, x + w, y + h) for x, y, w, h in (a["bbox"] for a in anns)]
        labels = np.array([names[a["category_id"]] for a in anns])
        per_member = {name: detector(rgb, score_threshold=lowest) for name, detector in detectors.items()}
        member_hits = [instances_found(dets, gt, labels, thresholds) for dets in per_member.values()]
        for name, hit in zip(per_member, member_hits, strict=True):
            found[name] += hit.sum(1)
        if ensemble:
            fused = ensemble.fuse(list(per_member.values()), min(thresholds))
            found["ensemble"] += instances_found(fused, gt, labels, thresholds).sum(1)
        found["any"] += np.logical_or.reduce(member_hits).sum(1)
    return {"instances": total, "thresholds": list(thresholds),
            "recall": {name: (v / max(total, 1)).tolist() for name, v in found.items()}}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--datasets", nargs="+", choices=("ycb", "coco"), default=["ycb", "coco"])
    parser.add_argument("--checkpoint", default="", help="tracker weights for the box path (default: configured)")
    parser.add_argument("--segmenter", choices=("auto", "tracker", "grabcut"), default="auto",
                        help="box -> mask step: the tracker's box path (auto: when its weights exist) or GrabCut")
    parser.add_argument("--no-depth", action="store_true", help="ground YCB frames without their depth")
    parser.add_argument("--detector-tta", action="store_true",
                        help="also run the detector on the mirrored image and on 4 tiles (6 passes, not 1)")
    parser.add_argument("--detector-recall", action="store_true",
                        help="also report each detector's recall of the COCO instances (and of both together)")
    parser.add_argument("--min-score", type=float, default=None,
                        help="acceptance threshold (default: prompt.min_score, config/vos_prompt.yaml)")
    parser.add_argument("--limit", type=int, default=0, help="use only the first N queries per dataset (0 = all)")
    parser.add_argument("--json", type=Path, default=None, help="write per-query results and the summary here")


def summarise(rows: list[dict]) -> dict[str, dict[str, dict[str, float]]]:
    summary: dict[str, dict[str, dict[str, float]]] = {}
    for dataset in sorted({r["dataset"] for r in rows}):
        per: dict[str, dict[str, float]] = {}
        for kind in (*TYPES, "all"):
            sel = [r for r in rows if r["dataset"] == dataset and (kind == "all" or r["type"] == kind)]
            if sel:
                per[kind] = {"queries": len(sel), "success": float(np.mean([r["success"] for r in sel])),
                             "mean_iou": float(np.mean([r["iou"] for r in sel]))}
        summary[dataset] = per
    return summary


def print_table(summary: dict, out=sys.stdout) -> None:
    print(f"{'dataset':8s} {'type':9s} {'queries':>7s} {'success@0.5':>11s} {'mean IoU':>8s}", file=out)
    for dataset, per in summary.items():
        for kind, s in per.items():
            print(f"{dataset:8s} {kind:9s} {s['queries']:7d} {s['success']:11.3f} {s['mean_iou']:8.3f}", file=out)


def run(args: argparse.Namespace) -> int:
    from vos_ros.prompts.box_masks import make_segmenter
    from vos_ros.prompts.ground import Grounder

    root = args.data or data_root()
    sources = {"ycb": (root / "ycb_video", ycb_queries), "coco": (root / "coco_subset", coco_queries)}
    queries: list[Query] = []
    for name in args.datasets:
        folder, build = sources[name]
        if not folder.is_dir():
            print(f"error: {folder} not found (set --data or VOS_ROS_DATA)", file=sys.stderr)
            return 2
        found = build(folder)
        queries += found[: args.limit] if args.limit > 0 else found
    grounder = Grounder(segment=make_segmenter(args.segmenter, {"model.checkpoint": args.checkpoint}),
                        detector_tta=args.detector_tta)
    rows = []
    for query in tqdm(queries, desc="grounding", unit="query"):
        image = np.asarray(Image.open(query.image).convert("RGB"))
        depth = load_depth(query.depth) if query.depth and not args.no_depth else None
        result = grounder(image, query.text, depth=depth, min_score=args.min_score)
        pred = result.union_mask(image.shape[:2])
        gt = ground_truth(query, sources["coco"][0], image.shape[:2])
        crowd = crowd_regions(query, sources["coco"][0], image.shape[:2])
        value = (0.0 if pred.any() else 1.0) if query.type == "negative" else iou(pred, gt, crowd)
        rows.append({**asdict(query), "iou": value, "success": value >= 0.5,
                     "returned": [{"label": o.label, "score": o.score, "box": o.box, "source": o.source,
                                   "on_target": on_target(o.mask, gt | crowd)} for o in result.objects]})
    summary = summarise(rows)
    print_table(summary)
    reliability = score_reliability(rows)
    print("score bin      objects  on target")
    for b in reliability:
        print(f"{b['scores']:14s} {b['objects']:7d} {b['on_target']:10.3f}")
    recall = None
    if args.detector_recall:
        from vos_ros.prompts.detector import CenterNet, NanoDet

        recall = detector_recall(sources["coco"][0], {"NanoDet": NanoDet(), "CenterNet": CenterNet()})
        print(f"detector recall of {recall['instances']} COCO instances over {RECALL_MIN_AREA:.0f} px^2 "
              f"(right class, box IoU > {MATCH_IOU}), per score threshold {recall['thresholds']}")
        for name, values in recall["recall"].items():
            print(f"{name:10s} " + " ".join(f"{v:.3f}" for v in values))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "reliability": reliability, "detector_recall": recall,
                                         "segmenter": args.segmenter, "checkpoint": args.checkpoint,
                                         "detector_tta": args.detector_tta,
                                         "depth": not args.no_depth, "queries": rows}, indent=1))
    return 0
