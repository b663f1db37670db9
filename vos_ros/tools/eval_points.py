"""Point-prompt benchmark: one positive click per instance -> mask, against the instance's mask.

The instances are eval boxes' (``--set val``: the 406 COCO val instances of coco_subset; ``--set
tuning``: the box-tuning coco_train2017 images, where the point path's settings are chosen). Each
instance gets one click where SAM's evaluation puts it: the point of its mask farthest from the
mask's boundary (the image border counts as boundary). The click goes through the point path
(``points_to_masks`` with the config's ``model.box_crop_side``, ``model.box_threshold`` and
``model.precision``). The floor it has to beat: the box path on a fixed square of BASELINE_SCALE of the
image's short side centred on the click. Reported: mean IoU and the share with IoU >= 0.5, overall and
by the instance's box size (share of the image).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vos_ros.core.config import TRACKER_CONFIG
from vos_ros.core.point_path import Point
from vos_ros.core.types import Box
from vos_ros.tools.davis_io import DATA_HELP
from vos_ros.tools.eval_boxes import SETS, prepared, summarise
from vos_ros.tools.eval_text import iou

BASELINE_SCALE = 0.4  # the naive baseline's square side, share of the short side: the best fixed size on --set tuning


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", choices=SETS, default="val", help="COCO val (benchmark) or the tuning images")
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--config", type=Path, default=TRACKER_CONFIG, help="tracker parameter file")
    parser.add_argument("--checkpoint", default=None, help="override model.checkpoint (weights file)")
    parser.add_argument("--limit", type=int, default=0, help="first N images only (0 = all)")
    parser.add_argument("--json", type=Path, default=None, help="write the summary and per-instance IoUs")


def center_click(mask: np.ndarray) -> Point:
    """The positive click SAM's evaluation gives a mask: its pixel farthest from the mask's boundary."""
    depth = cv2.distanceTransform(np.pad(mask, 1).astype(np.uint8), cv2.DIST_L2, 5)[1:-1, 1:-1]  # H x W
    y, x = np.unravel_index(int(np.argmax(depth)), depth.shape)
    return Point(float(x), float(y))


def baseline_box(click: Point, height: int, width: int) -> Box:
    """The naive baseline's box: a BASELINE_SCALE square centred on the click, clipped to the image."""
    half = BASELINE_SCALE * min(height, width) / 2
    x0, y0 = max(0.0, click.x + 0.5 - half), max(0.0, click.y + 0.5 - half)
    x1, y1 = min(float(width), click.x + 0.5 + half), min(float(height), click.y + 0.5 + half)
    return x0, y0, x1 - x0, y1 - y0


def run(args: argparse.Namespace) -> int:
    from vos_ros.core.box_path import boxes_to_masks
    from vos_ros.core.point_path import points_to_masks

    try:
        images, config, model = prepared(args)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    settings = {"crop_side": config.model.box_crop_side, "threshold": config.model.box_threshold,
                "precision": config.model.precision}
    rows = []
    for k, (rgb, instances) in enumerate(tqdm(images, desc=f"eval points ({args.set})", unit="image")):
        if args.limit > 0 and k >= args.limit:
            break
        height, width = rgb.shape[:2]
        clicks = [center_click(gt) for _, _, gt in instances]
        masks = points_to_masks(model, rgb, [[c] for c in clicks], **settings)
        floors = boxes_to_masks(model, rgb, [baseline_box(c, height, width) for c in clicks], **settings)
        for (name, box, gt), click, mask, floor in zip(instances, clicks, masks, floors, strict=True):
            rows.append({"instance": name, "click": [click.x, click.y], "box_share": box[2] * box[3] / (height * width),
                         "point": iou(mask, gt), "fixed_box": iou(floor, gt)})
    summary = summarise(rows, "point", floor="fixed_box")
    print(f"{'instances':24s} {'n':>5s} {'point IoU':>9s} {'IoU>=0.5':>9s} {'fixed-box IoU':>13s} {'IoU>=0.5':>9s}")
    for name, s in summary.items():
        print(f"{name:24s} {s['instances']:5d} {s['mask_iou']:9.3f} {s['mask_success']:9.3f} "
              f"{s['fixed_box_iou']:13.3f} {s['fixed_box_success']:9.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"set": args.set, "summary": summary, "checkpoint": config.model.checkpoint,
                                         "baseline_scale": BASELINE_SCALE, **settings, "instances": rows}, indent=1))
    return 0
