"""One Session per stream: push frames, get per-object masks, presence, ids and states back.

    model = load_model(config.model)
    session = Session(model, config)
    result = session.step(frame, prompts=[Prompt(box=(x, y, w, h), label="mug")])

The Session owns all run-time state (memory bank, object queries, fine memory of the previous frame,
tracks, frame counter); the model only holds weights, so several Sessions can share one model.
"""
from __future__ import annotations

import contextlib
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from vos_ros.core.backbone import STRIDE
from vos_ros.core.box_path import box_probabilities, boxes_to_masks
from vos_ros.core.config import TrackerConfig
from vos_ros.core.emergence import match_to_tracks
from vos_ros.core.geometry import FrameGeometry, check_frame
from vos_ros.core.memory import MemoryBank
from vos_ros.core.model import (
    FrameFeatures,
    VOSModel,
    aggregate,
    argmax_along,
    compute_precision,
    memory_tokens,
    time_bucket,
)
from vos_ros.core.motion import PRESENT_PROBABILITY, areas_and_boxes, crossed_order, gate_weights
from vos_ros.core.point_path import points_to_masks
from vos_ros.core.redetect import (
    APPEARANCE_SMOOTHING,
    MIN_REGION,
    accepted,
    appearance_order,
    appearances,
    lookalikes,
    search_spot,
)
from vos_ros.core.track_state import Track
from vos_ros.core.types import Box, FrameResult, ObjectResult, Prompt, TrackState, mask_box


