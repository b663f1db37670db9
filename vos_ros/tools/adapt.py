"""Prompt-time adaptation: fine-tune a copy of the tracker on clips made from its prompt frame.

A semi-supervised benchmark gives each object's mask on one frame. As in OSVOS and OnAVOS (first-frame
fine-tuning), a copy of the network is trained on that frame alone before tracking: short clips are
cut from it by a window that pans, zooms and is sometimes mirrored (``train_data.camera_path``), with
mild brightness drift, and the copy learns to track the prompted masks through them with the training
loss (``train.clip_loss``). The frozen backbone stays frozen; the shared model is never changed.

It costs ``steps`` training steps per prompt frame (about 1.2 s each on the 2-core CPU at the default
clip size), so it is an option of the offline tools (``vos-ros eval davis --adapt-steps``), not of
the node.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from vos_ros.core.model import VOSModel, compute_precision
from vos_ros.tools.train import clip_loss, optimizer_step
from vos_ros.tools.train_data import camera_path, photometric


@dataclass(frozen=True)
class AdaptConfig:
    steps: int = 30                     # training steps on the prompt frame (0 = no adaptation)
    lr: float = 1e-4                    # AdamW learning rate, constant (the shipped weights' last stages used it)
    batch: int = 2                      # clips per step
    frames: int = 3                     # frames per clip
    size: tuple[int, int] = (384, 688)  # clip H x W: the scale of the last training stages
    seed: int = 0

    def __post_init__(self) -> None:
        if self.steps < 0 or self.lr <= 0 or self.batch < 1 or self.frames < 2:
            raise ValueError(f"adaptation needs steps >= 0, lr > 0, batch >= 1 and frames >= 2, got {self}")


def prompt_clips(rng: np.random.Generator, image: np.ndarray, masks: np.ndarray, cfg: AdaptConfig
                 ) -> dict[str, torch.Tensor]:
    """``cfg.batch`` clips warped from one frame, in ``clip_loss``'s layout.

    image: H x W x 3 uint8; masks: K x H x W bool. -> frames B x T x 3 x h x w uint8, masks
    B x T x K x h x w bool, valid B x K, times B x T.
    """
    h, w = cfg.size
    labels = np.zeros(image.shape[:2], np.uint8)
    for k, m in enumerate(masks):
        labels[m] = k + 1
    frames, clip_masks = [], []
    for _ in range(cfg.batch):
        mats = camera_path(rng, image.shape[:2], cfg.size, np.linspace(0, 1, cfg.frames), zoom=(1.0, 1.5),
                           pan=0.15, zoom_change=0.2, flip=bool(rng.random() < 0.5))
        warped = np.stack([cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
                           for m in mats]).astype(np.float32)                      # T x h x w x 3
        warped_labels = np.stack([cv2.warpAffine(labels, m, (w, h), flags=cv2.INTER_NEAREST) for m in mats])
        frames.append(photometric(rng, warped))
        clip_masks.append(np.stack([warped_labels == k + 1 for k in range(len(masks))], 1))  # T x K x h x w
    masks_t = torch.from_numpy(np.stack(clip_masks))
    return {"frames": torch.from_numpy(np.stack(frames)).permute(0, 1, 4, 2, 3).contiguous(),
            "masks": masks_t,
            # an object the window cut out of a clip's first frame cannot be tracked in that clip
            "valid": masks_t[:, 0].flatten(2).any(-1),
            "times": torch.arange(cfg.frames).repeat(cfg.batch, 1)}


def adapt(model: VOSModel, image: np.ndarray, masks: np.ndarray, cfg: AdaptConfig, precision: str) -> VOSModel:
    """A copy of ``model`` fine-tuned on ``image`` (H x W x 3 uint8) with its objects' ``masks``
    (K x H x W bool), in eval mode; ``model`` itself is unchanged. ``precision``: ``model.precision``."""
    if masks.ndim != 3 or not len(masks) or masks.shape[1:] != image.shape[:2] or not masks.any(axis=(1, 2)).all():
        raise ValueError(f"adaptation needs K x H x W non-empty masks of the {image.shape[1]}x{image.shape[0]} "
                         f"frame, got shape {masks.shape}")
    adapted = copy.deepcopy(model).train()
    device = next(adapted.parameters()).device
    params = [p for p in adapted.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=0.0)
    rng = np.random.default_rng(cfg.seed)
    with torch.inference_mode(False), torch.enable_grad():
        for _ in range(cfg.steps):
            batch = {k: v.to(device) for k, v in prompt_clips(rng, image, masks, cfg).items()}
            if not bool(batch["valid"].any()):
                continue
            with compute_precision(device, precision):
                loss, _ = clip_loss(adapted, batch, box_prob=0.0)
            optimizer_step(opt, params, loss)
    return adapted.eval()
