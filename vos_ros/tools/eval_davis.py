"""Run the tracker on a DAVIS-layout root and score it with the official J, F and J&F.

One Session per sequence. Every object gets its GT mask once, at the first frame where it is
annotated (objects may first appear after frame 0), and is tracked from there on. The objects are
the DAVIS ones: ids 1..K, K = the largest id in the first GT frame. Predictions are optionally
written as indexed PNGs (``--out``) that ``vos-ros eval score`` reads. Ends with ``J&F-Mean: 0.xxx``.
"""
from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np
from tqdm import tqdm

from vos_ros.core.config import PRECISION_CHOICES, TRACKER_CONFIG, TrackerConfig
from vos_ros.core.types import FrameResult, Prompt
from vos_ros.tools.davis_io import DavisSequence, list_sequences, write_labels
from vos_ros.tools.davis_metric import aggregate, evaluate_sequence, n_objects, scored_frames
from vos_ros.tools.eval_score import add_dataset_arguments, format_table, with_frame_counts, write_json

if TYPE_CHECKING:
    from vos_ros.core.model import VOSModel
    from vos_ros.tools.adapt import AdaptConfig


class StepSession(Protocol):
    """The part of ``vos_ros.core.session.Session`` the runner uses."""

    def step(self, frame: np.ndarray, prompts: list[Prompt] | None = None) -> FrameResult: ...


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vos_ros.core.model import ABLATIONS

    add_dataset_arguments(parser)
    parser.add_argument("--out", type=Path, default=None, help="write predictions to OUT/<seq>/<frame>.png")
    parser.add_argument("--config", type=Path, default=TRACKER_CONFIG, help="tracker parameter file")
    parser.add_argument("--short-side", type=int, default=None,
                        help="override model.input_short_side (the network's input scale)")
    parser.add_argument("--max-frames", type=int, default=None,
                        help="use only the first N frames of each sequence (N >= 3)")
    parser.add_argument("--checkpoint", default=None, help="override model.checkpoint (weights file)")
    parser.add_argument("--precision", choices=PRECISION_CHOICES, default=None,
                        help="override model.precision (network arithmetic)")
    parser.add_argument("--upscale", action="store_true",
                        help="set model.upscale: scale smaller frames up to the short side")
    parser.add_argument("--mirror-view", action="store_true",
                        help="set model.mirror_view: also track the mirrored frames, follow both views' mean")
    parser.add_argument("--extra-short-side", type=int, default=None,
                        help="override model.extra_short_side: also track at this input scale (0 = off)")
    parser.add_argument("--method", choices=["tracker", "propagation"], default="tracker",
                        help="propagation = training-free baseline on raw backbone features")
    parser.add_argument("--disable", choices=sorted(ABLATIONS), default=None,
                        help="switch one component of the trained model off at inference (ablation)")
    parser.add_argument("--adapt-steps", type=int, default=0,
                        help="fine-tune a copy of the model for N steps on each sequence's first prompt "
                             "frame before tracking it (prompt-time adaptation, vos_ros/tools/adapt.py; 0 = off)")
    parser.add_argument("--adapt-lr", type=float, default=None,
                        help="learning rate of --adapt-steps (default: AdaptConfig.lr of vos_ros/tools/adapt.py)")


@dataclass
class SequenceRun:
    """Predicted label maps (GT ids) of every processed frame and the time spent in ``step``."""

    predictions: list[np.ndarray]
    gt: list[np.ndarray]
    step_seconds: float

    @property
    def fps(self) -> float:
        return len(self.predictions) / self.step_seconds if self.step_seconds > 0 else float("inf")


def first_annotations(gt: Iterable[np.ndarray], k: int) -> Iterator[tuple[int, list[int]]]:
    """(frame index, ids 1..k whose first non-empty GT mask is in that frame), in frame order; reads
    ``gt`` only as far as it is iterated."""
    pending = set(range(1, k + 1))
    for i, labels in enumerate(gt):
        present = sorted(obj for obj in pending if (labels == obj).any())
        if present:
            yield i, present
            pending.difference_update(present)


