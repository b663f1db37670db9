"""Track objects given by boxes, masks or phrases on any frame of a video file or a rosbag2 image topic.

    vos-ros track clip.mp4 --box 570,292,170,253 --label cup --box 363,425,75,77 --label ball \
        --out overlay.mp4 --masks masks/ --tracks tracks.jsonl
    vos-ros track clip.mp4 --mask mug.png --box 10,20,50,60@45 --text "the red cup@90" --out overlay.mp4
    vos-ros track my_bag/ --topic /camera/color/image_raw --box 10,20,50,60 --out overlay.mp4

A prompt applies to frame 0, or to the frame after its '@' (an object that enters later). Writes an
overlay video (colours, ids, labels), with --masks one 16-bit PNG per frame (pixel = track id), with
--tracks one JSON line per frame (stamp, and per track id, label, state, box, score). Runs the core
Session directly: no ROS graph is needed.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vos_ros.core.box_path import boxes_to_masks
from vos_ros.core.config import TRACKER_CONFIG, TrackerConfig, profile_names
from vos_ros.core.model import VOSModel
from vos_ros.core.session import Session
from vos_ros.core.types import Box, FrameResult, Prompt
from vos_ros.core.visualize import draw_overlay
from vos_ros.core.weights import load_model, set_threads
from vos_ros.tools.adapt import AdaptConfig, adapt
from vos_ros.tools.media import FrameSource, VideoWriter, write_label_png


def at_frame(text: str) -> tuple[str, int]:
    """'value@N' -> (value, N); a value without '@' is for frame 0."""
    value, sep, frame = text.rpartition("@") if "@" in text else (text, "", "0")
    try:
        index = int(frame)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}': the frame after '@' must be an integer") from None
    if index < 0:
        raise argparse.ArgumentTypeError(f"'{text}': the frame after '@' must be >= 0")
    return value, index


def parse_box(text: str) -> tuple[Box, int]:
    """'x,y,w,h[@frame]' -> box, frame."""
    value, frame = at_frame(text)
    try:
        x, y, w, h = (float(v) for v in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"box '{text}' must be x,y,w,h (four numbers), optionally @frame") from None
    if w <= 0 or h <= 0:
        raise argparse.ArgumentTypeError(f"box '{text}': width and height must be positive")
    return (x, y, w, h), frame


def parse_mask(text: str) -> tuple[Path, int]:
    """'file.png[@frame]' -> path, frame."""
    value, frame = at_frame(text)
    return Path(value), frame


@dataclass
class PromptPlan:
    """What to add on which frame: box and mask prompts, and phrases grounded on that frame."""

    prompts: dict[int, list[Prompt]] = field(default_factory=dict)
    phrases: dict[int, list[str]] = field(default_factory=dict)

    def add_prompt(self, frame: int, prompt: Prompt) -> None:
        self.prompts.setdefault(frame, []).append(prompt)

    def on(self, frame: int, image: np.ndarray) -> list[Prompt]:
        """The prompts of ``frame``, phrases grounded on ``image`` (a phrase that matches nothing adds nothing)."""
        prompts = list(self.prompts.get(frame, []))
        for phrase in self.phrases.get(frame, []):
            from vos_ros.prompts.ground import ground

            found = ground(image, phrase).objects
            print(f"frame {frame}: '{phrase}' -> {len(found)} object(s)", file=sys.stderr)
            prompts += [Prompt(mask=o.mask, label=o.label) for o in found]
        return prompts

    @property
    def frames(self) -> set[int]:
        return set(self.prompts) | set(self.phrases)


def read_mask(path: Path) -> np.ndarray:
    """A mask PNG (nonzero = object) as H x W bool."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None:
        raise ValueError(f"cannot read mask image {path}")
    return (image if image.ndim == 2 else image.max(axis=2)) > 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", type=Path, help="video file, or rosbag2 folder / .mcap / .db3 file")
    parser.add_argument("--box", type=parse_box, action="append", default=[],
                        help="x,y,w,h[@frame] of an object (input pixels; frame 0 unless @frame); repeat per object")
    parser.add_argument("--label", action="append", default=[], help="label per --box, in order")
    parser.add_argument("--mask", type=parse_mask, action="append", default=[],
                        help="mask PNG[@frame] of an object (nonzero = object, frame size; labelled by the file name)")
    parser.add_argument("--text", type=at_frame, action="append", default=[],
                        help="phrase[@frame] grounded on that frame ('all cups'); each object found becomes a track")
    parser.add_argument("--tracks", type=Path, help="write one JSON line per frame: stamp and the tracks")
    parser.add_argument("--topic", help="image topic of a bag (needed when it has several)")
    parser.add_argument("--out", type=Path, required=True, help="overlay video to write (.mp4)")
    parser.add_argument("--masks", type=Path, help="folder for per-frame label PNGs (uint16, pixel = id)")
    parser.add_argument("--profile", choices=profile_names(),
                        help="machine profile (config/profiles/NAME.yaml), applied before --config")
    parser.add_argument("--config", type=Path, default=TRACKER_CONFIG, help="tracker parameter YAML")
    parser.add_argument("--max-frames", type=int, help="stop after this many frames")
    parser.add_argument("--fps", type=float, default=30.0,
                        help="frame rate of the overlay video and of the --tracks stamps (frame / fps)")
    parser.add_argument("--adapt-steps", type=int, default=0,
                        help="fine-tune a copy of the model for N steps on the first frame and its box masks "
                             "before tracking (prompt-time adaptation, vos_ros/tools/adapt.py; 0 = off)")


