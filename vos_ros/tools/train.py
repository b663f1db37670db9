"""Train the tracker: synthetic multi-object clips from COCO instances, then DAVIS-2016 train clips.

The backbone is frozen (its batch-norm too), so only the ~2 M head parameters learn; that is what
makes training on a 2-core CPU feasible, and the same command scales to a GPU (--device cuda,
bigger --batch / --size). Runs are seeded, logged (runs/<name>/log.jsonl) and resumable (--resume).

    vos-ros train --name lite0 --steps 6000 --davis-from 4000 --export models/vos_lite0.pt
"""
from __future__ import annotations

import argparse
import json
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from vos_ros.core.geometry import FrameGeometry
from vos_ros.core.model import (
    ABLATIONS,
    PRECISIONS,
    ModelConfig,
    VOSModel,
    aggregate,
    argmax_along,
    compute_precision,
    memory_tokens,
    time_bucket,
)
from vos_ros.tools.davis_io import DATA_HELP

# Loss weights against the tracking loss (mask loss over the tracked frames): the presence score's
# cross-entropy, and the box path's mask loss (on the clips' first frames and on real-scene box crops).
PRESENCE_LOSS_WEIGHT = 0.5
BOX_LOSS_WEIGHT = 0.5


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", default="lite0", help="run folder under --runs")
    p.add_argument("--runs", default="runs", help="where runs keep logs and checkpoints")
    p.add_argument("--steps", type=int, default=6000, help="total optimiser steps")
    p.add_argument("--davis-from", type=int, default=4000,
                   help="step from which DAVIS-2016 train clips are mixed in (synthetic only before)")
    p.add_argument("--davis-ratio", type=float, default=0.5, help="share of DAVIS clips after --davis-from")
    p.add_argument("--davis-max-skip", type=int, default=3,
                   help="largest gap between consecutive frames of a DAVIS clip, in stored frames (3 real frames each)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--frames", type=int, default=3, help="frames per clip (first one is the prompt)")
    p.add_argument("--size", default="240x432", help="clip HxW")
    p.add_argument("--max-objects", type=int, default=3)
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--box-prob", type=float, default=0.3,
                   help="share of clips whose first-frame mask comes from the box path")
    p.add_argument("--real-boxes", type=int, default=0,
                   help="box prompts on real COCO train scenes per step, cut as at run time (0 = none)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--precision", choices=PRECISIONS, default="fp32",
                   help="bf16: autocast convolutions and matrix products (faster on GPUs and CPUs with AMX)")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0 = default)")
    p.add_argument("--workers", type=int, default=1, help="data loader processes")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--save-every", type=int, default=250)
    p.add_argument("--resume", action="store_true", help="continue runs/<name>/last.pt")
    p.add_argument("--new-stage", action="store_true",
                   help="with --resume: a new learning-rate schedule (warm-up, cosine at --lr) to --steps")
    p.add_argument("--init", default="",
                   help="start from this shipped-weights file (e.g. models/vos_lite0.pt) with a fresh optimizer")
    p.add_argument("--average-from", type=int, default=0,
                   help="from this step on, export the running mean of the weights after every step "
                        "(stochastic weight averaging) instead of the last ones (0 = off)")
    p.add_argument("--export", default="", help="write the shipped-weights file here at the end")
    p.add_argument("--ablate", choices=["", *sorted(ABLATIONS)], default="",
                   help="train without one component (for the ablation table)")
    p.add_argument("--data-root", default="", help=DATA_HELP)