@dataclass
class View:
    """One way the Session looks at the stream: the network input scale and whether the frame is
    mirrored, with that view's own run-time state (memory bank, object queries, fine memory).

    With several views (``model.mirror_view``, ``model.extra_short_side``) each is tracked on its own,
    their probabilities are averaged at the input resolution, and every view remembers the average,
    so all views follow one prediction (averaging only the outputs of views that each remember their
    own prediction scored lower on DAVIS than one view).
    """

    short_side: int
    upscale: bool                                  # smaller frames are scaled up to ``short_side``
    mirrored: bool
    memory: MemoryBank
    queries: torch.Tensor                          # 1 x K x Q x C
    geometry: FrameGeometry | None = None
    feats: FrameFeatures | None = None             # of the newest processed frame
    prev_key8: torch.Tensor | None = None          # fine memory of the newest frame
    prev_values8: torch.Tensor | None = None
    probs4: torch.Tensor | None = None             # 1 x K x h4 x w4 newest object probabilities

    def image(self, frame: np.ndarray) -> np.ndarray:
        """An H x W x 3 frame as this view sees it."""
        return np.ascontiguousarray(frame[:, ::-1]) if self.mirrored else frame

    def masks(self, masks: np.ndarray) -> np.ndarray:
        """A K x H x W mask stack as this view sees it."""
        return np.ascontiguousarray(masks[:, :, ::-1]) if self.mirrored else masks

    def geometry_for(self, height: int, width: int) -> FrameGeometry:
        if self.geometry is None:
            self.geometry = FrameGeometry.for_frame(height, width, self.short_side, self.upscale)
        return self.geometry

    def to_input(self, probs4: torch.Tensor) -> torch.Tensor:
        """1 x K x h4 x w4 of this view -> K x H x W float in input pixels, unmirrored."""
        probs = self.geometry.stride4_to_input(probs4[0].float())
        return probs.flip(-1) if self.mirrored else probs

    def from_input(self, probs: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
        """K x H x W float in input pixels -> 1 x K x h4 x w4 of this view, ``like``'s dtype."""
        return self.geometry.to_stride4(probs.flip(-1) if self.mirrored else probs).to(like.dtype)


PROMPT_PRESENCE_LOGIT = 10.0  # presence of an object given on this frame (a prompt) or found again: certain


class Session:
    """Run-time state of one stream. Not thread-safe: call it from one thread (the node's worker)."""

    def __init__(self, model: VOSModel, config: TrackerConfig) -> None:
        self.model = model
        self.cfg = config
        self.device = next(model.parameters()).device
        self._next_id = 1
        self.reset()

    # -- public API -------------------------------------------------------------------------------
    @property
    def object_ids(self) -> list[int]:
        return [t.id for t in self.tracks]

    @property
    def frame_index(self) -> int:
        """Index of the newest processed frame (-1 before the first)."""
        return self._frame_index

    @property
    def last_frame(self) -> np.ndarray | None:
        return self._last_frame

    def reset(self) -> None:
        """Forget all objects and memory. Ids are still never reused."""
        self.tracks: list[Track] = []
        self.views = self._new_views()
        self._last_frame: np.ndarray | None = None
        self._frame_index = -1

    def memory_stats(self) -> dict[str, int]:
        """Memory of all views together (frame counts are per view: every view stores the same frames)."""
        per_view = [v.memory.stats() for v in self.views]
        stats = {key: sum(s[key] for s in per_view) for key in ("tokens", "bytes", "long_term_tokens")}
        stats.update(prompt_frames=per_view[0]["prompt_frames"], working_frames=per_view[0]["working_frames"],
                     objects=len(self.tracks), views=len(self.views))
        if all(v.geometry is not None for v in self.views):
            stats["token_bound"] = sum(
                v.memory.token_bound((v.geometry.padded_h // STRIDE) * (v.geometry.padded_w // STRIDE))
                for v in self.views)
        return stats

    @torch.inference_mode()
    def step(self, frame: np.ndarray, prompts: Sequence[Prompt] = ()) -> FrameResult:
        """Track all objects into ``frame`` (H x W x 3 uint8 RGB); ``prompts`` add objects on this frame."""
        with self._precision():
            return self._step(frame, prompts)

    def _step(self, frame: np.ndarray, prompts: Sequence[Prompt]) -> FrameResult:
        t0 = time.perf_counter()
        check_frame(frame)
        self._check_prompts(prompts, frame.shape[:2])
        masks = [self._prompt_mask(frame, p) for p in prompts]  # before any state changes: may refuse
        feats = self._encode(frame)
        t_backbone = time.perf_counter()
        self._frame_index += 1
        K = len(self.tracks)
        reliable, active = [True] * K, list(range(K))
        if K and not self.views[0].memory.empty:
            active = self._active_slots()
            tracked = [self._track(v, f, active) for v, f in zip(self.views, feats, strict=True)]
            alike = lookalikes([t.appearance for t in self.tracks], self.cfg.track.lookalike_similarity)
            probs4, presence, reliable = self._gated([p for p, _ in tracked],
                                                     torch.stack([q for _, q in tracked]).mean(0), feats[0].f8, alike)
            found = (self._redetect(frame, feats, probs4, presence, reliable, alike) if self.cfg.track.redetect_every
                     else None)
            if found is not None and found not in active:
                active = sorted(active + [found])  # a resting track found again is tracked from this frame on
        else:
            probs4 = [torch.zeros(1, K, *f.f4.shape[-2:], device=self.device) for f in feats]
            presence = torch.zeros(0, device=self.device)
        given = self._add_prompted(feats, prompts, masks)
        if prompts:
            probs4 = [with_prompted(p, g) for p, g in zip(probs4, given, strict=True)]
            presence = torch.cat([presence, torch.full((len(prompts),), PROMPT_PRESENCE_LOGIT, device=self.device)])
            reliable += [True] * len(prompts)
        live = active + list(range(K, K + len(prompts)))
        probs, probs4 = self._fused(probs4, live)
        self._last_frame = frame
        result = self._result(probs, live, torch.sigmoid(presence), new_count=len(prompts),
                              prompt_masks=[p.mask for p in prompts])
        seen = [t.present_frames > 0 and r for t, r in zip(self.tracks, reliable, strict=True)]
        for view, f, p in zip(self.views, feats, probs4, strict=True):
            self._remember(view, f, p, prompt=bool(prompts), seen=seen, active=live)
        self._observe(probs4[0], seen, feats[0].f8)
        self._forget_lost()
        t1 = time.perf_counter()
        result.timings_ms = {"backbone": 1e3 * (t_backbone - t0), "total": 1e3 * (t1 - t0)}
        return result

    @torch.inference_mode()
    def add_objects(self, prompts: Sequence[Prompt], frame: np.ndarray | None = None) -> list[int]:
        """Add objects given on ``frame`` (default: the newest processed frame); they are tracked from
        the next step on. Returns their new ids."""
        with self._precision():
            return self._add_objects(prompts, frame)

    def _prompted_frame(self, frame: np.ndarray | None) -> tuple[np.ndarray, bool]:
        """The frame prompts refer to (default: the newest processed one), checked, and whether it is the
        newest (its features and object probabilities are at hand)."""
        if frame is None and self._last_frame is None:
            raise ValueError("no frame processed yet: send a frame first or pass the prompts' image")
        if frame is None or frame is self._last_frame:
            return self._last_frame, True
        check_frame(frame)
        return frame, False

    def _add_objects(self, prompts: Sequence[Prompt], frame: np.ndarray | None,
                     masks: Sequence[np.ndarray | None] | None = None) -> list[int]:
        """``masks``: the prompts' masks where already computed (``_prompt_mask``; None = compute it)."""
        if not prompts:
            raise ValueError("no prompts given")
        frame, newest = self._prompted_frame(frame)
        self._check_prompts(prompts, frame.shape[:2])
        masks = [m if m is not None else self._prompt_mask(frame, p)
                 for p, m in zip(prompts, masks or [None] * len(prompts), strict=True)]
        feats = [v.feats for v in self.views] if newest else self._encode(frame)
        K = len(self.tracks)
        existing = [v.probs4 if newest and v.probs4 is not None
                    # another image: nothing is known about the existing objects there
                    else torch.zeros(1, K, *f.f4.shape[-2:], device=self.device)
                    for v, f in zip(self.views, feats, strict=True)]
        given = self._add_prompted(feats, prompts, masks)
        for view, f, e, g in zip(self.views, feats, existing, given, strict=True):
            probs4 = with_prompted(e, g)
            keys16, values16, key8, values8 = self._encode_memory(f, probs4)
            unknown = [] if newest else list(range(K))
            view.memory.add(keys16, values16, max(self._frame_index, 0), prompt=True, unknown=unknown)
            if newest:
                view.prev_key8, view.prev_values8, view.probs4 = key8, values8, probs4
            else:
                self._extend_fine_memory(view, len(prompts))
        return self.object_ids[K:]

    @torch.inference_mode()
    def add_new_objects(self, prompts: Sequence[Prompt], frame: np.ndarray | None = None, limit: int = 0
                        ) -> tuple[list[int], list[int]]:
        """Add those ``prompts`` that are new instances, not objects already tracked (emergence: an active
        phrase grounded again; vos_ros/core/emergence.py), at most ``limit`` of them (0 = all).
        -> the new ids, and per prompt the id of the visible track it is (0 = none: new)."""
        with self._precision():
            reference, _ = self._prompted_frame(frame)
            self._check_prompts(prompts, reference.shape[:2])
            # a box is matched as given (the box path runs only for new objects); masks and clicks by their mask
            masks = [None if p.box is not None else self._prompt_mask(reference, p) for p in prompts]
            boxes = [p.box if m is None else mask_box(m) for p, m in zip(prompts, masks, strict=True)]
            visible = [t for t in self.tracks if t.visible]
            matched = match_to_tracks(boxes, [self._where(t) for t in visible])
            existing = [visible[j].id if j is not None else 0 for j in matched]
            new = [i for i, e in enumerate(existing) if not e][:limit or None]
            ids = self._add_objects([prompts[i] for i in new], frame, [masks[i] for i in new]) if new else []
            return ids, existing

    def _where(self, track: Track) -> Box:
        """Where a track reliably is now, in input pixels: its box prior moved on by its velocity (the
        newest mask may have spread), or its newest mask's box before it has a prior."""
        geometry = self.views[0].geometry
        if track.prior.box is not None:
            return geometry.cells_to_box(track.prior.predicted(self._frame_index))
        k, probs4 = self.tracks.index(track), self.views[0].probs4
        known = probs4 is not None and k < probs4.shape[1]
        box = areas_and_boxes(probs4[:1, k] > PRESENT_PROBABILITY)[1][0] if known else None
        return geometry.cells_to_box(box) if box is not None else (0.0, 0.0, 0.0, 0.0)

    def remove_objects(self, ids: Sequence[int]) -> None:
        """Stop tracking ``ids``. Unknown ids raise KeyError and nothing is removed."""
        unknown = sorted(set(ids) - set(self.object_ids))
        if unknown:
            raise KeyError(f"unknown track ids {unknown}; tracked ids are {self.object_ids}")
        slots = [k for k, t in enumerate(self.tracks) if t.id in set(ids)]
        keep = [k for k in range(len(self.tracks)) if k not in slots]
        self.tracks = [self.tracks[k] for k in keep]
        for view in self.views:
            view.memory.remove_objects(slots)
            view.queries = view.queries[:, keep]
            if view.prev_values8 is not None:
                view.prev_values8 = view.prev_values8[:, keep]
            if view.probs4 is not None:
                view.probs4 = view.probs4[:, keep]

    # -- internals --------------------------------------------------------------------------------
    def _new_views(self) -> list[View]:
        m = self.cfg.model
        sides = [m.input_short_side] + ([m.extra_short_side] if m.extra_short_side else [])
        queries = torch.zeros(1, 0, self.model.cfg.queries_per_object, self.model.cfg.query_dim, device=self.device)
        return [View(side, m.upscale, mirrored, MemoryBank(self.cfg.memory), queries)
                for side in sides for mirrored in ((False, True) if m.mirror_view else (False,))]

    def _precision(self) -> contextlib.AbstractContextManager:
        return compute_precision(self.device, self.cfg.model.precision)

    def _encode(self, frame: np.ndarray) -> list[FrameFeatures]:
        """Features of ``frame`` per view; a new frame size is refused while tracking."""
        h, w = frame.shape[:2]
        geometry = self.views[0].geometry
        if geometry is not None and (geometry.height, geometry.width) != (h, w):
            if self.tracks:
                raise ValueError(f"frame size changed from {geometry.width}x{geometry.height} "
                                 f"to {w}x{h} while tracking; call reset() first")
            self.views = self._new_views()
        return [self.model.encode_frame(v.geometry_for(h, w).image_tensor(v.image(frame), self.device))
                for v in self.views]

    def _check_prompts(self, prompts: Sequence[Prompt], size: tuple[int, int]) -> None:
        limit = self.cfg.track.max_objects
        if len(self.tracks) + len(prompts) > limit:
            raise ValueError(f"{len(prompts)} new objects would exceed track.max_objects = {limit} "
                             f"({len(self.tracks)} tracked: remove some with remove_objects first)")
        for i, p in enumerate(prompts):
            if p.mask is not None:
                if p.mask.shape != size:
                    raise ValueError(f"prompt {i}: mask is {p.mask.shape[1]}x{p.mask.shape[0]}, "
                                     f"frame is {size[1]}x{size[0]}")
                if not p.mask.any():
                    raise ValueError(f"prompt {i}: mask is empty")
            elif p.box is not None:
                x, y, w, h = p.box
                if x >= size[1] or y >= size[0] or x + w <= 0 or y + h <= 0:
                    raise ValueError(f"prompt {i}: box {p.box} lies outside the {size[1]}x{size[0]} frame")
            else:
                outside = [(x, y) for x, y, _ in p.clicks if not (0 <= x < size[1] and 0 <= y < size[0])]
                if outside:
                    raise ValueError(f"prompt {i}: clicks {outside} lie outside the {size[1]}x{size[0]} frame")

    def _forget_lost(self) -> None:
        """Remove tracks LOST for more than ``track.forget_after`` frames (reported LOST on this frame,
        gone from the next): a stream where objects leave for good keeps a flat memory."""
        tc = self.cfg.track
        if tc.forget_after:
            gone = [t.id for t in self.tracks
                    if t.state == TrackState.LOST and t.absent_frames > tc.lost_after + tc.forget_after]
            if gone:
                self.remove_objects(gone)

    def _active_slots(self) -> list[int]:
        """The objects the network tracks into this frame: every track absent for at most
        ``track.rotate_after`` frames, and one of the others in turn, so a frame costs the same however
        many objects have left for good."""
        after = self.cfg.track.rotate_after
        resting = [k for k, t in enumerate(self.tracks) if t.absent_frames > after]
        active = [k for k, t in enumerate(self.tracks) if t.absent_frames <= after]
        if resting:
            turn = min(resting, key=lambda k: self.tracks[k].checked_frame)
            self.tracks[turn].checked_frame = self._frame_index
            active = sorted(active + [turn])
        return active

    def _track(self, view: View, feats: FrameFeatures, active: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
        """The ``active`` objects into this frame of ``view`` -> probabilities 1 x K x h4 x w4 and presence
        logits K of all K objects (zero probability and certain absence for the others)."""
        mem = view.memory.gather(active)
        buckets = time_bucket(self._frame_index - mem.times, mem.prompt, self.model.cfg.time_buckets)
        K, A = len(self.tracks), len(active)
        slots = torch.tensor(active, device=self.device)
        every = A == K
        valid = torch.ones(1, A, dtype=torch.bool, device=self.device)
        prev_values8 = view.prev_values8 if every or view.prev_values8 is None else view.prev_values8[:, slots]
        logits, presence, idx, weights = self.model.segment(
            feats, mem.keys[None], mem.values[None],
            buckets[None].to(self.device), view.prev_key8, prev_values8,
            view.queries if every else view.queries[:, slots], valid, self.cfg.memory.top_k,
            mem.known[None] if view.memory.partly_known else None)
        view.memory.record_reads(idx[0], weights[0])
        probs = aggregate(logits, valid).softmax(1)[:, 1:]                     # 1 x A x h4 x w4
        if every:
            return probs, presence[0]
        all_probs = probs.new_zeros(1, K, *probs.shape[-2:])
        all_probs[:, slots] = probs
        all_presence = presence.new_full((K,), -PROMPT_PRESENCE_LOGIT)
        all_presence[slots] = presence[0]
        return all_probs, all_presence

    def _gated(self, probs4: list[torch.Tensor], presence: torch.Tensor, f8: torch.Tensor, alike: list[bool]
               ) -> tuple[list[torch.Tensor], torch.Tensor, list[bool]]:
        """Views' probabilities and the K presence logits with look-alikes whose ids came back exchanged
        exchanged back, by where each was heading (vos_ros/core/motion.py) and by how each looks (the first
        view's stride-8 features ``f8``; vos_ros/core/redetect.py), and each object kept where its box prior
        allows, and whether each object's mask is reliable. Only objects with ``alike`` set are bounded. The
        prior lives in the first view's cells."""
        if self.cfg.track.gate_margin == 0:
            return probs4, presence, [True] * len(self.tracks)
        first = self.views[0]
        tc = self.cfg.track
        priors = [t.prior for t in self.tracks]
        order = crossed_order(probs4[0], priors, alike, self._frame_index)
        if order is not None:
            probs4, presence = [p[:, order] for p in probs4], presence[order]
        order = appearance_order(f8, probs4[0], [t.seen_appearance for t in self.tracks], alike, priors,
                                 self._frame_index)
        if order is not None:
            probs4, presence = [p[:, order] for p in probs4], presence[order]
        weights, reliable = gate_weights(probs4[0], priors, alike, self._frame_index, tc)
        return [p * (weights if v is first else v.from_input(first.to_input(weights), p))
                for v, p in zip(self.views, probs4, strict=True)], presence, reliable

    def _redetect(self, frame: np.ndarray, feats: list[FrameFeatures], probs4: list[torch.Tensor],
                  presence: torch.Tensor, reliable: list[bool], alike: list[bool]) -> int | None:
        """Look for one absent object with the box path, at its predicted box, the box it was last seen in and,
        for a look-alike (LOST ones too), the free region that looks most like it, by turns
        (vos_ros/core/redetect.py); when found, it takes those pixels in every view (in place), counts as
        present and reliable, and its slot is returned."""
        first, tc = self.views[0], self.cfg.track
        p0 = probs4[0][0]                                                        # K x h4 x w4
        visible = (p0 > PRESENT_PROBABILITY) & (torch.sigmoid(presence) >= tc.presence_threshold)[:, None, None]
        absent = [k for k, t in enumerate(self.tracks)
                  if not visible[k].any() and t.prior.box is not None and t.appearance is not None
                  and (t.state != TrackState.LOST or alike[k])
                  and self._frame_index - t.redetect_frame >= tc.redetect_every]
        for k in sorted(absent, key=lambda k: self.tracks[k].redetect_frame):
            track = self.tracks[k]
            taken = torch.cat([visible[:k], visible[k + 1:]]).any(0)
            spot = search_spot(track, self._frame_index, taken, feats[0].f8, alike[k])
            track.redetect_tries += 1
            box = first.geometry.cells_to_box(spot) if spot is not None else None
            if box is None or min(box[2:]) < 1:
                continue
            track.redetect_frame = self._frame_index
            prob = box_probabilities(self.model, frame, [box],
                                     crop_side=self.cfg.model.box_crop_side, precision=self.cfg.model.precision)[0]
            mask = prob > self.cfg.model.box_threshold
            mask4 = first.geometry.masks_to_stride4(mask[None], self.device)[0, 0]
            if accepted(mask4, feats[0].f8, track.prior, track.appearance, taken, tc.lookalike_similarity,
                        tc.max_growth):
                for view, p in zip(self.views, probs4, strict=True):
                    found = view.geometry.masks_to_stride4(view.masks(mask[None]), self.device).to(p.dtype)
                    p.mul_(1 - found)
                    p[:, k] = found[:, 0]
                presence[k] = PROMPT_PRESENCE_LOGIT
                reliable[k] = True
                return k
            return None  # one box-path run per frame bounds the cost
        return None

    def _observe(self, probs4: torch.Tensor, seen: list[bool], f8: torch.Tensor) -> None:
        """Update the box prior of every object seen reliably in this frame, every object's recent area
        (first view's 1 x K x h4 x w4), and how the look-alikes seen reliably look lately (first view's
        stride-8 features ``f8``)."""
        areas, boxes = areas_and_boxes(probs4[0] > PRESENT_PROBABILITY)             # K of each, one transfer
        for k, (track, area, box) in enumerate(zip(self.tracks, areas, boxes, strict=True)):
            track.prior.recent_area = area
            if seen[k] and box is not None:
                track.prior.observe(box, area, self._frame_index, self.cfg.track.max_growth)
        # look-alikes again: objects prompted on this frame have joined since _gated
        alike = lookalikes([t.appearance for t in self.tracks], self.cfg.track.lookalike_similarity)
        shown = [k for k, (track, area) in enumerate(zip(self.tracks, areas, strict=True))
                 if alike[k] and seen[k] and area >= MIN_REGION * track.prior.area]
        if shown:
            lately = appearances(f8, probs4[0, torch.tensor(shown, device=self.device)] > PRESENT_PROBABILITY)
            for track, now in zip([self.tracks[k] for k in shown], lately, strict=True):
                track.seen_appearance = now if track.seen_appearance is None else F.normalize(
                    (1 - APPEARANCE_SMOOTHING) * track.seen_appearance + APPEARANCE_SMOOTHING * now, dim=0)

    def _add_prompted(self, feats: list[FrameFeatures], prompts: Sequence[Prompt], masks: list[np.ndarray]
                      ) -> list[torch.Tensor]:
        """Create tracks for ``prompts`` with their H x W ``masks`` (``_prompt_mask``); -> the masks per
        view, 1 x P x h4 x w4."""
        if not prompts:
            return []
        masks = np.stack(masks)
        for p in prompts:
            self.tracks.append(Track(self._next_id, p.label))
            self._next_id += 1
        given = []
        for view, f in zip(self.views, feats, strict=True):
            g = view.geometry.masks_to_stride4(view.masks(masks), self.device)
            view.queries = torch.cat([view.queries, self.model.query_init(f, g)], 1)
            view.memory.add_objects(len(prompts))
            given.append(g)
        for track, look in zip(self.tracks[-len(prompts):], appearances(feats[0].f8, given[0][0]), strict=True):
            track.appearance = look
        return given

    def _prompt_mask(self, frame: np.ndarray, prompt: Prompt) -> np.ndarray:
        """H x W bool mask of a prompt: its own mask, or the box path's from its box or clicks."""
        m = self.cfg.model
        path = dict(crop_side=m.box_crop_side, threshold=m.box_threshold, precision=m.precision)
        if prompt.mask is not None:
            return prompt.mask != 0
        if prompt.box is not None:
            return boxes_to_masks(self.model, frame, [prompt.box], **path)[0]
        mask = points_to_masks(self.model, frame, [prompt.clicks], **path)[0]
        if not mask.any():
            raise ValueError(f"no object found at the clicks {prompt.clicks}")
        return mask

    def _fused(self, probs4: list[torch.Tensor], live: list[int]) -> tuple[torch.Tensor, list[torch.Tensor]]:
        """Views' probabilities -> the mean of the ``live`` objects' L x H x W in input pixels (the others
        have none this frame), and the mean as each view sees it (what the views remember; one view keeps
        its own)."""
        if not live:
            return probs4[0][0, :0], probs4  # no objects: nothing to upsample
        slots = torch.tensor(live, dtype=torch.long, device=self.device)
        if len(self.views) == 1:
            return self.views[0].geometry.stride4_to_input(probs4[0][0, slots]), probs4
        mean = torch.stack([v.to_input(p[:, slots]) for v, p in zip(self.views, probs4, strict=True)]).mean(0)
        remembered = []
        for v, p in zip(self.views, probs4, strict=True):
            p = p.clone()
            p[:, slots] = v.from_input(mean, p)
            remembered.append(p)
        return mean, remembered

    def _encode_memory(self, feats: FrameFeatures, probs4: torch.Tensor, coarse: bool = True,
                       active: list[int] | None = None
                       ) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor, torch.Tensor]:
        """-> coarse keys N x Ck and values K x N x Cv (None unless ``coarse``), fine keys and values.
        Only the ``active`` objects (default all) are encoded; the others get zero values."""
        K = probs4.shape[1]
        if active is None or len(active) == K:
            v16, v8 = self.model.values(feats, probs4, coarse=coarse)
        else:
            slots = torch.tensor(active, dtype=torch.long, device=self.device)
            a16, a8 = self.model.values(feats, probs4[:, slots], coarse=coarse)
            v8 = a8.new_zeros(1, K, *a8.shape[2:])
            v8[:, slots] = a8
            v16 = None
            if coarse:
                v16 = a16.new_zeros(1, K, *a16.shape[2:])
                v16[:, slots] = a16
        if not coarse:
            return None, None, feats.key8, v8
        keys16, values16 = memory_tokens(feats.key16, v16)         # 1 x N x Ck, 1 x K x N x Cv
        return keys16[0], values16[0], feats.key8, v8

    def _remember(self, view: View, feats: FrameFeatures, probs4: torch.Tensor, prompt: bool, seen: list[bool],
                  active: list[int]) -> None:
        """Fine memory every frame; coarse memory at prompt frames and every ``write_every`` frames.

        Objects not ``seen`` (absent, or their mask unreliable) write zero values, "nothing known", to the
        coarse memory: an object covered for long would otherwise fill its memory with frames that say
        it is nowhere, and a look-alike's pixels with frames that say they are not it.
        """
        view.feats = feats
        if not self.tracks:
            return
        write = prompt or self._frame_index % self.cfg.memory.write_every == 0
        keys16, values16, key8, values8 = self._encode_memory(feats, probs4, coarse=write, active=active)
        view.prev_key8, view.prev_values8, view.probs4 = key8, values8, probs4
        if write:
            values16[~torch.tensor(seen, dtype=torch.bool, device=values16.device)] = 0
            view.memory.add(keys16, values16, self._frame_index, prompt=prompt)

    @staticmethod
    def _extend_fine_memory(view: View, count: int) -> None:
        """Objects added on a separate image have no previous-frame values yet: zeros."""
        if view.prev_values8 is not None:
            pad = view.prev_values8.new_zeros(1, count, *view.prev_values8.shape[2:])
            view.prev_values8 = torch.cat([view.prev_values8, pad], 1)
        if view.probs4 is not None:
            view.probs4 = torch.cat([view.probs4, view.probs4.new_zeros(1, count, *view.probs4.shape[2:])], 1)

    def _result(self, probs: torch.Tensor, live: list[int], presence: torch.Tensor, new_count: int,
                prompt_masks: list[np.ndarray | None]) -> FrameResult:
        """``probs``: L x H x W probabilities in input pixels of the ``live`` objects (the others are absent)."""
        K = len(self.tracks)
        H, W = self._last_frame.shape[:2]
        label = np.zeros((H, W), np.uint16)
        objects: list[ObjectResult] = []
        if K:
            nothing = np.zeros((H, W), bool)
            nothing.flags.writeable = False                                     # shared by absent objects
            masks = [nothing] * K
            if live:
                bg = (1 - probs.sum(0, keepdim=True)).clamp(min=0)
                winner = argmax_along(torch.cat([bg, probs], 0), 0).cpu().numpy()  # 0 = background
                for j, k in enumerate(live):
                    masks[k] = winner == j + 1
            # mask prompts are used as given on their own frame
            for j, m in enumerate(prompt_masks):
                if m is not None:
                    k = K - new_count + j
                    for other in live:
                        masks[other] = masks[other] & ~(m != 0)
                    masks[k] = m != 0
            for k, track in enumerate(self.tracks):
                p = float(presence[k])
                present = p >= self.cfg.track.presence_threshold and masks[k].sum() >= self.cfg.track.min_area
                state = track.update(present, self.cfg.track)
                mask = masks[k] if track.visible else nothing
                label[mask] = track.id
                objects.append(ObjectResult(track.id, track.label, mask, p, state, mask_box(mask)))
        return FrameResult(self._frame_index, objects, label)


def with_prompted(existing: torch.Tensor, given: torch.Tensor) -> torch.Tensor:
    """Existing objects' 1 x K x h4 x w4 and prompted objects' 1 x P x h4 x w4 probabilities -> 1 x (K+P)
    x h4 x w4: prompted pixels belong to the new objects."""
    return torch.cat([existing * (1 - given.sum(1, keepdim=True).clamp(max=1)), given], 1)