def adapted_to_boxes(model: VOSModel, frame: np.ndarray, prompts: list[Prompt], config: TrackerConfig,
                     adaptation: AdaptConfig) -> tuple[VOSModel, list[Prompt]]:
    """``model`` fine-tuned on ``frame`` with the ``prompts``' masks (the box path's for box prompts), and
    those masks as mask prompts (the adapted copy tracks the masks it was adapted to)."""
    m = config.model
    masks = [p.mask != 0 if p.mask is not None else
             boxes_to_masks(model, frame, [p.box], crop_side=m.box_crop_side, threshold=m.box_threshold,
                            precision=m.precision)[0] for p in prompts]
    empty = [p.label or str(i) for i, (p, mask) in enumerate(zip(prompts, masks, strict=True)) if not mask.any()]
    if empty:
        raise ValueError(f"the box path found nothing in the boxes of {empty}: cannot adapt to them")
    return (adapt(model, frame, np.stack(masks), adaptation, m.precision),
            [Prompt(mask=mask, label=p.label) for p, mask in zip(prompts, masks, strict=True)])


def track_record(frame_index: int, stamp: float, result: FrameResult) -> dict:
    """One line of ``--tracks``: the frame's stamp and every track's id, label, state, box and score."""
    return {"frame": frame_index, "stamp": round(stamp, 6),
            "tracks": [{"id": o.id, "label": o.label, "state": o.state.name, "score": round(o.presence, 4),
                        "box": [round(v, 1) for v in o.box] if o.box is not None else None}
                       for o in result.objects]}


def track(source: FrameSource, plan: PromptPlan, config: TrackerConfig, out: Path,
          masks_dir: Path | None = None, fps: float = 30.0, adaptation: AdaptConfig | None = None,
          tracks_path: Path | None = None) -> dict[str, float]:
    """Run the tracker over ``source`` with the prompts of ``plan``; -> frames, fps, mean step ms (and the
    seconds spent adapting to the first frame's box prompts, with ``adaptation``)."""
    model = load_model(config.model)
    session = Session(model, config)
    adapt_s = 0.0
    if masks_dir is not None:
        masks_dir.mkdir(parents=True, exist_ok=True)
    steps_ms = []
    t0 = time.perf_counter()
    with VideoWriter(out, fps) as video, ExitStack() as stack:
        log = stack.enter_context(open(tracks_path, "w", encoding="utf-8")) if tracks_path else None
        for k, frame in enumerate(tqdm(source, total=len(source) or None, desc="track", unit="frame")):
            prompts = plan.on(k, frame) if k in plan.frames else []
            if k == 0 and adaptation is not None and adaptation.steps:
                t_adapt = time.perf_counter()
                adapted, prompts = adapted_to_boxes(model, frame, prompts, config, adaptation)
                session = Session(adapted, config)
                adapt_s = time.perf_counter() - t_adapt
            result = session.step(frame, prompts=prompts)
            steps_ms.append(result.timings_ms.get("total", 0.0))
            video.write(draw_overlay(frame, result.label_image, {o.id: o.label for o in result.objects}))
            if masks_dir is not None:
                write_label_png(masks_dir / f"{k:05d}.png", result.label_image)
            if log is not None:
                log.write(json.dumps(track_record(k, k / fps, result)) + "\n")
    if not steps_ms:
        raise ValueError(f"{source.path}: no frames")
    if max(plan.frames, default=0) >= len(steps_ms):
        raise ValueError(f"prompts for frame {max(plan.frames)}, but {source.path} has {len(steps_ms)} frames")
    wall = time.perf_counter() - t0 - adapt_s
    return {"frames": len(steps_ms), "fps": len(steps_ms) / wall, "step_ms": sum(steps_ms) / len(steps_ms),
            "adapt_s": adapt_s}


def run(args: argparse.Namespace) -> int:
    if not (args.box or args.mask or args.text):
        raise SystemExit("vos-ros track: give at least one --box, --mask or --text")
    if len(args.label) > len(args.box):
        raise SystemExit(f"{len(args.label)} --label for {len(args.box)} --box")
    labels = args.label + [""] * (len(args.box) - len(args.label))
    plan = PromptPlan()
    try:
        for (box, frame), label in zip(args.box, labels, strict=True):
            plan.add_prompt(frame, Prompt(box=box, label=label))
        for path, frame in args.mask:
            plan.add_prompt(frame, Prompt(mask=read_mask(path), label=path.stem))
        for phrase, frame in args.text:
            plan.phrases.setdefault(frame, []).append(phrase)
        if args.adapt_steps and set(plan.frames) != {0}:
            raise ValueError("--adapt-steps adapts to the first frame's boxes: give every prompt on frame 0")
        config = TrackerConfig.load(args.config, profile=args.profile)
        set_threads(config.model)
        source = FrameSource(args.input, topic=args.topic, max_frames=args.max_frames)
        stats = track(source, plan, config, args.out, args.masks, args.fps, AdaptConfig(steps=args.adapt_steps),
                      args.tracks)
    except (OSError, ValueError, KeyError) as exc:
        print(f"vos-ros track: {exc}", file=sys.stderr)
        return 2
    adapted = f" after {stats['adapt_s']:.0f} s of adaptation" if args.adapt_steps else ""
    print(f"{stats['frames']} frames, {stats['fps']:.2f} fps, {stats['step_ms']:.0f} ms per step{adapted} -> {args.out}"
          + (f", masks in {args.masks}" if args.masks else "") + (f", tracks in {args.tracks}" if args.tracks else ""))
    return 0