def first_annotated(gt: list[np.ndarray], k: int) -> dict[int, list[int]]:
    """{frame index: ids 1..k whose first non-empty GT mask is in that frame}."""
    return dict(first_annotations(gt, k))


def track_sequence(session: StepSession, seq: DavisSequence, max_frames: int | None = None,
                   bar: tqdm | None = None) -> SequenceRun:
    """Run ``session`` over the frames of ``seq``, prompting each object where it is first annotated."""
    gt = seq.all_labels(max_frames)
    scored_frames(len(gt))  # refuse sequences too short to score before spending time on them
    k = n_objects(gt[0])
    starts = first_annotated(gt, k)
    if max(int(labels.max()) for labels in gt) > k:
        tqdm.write(f"{seq.name}: GT ids above {k} appear after the first frame; DAVIS counts only the "
                   f"objects of the first frame, so they are neither tracked nor scored")
    gt_of_label = {str(obj): obj for obj in range(1, k + 1)}
    gt_of_track: dict[int, int] = {}
    predictions = []
    seconds = 0.0
    for i, labels in enumerate(gt):
        frame = seq.image(i)
        if frame.shape[:2] != labels.shape:
            raise ValueError(f"{seq.name} frame {seq.frames[i]}: image is {frame.shape[:2]}, "
                             f"annotation {labels.shape}")
        prompts = [Prompt(mask=labels == obj, label=str(obj)) for obj in starts.get(i, [])]
        t0 = time.perf_counter()
        res = session.step(frame, prompts=prompts)
        seconds += time.perf_counter() - t0
        if res.label_image.shape != labels.shape:
            raise ValueError(f"{seq.name} frame {seq.frames[i]}: session label image is "
                             f"{res.label_image.shape}, GT is {labels.shape}")
        # tracks are matched to DAVIS ids through the label they were prompted with
        gt_of_track.update({o.id: gt_of_label[o.label] for o in res.objects if o.label in gt_of_label})
        predictions.append(to_gt_ids(res.label_image, gt_of_track))
        if bar is not None:
            bar.update(1)
    return SequenceRun(predictions, gt, seconds)


def adapted_to_first_prompt(model: VOSModel, seq: DavisSequence, cfg: AdaptConfig, precision: str,
                            max_frames: int | None = None) -> VOSModel:
    """``model`` fine-tuned on the first frame where objects are annotated, with their masks
    (``adapt.adapt``); objects first annotated later are tracked but not adapted to."""
    from vos_ros.tools.adapt import adapt  # torch is imported only when tracking

    n = len(seq.frames) if max_frames is None else min(max_frames, len(seq.frames))
    gt = map(seq.labels, range(n))  # read up to that frame only
    first, ids = next(first_annotations(gt, n_objects(seq.labels(0))))
    labels = seq.labels(first)
    return adapt(model, seq.image(first), np.stack([labels == obj for obj in ids]), cfg, precision)


def to_gt_ids(label_image: np.ndarray, gt_of_track: dict[int, int]) -> np.ndarray:
    """Map a track-id label image to GT ids; pixels of tracks not in the map become background."""
    size = max(int(label_image.max(initial=0)), *gt_of_track, 0) + 1
    lut = np.zeros(size, dtype=np.uint8)
    for track, obj in gt_of_track.items():
        lut[track] = obj
    return lut[label_image]


