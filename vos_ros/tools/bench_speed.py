"""Steady-state speed of ``Session.step`` against the backbone alone, per input size and object count.

    vos-ros bench speed [--sizes 480x854,384x683] [--objects 1,4,8] [--rounds 3] [--frames 20] [--json F]

What is timed is a long stream's steady state: moving frames (``--video``, by default the cup shuffle
demo_videos/02_cups.mp4 under the data root, played back and forth and scaled to each size; without it
a photo panned a few pixels per frame) with n objects on them (cut-outs of photos, each circling in its
own cell of a grid, so all n stay visible and are tracked every frame), prompted by their masks on the
first frame, and the memory at its bound before the first timed frame (working FIFO full and the long-term store at
``memory.long_term_tokens``; prompt frames stay the one of the prompts). The backbone alone is timed
the same way on the same moving frames (the trunk only: frame to tensor is not in its time); with
``--runtime onnxruntime`` the reference is the frame-encoder graph (the trunk and the key projections),
since the exported graphs have no trunk of their own.

Every setting (per size: the backbone, then each object count) is timed for ``--frames`` frames in
each of ``--rounds`` interleaved rounds (A B C A B C ...), so a load change on a shared machine hits
all settings alike. Per setting: the median of the rounds' medians and their range (min-max).
Ratios (step / backbone, n objects / 1 object) are taken within each round, then their median.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import torch
from tqdm import tqdm

from vos_ros.core.config import PRECISION_CHOICES, RUNTIMES, TRACKER_CONFIG, TrackerConfig, profile_names
from vos_ros.tools.davis_io import data_root

DEMO_VIDEO = "demo_videos/02_cups.mp4"
CLIP_FRAMES = 150            # frames of the video kept (played back and forth): 5 s of hands moving cups
PAN_RADIUS = 12              # pixels: the fallback photo moves on a circle of this radius
PAN_PERIOD = 40              # frames per circle (of the panned photo and of the objects)
# Objects: elliptical cut-outs of these scikit-image photos (colour, shipped with it), one per grid cell
OBJECT_PHOTOS = ("astronaut", "chelsea", "rocket", "immunohistochemistry", "hubble_deep_field", "retina", "coffee")


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sizes", default="480x854,384x683", help="comma-separated HxW input sizes")
    p.add_argument("--objects", default="1,4,8", help="comma-separated object counts")
    p.add_argument("--frames", type=int, default=20, help="timed frames per setting and round")
    p.add_argument("--rounds", type=int, default=3, help="interleaved rounds over all settings")
    p.add_argument("--video", type=Path, default=None,
                   help=f"video of the moving frames (default: {DEMO_VIDEO} under the data root; a panned photo "
                        "where it is absent)")
    p.add_argument("--profile", choices=profile_names(),
                   help="machine profile (config/profiles/NAME.yaml), applied before --config")
    p.add_argument("--config", type=Path, default=TRACKER_CONFIG)
    p.add_argument("--device", default=None, help="override model.device (auto, cpu, cuda, cuda:N)")
    p.add_argument("--precision", default=None, choices=PRECISION_CHOICES, help="override model.precision")
    p.add_argument("--runtime", default=None, choices=RUNTIMES,
                   help="override model.runtime (onnxruntime: the exported graphs, timed against the frame-encoder "
                        "graph)")
    p.add_argument("--json", type=Path, default=None)


def photo_frame(height: int, width: int) -> np.ndarray:
    import skimage.data

    return cv2.resize(skimage.data.coffee(), (width, height), interpolation=cv2.INTER_AREA)


class MovingFrames:
    """Frame ``k`` of a moving input at any size: a video clip played back and forth (no cut where it
    turns; decoded as far as needed), or, without a video, a photo panned on a small circle."""

    def __init__(self, video: Path | None, short_side: int) -> None:
        self.clip: list[np.ndarray] = []
        self.photos: dict[tuple[int, int], np.ndarray] = {}   # the panned photo per frame size
        self.decoding: Iterator[np.ndarray] | None = None      # the video while frames remain to decode
        if video is not None and video.is_file():
            from vos_ros.tools.media import FrameSource

            self.decoding = iter(FrameSource(video, max_frames=CLIP_FRAMES, short_side=short_side))
            self.name = f"{video.name} (up to its first {CLIP_FRAMES} frames, played back and forth)"
        else:
            self.name = f"coffee photo panned on a {PAN_RADIUS}-pixel circle"

    def frame(self, k: int, height: int, width: int) -> np.ndarray:
        while self.decoding is not None and len(self.clip) <= k:
            decoded = next(self.decoding, None)
            if decoded is None:
                self.decoding = None
            else:
                self.clip.append(decoded)
        if self.clip:
            n = len(self.clip)
            if self.decoding is None and n < 2:
                raise ValueError(f"{self.name}: one frame, a moving input needs at least 2")
            i = k if k < n else k % (2 * n - 2)   # k < n: the clip is decoded up to k
            return cv2.resize(self.clip[i if i < n else 2 * n - 2 - i], (width, height), interpolation=cv2.INTER_AREA)
        angle = 2 * math.pi * k / PAN_PERIOD
        dx, dy = (round(PAN_RADIUS * (1 + f(angle))) for f in (math.cos, math.sin))
        if (height, width) not in self.photos:
            self.photos[height, width] = photo_frame(height + 2 * PAN_RADIUS, width + 2 * PAN_RADIUS)
        return self.photos[height, width][dy:dy + height, dx:dx + width]


class MovingObjects:
    """``n`` objects pasted on the frames, one per cell of a grid, each circling in its own cell: all stay
    visible and apart, so a setting with n objects tracks n objects in every frame."""

    def __init__(self, n: int, height: int, width: int) -> None:
        import skimage.data

        cols = math.ceil(math.sqrt(2 * n))
        rows = math.ceil(n / cols)
        cell_w, cell_h = width / cols, height / rows
        self.w, self.h = max(4, round(0.6 * cell_w)), max(4, round(0.6 * cell_h))
        self.radius = 0.1 * min(cell_w, cell_h)   # + half the object: inside the cell
        self.centres = [((i % cols + 0.5) * cell_w, (i // cols + 0.5) * cell_h) for i in range(n)]
        self.patches = []
        for i in range(n):
            photo = getattr(skimage.data, OBJECT_PHOTOS[i % len(OBJECT_PHOTOS)])()
            ph, pw = photo.shape[:2]
            y0 = (ph // 4) * (i // len(OBJECT_PHOTOS) % 2)   # a repeated photo gives another crop
            self.patches.append(cv2.resize(photo[y0:y0 + ph * 3 // 4, :, :3], (self.w, self.h),
                                           interpolation=cv2.INTER_AREA))
        self.alpha = np.zeros((self.h, self.w), np.uint8)
        cv2.ellipse(self.alpha, (self.w // 2, self.h // 2), (max(1, self.w // 2 - 1), max(1, self.h // 2 - 1)),
                    0, 0, 360, 1, -1)

    def paste(self, frame: np.ndarray, k: int) -> tuple[np.ndarray, list[np.ndarray]]:
        """``frame`` with the objects at their place of frame ``k`` -> frame, one mask per object."""
        out, masks, inside = frame.copy(), [], self.alpha > 0
        for i, ((cx, cy), patch) in enumerate(zip(self.centres, self.patches, strict=True)):
            angle = 2 * math.pi * k / PAN_PERIOD + i
            x = round(cx + self.radius * math.cos(angle) - self.w / 2)
            y = round(cy + self.radius * math.sin(angle) - self.h / 2)
            out[y:y + self.h, x:x + self.w][inside] = patch[inside]
            mask = np.zeros(frame.shape[:2], bool)
            mask[y:y + self.h, x:x + self.w] = inside
            masks.append(mask)
        return out, masks


@dataclass
class Setting:
    """One timed thing at one size, the backbone or a Session with n objects, with its own frame count."""

    size: tuple[int, int]
    objects: int                                 # 0: the backbone alone
    make: Callable[[int], Any]                   # frame index -> what ``run`` takes (not timed)
    run: Callable[[Any], int]                    # timed; -> objects visible in the frame
    next_frame: int = 0
    rounds: list[list[float]] = field(default_factory=list)   # ms per timed frame, per round
    visible: list[int] = field(default_factory=list)
    warmup_frames: int = 0
    memory: dict[str, int] = field(default_factory=dict)

    def step(self) -> int:
        """Run the next frame untimed (warm-up)."""
        self.next_frame += 1
        return self.run(self.make(self.next_frame - 1))

    def time_round(self, count: int, sync: Callable[[], None]) -> None:
        """Time ``count`` consecutive frames (each made before the clock starts)."""
        times = []
        for _ in range(count):
            x = self.make(self.next_frame)
            self.next_frame += 1
            sync()
            t = time.perf_counter()
            self.visible.append(self.run(x))
            sync()
            times.append(1e3 * (time.perf_counter() - t))
        self.rounds.append(times)

    def medians(self) -> list[float]:
        return [statistics.median(r) for r in self.rounds]


def fill_memory(session: Any, config: TrackerConfig, step: Callable[[], Any]) -> int:
    """Step ``session`` until its memory is at its bound (working FIFO full, long-term store at its cap);
    -> frames stepped. Every frame leaving the FIFO gives the long-term store at least one token, which
    bounds the frames needed."""
    m = config.memory
    long_term = m.long_term_tokens if m.prototypes_per_frame else 0
    limit = m.write_every * (m.working_frames + 2 + long_term)
    for k in range(limit):
        stats = session.memory_stats()
        if stats["working_frames"] >= m.working_frames and stats["long_term_tokens"] >= long_term * stats["views"]:
            return k
        step()
    raise RuntimeError(f"memory not at its bound after {limit} frames: {session.memory_stats()}")


def spread(values: list[float]) -> dict[str, float]:
    """Median and range of per-round values."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def run(args: argparse.Namespace) -> int:
    from vos_ros.core.geometry import FrameGeometry
    from vos_ros.core.model import compute_precision, resolve_precision
    from vos_ros.core.session import Session
    from vos_ros.core.types import Prompt
    from vos_ros.core.weights import load_model, set_threads

    try:
        sizes = [tuple(int(v) for v in s.split("x")) for s in args.sizes.split(",")]
        counts = [int(c) for c in args.objects.split(",")]
    except ValueError:
        sizes, counts = [], []
    if not sizes or any(len(s) != 2 or min(s) < 16 for s in sizes) or not counts or min(counts) < 1:
        raise SystemExit(f"vos-ros bench speed: --sizes must be HxW[,HxW...] (each side >= 16) and --objects "
                         f"n[,n...] (n >= 1), got '{args.sizes}' and '{args.objects}'")
    if args.frames < 1 or args.rounds < 1:
        raise SystemExit(f"vos-ros bench speed: --frames and --rounds must be >= 1, got {args.frames}, {args.rounds}")
    if args.video is not None and not args.video.is_file():
        raise SystemExit(f"vos-ros bench speed: --video {args.video} does not exist")
    overrides = {f"model__{k}": v for k, v in (("device", args.device), ("precision", args.precision),
                                                ("runtime", args.runtime)) if v}
    try:
        config = TrackerConfig.load(args.config, profile=args.profile, **overrides)
    except (OSError, ValueError, KeyError) as exc:
        raise SystemExit(f"vos-ros bench speed: {exc}") from None
    set_threads(config.model)
    model = load_model(config.model)
    device = next(model.parameters()).device
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    onnx = config.model.runtime == "onnxruntime"
    frames = MovingFrames(args.video or data_root() / DEMO_VIDEO, max(min(size) for size in sizes))
    threshold = config.track.presence_threshold

    def reference(x: torch.Tensor) -> int:
        """The backbone's trunk in torch; the frame-encoder graph in onnxruntime (no trunk of its own)."""
        with torch.inference_mode(), compute_precision(device, config.model.precision):
            if onnx:
                model.encode_frame(x)
            else:
                model.backbone(x)
        return 0

    settings: list[Setting] = []
    for h, w in tqdm(sizes, desc="warm-up (memory to its bound)", unit="size"):
        geometry = FrameGeometry.for_frame(h, w, config.model.input_short_side, config.model.upscale)
        trunk = Setting((h, w), 0, lambda k, g=geometry, h=h, w=w: g.image_tensor(frames.frame(k, h, w), device),
                        reference)
        for _ in range(3):   # first calls allocate
            trunk.step()
        trunk.warmup_frames = 3
        settings.append(trunk)
        for n in counts:
            session = Session(model, config)
            objects = MovingObjects(n, h, w)
            setting = Setting((h, w), n, lambda k, o=objects, h=h, w=w: o.paste(frames.frame(k, h, w), k)[0],
                              lambda f, s=session: sum(o.presence >= threshold for o in s.step(f).objects))
            first, masks = objects.paste(frames.frame(0, h, w), 0)
            session.step(first, [Prompt(mask=m) for m in masks])
            setting.next_frame = 1
            setting.warmup_frames = 1 + fill_memory(session, config, setting.step)
            setting.memory = session.memory_stats()
            settings.append(setting)
    for _ in tqdm(range(args.rounds), desc="rounds", unit="round"):
        for setting in settings:
            setting.time_round(args.frames, sync)

    machine = (f"{platform.machine()} {platform.processor() or ''}".strip()
               + f", {torch.get_num_threads()} threads, torch {torch.__version__}")
    result = {"machine": machine, "device": str(device),
              "precision": "fp32" if onnx else resolve_precision(config.model.precision, device),
              "runtime": config.model.runtime, "reference": "frame-encoder graph" if onnx else "backbone trunk",
              "profile": args.profile, "input": frames.name, "rounds": args.rounds,
              "frames_per_round": args.frames, "rows": rows(settings, config)}
    print_table(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))
    return 0


