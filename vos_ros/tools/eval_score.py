"""Score existing predictions on a DAVIS-layout root with the official J, F and J&F.

PRED/<seq>/<frame>.png holds the predicted ids (indexed PNG, 0 = background, k = GT object k) for at
least the scored frames 1..N-2 of every sequence. Prints a per-sequence table and ends with the line
``J&F-Mean: 0.xxx``.
"""
from __future__ import annotations

import argparse
import json
from collections.abc import Mapping
from pathlib import Path

from tqdm import tqdm

from vos_ros.tools.davis_io import DavisSequence, list_sequences, read_prediction
from vos_ros.tools.davis_metric import ObjectScore, aggregate, evaluate_sequence, scored_frames


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_dataset_arguments(parser)
    parser.add_argument("--pred", required=True, type=Path, help="predictions: PRED/<seq>/<frame>.png")


def add_dataset_arguments(parser: argparse.ArgumentParser) -> None:
    """--root, --sequences and --json, shared by ``eval score`` and ``eval davis``."""
    parser.add_argument("--root", required=True, type=Path,
                        help="DAVIS-layout root (JPEGImages/480p, Annotations/480p, ImageSets)")
    parser.add_argument("--sequences", type=parse_sequences, default=None,
                        help="comma-separated sequence names (default: the root's sequence list)")
    parser.add_argument("--json", type=Path, default=None,
                        help="write global, per-sequence and per-object numbers to this file")


def parse_sequences(text: str) -> list[str]:
    names = [s.strip() for s in text.split(",") if s.strip()]
    if not names:
        raise argparse.ArgumentTypeError("--sequences needs at least one name")
    return names


def score_predictions(root: str | Path, pred_dir: str | Path, sequences: list[str] | None = None,
                      progress: bool = True) -> dict:
    """Official numbers of the predictions in ``pred_dir`` (layout: :func:`davis_metric.aggregate`)."""
    names = list_sequences(root, sequences)
    scores: dict[str, list[ObjectScore]] = {}
    n_frames: dict[str, int] = {}
    for name in tqdm(names, desc="scoring", unit="seq", disable=not progress):
        seq = DavisSequence.open(root, name)
        gt = seq.all_labels()
        preds = [read_prediction(pred_dir, name, seq.frames[i]) for i in scored_frames(len(gt))]
        scores[name] = evaluate_sequence(name, gt, preds)
        n_frames[name] = len(gt)
    return with_frame_counts(aggregate(scores), n_frames)


def with_frame_counts(result: dict, n_frames: Mapping[str, int]) -> dict:
    """Add each sequence's total frame count (``n_frames``) beside its scored-frame count."""
    for name, entry in result["per_sequence"].items():
        entry["n_frames"] = int(n_frames[name])
    return result


def format_table(result: dict, extra: Mapping[str, Mapping[str, str]] | None = None) -> str:
    """Per-sequence J-Mean, F-Mean, J&F and objects, plus ``extra`` columns {column: {seq: text}}."""
    extra = extra or {}
    per_seq = result["per_sequence"]
    width = max(len("sequence"), *(len(s) for s in per_seq))
    head = f"{'sequence':<{width}}  J-Mean  F-Mean     J&F  objects  frames"
    head += "".join(f"  {c:>8}" for c in extra)
    lines = [head, "-" * len(head)]
    for name, e in per_seq.items():
        cols = "".join(f"  {extra[c][name]:>8}" for c in extra)
        lines.append(f"{name:<{width}}  {e['J-Mean']:6.3f}  {e['F-Mean']:6.3f}  {e['J&F-Mean']:6.3f}"
                     f"  {len(e['objects']):7d}  {e['n_frames']:6d}{cols}")
    g = result["global"]
    lines.append("-" * len(head))
    lines.append(f"{'global':<{width}}  {g['J-Mean']:6.3f}  {g['F-Mean']:6.3f}  {g['J&F-Mean']:6.3f}")
    lines.append(f"J-Recall {g['J-Recall']:.3f}  J-Decay {g['J-Decay']:.3f}  "
                 f"F-Recall {g['F-Recall']:.3f}  F-Decay {g['F-Decay']:.3f}")
    lines.append(f"J&F-Mean: {g['J&F-Mean']:.3f}")
    return "\n".join(lines)


def write_json(path: Path, result: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")


def run(args: argparse.Namespace) -> int:
    result = score_predictions(args.root, args.pred, args.sequences)
    result = {"root": str(args.root), "pred": str(args.pred), **result}
    if args.json:
        write_json(args.json, result)
    print(format_table(result))
    return 0
