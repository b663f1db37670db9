"""`vos-ros ground IMAGE "TEXT" --out MASK.png [--json FILE]`: ground a phrase on one image.

Writes a mono8 PNG the size of IMAGE: 255 where a referred object is, 0 elsewhere (all 0 when
nothing matches; that is an answer, so the exit status is 0 in both cases). --json lists the
objects (label, score, box x/y/w/h, candidate sources) and the parsed phrase.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict
from pathlib import Path

import numpy as np
from PIL import Image


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("image", type=Path, help="RGB image (any format PIL reads)")
    parser.add_argument("text", help='the phrase, e.g. "the red mug" or "all cups"')
    parser.add_argument("--out", type=Path, required=True, help="mono8 PNG mask to write")
    parser.add_argument("--json", type=Path, default=None, help="write the grounded objects here")
    parser.add_argument("--depth", type=Path, default=None,
                        help="depth PNG registered to IMAGE (uint16, see --depth-scale)")
    parser.add_argument("--depth-scale", type=float, default=1000.0,
                        help="depth units per metre (1000 = millimetres; YCB-Video uses 10000)")
    parser.add_argument("--min-score", type=float, default=None,
                        help="acceptance threshold (default: prompt.min_score, config/vos_prompt.yaml)")
    parser.add_argument("--max-instances", type=int, default=0, help="at most this many objects (0 = all)")
    parser.add_argument("--segmenter", choices=("auto", "tracker", "grabcut"), default="auto",
                        help="box -> mask step (auto: the tracker's box path when its weights exist)")


def _open(path: Path) -> Image.Image:
    try:
        return Image.open(path)
    except OSError as err:
        raise OSError(f"cannot read {path}: {err}") from None


def run(args: argparse.Namespace) -> int:
    from vos_ros.prompts.box_masks import make_segmenter
    from vos_ros.prompts.ground import Grounder

    if args.depth_scale <= 0 or args.max_instances < 0:
        print("error: --depth-scale must be > 0 and --max-instances >= 0", file=sys.stderr)
        return 2
    try:
        image = np.asarray(_open(args.image).convert("RGB"))
        depth = None if args.depth is None else np.asarray(_open(args.depth)).astype(np.float32) / args.depth_scale
    except OSError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        result = Grounder(segment=make_segmenter(args.segmenter))(
            image, args.text, depth=depth, min_score=args.min_score, max_instances=args.max_instances)
    except ValueError as err:  # empty phrase, depth of another size, ...
        print(f"error: {err}", file=sys.stderr)
        return 2
    mask = result.union_mask(image.shape[:2])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(mask.astype(np.uint8) * 255).save(args.out)
    summary = ", ".join(f"{o.label} {o.score:.2f}" for o in result.objects) or "nothing matches"
    print(f"{args.text!r}: {summary} -> {args.out}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "text": args.text, "image": str(args.image), "phrase": asdict(result.phrase),
            "objects": [{"label": o.label, "score": o.score, "box": o.box, "source": o.source,
                         "area": int(o.mask.sum())} for o in result.objects],
            "candidates": result.candidates, "timings_ms": result.timings_ms}, indent=1))
    return 0
