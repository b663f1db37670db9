"""Track objects given by boxes on the first frame of a video file or a rosbag2 image topic.

    vos-ros track clip.mp4 --box 570,292,170,253 --label cup --box 363,425,75,77 --label ball \
        --out overlay.mp4 --masks masks/
    vos-ros track my_bag/ --topic /camera/color/image_raw --box 10,20,50,60 --out overlay.mp4

Writes an overlay video (colours, ids, labels) and, with --masks, one 16-bit PNG per frame
(pixel = track id). Runs the core Session directly: no ROS graph is needed.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from vos_ros.core.box_path import boxes_to_masks
from vos_ros.core.config import TRACKER_CONFIG, TrackerConfig
from vos_ros.core.model import VOSModel
from vos_ros.core.session import Session
from vos_ros.core.types import Box, Prompt
from vos_ros.core.visualize import draw_overlay
from vos_ros.core.weights import load_model, set_threads
from vos_ros.tools.adapt import AdaptConfig, adapt
from vos_ros.tools.media import FrameSource, VideoWriter, write_label_png


def parse_box(text: str) -> Box:
    try:
        x, y, w, h = (float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"box '{text}' must be x,y,w,h (four numbers)") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"box '{text}': width and height must be positive")
    return (x, y, w, h)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="video file, or rosbag2 folder / .mcap / .db3 file")
    parser.add_argument("--box", type=parse_box, action="append", required=True,
                        help="x,y,w,h of an object on the first frame (input pixels); repeat per object")
    parser.add_argument("--label", action="append", default=[], help="label per --box, in order")
    parser.add_argument("--topic", help="image topic of a bag (needed when it has several)")
    parser.add_argument("--out", type=Path, required=True, help="overlay video to write (.mp4)")
    parser.add_argument("--masks", type=Path, help="folder for per-frame label PNGs (uint16, pixel = id)")
    parser.add_argument("--config", type=Path, default=TRACKER_CONFIG, help="tracker parameter YAML")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--fps", type=float, default=30.0, help="frame rate of the overlay video")
    parser.add_argument("--adapt-steps", type=int, default=0,
                        help="fine-tune a copy of the model for N steps on the first frame and its box masks "
                             "before tracking (prompt-time adaptation, vos_ros/tools/adapt.py; 0 = off)")


def adapted_to_boxes(model: VOSModel, frame: np.ndarray, prompts: list[Prompt], config: TrackerConfig,
                     adaptation: AdaptConfig) -> tuple[VOSModel, list[Prompt]]:
    """``model`` fine-tuned on ``frame`` with the box path's masks of the box ``prompts``, and those
    masks as mask prompts (the adapted copy tracks the masks it was adapted to)."""
    m = config.model
    masks = boxes_to_masks(model, frame, [p.box for p in prompts], crop_side=m.box_crop_side,
                          threshold=m.box_threshold, precision=m.precision)
    empty = [p.label or str(i) for i, (p, mask) in enumerate(zip(prompts, masks, strict=True)) if not mask.any()]
    if empty:
        raise ValueError(f"the box path found nothing in the boxes of {empty}: cannot adapt to them")
    return (adapt(model, frame, np.stack(masks), adaptation, m.precision),
            [Prompt(mask=mask, label=p.label) for p, mask in zip(prompts, masks, strict=True)])


def track(source: FrameSource, prompts: list[Prompt], config: TrackerConfig, out: Path,
          masks_dir: Path | None = None, fps: float = 30.0, adaptation: AdaptConfig | None = None
          ) -> dict[str, float]:
    """Run the tracker over ``source`` with ``prompts`` on its first frame; -> frames, fps, mean step ms
    (and the seconds spent adapting, with ``adaptation``)."""
    set_threads(config.model)
    model = load_model(config.model)
    session = Session(model, config)
    adapt_s = 0.0
    if masks_dir is not None:
        masks_dir.mkdir(parents=True, exist_ok=True)
    steps_ms = []
    t0 = time.perf_counter()
    with VideoWriter(out, fps) as video:
        for k, frame in enumerate(tqdm(source, total=len(source) or None, desc="track", unit="frame")):
            if k == 0 and adaptation is not None and adaptation.steps:
                t_adapt = time.perf_counter()
                adapted, prompts = adapted_to_boxes(model, frame, prompts, config, adaptation)
                session = Session(adapted, config)
                adapt_s = time.perf_counter() - t_adapt
            result = session.step(frame, prompts=prompts if k == 0 else ())
            steps_ms.append(result.timings_ms.get("total", 0.0))
            video.write(draw_overlay(frame, result.label_image, {o.id: o.label for o in result.objects}))
            if masks_dir is not None:
                write_label_png(masks_dir / f"{k:05d}.png", result.label_image)
    if not steps_ms:
        raise ValueError(f"{source.path}: no frames")
    wall = time.perf_counter() - t0 - adapt_s
    return {"frames": len(steps_ms), "fps": len(steps_ms) / wall, "step_ms": sum(steps_ms) / len(steps_ms),
            "adapt_s": adapt_s}


def run(args: argparse.Namespace) -> int:
    if len(args.label) > len(args.box):
        raise SystemExit(f"{len(args.label)} --label for {len(args.box)} --box")
    labels = args.label + [""] * (len(args.box) - len(args.label))
    prompts = [Prompt(box=b, label=lab) for b, lab in zip(args.box, labels, strict=True)]
    try:
        source = FrameSource(args.input, topic=args.topic, max_frames=args.max_frames)
        stats = track(source, prompts, TrackerConfig.load(args.config), args.out, args.masks, args.fps,
                      AdaptConfig(steps=args.adapt_steps))
    except (OSError, ValueError, KeyError) as exc:
        print(f"vos-ros track: {exc}", file=sys.stderr)
        return 2
    adapted = f" after {stats['adapt_s']:.0f} s of adaptation" if args.adapt_steps else ""
    print(f"{stats['frames']} frames, {stats['fps']:.2f} fps, {stats['step_ms']:.0f} ms per step{adapted} -> {args.out}"
          + (f", masks in {args.masks}" if args.masks else ""))
    return 0