def evaluate_davis(root: str | Path, sequences: list[str] | None,
                   make_session: Callable[[DavisSequence], StepSession], out: Path | None = None,
                   max_frames: int | None = None, progress: bool = True) -> dict:
    """Track and score every sequence; result layout as :func:`davis_metric.aggregate` plus timing.

    ``make_session(seq)`` gives the session for one sequence (the time it takes is ``prepare_s``)."""
    if max_frames is not None and max_frames < 3:
        raise ValueError(f"max_frames must be >= 3 (first and last frames are not scored), got {max_frames}")
    names = list_sequences(root, sequences)
    seqs = [DavisSequence.open(root, name) for name in names]
    total = sum(len(s.frames) if max_frames is None else min(max_frames, len(s.frames)) for s in seqs)
    scores, n_frames, timing = {}, {}, {}
    t0 = time.perf_counter()
    with tqdm(total=total, desc="eval davis", unit="frame", disable=not progress) as bar:
        for seq in seqs:
            bar.set_postfix_str(seq.name)
            t_prepare = time.perf_counter()
            session = make_session(seq)
            prepare_s = time.perf_counter() - t_prepare
            tracked = track_sequence(session, seq, max_frames, bar)
            if out is not None:
                for name, pred in zip(seq.frames, tracked.predictions, strict=False):
                    write_labels(out / seq.name / f"{name}.png", pred)
            scores[seq.name] = evaluate_sequence(seq.name, tracked.gt, tracked.predictions[1:-1])
            n_frames[seq.name] = len(tracked.gt)
            timing[seq.name] = {"frames": len(tracked.gt), "step_s": tracked.step_seconds, "fps": tracked.fps,
                                "prepare_s": prepare_s}
    result = with_frame_counts(aggregate(scores), n_frames)
    for name, entry in result["per_sequence"].items():
        entry["timing"] = timing[name]
    frames = sum(t["frames"] for t in timing.values())
    step_s = sum(t["step_s"] for t in timing.values())
    result["timing"] = {"frames": frames, "step_s": step_s, "fps": frames / step_s if step_s > 0 else None,
                        "prepare_s": sum(t["prepare_s"] for t in timing.values()), "wall_s": time.perf_counter() - t0}
    return result


def run(args: argparse.Namespace) -> int:
    from vos_ros.core.model import resolve_precision  # torch is imported only when tracking
    from vos_ros.core.session import Session
    from vos_ros.core.weights import load_model, resolve_device, set_threads
    from vos_ros.tools.adapt import AdaptConfig

    overrides = {} if args.short_side is None else {"model__input_short_side": args.short_side}
    if args.checkpoint:
        overrides["model__checkpoint"] = args.checkpoint
    if args.precision:
        overrides["model__precision"] = args.precision
    if args.upscale:
        overrides["model__upscale"] = True
    if args.mirror_view:
        overrides["model__mirror_view"] = True
    if args.extra_short_side is not None:
        overrides["model__extra_short_side"] = args.extra_short_side
    config = TrackerConfig.load(args.config, **overrides)
    adaptation = AdaptConfig(steps=args.adapt_steps, **({} if args.adapt_lr is None else {"lr": args.adapt_lr}))
    if adaptation.steps and args.method == "propagation":
        raise SystemExit("--adapt-steps adapts the trained tracker; the propagation baseline has nothing to train")
    t0 = time.perf_counter()
    if args.method == "propagation":
        from vos_ros.core.backbone import Backbone
        from vos_ros.core.propagation import PropagationSession

        backbone = Backbone()

        def make_session(seq: DavisSequence) -> StepSession:
            return PropagationSession(backbone, config)
    else:
        set_threads(config.model)
        model = load_model(config.model)
        if args.disable:
            model = model.with_config(model.cfg.without(args.disable))

        def make_session(seq: DavisSequence) -> StepSession:
            if not adaptation.steps:
                return Session(model, config)
            return Session(adapted_to_first_prompt(model, seq, adaptation, config.model.precision, args.max_frames),
                           config)
    load_s = time.perf_counter() - t0
    result = evaluate_davis(args.root, args.sequences, make_session, out=args.out, max_frames=args.max_frames)
    result["timing"]["model_load_s"] = load_s
    result = {"root": str(args.root), "config": str(args.config), "short_side": args.short_side,
              "max_frames": args.max_frames, "method": args.method, "disabled": args.disable,
              "checkpoint": config.model.checkpoint, "upscale": config.model.upscale,
              "adapt_steps": adaptation.steps, "adapt_lr": adaptation.lr,
              "mirror_view": config.model.mirror_view,
              "extra_short_side": config.model.extra_short_side,
              "precision": resolve_precision(config.model.precision, resolve_device(config.model.device)), **result}
    if args.json:
        write_json(args.json, result)
    fps = {name: f"{e['timing']['fps']:.2f}" for name, e in result["per_sequence"].items()}
    print(format_table(result, {"fps": fps}))
    return 0
