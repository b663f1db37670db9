"""Where each object may be next: a per-object box prior that keeps one id on one physical object.

Memory readout matches appearance, so look-alike objects (three red cups) pull each other's ids: when
two touch, one id spreads over both, and the spread mask written to memory makes it permanent. The
prior bounds that (as SAMURAI's Kalman box prior and DAM4SAM's unreliable-write rule do for SAM 2):

- gate: an object's probability is kept only inside its predicted box (last reliable box moved by
  its velocity) grown by ``gate_margin`` of its size per side, and the growth widens with every
  frame it is absent, so an object that was covered or left can come back anywhere in time;
- growth check: a look-alike's mask larger than ``max_growth`` times the object's reference area has
  spread over something else; it is cut to the predicted box itself, and neither updates the prior
  nor is written to the object's memory; masks well below or above the reference area (partly
  hidden, or spreading) do not update the prior either;
- jump check, for every object: a mask that grows above ``max_growth`` times both its reference area
  and its previous frame's area in one frame has jumped onto something that just came into view (a
  look-alike put down beside it); it is cut the same way. Objects that grow steadily (coming closer,
  entering the view) never grow that much in one frame, so only look-alikes are bounded all the time;
- place check: a look-alike's mask whose box overlaps another look-alike's predicted box more than its
  own has taken that one's place (when two cross, the readout puts both ids on whichever shows); it
  is cut the same way, while its own prediction is recent enough to trust;
- coasting: a look-alike last seen reliably touching another one and then lost from view went on
  behind it, so its box keeps moving for MAX_COAST frames instead of stopping after MAX_EXTRAPOLATION;
- exchange: two look-alikes that come out of a crossing with their ids swapped (each id's mask on the
  other's predicted box rather than its own) get their probabilities exchanged back, before the rest.

The gated probabilities are what the Session outputs *and* writes to memory, so a spread is never
remembered. Everything runs on the stride-4 probability maps of the first view (a few thousand
pixels per object).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from vos_ros.core.config import TrackConfig
from vos_ros.core.types import box_iou

VELOCITY_SMOOTHING = 0.5   # weight of the newest displacement in the velocity estimate
AREA_SMOOTHING = 0.1       # weight of the newest reliable area in the reference area
PRESENT_PROBABILITY = 0.5  # a stride-4 cell belongs to the object above this probability
MAX_EXTRAPOLATION = 5      # frames a box is moved on by its velocity after the object was last seen
MAX_COAST = 10             # the same for a look-alike last seen touching another one (it went on behind it)


@dataclass
class BoxPrior:
    """Box (x0, y0, x1, y1 in stride-4 cells of the first view), velocity and reference area of one object."""

    box: tuple[float, float, float, float] | None = None
    velocity: tuple[float, float] = (0.0, 0.0)   # cells per frame
    area: float = 0.0                            # reference area in cells
    last_frame: int = -1                         # frame of the last reliable observation
    recent_area: float = 0.0                     # area of its newest output mask, reliable or not
    coasting: bool = False                       # last seen reliably touching a look-alike

    def predicted(self, frame: int) -> tuple[float, float, float, float]:
        """The box moved by the velocity to ``frame`` (for at most MAX_EXTRAPOLATION frames, MAX_COAST while
        coasting: an object unseen for longer has stopped or turned, as far as we know)."""
        dt = min(frame - self.last_frame, MAX_COAST if self.coasting else MAX_EXTRAPOLATION)
        dx, dy = self.velocity[0] * dt, self.velocity[1] * dt
        x0, y0, x1, y1 = self.box
        return x0 + dx, y0 + dy, x1 + dx, y1 + dy

    def gate(self, frame: int, margin: float) -> tuple[float, float, float, float]:
        """Predicted box grown by ``margin`` of its larger side per side for every frame since the last
        reliable observation (an object unseen for long may have gone anywhere)."""
        x0, y0, x1, y1 = self.predicted(frame)
        grow = margin * max(x1 - x0, y1 - y0) * max(1, frame - self.last_frame)
        return x0 - grow, y0 - grow, x1 + grow, y1 + grow

    def observe(self, box: tuple[float, float, float, float], area: float, frame: int, max_growth: float) -> None:
        """A reliable mask with this tight box and area was seen on ``frame``. A mask below the reference
        area / ``max_growth`` is a partly hidden object, one above reference x sqrt(``max_growth``) may be
        spreading: their boxes say little about where the object is, and would let the reference drift."""
        if self.box is not None and not self.area / max_growth <= area <= self.area * max_growth ** 0.5:
            return
        if self.box is not None:
            dt = max(1, frame - self.last_frame)
            (cx0, cy0), (cx1, cy1) = _centre(self.box), _centre(box)
            a = VELOCITY_SMOOTHING
            self.velocity = ((1 - a) * self.velocity[0] + a * (cx1 - cx0) / dt,
                             (1 - a) * self.velocity[1] + a * (cy1 - cy0) / dt)
            self.area = (1 - AREA_SMOOTHING) * self.area + AREA_SMOOTHING * area
        else:
            self.area = area
        self.box, self.last_frame = box, frame


def _centre(box: tuple[float, float, float, float]) -> tuple[float, float]:
    return (box[0] + box[2]) / 2, (box[1] + box[3]) / 2


def _window(shape: tuple[int, int], box: tuple[float, float, float, float], device: torch.device) -> torch.Tensor:
    """h x w float: 1 inside ``box`` (cells, clipped to the map), 0 outside."""
    h, w = shape
    x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
    x1, y1 = min(w, int(box[2]) + 1), min(h, int(box[3]) + 1)
    out = torch.zeros(h, w, device=device)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = 1
    return out


def areas_and_boxes(masks: torch.Tensor) -> tuple[list[float], list[tuple[float, float, float, float] | None]]:
    """Areas and tight x0, y0, x1, y1 boxes (inclusive cells, None when empty) of K x h x w bool masks,
    computed where the masks are, with one small transfer."""
    _, h, w = masks.shape
    rows, cols = masks.any(2).float(), masks.any(1).float()                    # K x h, K x w
    stats = torch.stack([masks.flatten(1).sum(1).float(),
                         cols.argmax(1).float(), rows.argmax(1).float(),           # first occupied column, row
                         (w - 1 - cols.flip(1).argmax(1)).float(), (h - 1 - rows.flip(1).argmax(1)).float()],
                        1).tolist()
    return [a for a, *_ in stats], [tuple(box) if a > 0 else None for a, *box in stats]


def gate_weights(probs4: torch.Tensor, priors: list[BoxPrior], gated: list[bool], frame: int,
                 cfg: TrackConfig) -> tuple[torch.Tensor, list[bool]]:
    """Probabilities 1 x K x h x w of the K tracked objects -> per-object weights 1 x K x h x w (1 where the
    object may be, 0 elsewhere; only objects with ``gated`` set are bounded) and, per object, whether its
    mask is reliable (no spread cut away)."""
    _, K, h, w = probs4.shape
    weights = torch.ones_like(probs4)
    reliable = [True] * K
    bounded = [k for k, prior in enumerate(priors) if prior.box is not None and gated[k]]
    for k in bounded:
        weights[0, k] = _window((h, w), priors[k].gate(frame, cfg.gate_margin), probs4.device)
    _split_contested(probs4, weights, [priors[k] for k in bounded], bounded, frame, cfg.max_growth ** 0.5)
    predicted = {k: priors[k].predicted(frame) for k in bounded}
    _note_contact(priors, predicted, frame)
    known = [k for k, prior in enumerate(priors) if prior.box is not None]
    if not known:
        return weights, reliable
    slots = torch.tensor(known, device=probs4.device)
    areas, boxes = areas_and_boxes((probs4[0, slots] * weights[0, slots]) > PRESENT_PROBABILITY)
    for k, area, box in zip(known, areas, boxes, strict=True):
        prior = priors[k]
        spread = area > cfg.max_growth * prior.area
        jumped = spread and area > cfg.max_growth * prior.recent_area
        elsewhere = (k in predicted and frame - prior.last_frame <= MAX_EXTRAPOLATION
                     and _place_taken(box, k, predicted) is not None)
        if (spread and gated[k]) or jumped or elsewhere:
            weights[0, k] = _window((h, w), prior.predicted(frame), probs4.device)
            reliable[k] = False
    return weights, reliable


def _note_contact(priors: list[BoxPrior], predicted: dict[int, tuple[float, float, float, float]], frame: int
                  ) -> None:
    """A look-alike seen reliably on the previous frame coasts from now on if its predicted box overlaps
    another look-alike's: should it vanish now, it went behind that one and moves on."""
    for k, box in predicted.items():
        if priors[k].last_frame == frame - 1:
            priors[k].coasting = any(box_iou(box, other) > 0 for j, other in predicted.items() if j != k)


