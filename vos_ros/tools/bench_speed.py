"""Speed of ``Session.step`` against the backbone alone on the same input, for 1..N objects.

The ratio step / backbone is stable on a noisy machine; absolute milliseconds are only comparable
on the same machine and load. Frames are real photographs (scikit-image's coffee, resized), with
objects prompted by boxes on the first frame and then tracked.
"""
from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from vos_ros.core.config import PRECISION_CHOICES, TRACKER_CONFIG, TrackerConfig


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="480x854,384x683", help="comma-separated HxW input sizes")
    p.add_argument("--objects", default="1,4,8", help="comma-separated object counts")
    p.add_argument("--frames", type=int, default=10, help="timed frames per setting (after 3 warm-up)")
    p.add_argument("--config", type=Path, default=TRACKER_CONFIG)
    p.add_argument("--device", default=None, help="override model.device")
    p.add_argument("--precision", default=None, choices=PRECISION_CHOICES, help="override model.precision")
    p.add_argument("--json", type=Path, default=None)


def photo_frame(height: int, width: int) -> np.ndarray:
    import cv2
    import skimage.data

    return cv2.resize(skimage.data.coffee(), (width, height), interpolation=cv2.INTER_AREA)


def timed(fn, repeats: int, sync) -> float:
    """Median milliseconds of ``fn()`` over ``repeats`` calls."""
    times = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        fn()
        sync()
        times.append(1e3 * (time.perf_counter() - t))
    return statistics.median(times)


def run(args: argparse.Namespace) -> int:
    from vos_ros.core.geometry import FrameGeometry
    from vos_ros.core.model import compute_precision, resolve_precision
    from vos_ros.core.session import Session
    from vos_ros.core.types import Prompt
    from vos_ros.core.weights import load_model, set_threads

    overrides = {f"model__{k}": v for k, v in (("device", args.device), ("precision", args.precision)) if v}
    config = TrackerConfig.load(args.config, **overrides)
    set_threads(config.model)
    model = load_model(config.model)
    device = next(model.parameters()).device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
    counts = [int(c) for c in args.objects.split(",")]
    rows = []
    for h, w in sizes:
        frame = photo_frame(h, w)
        geometry = FrameGeometry.for_frame(h, w, config.model.input_short_side, config.model.upscale)
        x = geometry.image_tensor(frame, device)
        with torch.inference_mode(), compute_precision(device, config.model.precision):
            for _ in range(3):
                model.backbone(x)
            backbone_ms = timed(lambda x=x: model.backbone(x), args.frames, sync)
        for n in tqdm(counts, desc=f"bench {w}x{h}", unit="setting"):
            session = Session(model, config)
            boxes = [(w * (0.05 + 0.9 * i / n), h * 0.3, w * 0.8 / n, h * 0.4) for i in range(n)]
            session.step(frame, [Prompt(box=b) for b in boxes])
            for _ in range(3):
                session.step(frame)
            step_ms = timed(lambda s=session, f=frame: s.step(f), args.frames, sync)
            rows.append({"input": f"{w}x{h}", "network_input": f"{geometry.padded_w}x{geometry.padded_h}",
                         "objects": n, "backbone_ms": backbone_ms, "step_ms": step_ms,
                         "ratio": step_ms / backbone_ms, "fps": 1e3 / step_ms})
    machine = (f"{platform.machine()} {torch.get_num_threads()} threads, torch {torch.__version__}, {device}, "
               f"{resolve_precision(config.model.precision, device)}")
    print(f"machine: {machine}")
    print(f"{'input':>9} {'net input':>9} {'objects':>7} {'backbone ms':>11} {'step ms':>8} {'ratio':>6} {'fps':>6}")
    for r in rows:
        print(f"{r['input']:>9} {r['network_input']:>9} {r['objects']:>7} {r['backbone_ms']:>11.1f} "
              f"{r['step_ms']:>8.1f} {r['ratio']:>6.2f} {r['fps']:>6.2f}")
    if args.json:
        args.json.write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    return 0
