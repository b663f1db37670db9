"""Write look-alike manipulation clips with ground truth: the cases that break identity on a table.

    vos-ros make-lifecycle --out out/lifecycle_val
    vos-ros eval lifecycle out/lifecycle_val

Each clip is a still table-top-like photo with 2-3 copies of one COCO object (look-alikes, slightly
different in colour and size) and one different object standing in a row, and a sequence of events,
one at a time, drawn per clip:

- ``swap``: two look-alikes trade places along arcs (one passes in front of the other);
- ``cover``: a hand-sized occluder (an elliptical "hand" on an "arm" cut from another photo) comes
  down from the top edge, covers one object completely for a while and leaves;
- ``exit``: one object slides out of the nearest side of the frame, stays out, and comes back;
- ``carry`` (only when asked for with ``--events``): the shell game's move. The hand comes down on one
  look-alike and carries it, hidden, to another look-alike's place while that one slides over to its
  place in view; then the hand goes back up.

Output is a DAVIS-layout root (``JPEGImages/480p/<clip>``, ``Annotations/480p/<clip>`` with ids
1..K, ``ImageSets/all.txt``) that ``vos-ros eval davis`` reads as it is, plus ``events.json`` (the
events of every clip with their frame ranges) that ``vos-ros eval lifecycle`` scores identity with.
``--set val`` cuts objects and backgrounds from coco_subset (COCO val2017, never trained on);
``--set train`` from train_extra/coco_train2017. Every clip is drawn from (seed, index) alone.
"""
from __future__ import annotations

import argparse
import json
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from tqdm import tqdm

from vos_ros.tools.davis_io import DATA_HELP, data_root, write_labels
from vos_ros.tools.train_data import (
    Instance,
    PastedSprite,
    affine_matrix,
    background_paths,
    cut_instance,
    load_instances,
    photometric,
    read_rgb_fast,
    render_sprites,
)

COCO_VAL_DIR = "coco_subset"
EVENTS = ("swap", "cover", "exit")    # the default events (their order fixes the default sets' draws)
ALL_EVENTS = (*EVENTS, "carry")
HAND_EVENTS = ("cover", "carry")     # one hand per clip: at most one of these
CARRY_ARC = 0.9            # x object side: how far below the hand the other look-alike passes in a carry
MOVE_FRAMES = 8            # frames an object takes to go out of / come back into view, or a hand to come down
HIDDEN_FRAMES = (8, 15)    # frames an object stays covered or out of view
SWAP_FRAMES = (14, 22)     # frames a swap takes
OBJECT_SIDE = (0.17, 0.23)  # sqrt(object area) as a fraction of sqrt(frame area)
MAX_ASPECT = 2.5           # look-alikes are compact objects: bounding-box aspect ratio at most this


@dataclass
class ClipPlan:
    """What happens in one clip: per-object centre per frame, and the events (frames inclusive)."""

    centres: np.ndarray                 # K x T x 2 (x, y) in pixels; the last object is the different one
    hand: np.ndarray | None = None      # T x 2 centre of the occluder's hand (None: no cover event)
    events: list[dict] = field(default_factory=list)


def coco_val_instances(root: Path, min_px: int = 1500, max_border_frac: float = 0.1) -> tuple[Instance, ...]:
    """Cut-outs of every coco_subset instance with >= ``min_px`` pixels (the held-out COCO val images)."""
    from pycocotools.coco import COCO  # only the val set needs it

    folder = root / COCO_VAL_DIR
    coco = COCO(str(folder / "instances_val2017_subset.json"))
    bank = []
    for image_id in tqdm(sorted(coco.getImgIds()), desc="COCO val instances", leave=False, disable=None):
        info = coco.loadImgs(image_id)[0]
        rgb = read_rgb_fast(folder / "val2017" / info["file_name"])
        for ann in coco.loadAnns(coco.getAnnIds(imgIds=image_id, iscrowd=False)):
            name = coco.loadCats(ann["category_id"])[0]["name"]
            inst = cut_instance(rgb, coco.annToMask(ann) > 0, str(image_id), name, min_px, max_border_frac)
            if inst is not None:
                bank.append(inst)
    return tuple(bank)


def sources(which: str, root: Path) -> tuple[tuple[Instance, ...], list[Path]]:
    """Object cut-outs and background photos of the ``val`` or ``train`` set."""
    if which == "val":
        return coco_val_instances(root), sorted((root / COCO_VAL_DIR / "val2017").glob("*.jpg"))
    if which == "train":
        return load_instances(root), list(background_paths(root)[1])
    raise ValueError(f"unknown set {which!r}: expected val or train")