def _place_taken(box: tuple[float, float, float, float] | None, k: int,
                 predicted: dict[int, tuple[float, float, float, float]]) -> int | None:
    """The other look-alike whose predicted box look-alike ``k``'s mask ``box`` overlaps most, if more than
    its own (box IoU); None when its own fits best."""
    if box is None:
        return None
    best, taken = box_iou(box, predicted[k]), None
    for j, other in predicted.items():
        overlap = box_iou(box, other)
        if j != k and overlap > best:
            best, taken = overlap, j
    return taken


def crossed_order(probs4: torch.Tensor, priors: list[BoxPrior], gated: list[bool], frame: int) -> list[int] | None:
    """Look-alikes out of a crossing with their ids exchanged: the readout cannot tell them apart, so each
    id may come back on the other object. Pairs whose masks (1 x K x h x w probabilities) each lie on the
    other's predicted box rather than their own are exchanged back -> the slot order to read the K
    objects' probabilities in (slot k takes ``order[k]``), None when nothing crossed. Only objects seen
    reliably within MAX_COAST frames take part: an older predicted box says little."""
    recent = [k for k, prior in enumerate(priors)
              if prior.box is not None and gated[k] and frame - prior.last_frame <= MAX_COAST]
    if len(recent) < 2:
        return None
    predicted = {k: priors[k].predicted(frame) for k in recent}
    _, boxes = areas_and_boxes(probs4[0, recent] > PRESENT_PROBABILITY)
    taken = {k: _place_taken(box, k, predicted) for k, box in zip(recent, boxes, strict=True)}
    order = list(range(len(priors)))
    for k, j in taken.items():
        if j is not None and k < j and taken.get(j) == k:
            order[k], order[j] = j, k
    return order if order != sorted(order) else None


