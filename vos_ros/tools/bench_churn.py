"""Step time while objects come and leave for good: does a frame cost more for every track ever added?

    vos-ros bench churn [--objects 30] [--frames-each 12] [--size 480x854]

Objects are added one scene after another: each is a cut-out of a real photo (scikit-image's
astronaut) pasted on the coffee photo at its own place, prompted by its mask on the scene's first
frame, visible for ``--frames-each`` frames and then gone. Prints the mean step time of the first
scene and of the last two, and their ratio (flat = 1.0); LOST tracks leave the per-frame work.
"""
from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vos_ros.core.config import TRACKER_CONFIG, TrackerConfig
from vos_ros.tools.bench_speed import photo_frame


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--objects", type=int, default=30, help="objects added one after another")
    p.add_argument("--frames-each", type=int, default=12, help="frames each object is visible")
    p.add_argument("--size", default="480x854", help="HxW of the frames")
    p.add_argument("--config", type=Path, default=TRACKER_CONFIG)
    p.add_argument("--json", type=Path, default=None)


def scene(background: np.ndarray, cutout: np.ndarray, index: int) -> tuple[np.ndarray, np.ndarray]:
    """The background with the cut-out pasted at scene ``index``'s place -> frame, object mask."""
    h, w = background.shape[:2]
    ch, cw = cutout.shape[:2]
    rng = np.random.default_rng(index)
    y, x = int(rng.integers(0, h - ch)), int(rng.integers(0, w - cw))
    mask = np.zeros((h, w), bool)
    ellipse = np.zeros((ch, cw), np.uint8)
    cv2.ellipse(ellipse, (cw // 2, ch // 2), (cw // 2 - 1, ch // 2 - 1), 0, 0, 360, 1, -1)
    mask[y:y + ch, x:x + cw] = ellipse > 0
    frame = background.copy()
    frame[mask] = cutout[ellipse > 0]
    return frame, mask


def run(args: argparse.Namespace) -> int:
    import skimage.data

    from vos_ros.core.session import Session
    from vos_ros.core.types import Prompt
    from vos_ros.core.weights import load_model, set_threads

    config = TrackerConfig.load(args.config)
    set_threads(config.model)
    h, w = (int(v) for v in args.size.split("x"))
    background = photo_frame(h, w)
    cutout = cv2.resize(skimage.data.astronaut()[20:220, 140:320], (w // 6, h // 4), interpolation=cv2.INTER_AREA)
    session = Session(load_model(config.model), config)
    per_scene: list[list[float]] = []
    for k in tqdm(range(args.objects), desc="churn", unit="object"):
        frame, mask = scene(background, cutout, k)
        times = []
        for j in range(args.frames_each):
            result = session.step(frame, [Prompt(mask=mask, label=f"object {k}")] if j == 0 else ())
            times.append(result.timings_ms["total"])
        per_scene.append(times[1:])            # the prompt frame encodes a prompt: not a tracking step
    first, last = statistics.mean(per_scene[0]), statistics.mean(per_scene[-2] + per_scene[-1])
    lost = sum(o.state.name == "LOST" for o in result.objects)
    print(f"{args.objects} objects x {args.frames_each} frames at {w}x{h}: step {first:.0f} ms in the first scene, "
          f"{last:.0f} ms in the last two ({last / first:.2f}x); {lost} LOST tracks at the end")
    if args.json:
        args.json.write_text(json.dumps({"first_ms": first, "last_ms": last, "ratio": last / first, "lost": lost,
                                         "per_scene_ms": [statistics.mean(t) for t in per_scene]}, indent=1))
    return 0