def compact(bank: tuple[Instance, ...]) -> list[int]:
    """Indices of instances a look-alike group can be made of (not thin or elongated)."""
    return [i for i, inst in enumerate(bank)
            if 1 / MAX_ASPECT <= inst.alpha.shape[1] / inst.alpha.shape[0] <= MAX_ASPECT]


def plan_clip(rng: np.random.Generator, n_objects: int, frames: int, size: tuple[int, int],
              side: float, events: tuple[str, ...] = EVENTS) -> ClipPlan:
    """Row layout and the ``events``, each at most once, in a random order, one after another while they fit
    (and one hand event at most)."""
    h, w = size
    xs = np.linspace(0.18 * w, 0.82 * w, n_objects)[rng.permutation(n_objects)]
    ys = 0.58 * h + rng.uniform(-0.05, 0.05, n_objects) * h
    home = np.stack([xs, ys], 1)                                          # K x 2
    centres = np.repeat(home[:, None], frames, 1).astype(float)           # K x T x 2
    wobble = np.sin(np.arange(frames)[None, :, None] / 7 + rng.uniform(0, 6, (n_objects, 1, 2)))
    centres += 0.01 * side * wobble                                       # objects are never perfectly still
    plan = ClipPlan(centres)
    start = 4
    for kind in rng.permutation(events):  # one after another, as many as fit the clip
        hidden = 2 * MOVE_FRAMES + int(rng.integers(*HIDDEN_FRAMES))
        if kind in ("swap", "carry"):
            length = int(rng.integers(*SWAP_FRAMES)) + (2 * MOVE_FRAMES if kind == "carry" else 0)
        else:
            length = hidden
        if start + length > frames - 4 or (kind in HAND_EVENTS and plan.hand is not None):
            continue
        if kind == "swap":
            _swap(rng, plan, home, start, length, side)
        elif kind == "cover":
            _cover(rng, plan, start, length, side)
        elif kind == "carry":
            _carry(rng, plan, home, start, length, side)
        else:
            _exit(rng, plan, home, start, length, w, side)
        start += length + int(rng.integers(3, 7))
    return plan


def _swap(rng: np.random.Generator, plan: ClipPlan, home: np.ndarray, start: int, length: int, side: float
          ) -> None:
    """Two look-alikes (never the last object) trade places along arcs, one up and one down."""
    i, j = rng.choice(len(home) - 1, 2, replace=False)
    u = np.clip((np.arange(plan.centres.shape[1]) - start) / length, 0, 1)[:, None]   # T x 1
    arc = 0.35 * side * np.sin(np.pi * u) * np.array([0.0, 1.0])
    pi, pj = plan.centres[i].copy(), plan.centres[j].copy()
    plan.centres[i] = pi + u * (home[j] - home[i]) - arc
    plan.centres[j] = pj + u * (home[i] - home[j]) + arc
    plan.events.append({"kind": "swap", "objects": [int(i) + 1, int(j) + 1], "frames": [start, start + length]})


def _cover(rng: np.random.Generator, plan: ClipPlan, start: int, length: int, side: float) -> None:
    """The hand comes down from above the frame onto one object, rests on it, and goes back up."""
    k = int(rng.integers(len(plan.centres)))
    _hand_over(plan, k, start, length, side)
    plan.events.append({"kind": "cover", "objects": [k + 1],
                        "frames": [start, start + length]})


def _hand_over(plan: ClipPlan, k: int, start: int, length: int, side: float) -> None:
    """The hand comes down onto object ``k`` over MOVE_FRAMES from ``start``, stays on it (following it)
    and goes back up over the last MOVE_FRAMES of ``length``."""
    t = np.arange(plan.centres.shape[1])
    down = np.clip((t - start) / MOVE_FRAMES, 0, 1)
    up = np.clip((t - start - length + MOVE_FRAMES) / MOVE_FRAMES, 0, 1)
    reach = down - up                                                      # 0 above the frame, 1 on the object
    target = plan.centres[k]
    above = np.stack([target[:, 0], np.full(len(t), -2.5 * side)], 1)
    plan.hand = above + reach[:, None] * (target - above)


def _carry(rng: np.random.Generator, plan: ClipPlan, home: np.ndarray, start: int, length: int, side: float
           ) -> None:
    """The hand comes down on look-alike i and carries it, hidden, to look-alike j's place while j slides over
    to i's place along an arc that passes below the hand (in view but at the crossing); the hand then goes
    back up. Later events start from the new places."""
    i, j = (int(v) for v in rng.choice(len(home) - 1, 2, replace=False))
    t = np.arange(plan.centres.shape[1])
    u = np.clip((t - start - MOVE_FRAMES) / (length - 2 * MOVE_FRAMES), 0, 1)[:, None]   # T x 1
    arc = CARRY_ARC * side * np.sin(np.pi * u) * np.array([0.0, 1.0])
    shift = home[j] - home[i]
    plan.centres[i] += u * shift
    plan.centres[j] += -u * shift + arc
    home[[i, j]] = home[[j, i]]
    _hand_over(plan, i, start, length, side)
    plan.events.append({"kind": "carry", "objects": [i + 1, j + 1], "frames": [start, start + length]})


