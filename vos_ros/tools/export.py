"""Export the tracker network as ONNX graphs (vos_ros/core/onnx_runtime.py) and check each graph against
torch: the largest absolute difference of every output on a real frame pair (two DAVIS frames with their
objects' first-frame masks), fed the same inputs as torch's modules. ``model.runtime: onnxruntime`` with
``model.onnx_dir: DIR`` then runs the Session on the graphs.

    vos-ros export onnx --out DIR [--checkpoint PT] [--root DAVIS_ROOT --sequence NAME] [--json PARITY.json]
"""
from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from vos_ros.core.geometry import FrameGeometry
from vos_ros.core.model import FrameFeatures, VOSModel, time_bucket
from vos_ros.core.onnx_runtime import FEATURES, OnnxModel, export_graphs
from vos_ros.core.types import mask_box
from vos_ros.tools.davis_io import DATA_HELP, DavisSequence, data_root


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", type=Path, required=True, help="folder the graphs and manifest.json are written to")
    p.add_argument("--checkpoint", default="", help="weights file (default: the shipped models/vos_lite0.pt)")
    p.add_argument("--root", type=Path, default=None,
                   help=f"DAVIS-layout root of the parity frames (default: davis2017_multiobject_check in the "
                        f"{DATA_HELP})")
    p.add_argument("--sequence", default="horsejump-high", help="sequence whose frames 0 and 1 the parity uses")
    p.add_argument("--short-side", type=int, default=480, help="network input short side of the parity frames")
    p.add_argument("--top-k", type=int, default=30, help="memory.top_k of the parity's memory read-out")
    p.add_argument("--json", type=Path, default=None, help="write the parity numbers to this file")


def graph_outputs(model: VOSModel | OnnxModel, image1: torch.Tensor, feats1: FrameFeatures, prompt: FrameFeatures,
                  masks4: torch.Tensor, boxes4: torch.Tensor, top_k: int) -> dict[str, torch.Tensor]:
    """Every output of every graph, as ``model`` computes it: ``image1`` encoded; ``masks4`` (1 x K x
    H/4 x W/4) encoded as memory and queries on the ``prompt`` frame's features; frame 1 (``feats1``)
    segmented from that memory; the masks' boxes through the box path on the prompt frame."""
    feats = model.encode_frame(image1)
    out = {f"frame_encoder.{name}": getattr(feats, name) for name in FEATURES}
    values16, values8 = model.values(prompt, masks4)
    queries = model.query_init(prompt, masks4)
    out.update({"memory_values.values16": values16, "memory_values.values8": values8, "query_init.queries": queries})
    mem_keys = prompt.key16.flatten(2).transpose(1, 2)                       # 1 x N x Ck
    mem_values = values16.flatten(3).transpose(2, 3)                         # 1 x K x N x Cv
    buckets = time_bucket(torch.ones(mem_keys.shape[1]), torch.ones(mem_keys.shape[1], dtype=torch.bool),
                          model.cfg.time_buckets)[None]
    valid = torch.ones(masks4.shape[:2], dtype=torch.bool)
    logits, presence, top_idx, weights = model.segment(feats1, mem_keys, mem_values, buckets, prompt.key8, values8,
                                                       queries, valid, top_k)
    out.update({"segment.logits": logits, "segment.presence": presence, "segment.top_idx": top_idx,
                "segment.top_weights": weights})
    box_logits, box_presence = model.box_logits(prompt, boxes4, valid)
    out.update({"box_logits.logits": box_logits, "box_logits.presence": box_presence})
    return out


@torch.inference_mode()
def parity(model: VOSModel, onnx: OnnxModel, frames: tuple[np.ndarray, np.ndarray], masks: np.ndarray,
           short_side: int, top_k: int) -> dict[str, dict[str, float]]:
    """Each graph's outputs against torch's (fp32, CPU), every graph fed torch's inputs, so differences do
    not compound. ``frames``: prompt frame and next frame, H x W x 3 uint8; ``masks``: K x H x W bool on the
    prompt frame. -> {"graph.output": {"max_abs_diff", "max_abs"}}; for top_idx the share of indices that
    differ (near-equal affinities may swap places) instead of a difference."""
    geometry = FrameGeometry.for_frame(*frames[0].shape[:2], short_side)
    cpu = torch.device("cpu")
    images = [geometry.image_tensor(f, cpu) for f in frames]
    masks4 = geometry.masks_to_stride4(masks, cpu)
    boxes4 = geometry.boxes_to_stride4([mask_box(m) for m in masks], cpu)
    prompt, feats1 = model.encode_frame(images[0]), model.encode_frame(images[1])
    ref = graph_outputs(model, images[1], feats1, prompt, masks4, boxes4, top_k)
    got = graph_outputs(onnx, images[1], feats1, prompt, masks4, boxes4, top_k)
    report = {}
    for name, r in ref.items():
        g = got[name]
        if g.shape != r.shape:
            raise ValueError(f"{name}: onnxruntime gave shape {tuple(g.shape)}, torch {tuple(r.shape)}")
        if name.endswith("top_idx"):
            report[name] = {"differing_share": float((g != r).float().mean())}
        else:
            report[name] = {"max_abs_diff": float((g.float() - r.float()).abs().max()),
                            "max_abs": float(r.float().abs().max())}
    return report


def parity_frames(root: Path, sequence: str) -> tuple[tuple[np.ndarray, np.ndarray], np.ndarray]:
    """Frames 0 and 1 of ``sequence`` and its objects' masks on frame 0 (K x H x W bool)."""
    seq = DavisSequence.open(root, sequence)
    labels = seq.labels(0)
    ids = [i for i in np.unique(labels) if i != 0]
    return (seq.image(0), seq.image(1)), np.stack([labels == i for i in ids])


def run(args: argparse.Namespace) -> int:
    from vos_ros.core.weights import DEFAULT_CHECKPOINT, load_checkpoint

    root = args.root or data_root() / "davis2017_multiobject_check"
    frames, masks = parity_frames(root, args.sequence)  # fails before the export when the data is missing
    checkpoint = args.checkpoint or DEFAULT_CHECKPOINT
    model = load_checkpoint(checkpoint)
    t0 = time.perf_counter()
    export_graphs(model, args.out)
    print(f"exported {checkpoint} to {args.out} in {time.perf_counter() - t0:.0f} s")
    report = parity(model, OnnxModel(args.out), frames, masks, args.short_side, args.top_k)
    h, w = frames[0].shape[:2]
    print(f"parity against torch (fp32, CPU) on {args.sequence} frames 0-1, {w}x{h} at short side "
          f"{args.short_side}, {len(masks)} objects:")
    for name, numbers in report.items():
        print(f"  {name:28s} " + "  ".join(f"{k} {v:.3g}" for k, v in numbers.items()))
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"checkpoint": str(checkpoint), "sequence": args.sequence,
                                         "short_side": args.short_side, "objects": len(masks),
                                         "parity": report}, indent=1))
    return 0
