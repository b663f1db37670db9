"""Training-free baseline: propagate masks by top-k affinity of raw backbone features.

No learned stage at all: keys are the frozen backbone's L2-normalised stride-16 features, values are
the label maps of the first frame and the previous frame. It is the floor the trained tracker must
clear (the ablation table's first row), with the Session's step() interface.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from vos_ros.core.backbone import Backbone
from vos_ros.core.config import TrackerConfig
from vos_ros.core.geometry import FrameGeometry, check_frame
from vos_ros.core.model import argmax_along
from vos_ros.core.types import FrameResult, ObjectResult, Prompt, TrackState, mask_box


class PropagationSession:
    def __init__(self, backbone: Backbone, config: TrackerConfig, top_k: int = 20, temperature: float = 0.05):
        self.backbone = backbone
        self.cfg = config
        self.top_k, self.temperature = top_k, temperature
        self.ids: list[int] = []
        self.labels: list[str] = []
        # (keys C x N, soft labels (K+1) x N): prompt frames are kept, plus the previous frame
        self.prompt_frames: list[tuple[torch.Tensor, torch.Tensor]] = []
        self.previous: tuple[torch.Tensor, torch.Tensor] | None = None

    @property
    def memory(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        return self.prompt_frames + ([self.previous] if self.previous is not None else [])

    @torch.inference_mode()
    def step(self, frame: np.ndarray, prompts: Sequence[Prompt] = ()) -> FrameResult:
        check_frame(frame)
        g = FrameGeometry.for_frame(*frame.shape[:2], self.cfg.model.input_short_side, self.cfg.model.upscale)
        keys = F.normalize(self.backbone(g.image_tensor(frame, torch.device("cpu")))[16][0].flatten(1), dim=0)
        h, w = g.padded_h // 16, g.padded_w // 16
        if self.memory:
            mem_keys = torch.cat([k for k, _ in self.memory], 1)                  # C x N
            mem_labels = torch.cat([v for _, v in self.memory], 1)                # (K+1) x N
            sim = (keys.T @ mem_keys) / self.temperature                          # P x N
            top, idx = sim.topk(min(self.top_k, sim.shape[1]), dim=1)
            probs = torch.einsum("pk,cpk->cp", top.softmax(1), mem_labels[:, idx]).view(-1, h, w)
        else:
            probs = torch.ones(1, h, w)
        if prompts:
            new = torch.cat([g.masks_to_stride4((p.mask != 0)[None], torch.device("cpu")) for p in prompts], 1)
            new = F.avg_pool2d(new, 4)[0]                                         # P x h x w
            probs = torch.cat([probs * (1 - new.sum(0, keepdim=True).clamp(max=1)), new], 0)
            self.ids += list(range(len(self.ids) + 1, len(self.ids) + 1 + len(prompts)))
            self.labels += [p.label for p in prompts]
        entry = (keys, probs.flatten(1))
        if prompts:  # older entries know nothing of the new objects: zero rows
            pad = lambda v: F.pad(v, (0, 0, 0, probs.shape[0] - v.shape[0]))  # noqa: E731
            self.prompt_frames = [(k, pad(v)) for k, v in self.prompt_frames] + [entry]
            self.previous = None
        else:
            self.previous = entry
        up = F.interpolate(probs[None], size=(g.padded_h, g.padded_w), mode="bilinear", align_corners=False)[0]
        up = F.interpolate(up[None, :, : g.scaled_h, : g.scaled_w], size=frame.shape[:2], mode="bilinear",
                           align_corners=False)[0]
        winner = argmax_along(up, 0).numpy()
        label_image = np.zeros(frame.shape[:2], np.uint16)
        objects = []
        for k, track_id in enumerate(self.ids):
            mask = winner == k + 1
            if prompts and k >= len(self.ids) - len(prompts):
                mask = prompts[k - len(self.ids) + len(prompts)].mask != 0
            label_image[mask] = track_id
            objects.append(ObjectResult(track_id, self.labels[k], mask, 1.0, TrackState.TRACKED, mask_box(mask)))
        return FrameResult(0, objects, label_image)
