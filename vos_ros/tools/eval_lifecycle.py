"""Score identity on `vos-ros make-lifecycle` clips: look-alikes swapping, a hand covering, exits.

    vos-ros make-lifecycle --out out/lifecycle_val
    vos-ros eval lifecycle --root out/lifecycle_val --json out/eval/lifecycle.json

Tracks every clip as `vos-ros eval davis` does (each object prompted with its GT mask on frame 0) and
reports, besides J&F, what a robot needs from ids (all over the tracked frames 1..T-1):

- ``kept``: frames where an object is in view (at least VISIBLE_FRACTION of its frame-0 area shows)
  and its id's mask has IoU >= 0.5 with it;
- ``stolen``: frames in view where most of the object's pixels carry *another* id (an id switch or a
  spread);
- ``on_other``: frames where an id with pixels covers at least TWO_OBJECTS_FRACTION of another
  object (one id on two objects, or on the wrong one);
- ``absent``: frames where an object is out of view or covered (under HIDDEN_FRACTION of its frame-0
  area shows) and its id has (almost) no pixels: no false "still here";
- ``back``: returns (an object in view again after being hidden for 3+ frames) where its id is on
  it (IoU >= 0.5) within RETURN_FRAMES frames;
- per event kind (swap, cover, exit): ``kept`` over the RETURN_FRAMES frames after the event ends, for
  the objects the event involved.
"""
from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

import numpy as np

from vos_ros.tools.davis_io import DavisSequence, read_prediction
from vos_ros.tools.eval_score import write_json

VISIBLE_FRACTION = 0.5      # an object is "in view" when this much of its frame-0 area shows
HIDDEN_FRACTION = 0.05      # ... and "hidden" below this much
TWO_OBJECTS_FRACTION = 0.3  # an id on a second object: it covers this much of that object
GHOST_FRACTION = 0.1        # an id "has pixels" above this fraction of its object's frame-0 area
RETURN_FRAMES = 10          # frames an id has to be back on its object after a return / an event
EVENT_KINDS = ("swap", "cover", "exit")


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


class Tally:
    """Counts of hits over chances per criterion."""

    def __init__(self) -> None:
        self.hits: dict[str, int] = {}
        self.chances: dict[str, int] = {}

    def add(self, name: str, hit: bool) -> None:
        self.hits[name] = self.hits.get(name, 0) + int(hit)
        self.chances[name] = self.chances.get(name, 0) + 1

    def merge(self, other: Tally) -> None:
        for name, n in other.chances.items():
            self.chances[name] = self.chances.get(name, 0) + n
            self.hits[name] = self.hits.get(name, 0) + other.hits[name]

    def rates(self) -> dict[str, dict[str, float]]:
        return {name: {"rate": self.hits[name] / n, "count": n} for name, n in sorted(self.chances.items())}


def score_clip(gt: list[np.ndarray], pred: list[np.ndarray], events: list[dict]) -> Tally:
    """Identity criteria of one clip; ``gt`` and ``pred`` are T label maps with the same ids 1..K."""
    ids = [int(k) for k in np.unique(gt[0]) if k]
    first_area = {k: int((gt[0] == k).sum()) for k in ids}
    tally = Tally()
    hidden_since = {k: None for k in ids}
    returned_at: dict[int, int] = {}
    kept_at: dict[tuple[int, int], bool] = {}
    for t in range(1, len(gt) - 1):
        g, p = gt[t], pred[t]
        for k in ids:
            own, mine = g == k, p == k
            shown = own.sum() / first_area[k]
            if shown >= VISIBLE_FRACTION:
                kept = iou(mine, own) >= 0.5
                kept_at[(k, t)] = kept
                tally.add("kept", kept)
                others = p[own]
                others = others[(others != 0) & (others != k)]
                tally.add("stolen", others.size > 0.5 * own.sum())
                if hidden_since[k] is not None and t - hidden_since[k] >= 3:
                    returned_at[k] = t
                hidden_since[k] = None
            elif shown < HIDDEN_FRACTION:
                tally.add("absent", mine.sum() <= GHOST_FRACTION * first_area[k])
                hidden_since[k] = t if hidden_since[k] is None else hidden_since[k]
            if k in returned_at and t == returned_at[k] + RETURN_FRAMES - 1:
                tally.add("back", any(kept_at.get((k, s), False) for s in range(returned_at.pop(k), t + 1)))
            if mine.sum() > GHOST_FRACTION * first_area[k]:
                tally.add("on_other", any((mine & (g == j)).sum() >= TWO_OBJECTS_FRACTION * (g == j).sum() > 0
                                          for j in ids if j != k))
    for event in events:
        end = event["frames"][1]
        for k in event["objects"]:
            for t in range(end + 1, min(end + 1 + RETURN_FRAMES, len(gt) - 1)):
                if (k, t) in kept_at:
                    tally.add(f"{event['kind']}_kept", kept_at[(k, t)])
    return tally


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from vos_ros.tools.eval_davis import add_arguments as davis_arguments

    davis_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from vos_ros.tools.eval_davis import run as run_davis

    events = json.loads((Path(args.root) / "events.json").read_text())["clips"]
    json_out, pred_dir = args.json, args.out
    with tempfile.TemporaryDirectory() as tmp:
        args.out = Path(tmp) / "pred" if pred_dir is None else pred_dir
        args.json = Path(tmp) / "davis.json"
        run_davis(args)
        davis = json.loads(args.json.read_text())
        total, per_clip = Tally(), {}
        for name in davis["per_sequence"]:
            seq = DavisSequence.open(args.root, name)
            gt = seq.all_labels()
            pred = [read_prediction(args.out, name, frame) for frame in seq.frames]
            clip = score_clip(gt, pred, events[name]["events"])
            per_clip[name] = clip.rates()
            total.merge(clip)
    rates = total.rates()
    jf = davis["global"]["J&F-Mean"]
    result = {"root": str(args.root), "J&F": jf, "identity": rates, "per_clip": per_clip, "davis": davis}
    if json_out:
        write_json(json_out, result)
    print(f"J&F {jf:.3f}")
    for name, r in rates.items():
        print(f"{name:12s} {r['rate']:.3f}  ({r['count']} chances)")
    return 0
