"""Box-prompt benchmark: masks from boxes on the COCO val images (coco_subset), against their masks.

Every non-crowd instance over RECALL_MIN_AREA px^2 is given to the tracker's box path
(``segment_boxes`` with the config's ``model.box_crop_side`` and ``model.box_threshold``) by its COCO
box, optionally moved like a detector's box (``--jitter``: each side by N(0, jitter) of the box size,
seeded). Reported: mean mask IoU and the share with IoU >= 0.5, overall and by box size (share of the
image), and the same for the filled box itself as the mask, the floor a box path has to beat.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image
from tqdm import tqdm

from vos_ros.core.config import TRACKER_CONFIG, TrackerConfig
from vos_ros.tools.davis_io import data_root
from vos_ros.tools.eval_text import RECALL_MIN_AREA, _coco, iou

SIZE_BINS = ((0.0, 0.05, "box < 5 % of the image"), (0.05, 0.3, "box 5-30 %"), (0.3, 1.01, "box >= 30 %"))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data", type=Path, default=None, help="shared data folder (default ../shared/data)")
    parser.add_argument("--config", type=Path, default=TRACKER_CONFIG, help="tracker parameter file")
    parser.add_argument("--checkpoint", default=None, help="override model.checkpoint (weights file)")
    parser.add_argument("--jitter", type=float, default=0.0, help="detector-like box noise (share of box size)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--limit", type=int, default=0, help="first N images only (0 = all)")
    parser.add_argument("--json", type=Path, default=None, help="write the summary and per-instance IoUs")


def jittered(box: tuple[float, float, float, float], rng: np.random.Generator, jitter: float, height: int,
             width: int) -> tuple[float, float, float, float]:
    """An x, y, w, h box with each side moved by N(0, jitter) of its size, kept inside the image."""
    x, y, w, h = box
    if jitter <= 0:
        return box
    d = rng.normal(0, jitter, 4) * [w, h, w, h]
    x0, x1 = np.clip([x + d[0], x + w + d[2]], 0, width)
    y0, y1 = np.clip([y + d[1], y + h + d[3]], 0, height)
    return float(x0), float(y0), float(max(x1 - x0, 2.0)), float(max(y1 - y0, 2.0))


def summarise(rows: list[dict]) -> dict[str, dict[str, float]]:
    """Per size bin: instances, and mean IoU and share with IoU >= 0.5 of the masks and of the boxes."""
    out = {}
    for lo, hi, name in ((0.0, 1.01, "all"), *SIZE_BINS):
        sel = [r for r in rows if lo <= r["box_share"] < hi]
        if not sel:
            continue
        out[name] = {"instances": len(sel)}
        for kind in ("mask", "box"):
            values = np.array([r[kind] for r in sel])
            out[name][f"{kind}_iou"] = float(values.mean())
            out[name][f"{kind}_success"] = float((values >= 0.5).mean())
    return out


def run(args: argparse.Namespace) -> int:
    from vos_ros.core.session import load_model, segment_boxes  # torch is imported only when segmenting

    root = (args.data or data_root()) / "coco_subset"
    if not root.is_dir():
        print(f"error: {root} not found (set --data or VOS_ROS_DATA)", file=sys.stderr)
        return 2
    config = TrackerConfig.load(args.config, **({"model__checkpoint": args.checkpoint} if args.checkpoint else {}))
    model = load_model(config.model)
    coco = _coco(root)
    rng = np.random.default_rng(args.seed)
    ids = sorted(coco.getImgIds())
    rows = []
    for image_id in tqdm(ids[: args.limit] if args.limit > 0 else ids, desc="eval boxes", unit="image"):
        info = coco.loadImgs(image_id)[0]
        anns = [a for a in coco.loadAnns(coco.getAnnIds(imgIds=image_id))
                if not a.get("iscrowd", 0) and a["area"] > RECALL_MIN_AREA]
        if not anns:
            continue
        rgb = np.array(Image.open(root / "val2017" / info["file_name"]).convert("RGB"))
        height, width = rgb.shape[:2]
        boxes = [jittered(tuple(a["bbox"]), rng, args.jitter, height, width) for a in anns]
        masks = segment_boxes(model, rgb, boxes, crop_side=config.model.box_crop_side,
                              threshold=config.model.box_threshold)
        for ann, box, mask in zip(anns, boxes, masks, strict=True):
            gt = coco.annToMask(ann).astype(bool)
            x, y, w, h = (int(round(v)) for v in box)
            filled = np.zeros_like(gt)
            filled[y:y + h, x:x + w] = True
            rows.append({"ann": ann["id"], "box_share": w * h / (height * width), "mask": iou(mask, gt),
                         "box": iou(filled, gt)})
    summary = summarise(rows)
    print(f"{'instances':24s} {'n':>5s} {'mask IoU':>9s} {'IoU>=0.5':>9s} {'box IoU':>8s} {'IoU>=0.5':>9s}")
    for name, s in summary.items():
        print(f"{name:24s} {s['instances']:5d} {s['mask_iou']:9.3f} {s['mask_success']:9.3f} "
              f"{s['box_iou']:8.3f} {s['box_success']:9.3f}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"summary": summary, "jitter": args.jitter,
                                         "checkpoint": config.model.checkpoint,
                                         "crop_side": config.model.box_crop_side,
                                         "threshold": config.model.box_threshold, "instances": rows}, indent=1))
    return 0