def _split_contested(probs4: torch.Tensor, weights: torch.Tensor, priors: list[BoxPrior], slots: list[int],
                     frame: int, band: float) -> None:
    """A look-alike robbed of its pixels (mask under its reference area / ``band``) gets back the cells
    of the others that lie deeper in its predicted box than in their own (distance to the box centre
    over its half-size, and inside its box): those are cut from them. When look-alikes touch or cross,
    the memory readout cannot tell them apart and one mask takes both; where each is heading can.
    ``weights`` (1 x K x h x w) is zeroed there in place."""
    if len(slots) < 2:
        return
    h, w = probs4.shape[-2:]
    ys = torch.arange(h, device=probs4.device, dtype=torch.float32)[:, None]
    xs = torch.arange(w, device=probs4.device, dtype=torch.float32)[None, :]
    idx = torch.tensor(slots, device=probs4.device)
    claims = probs4[0, idx] * weights[0, idx] > PRESENT_PROBABILITY                    # S x h x w
    areas = claims.flatten(1).sum(1).tolist()                                         # one host sync
    robbed = [area < prior.area / band for area, prior in zip(areas, priors, strict=True)]
    depth = []
    for prior in priors:
        x0, y0, x1, y1 = prior.predicted(frame)
        cx, cy, hx, hy = (x0 + x1) / 2, (y0 + y1) / 2, max(1.0, (x1 - x0) / 2), max(1.0, (y1 - y0) / 2)
        depth.append(torch.maximum((xs - cx).abs() / hx, (ys - cy).abs() / hy))      # h x w
    depth = torch.stack(depth)                                                      # S x h x w
    for i, k in enumerate(slots):
        victims = [j for j in range(len(slots)) if j != i and robbed[j]]
        if not victims:
            continue
        theirs = depth[victims].min(0).values
        weights[0, k] = weights[0, k] * ~(claims[i] & (theirs < depth[i]) & (theirs <= 1))