def rows(settings: list[Setting], config: TrackerConfig) -> list[dict[str, Any]]:
    """One row per size and object count: step and backbone times and the ratios, per round then median."""
    from vos_ros.core.geometry import FrameGeometry

    out = []
    for trunk in (s for s in settings if s.objects == 0):
        same = [s for s in settings if s.size == trunk.size and s.objects]
        one = next((s for s in same if s.objects == 1), None)
        h, w = trunk.size
        geometry = FrameGeometry.for_frame(h, w, config.model.input_short_side, config.model.upscale)
        backbone = trunk.medians()
        for s in same:
            step = s.medians()
            row = {"input": f"{w}x{h}", "network_input": f"{geometry.padded_w}x{geometry.padded_h}",
                   "objects": s.objects, "visible": statistics.mean(s.visible),
                   "step_ms": spread(step), "backbone_ms": spread(backbone),
                   "ratio": spread([a / b for a, b in zip(step, backbone, strict=True)]),
                   "vs_one_object": spread([a / b for a, b in zip(step, one.medians(), strict=True)]) if one else None,
                   "fps": 1e3 / statistics.median(step), "warmup_frames": s.warmup_frames, "memory": s.memory}
            out.append(row)
    return out


def print_table(result: dict[str, Any]) -> None:
    print(f"machine: {result['machine']}; {result['device']}, {result['precision']}, runtime {result['runtime']} "
          f"(backbone column: the {result['reference']})")
    print(f"input: {result['input']}; {result['rounds']} interleaved rounds x {result['frames_per_round']} timed "
          "frames per setting, memory at its bound before timing; median over rounds (min-max of the rounds)")
    head = ("input", "net input", "objects", "visible", "step ms", "backbone ms", "step/backbone", "vs 1 object",
            "fps")
    print(f"{head[0]:>9} {head[1]:>9} {head[2]:>7} {head[3]:>7} {head[4]:>20} {head[5]:>17} {head[6]:>17} "
          f"{head[7]:>17} {head[8]:>6}")

    def fmt(d: dict[str, float] | None, digits: int) -> str:
        return "-" if d is None else f"{d['median']:.{digits}f} ({d['min']:.{digits}f}-{d['max']:.{digits}f})"

    for r in result["rows"]:
        print(f"{r['input']:>9} {r['network_input']:>9} {r['objects']:>7} {r['visible']:>7.1f} "
              f"{fmt(r['step_ms'], 1):>20} {fmt(r['backbone_ms'], 1):>17} {fmt(r['ratio'], 2):>17} "
              f"{fmt(r['vs_one_object'], 2):>17} {r['fps']:>6.2f}")