def clip_loss(model: VOSModel, batch: dict[str, torch.Tensor], box_prob: float, top_k: int = 30
              ) -> tuple[torch.Tensor, dict[str, float]]:
    """Track each clip from its first-frame masks; loss on every later frame (and on the box path).

    batch: frames B x T x 3 x H x W uint8, masks B x T x K x H x W bool, valid B x K, times B x T.
    """
    frames, masks, valid, times = batch["frames"], batch["masks"].float(), batch["valid"], batch["times"]
    B, T, _, H, W = frames.shape
    feats = [model.encode_frame(frames[:, t].float()) for t in range(T)]
    gt4 = [F.avg_pool2d(masks[:, t], 4) for t in range(T)]                       # B x K x H/4 x W/4
    stats: dict[str, float] = {}

    # first frame: the box path learns to turn boxes into masks; some clips start from its output
    box_rect = boxes_from_masks(gt4[0])
    box_logits, _ = model.box_logits(feats[0], box_rect, valid)
    loss = mask_loss(box_logits, masks[:, 0], valid)
    stats["box"] = float(loss.detach())
    use_box = (torch.rand(B, 1, 1, 1, device=frames.device) < box_prob).float()
    first = use_box * torch.sigmoid(box_logits).detach() * box_rect + (1 - use_box) * gt4[0]
    first = first * valid[..., None, None]

    queries = model.query_init(feats[0], first)
    v16, v8 = model.values(feats[0], first)
    keys, values = memory_tokens(feats[0].key16, v16)                             # B x N x Ck, B x K x N x Cv
    mem_keys, mem_values = [keys], [values]
    mem_times = [times[:, :1].expand(-1, mem_keys[0].shape[1])]
    mem_prompt = [torch.ones_like(mem_times[0], dtype=torch.bool)]
    prev_key8, prev_v8 = feats[0].key8, v8
    track_loss = 0.0
    for t in range(1, T):
        keys, values = torch.cat(mem_keys, 1), torch.cat(mem_values, 2)
        buckets = time_bucket(times[:, t:t + 1] - torch.cat(mem_times, 1), torch.cat(mem_prompt, 1),
                              model.cfg.time_buckets)
        logits, presence, _, _ = model.segment(feats[t], keys, values, buckets, prev_key8, prev_v8,
                                                  queries, valid, top_k)
        visible = (masks[:, t].flatten(2).sum(-1) > 0).float()
        step_loss = mask_loss(logits, masks[:, t], valid) + PRESENCE_LOSS_WEIGHT * (
            F.binary_cross_entropy_with_logits(presence, visible, reduction="none") * valid).sum() / valid.sum()
        track_loss = track_loss + step_loss / (T - 1)
        probs = aggregate(logits, valid).softmax(1)[:, 1:]
        v16, v8 = model.values(feats[t], probs)
        keys, values = memory_tokens(feats[t].key16, v16)
        mem_keys.append(keys)
        mem_values.append(values)
        mem_times.append(times[:, t:t + 1].expand(-1, mem_keys[-1].shape[1]))
        mem_prompt.append(torch.zeros_like(mem_times[-1], dtype=torch.bool))
        prev_key8, prev_v8 = feats[t].key8, v8
    stats["track"] = float(track_loss.detach())
    return BOX_LOSS_WEIGHT * loss + track_loss, stats


def optimizer_step(opt: torch.optim.Optimizer, params: list[torch.nn.Parameter], loss: torch.Tensor) -> bool:
    """Backpropagate ``loss``, clip the gradient norm to 1 and step; -> whether the step was applied.

    One non-finite loss or gradient would turn every weight into NaN (and the next checkpoint with
    them): such a step is skipped.
    """
    opt.zero_grad(set_to_none=True)
    loss.backward()
    grad_norm = torch.nn.utils.clip_grad_norm_(params, 1.0)
    if not (bool(torch.isfinite(loss.detach())) and bool(torch.isfinite(grad_norm))):
        return False
    opt.step()
    return True


def real_box_loss(model: VOSModel, crops: list[dict], device: str) -> torch.Tensor:
    """Box path on real-scene crops (train_data.CocoBoxCrops), one at a time: their sizes differ."""
    valid = torch.ones(1, 1, dtype=torch.bool, device=device)
    total = 0.0
    for crop in crops:
        height, width = crop["mask"].shape
        geometry = FrameGeometry.for_frame(height, width, 0)
        feats = model.encode_frame(geometry.image_tensor(crop["frame"], torch.device(device)))
        rect = geometry.boxes_to_stride4([crop["box"]], torch.device(device))
        logits, _ = model.box_logits(feats, rect, valid)                        # 1 x 1 x h/4 x w/4
        target = torch.from_numpy(crop["mask"]).to(device).float()[None, None]
        target = F.pad(target, (0, geometry.padded_w - width, 0, geometry.padded_h - height))
        total = total + mask_loss(logits, target, valid)
    return total / len(crops)


def boxes_from_masks(masks4: torch.Tensor) -> torch.Tensor:
    """Filled rectangles of each mask's box, with a little random slack like a user's box."""
    out = torch.zeros_like(masks4)
    B, K, h, w = masks4.shape
    for b in range(B):
        for k in range(K):
            ys, xs = torch.nonzero(masks4[b, k] > 0.25, as_tuple=True)
            if ys.numel() == 0:
                continue
            jitter = lambda: random.randint(-1, 2)  # noqa: E731
            y0, y1 = max(0, int(ys.min()) - jitter()), min(h, int(ys.max()) + 1 + jitter())
            x0, x1 = max(0, int(xs.min()) - jitter()), min(w, int(xs.max()) + 1 + jitter())
            out[b, k, y0:max(y1, y0 + 1), x0:max(x1, x0 + 1)] = 1
    return out