def _exit(rng: np.random.Generator, plan: ClipPlan, home: np.ndarray, start: int, length: int, width: int,
          side: float) -> None:
    """One object slides out of the nearer side edge, stays out, and comes back to its place."""
    k = int(rng.integers(len(home)))
    rest = length - 2 * MOVE_FRAMES
    t = np.arange(plan.centres.shape[1])
    out_x = -1.2 * side if home[k, 0] < width / 2 else width + 1.2 * side
    away = np.clip((t - start) / MOVE_FRAMES, 0, 1) - np.clip((t - start - MOVE_FRAMES - rest) / MOVE_FRAMES, 0, 1)
    plan.centres[k, :, 0] += away * (out_x - home[k, 0])
    plan.events.append({"kind": "exit", "objects": [k + 1], "frames": [start, start + length]})


def hand_sprite(rng: np.random.Generator, photo: np.ndarray, radius: float, centres: np.ndarray) -> PastedSprite:
    """An unlabelled occluder: an ellipse ("hand") that covers a disc of ``radius`` around ``centres``
    (T x 2), on a band ("arm") up to its top edge, textured with a patch of ``photo``."""
    half_w, half_h = int(1.15 * radius) + 2, int(1.05 * radius) + 2
    crop_w, crop_h = 2 * half_w, 2 * half_h + int(3 * radius)              # the arm reaches out of the frame
    alpha = np.zeros((crop_h, crop_w), np.uint8)
    cy = crop_h - half_h
    cv2.ellipse(alpha, (half_w, cy), (half_w, half_h), 0, 0, 360, 255, -1)
    alpha[:cy, half_w // 2: 3 * half_w // 2] = 255
    ph, pw = photo.shape[:2]
    scale = max(crop_h / ph, crop_w / pw, 1.0)
    photo = cv2.resize(photo, (int(np.ceil(pw * scale)), int(np.ceil(ph * scale))))
    y0 = int(rng.integers(photo.shape[0] - crop_h + 1))
    x0 = int(rng.integers(photo.shape[1] - crop_w + 1))
    rgb = photo[y0:y0 + crop_h, x0:x0 + crop_w].astype(np.float32)
    # no blur: a feathered edge would let the covered object show through
    return PastedSprite(rgb, alpha, -1, [affine_matrix(1.0, 0.0, (half_w, cy), c) for c in centres], -1)


def object_sprite(rng: np.random.Generator, inst: Instance, slot: int, side: float, centres: np.ndarray
                  ) -> tuple[PastedSprite, float]:
    """A labelled cut-out scaled to ``side`` (sqrt of its area), colour-jittered a little, centred on
    ``centres``; -> the sprite and the radius of the disc around its centre that holds all of it."""
    rgb = inst.rgb.astype(np.float32) * rng.uniform(0.92, 1.08, 3).astype(np.float32)
    alpha = cv2.GaussianBlur(inst.alpha, (3, 3), 0)
    scale = side / np.sqrt(inst.area)
    ys, xs = np.nonzero(inst.alpha)
    pivot = (float(xs.mean()), float(ys.mean()))
    radius = scale * float(np.hypot(xs - pivot[0], ys - pivot[1]).max() + 1)
    angle = rng.uniform(-8, 8)
    return PastedSprite(rgb, alpha, slot, [affine_matrix(scale, angle, pivot, c) for c in centres], -1), radius


def make_clip(rng: np.random.Generator, bank: tuple[Instance, ...], alike: list[int], backgrounds: list[Path],
              frames: int, size: tuple[int, int], events: tuple[str, ...] = EVENTS
              ) -> tuple[np.ndarray, np.ndarray, dict]:
    """-> frames T x H x W x 3 uint8, labels T x H x W uint8 (ids 1..K), and the clip's description."""
    h, w = size
    n_alike = int(rng.integers(2, 4))
    group, other = int(rng.choice(alike)), int(rng.integers(len(bank)))
    while bank[other].category == bank[group].category:
        other = int(rng.integers(len(bank)))
    side = np.sqrt(h * w) * rng.uniform(*OBJECT_SIDE)
    plan = plan_clip(rng, n_alike + 1, frames, size, side, events)
    sizes = side * np.append(rng.uniform(0.9, 1.1, n_alike), rng.uniform(0.7, 1.0))
    sprites, radii = zip(*(object_sprite(rng, bank[inst], k, s, plan.centres[k])
                           for k, (inst, s) in enumerate(zip([group] * n_alike + [other], sizes, strict=True))),
                         strict=True)
    order = rng.permutation(n_alike)  # z-order of the look-alikes (a swap passes one in front of the other)
    sprites = [sprites[k] for k in order] + list(sprites[n_alike:])
    bg_photo = read_rgb_fast(backgrounds[int(rng.integers(len(backgrounds)))])
    if plan.hand is not None:
        covered = next(e["objects"][0] - 1 for e in plan.events if e["kind"] in HAND_EVENTS)
        sprites.append(hand_sprite(rng, read_rgb_fast(backgrounds[int(rng.integers(len(backgrounds)))]),
                                   radii[covered], plan.hand))
    bg = cv2.resize(bg_photo, (w, h), interpolation=cv2.INTER_AREA).astype(np.float32)
    rendered, masks = render_sprites(np.repeat(bg[None], frames, 0), sprites, n_alike + 1)
    rendered = photometric(rng, rendered, gain=0.04, bias=4.0, tint=0.02)
    labels = np.zeros((frames, h, w), np.uint8)
    for k in range(n_alike + 1):
        labels[masks[:, k]] = k + 1
    objects = {str(k + 1): {"category": bank[group if k < n_alike else other].category,
                            "lookalike": k < n_alike} for k in range(n_alike + 1)}
    return rendered, labels, {"objects": objects, "events": plan.events}


def write_clips(out: Path, which: str, clips: int, frames: int, size: tuple[int, int], seed: int,
                root: Path | None = None, events: tuple[str, ...] = EVENTS) -> dict:
    """Draw and write ``clips`` clips with some of ``events`` each; -> the events.json content."""
    if clips < 1 or frames < 2 * MOVE_FRAMES + HIDDEN_FRAMES[1] + 8:
        raise ValueError(f"need clips >= 1 and frames >= {2 * MOVE_FRAMES + HIDDEN_FRAMES[1] + 8}, "
                         f"got {clips} clips of {frames} frames")
    bank, backgrounds = sources(which, data_root() if root is None else Path(root))
    alike = compact(bank)
    described = {}
    for index in tqdm(range(clips), desc="make-lifecycle", unit="clip", disable=None):
        name = f"{which}{index:03d}"
        rendered, labels, described[name] = make_clip(np.random.default_rng([seed, index]), bank, alike,
                                                      backgrounds, frames, size, events)
        images, annotations = out / "JPEGImages" / "480p" / name, out / "Annotations" / "480p" / name
        images.mkdir(parents=True, exist_ok=True)
        for t, (rgb, lab) in enumerate(zip(rendered, labels, strict=True)):
            cv2.imwrite(str(images / f"{t:05d}.jpg"), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                        [cv2.IMWRITE_JPEG_QUALITY, 95])
            write_labels(annotations / f"{t:05d}.png", lab)
    (out / "ImageSets").mkdir(parents=True, exist_ok=True)
    (out / "ImageSets" / "all.txt").write_text("".join(f"{name}\n" for name in described))
    (out / "events.json").write_text(json.dumps({"set": which, "seed": seed, "size": list(size),
                                                 "clips": described}, indent=1))
    return described


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, required=True, help="DAVIS-layout root to write")
    parser.add_argument("--set", dest="which", choices=("val", "train"), default="val",
                        help="val: coco_subset objects and photos (held out from training); train: coco_train2017")
    parser.add_argument("--clips", type=int, default=12)
    parser.add_argument("--frames", type=int, default=90)
    parser.add_argument("--size", type=int, nargs=2, default=(240, 427), metavar=("H", "W"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", type=Path, default=None, help=DATA_HELP)
    parser.add_argument("--events", default=",".join(EVENTS),
                        help=f"comma-separated event kinds to draw from ({', '.join(ALL_EVENTS)}; cover and carry "
                             "are never in one clip: one hand)")


def run(args: argparse.Namespace) -> int:
    events = tuple(args.events.split(","))
    unknown = sorted(set(events) - set(ALL_EVENTS))
    if unknown or not events:
        raise SystemExit(f"vos-ros make-lifecycle: unknown --events {unknown}; choose from {', '.join(ALL_EVENTS)}")
    described = write_clips(args.out, args.which, args.clips, args.frames, tuple(args.size), args.seed, args.data,
                            events)
    kinds = [e["kind"] for clip in described.values() for e in clip["events"]]
    print(f"wrote {len(described)} clips of {args.frames} frames to {args.out} "
          f"({', '.join(f'{kinds.count(k)} {k}' for k in events)})")
    return 0
