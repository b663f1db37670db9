"""Box-prompt benchmark: masks from boxes against the instances' own masks.

Sets (``--set``):
- ``val``: every non-crowd instance over RECALL_MIN_AREA px^2 of the COCO val images in
  ``coco_subset`` (never trained on), given by its COCO box;
- ``tuning``: the instances with over RECALL_MIN_AREA visible pixels of the coco_train2017 images
  kept out of the box-crop training (train_data.BOX_TUNING_IMAGES), given by their mask's box; the
  box path's run-time settings are chosen here, not on ``val``.
Each box goes through the tracker's box path (``box_probabilities`` with the config's
``model.box_crop_side``), optionally moved like a detector's box (``--jitter``: each side by
N(0, jitter) of the box size, seeded), and is cut at ``model.box_threshold`` or at each of
``--thresholds``. Reported: mean mask IoU and the share with IoU >= 0.5, overall and by box size
(share of the image), and the same for the filled box itself, the floor a box path has to beat.
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import cv2
import numpy as np
from PIL import Image
from tqdm import tqdm

from vos_ros.core.box_path import BoxCrop
from vos_ros.core.config import TRACKER_CONFIG, TrackerConfig
from vos_ros.core.types import Box, mask_box
from vos_ros.tools.davis_io import DATA_HELP, data_root, read_labels
from vos_ros.tools.eval_text import RECALL_MIN_AREA, coco_annotations, iou
from vos_ros.tools.train_data import COCO_DIR, box_tuning_images, jittered

SIZE_BINS = ((0.0, 0.05, "box < 5 % of the image"), (0.05, 0.3, "box 5-30 %"), (0.3, 1.01, "box >= 30 %"))
SETS = ("val", "tuning")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", choices=SETS, default="val", help="COCO val (benchmark) or the tuning images")
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--config", type=Path, default=TRACKER_CONFIG, help="tracker parameter file")
    parser.add_argument("--checkpoint", default=None, help="override model.checkpoint (weights file)")
    parser.add_argument("--thresholds", default="", help="comma-separated probability cuts to compare "
                        "(default: the config's model.box_threshold)")
    parser.add_argument("--jitter", type=float, default=0.0, help="detector-like box noise (share of box size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="first N images only (0 = all)")
    parser.add_argument("--json", type=Path, default=None, help="write the summaries and per-instance IoUs")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="write a PNG of the 16 instances with the lowest IoU (first threshold)")


Instance = tuple[str, Box, np.ndarray]  # id, x-y-w-h box, H x W bool mask


def val_images(data: Path) -> Iterator[tuple[np.ndarray, list[Instance]]]:
    """COCO val images of coco_subset with their instances over RECALL_MIN_AREA (COCO boxes)."""
    root = data / "coco_subset"
    coco = coco_annotations(root)
    for image_id in sorted(coco.getImgIds()):
        info = coco.loadImgs(image_id)[0]
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id))
                if not a.get("iscrowd", 0) and a["area"] > RECALL_MIN_AREA]
        rgb = np.array(Image.open(root / "val2017" / info["file_name"]).convert("RGB"))
        yield rgb, [(str(a["id"]), tuple(a["bbox"]), coco.annToMask(a).astype(bool)) for a in anns]


def tuning_images(data: Path) -> Iterator[tuple[np.ndarray, list[Instance]]]:
    """The box-tuning coco_train2017 images with their instances over RECALL_MIN_AREA visible pixels."""
    root = data / COCO_DIR
    for image_id in box_tuning_images(data):
        rgb = np.array(Image.open(root / "JPEGImages" / image_id / "00000.jpg").convert("RGB"))
        labels = read_labels(root / "Annotations" / image_id / "00000.png")
        found = []
        for label in np.unique(labels[labels > 0]):
            mask = labels == label
            if mask.sum() > RECALL_MIN_AREA:
                found.append((f"{image_id}_{label}", mask_box(mask), mask))
        yield rgb, found


def set_images(name: str, data: Path) -> Iterator[tuple[np.ndarray, list[Instance]]]:
    """The images of set ``name`` (SETS) with their instances; FileNotFoundError names a missing folder."""
    needed = data / ("coco_subset" if name == "val" else "train_extra")
    if not needed.is_dir():
        raise FileNotFoundError(f"{needed} not found (set --data or VOS_ROS_DATA)")
    return val_images(data) if name == "val" else tuning_images(data)


TILE = (200, 150)  # w, h of a contact-sheet tile


def instance_tile(rgb: np.ndarray, box: Box, gt: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """The box's context crop, letterboxed into TILE: mask tinted green, truth outlined white, box red."""
    view = rgb.copy()
    view[mask] = (0.5 * view[mask] + [0, 110, 0]).astype(np.uint8)
    contours, _ = cv2.findContours(gt.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    cv2.drawContours(view, contours, -1, (255, 255, 255), 2)
    x, y, w, h = (int(round(v)) for v in box)
    cv2.rectangle(view, (x, y), (x + w, y + h), (255, 0, 0), 2)
    crop = BoxCrop.around(*rgb.shape[:2], box, crop_side=TILE[1])
    window = view[crop.y0:crop.y1, crop.x0:crop.x1]
    scale = min(TILE[0] / window.shape[1], TILE[1] / window.shape[0])
    size = (max(1, round(window.shape[1] * scale)), max(1, round(window.shape[0] * scale)))
    tile = np.full((TILE[1], TILE[0], 3), 255, np.uint8)
    tile[:size[1], :size[0]] = cv2.resize(window, size, interpolation=cv2.INTER_AREA)
    return tile


def summarise(rows: list[dict], key: str = "mask", floor: str = "box") -> dict[str, dict[str, float]]:
    """Per size bin: instances, and mean IoU and share with IoU >= 0.5 of ``key`` (as ``mask_*``) and of
    ``floor`` (as ``<floor>_*``: the filled box for box prompts)."""
    out = {}
    for lo, hi, name in ((0.0, 1.01, "all"), *SIZE_BINS):
        sel = [r for r in rows if lo <= r["box_share"] < hi]
        if not sel:
            continue
        out[name] = {"instances": len(sel)}
        for kind, field in (("mask", key), (floor, floor)):
            values = np.array([r[field] for r in sel])
            out[name][f"{kind}_iou"] = float(values.mean())
            out[name][f"{kind}_success"] = float((values >= 0.5).mean())
    return out


def prepared(args: argparse.Namespace):  # -> (images of --set, TrackerConfig, VOSModel)
    """What ``eval boxes`` and ``eval points`` start from: the set's images, the tracker config
    (``--config``, ``--checkpoint``) and its model. FileNotFoundError when the set's data is missing."""
    from vos_ros.core.weights import load_model, set_threads  # torch is imported only when segmenting

    images = set_images(args.set, args.data or data_root())
    config = TrackerConfig.load(args.config, **({"model__checkpoint": args.checkpoint} if args.checkpoint else {}))
    set_threads(config.model)
    return images, config, load_model(config.model)


def run(args: argparse.Namespace) -> int:
    from vos_ros.core.box_path import box_probabilities

    try:
        images, config, model = prepared(args)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    thresholds = [float(t) for t in args.thresholds.split(",")] if args.thresholds else [config.model.box_threshold]
    rng = np.random.default_rng(args.seed)
    rows, tiles = [], []
    for k, (rgb, instances) in enumerate(tqdm(images, desc=f"eval boxes ({args.set})", unit="image")):
        if args.limit > 0 and k >= args.limit:
            break
        height, width = rgb.shape[:2]
        boxes = [jittered(box, rng, args.jitter, height, width) for _, box, _ in instances]
        probs = box_probabilities(model, rgb, boxes, crop_side=config.model.box_crop_side,
                                  precision=config.model.precision)
        for (name, _, gt), box, p in zip(instances, boxes, probs, strict=True):
            x, y, w, h = (int(round(v)) for v in box)
            filled = np.zeros_like(gt)
            filled[y:y + h, x:x + w] = True
            rows.append({"instance": name, "box_share": w * h / (height * width), "box": iou(filled, gt),
                         **{f"mask@{t:g}": iou(p > t, gt) for t in thresholds}})
            if args.sheet:
                tiles.append(instance_tile(rgb, box, gt, p > thresholds[0]))
    summaries = {f"{t:g}": summarise(rows, f"mask@{t:g}") for t in thresholds}
    print(f"{'threshold':9s} {'instances':24s} {'n':>5s} {'mask IoU':>9s} {'IoU>=0.5':>9s} "
          f"{'box IoU':>8s} {'IoU>=0.5':>9s}")
    for t, summary in summaries.items():
        for name, s in summary.items():
            print(f"{t:9s} {name:24s} {s['instances']:5d} {s['mask_iou']:9.3f} {s['mask_success']:9.3f} "
                  f"{s['box_iou']:8.3f} {s['box_success']:9.3f}")
    if args.sheet:
        from vos_ros.core.visualize import contact_sheet

        key = f"mask@{thresholds[0]:g}"
        worst = sorted(range(len(rows)), key=lambda i: rows[i][key])[:16]
        sheet = contact_sheet([tiles[i] for i in worst], columns=4, tile_width=TILE[0],
                              captions=[f"IoU {rows[i][key]:.2f} (box {rows[i]['box']:.2f})" for i in worst])
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(sheet).save(args.sheet)
        print(f"wrote {args.sheet}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"set": args.set, "summary": summaries, "jitter": args.jitter,
                                         "checkpoint": config.model.checkpoint,
                                         "crop_side": config.model.box_crop_side, "instances": rows}, indent=1))
    return 0