def mask_loss(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Bootstrapped cross-entropy over {background, objects} after soft aggregation, plus Dice."""
    up = F.interpolate(logits, size=target.shape[-2:], mode="bilinear", align_corners=False)
    agg = aggregate(up, valid)                                                    # B x K+1 x H x W
    labels = argmax_along(torch.cat([torch.full_like(target[:, :1], 0.5), target], 1), 1)  # 0: no object
    ce = F.cross_entropy(agg, labels, reduction="none").flatten(1)
    hard = ce.topk(max(1, ce.shape[1] // 6), dim=1).values.mean()                 # hardest sixth of pixels
    prob = agg.softmax(1)[:, 1:]
    inter = (prob * target).flatten(2).sum(-1)
    dice = 1 - (2 * inter + 1) / (prob.flatten(2).sum(-1) + target.flatten(2).sum(-1) + 1)
    return hard + (dice * valid).sum() / valid.sum().clamp(min=1)


def export_weights(model: VOSModel, path: Path, meta: dict, state: dict[str, torch.Tensor] | None = None) -> None:
    """The shipped-weights file: trainable tensors (``state``, default the model's) in fp16 (a few MB),
    config and training metadata."""
    state = model.trainable_state_dict() if state is None else state
    state = {k: (v.half() if v.is_floating_point() else v) for k, v in state.items()}
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model_config": model.cfg.to_dict(), "state_dict": state, "meta": meta}, path)


class WeightAverage:
    """Running mean of the trainable weights over the steps it is updated at (stochastic weight
    averaging, Izmailov et al. 2018): with a small batch the last step's weights are one noisy
    point of the trajectory, their mean sits nearer the centre of the region the run explores.
    The head has group norms only, so no batch statistics need recomputing afterwards. Measured in
    stop 21 (450 CPU steps, batch 2): no gain on DAVIS over the last step's weights (README)."""

    def __init__(self, state: dict[str, torch.Tensor] | None = None, count: int = 0) -> None:
        self.state, self.count = state, count

    def update(self, model: VOSModel) -> None:
        current = model.trainable_state_dict()
        self.count += 1
        if self.state is None:
            self.state = {k: v.detach().float().clone() for k, v in current.items()}
            return
        for k, v in current.items():
            if v.is_floating_point():
                self.state[k] += (v.detach().float() - self.state[k]) / self.count


def plot_log(log_path: Path, png_path: Path, window: int = 50) -> Path:
    """Loss curves (moving average over ``window`` steps, or all of a shorter run) of a run's log.jsonl."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    by_step = {}
    for line in open(log_path, encoding="utf-8"):
        entry = json.loads(line)
        by_step[entry["step"]] = entry  # a resumed run logs a few steps twice: keep the newest
    steps = sorted(by_step)
    window = max(1, min(window, len(steps)))  # a run shorter than the window still gets its curves
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=100)
    for key, label in (("loss", "total"), ("track", "tracking (frames 2..T)"), ("box", "box path (frame 1)"),
                       ("real_box", "box path (real COCO scenes)")):
        logged = [s for s in steps if key in by_step[s]]  # real_box: only steps that trained it
        if len(logged) < window:
            continue
        values = np.array([by_step[s][key] for s in logged])
        smooth = np.convolve(values, np.ones(window) / window, mode="valid")
        ax.plot(logged[window - 1:], smooth, label=label)
    ax.set_xlabel("step")
    ax.set_ylabel(f"loss (mean of {window} steps)")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend()
    fig.tight_layout()
    png_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png_path)
    plt.close(fig)
    return png_path


def run(args: argparse.Namespace) -> int:
    from vos_ros.core.config import TrackerConfig
    from vos_ros.tools.train_data import CocoBoxCrops, mixed_loader  # data code stays outside the run-time path

    random.seed(args.seed)
    np.random.seed(args.seed)
    torch.manual_seed(args.seed)
    if args.threads:
        torch.set_num_threads(args.threads)
    H, W = (int(v) for v in args.size.split("x"))
    run_dir = Path(args.runs) / args.name
    run_dir.mkdir(parents=True, exist_ok=True)
    model = VOSModel(ModelConfig().without(args.ablate) if args.ablate else ModelConfig()).to_device(args.device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=0.01)
    step, ckpt = 0, None
    if args.init and not (args.resume and (run_dir / "last.pt").is_file()):
        shipped = torch.load(args.init, map_location=args.device, weights_only=False)
        model.load_trainable_state_dict(shipped["state_dict"])
        print(f"initialised from {args.init}")
    if args.resume and (run_dir / "last.pt").is_file():
        ckpt = torch.load(run_dir / "last.pt", map_location=args.device, weights_only=False)
        model.load_trainable_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        step = ckpt["step"]
        torch.set_rng_state(ckpt["rng"])
        print(f"resumed {run_dir / 'last.pt'} at step {step}")
    # Learning rate: warm-up then cosine to 0 at --steps, over the whole run, or with --new-stage over
    # the steps from the resumed one on (a fine-tuning stage at --lr; optimizer moments are kept).
    stage_start = step if args.new_stage else (ckpt or {}).get("stage_start", 0)
    if args.new_stage:
        for group in opt.param_groups:
            group["lr"] = group["initial_lr"] = args.lr
    length = max(1, args.steps - stage_start)
    warmup = max(1, min(200, length // 10))
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (
        1 + math.cos(math.pi * min(1.0, s / length))))
    if ckpt is not None and not args.new_stage:
        sched.load_state_dict(ckpt["sched"])
    average = WeightAverage((ckpt or {}).get("average"), (ckpt or {}).get("average_count", 0))
    (run_dir / "args.json").write_text(json.dumps(vars(args), indent=1))

    def exported(path: Path, **meta) -> None:
        if average.count:
            meta["averaged_steps"] = average.count
        export_weights(model, path, {"step": step, "args": vars(args), **meta}, average.state)

    def loader(davis_ratio: float, start: int):
        return iter(mixed_loader(batch_size=args.batch, length=(args.steps - start) * args.batch,
                                 synthetic_fraction=1.0 - davis_ratio, frames=args.frames, size=(H, W),
                                 max_objects=args.max_objects, seed=args.seed + start,
                                 davis_max_skip=args.davis_max_skip,
                                 num_workers=args.workers, root=Path(args.data_root) if args.data_root else None))

    data = loader(0.0 if step < args.davis_from else args.davis_ratio, step)
    real_boxes = None
    if args.real_boxes > 0:  # cut at the run-time crop scale, the one source of which is the tracker config
        real_boxes = CocoBoxCrops(TrackerConfig.load().model.box_crop_side, seed=args.seed,
                                  root=Path(args.data_root) if args.data_root else None)
    log = open(run_dir / "log.jsonl", "a", encoding="utf-8")
    bar = tqdm(total=args.steps, initial=step, desc=f"train {args.name}", unit="step")
    model.train()
    t_start = time.time()
    skipped = 0  # steps with a non-finite loss or gradient, not applied
    while step < args.steps:
        if step == args.davis_from and args.davis_ratio > 0:
            data = loader(args.davis_ratio, step)
        batch = {k: v.to(args.device) for k, v in next(data).items()}
        with compute_precision(args.device, args.precision):
            loss, stats = clip_loss(model, batch, args.box_prob)
            if real_boxes is not None:
                first = step * args.real_boxes
                crops = [real_boxes[i] for i in range(first, first + args.real_boxes)]
                crop_loss = real_box_loss(model, crops, args.device)
                stats["real_box"] = float(crop_loss.detach())
                loss = loss + BOX_LOSS_WEIGHT * crop_loss
        if not optimizer_step(opt, params, loss):
            skipped += 1
        sched.step()
        step += 1
        if args.average_from and step >= args.average_from:
            average.update(model)
        stats.update(step=step, loss=float(loss.detach()), lr=sched.get_last_lr()[0], elapsed_s=time.time() - t_start,
                     skipped=skipped)
        log.write(json.dumps(stats) + "\n")
        bar.update(1)
        bar.set_postfix(loss=f"{stats['loss']:.3f}", box=f"{stats['box']:.3f}")
        if step % args.save_every == 0 or step == args.steps:
            log.flush()
            torch.save({"model": model.trainable_state_dict(), "opt": opt.state_dict(),
                        "sched": sched.state_dict(), "step": step, "stage_start": stage_start,
                        "rng": torch.get_rng_state(), "model_config": model.cfg.to_dict(),
                        "average": average.state, "average_count": average.count}, run_dir / "last.tmp")
            (run_dir / "last.tmp").replace(run_dir / "last.pt")
            exported(run_dir / "weights.pt")
    bar.close()
    log.close()
    print(f"loss curves: {plot_log(run_dir / 'log.jsonl', run_dir / 'loss.png')}")
    if args.export:
        exported(Path(args.export), train_seconds=time.time() - t_start)
        print(f"exported {args.export}")
    return 0
