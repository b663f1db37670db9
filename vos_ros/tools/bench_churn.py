"""Step time and memory while objects come and leave for good, over a long stream.

    vos-ros bench churn [--objects 30] [--frames-each 12] [--visible N] [--remove none|alternate|all]
                        [--size 480x854] [--json FILE] [--plot FILE]

Objects are added one scene after another: each is a cut-out of a real photo (scikit-image's
astronaut) pasted on the coffee photo at its own place, prompted by its mask on the scene's first
frame, visible for ``--visible`` frames (default: the whole scene) and then gone. At the end of its
scene an object is removed (``--remove``: none, every other one, or all); the others stay, absent,
and become LOST. Prints the mean step time of the first scene and of the last two and their ratio
(flat = 1.0), the memory bank's size against its bound and the process's resident memory at the
first and the last scene. ``--objects 50 --frames-each 200 --visible 12 --remove alternate`` is the
10,000-frame stream of 50 tracks added and removed.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vos_ros.core.config import TRACKER_CONFIG, TrackerConfig
from vos_ros.tools.bench_speed import photo_frame


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--objects", type=int, default=30, help="objects added one after another")
    p.add_argument("--frames-each", type=int, default=12, help="frames of each object's scene")
    p.add_argument("--visible", type=int, default=0, help="frames each object is visible (0 = its whole scene)")
    p.add_argument("--remove", choices=("none", "alternate", "all"), default="none",
                   help="which objects are removed at the end of their scene (the others become LOST)")
    p.add_argument("--size", default="480x854", help="HxW of the frames")
    p.add_argument("--config", type=Path, default=TRACKER_CONFIG)
    p.add_argument("--json", type=Path, default=None)
    p.add_argument("--plot", type=Path, default=None, help="PNG of step time and memory per scene")


def resident_bytes() -> int:
    """This process's resident memory now (Linux /proc)."""
    with open("/proc/self/statm", encoding="ascii") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


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
    visible = args.visible or args.frames_each
    if not 1 <= visible <= args.frames_each:
        raise SystemExit(f"--visible must be in [1, --frames-each = {args.frames_each}], got {args.visible}")
    background = photo_frame(h, w)
    cutout = cv2.resize(skimage.data.astronaut()[20:220, 140:320], (w // 6, h // 4), interpolation=cv2.INTER_AREA)
    session = Session(load_model(config.model), config)
    per_scene: list[list[float]] = []
    memory, resident = [], []
    for k in tqdm(range(args.objects), desc="churn", unit="object"):
        frame, mask = scene(background, cutout, k)
        times = []
        for j in range(args.frames_each):
            result = session.step(frame if j < visible else background,
                                  [Prompt(mask=mask, label=f"object {k}")] if j == 0 else ())
            if j:  # the prompt frame encodes a prompt: not a tracking step
                times.append(result.timings_ms["total"])
            else:
                added = result.objects[-1].id
        removing = args.remove == "all" or (args.remove == "alternate" and k % 2 == 0)
        if removing and added in session.object_ids:  # not forgotten already (track.forget_after)
            session.remove_objects([added])
        per_scene.append(times)
        memory.append(session.memory_stats())
        resident.append(resident_bytes())
    first, last = statistics.mean(per_scene[0]), statistics.mean(per_scene[-2] + per_scene[-1])
    lost = sum(o.state.name == "LOST" for o in session.step(background).objects)
    mib = 2**20
    print(f"{args.objects} objects x {args.frames_each} frames ({visible} visible) at {w}x{h}, "
          f"{args.objects * args.frames_each} frames: step {first:.0f} ms in the first scene, {last:.0f} ms in the "
          f"last two ({last / first:.2f}x); {len(session.object_ids)} tracks kept, {lost} LOST")
    print(f"memory bank: {memory[0]['tokens']} -> {memory[-1]['tokens']} tokens (bound {memory[-1]['token_bound']}), "
          f"{memory[0]['bytes'] / mib:.1f} -> {memory[-1]['bytes'] / mib:.1f} MiB; resident "
          f"{resident[0] / mib:.0f} -> {resident[-1] / mib:.0f} MiB (max {max(resident) / mib:.0f})")
    if args.json:
        args.json.write_text(json.dumps({
            "first_ms": first, "last_ms": last, "ratio": last / first, "lost": lost,
            "per_scene_ms": [statistics.mean(t) for t in per_scene], "memory": memory,
            "resident_bytes": resident}, indent=1))
    if args.plot:
        plot(per_scene, memory, resident, args.plot)
    return 0


def plot(per_scene: list[list[float]], memory: list[dict[str, int]], resident: list[int], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 5), sharex=True)
    scenes = range(1, len(per_scene) + 1)
    top.plot(scenes, [statistics.mean(t) for t in per_scene], marker=".")
    top.set_ylabel("mean step (ms)")
    top.set_ylim(bottom=0)
    bottom.plot(scenes, [m["bytes"] / 2**20 for m in memory], label="memory bank")
    bottom.plot(scenes, [r / 2**20 for r in resident], label="process resident")
    bottom.set_ylabel("MiB")
    bottom.set_xlabel("objects added (one scene each)")
    bottom.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
