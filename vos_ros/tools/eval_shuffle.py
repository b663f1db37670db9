"""Score a cup-shuffle run (`vos-ros track --masks DIR` on demo_videos/02_cups.mp4) on identity.

    vos-ros track 02_cups.mp4 --config cups360.yaml --box 262,0,183,198 --label cup \\
        --box 570,292,170,253 --label cup --box 828,292,172,255 --label cup --box 363,425,75,77 --label ball \\
        --out out/cups/overlay.mp4 --masks out/cups/masks
    vos-ros eval shuffle 02_cups.mp4 --masks out/cups/masks

The clip has no ground truth; its objects are told apart by colour (red cups, a yellow ball on a
white table), which gives the reference for the frames the criteria need: the ball when it rolls out
(frames 286-299) and the cup lifted at the end (285-296: the red region farthest right). Criteria
(issue "keep identities through manipulation"): the ball's id (4) has < 30 pixels in >= 95 % of
frames 28-283 (it is under a cup) and IoU >= 0.5 with the ball in >= 80 % of 286-299; the lifted cup
carries id 1 (the id covering most of it, IoU >= 0.3) in >= 80 % of 285-296; ids 1-3 each have a
mask in >= 90 % of all frames; a cup id covers more than 1.6x its area of frames 0-9 in <= 2 %.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vos_ros.tools.eval_text import iou
from vos_ros.tools.media import FrameSource

CUP_IDS, BALL_ID, CARRIER_ID = (1, 2, 3), 4, 1
COVERED, REVEALED, LIFTED = range(28, 284), range(286, 300), range(285, 297)
TABLE_TOP = 1 / 3          # the ball is looked for below this fraction of the frame height


def ball_mask(frame: np.ndarray) -> np.ndarray:
    """The largest yellow region on the table of an RGB frame (empty when the ball is hidden)."""
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    yellow = (hsv[..., 0] >= 21) & (hsv[..., 0] <= 35) & (hsv[..., 1] > 100) & (hsv[..., 2] > 150)
    yellow[: int(TABLE_TOP * frame.shape[0])] = False
    return largest_regions(yellow, 1, min_area=frame.shape[0] * frame.shape[1] // 6000)[0]


def lifted_cup_mask(frame: np.ndarray) -> np.ndarray:
    """The red region farthest right (the cup lifted at the end of the clip)."""
    hsv = cv2.cvtColor(frame, cv2.COLOR_RGB2HSV)
    red = ((hsv[..., 0] <= 8) | (hsv[..., 0] >= 170)) & (hsv[..., 1] > 120) & (hsv[..., 2] > 80)
    red = cv2.morphologyEx(red.astype(np.uint8), cv2.MORPH_OPEN, np.ones((5, 5), np.uint8)) > 0
    cups = largest_regions(red, 3, min_area=frame.shape[0] * frame.shape[1] // 150)
    return max(cups, key=lambda m: np.nonzero(m)[1].mean() if m.any() else -1)


def largest_regions(mask: np.ndarray, count: int, min_area: int) -> list[np.ndarray]:
    """The ``count`` largest connected regions of ``mask`` of at least ``min_area`` pixels (an empty mask
    when there are none)."""
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
    order = [i for i in np.argsort(-stats[1:, cv2.CC_STAT_AREA]) + 1 if stats[i, cv2.CC_STAT_AREA] >= min_area]
    return [labels == i for i in order[:count]] or [np.zeros(mask.shape, bool)]


def score(video: Path, masks_dir: Path) -> dict[str, float]:
    """The criteria above for the label PNGs in ``masks_dir`` (00000.png ..., pixel = track id)."""
    paths = sorted(masks_dir.glob("*.png"))
    if len(paths) < 300:
        raise ValueError(f"{masks_dir}: {len(paths)} label images; the criteria need all 300 frames")
    areas, ball_back, carrier = [], [], []
    for k, frame in enumerate(tqdm(FrameSource(video, max_frames=300), total=300, desc="score", unit="frame")):
        label = cv2.imread(str(paths[k]), cv2.IMREAD_UNCHANGED)
        if label.shape != frame.shape[:2]:
            label = cv2.resize(label, frame.shape[1::-1], interpolation=cv2.INTER_NEAREST)
        areas.append([int((label == i).sum()) for i in (*CUP_IDS, BALL_ID)])
        if k in REVEALED:
            ball_back.append(iou(label == BALL_ID, ball_mask(frame)) >= 0.5)
        if k in LIFTED:
            cup = lifted_cup_mask(frame)
            ids, counts = np.unique(label[cup], return_counts=True)
            owner = ids[np.argmax(counts)]
            carrier.append(owner == CARRIER_ID and iou(label == CARRIER_ID, cup) >= 0.3)
    areas = np.array(areas)
    reference = areas[:10, :3].mean(0)
    return {
        "ball_absent_while_covered": float((areas[list(COVERED), 3] < 30).mean()),
        "ball_found_when_revealed": float(np.mean(ball_back)),
        "lifted_cup_has_id_1": float(np.mean(carrier)),
        **{f"id_{i}_present": float((areas[:, j] > 0).mean()) for j, i in enumerate(CUP_IDS)},
        "frames_a_cup_id_above_1.6x": float((areas[:, :3] > 1.6 * reference).any(1).mean()),
    }


TARGETS = {"ball_absent_while_covered": (">=", 0.95), "ball_found_when_revealed": (">=", 0.8),
           "lifted_cup_has_id_1": (">=", 0.8), "id_1_present": (">=", 0.9), "id_2_present": (">=", 0.9),
           "id_3_present": (">=", 0.9), "frames_a_cup_id_above_1.6x": ("<=", 0.02)}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", type=Path, help="demo_videos/02_cups.mp4")
    parser.add_argument("--masks", type=Path, required=True, help="label PNGs of `vos-ros track --masks`")
    parser.add_argument("--json", type=Path, help="write the numbers to this file")


def run(args: argparse.Namespace) -> int:
    try:
        result = score(args.video, args.masks)
    except (OSError, ValueError) as exc:
        print(f"vos-ros eval shuffle: {exc}")
        return 2
    for name, value in result.items():
        op, target = TARGETS[name]
        met = value >= target if op == ">=" else value <= target
        print(f"{name:28s} {value:6.3f}  (target {op} {target})  {'met' if met else 'NOT met'}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(result, indent=2))
    return 0
