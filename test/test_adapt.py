"""Prompt-time adaptation (vos_ros/tools/adapt.py): clips cut from the prompt frame, a fine-tuned copy."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from vos_ros.core.model import VOSModel
from vos_ros.tools.adapt import AdaptConfig, adapt, prompt_clips
from vos_ros.tools.train import clip_loss

TINY = AdaptConfig(steps=6, lr=1e-3, batch=2, frames=2, size=(64, 96))


def red_square_scene() -> tuple[np.ndarray, np.ndarray]:
    """A red square and a green bar on blue: 120 x 160 RGB and their 2 x H x W masks."""
    image = np.zeros((120, 160, 3), np.uint8)
    image[...] = (30, 40, 200)
    masks = np.zeros((2, 120, 160), bool)
    masks[0, 30:80, 40:90] = True
    masks[1, 90:110, 100:150] = True
    image[masks[0]] = (220, 30, 30)
    image[masks[1]] = (30, 220, 30)
    return image, masks


def test_clips_carry_the_masks_with_the_pixels() -> None:
    image, masks = red_square_scene()
    clips = prompt_clips(np.random.default_rng(3), image, masks, TINY)
    assert clips["frames"].shape == (2, 2, 3, 64, 96) and clips["frames"].dtype == torch.uint8
    assert clips["masks"].shape == (2, 2, 2, 64, 96) and clips["valid"].shape == (2, 2)
    assert clips["times"].tolist() == [[0, 1], [0, 1]]
    frames = clips["frames"].permute(0, 1, 3, 4, 2).float()                  # B x T x h x w x 3
    red = clips["masks"][:, :, 0]
    assert red.any()
    # under the red object's mask the pixels are red, elsewhere not (brightness drifts a little)
    assert frames[red][:, 0].mean() > 170 and frames[~red][:, 0].mean() < 100
    # an object is valid in a clip exactly when the window shows it on the clip's first frame
    assert clips["valid"].tolist() == clips["masks"][:, 0].flatten(2).any(-1).tolist()


def test_adapting_lowers_the_loss_on_the_prompt_frame_and_leaves_the_model_alone() -> None:
    torch.manual_seed(0)
    model = VOSModel(pretrained_backbone=False).eval()
    before = {k: v.clone() for k, v in model.trainable_state_dict().items()}
    image, masks = red_square_scene()
    held_out = prompt_clips(np.random.default_rng(99), image, masks, TINY)  # clips the adaptation never saw

    def loss_of(m: VOSModel) -> float:
        with torch.no_grad():
            return float(clip_loss(m, held_out, box_prob=0.0)[0])

    adapted = adapt(model, image, masks, TINY, precision="fp32")
    assert not adapted.training
    assert loss_of(adapted) < 0.9 * loss_of(model)
    for name, value in model.trainable_state_dict().items():
        assert torch.equal(value, before[name]), f"{name} of the shared model changed"
    assert any(not torch.equal(value, before[name]) for name, value in adapted.trainable_state_dict().items())


@pytest.mark.parametrize("masks, message", [
    (np.zeros((1, 120, 160), bool), "non-empty masks"),
    (np.zeros((0, 120, 160), bool), "non-empty masks"),
    (np.ones((1, 60, 80), bool), "non-empty masks of the 160x120 frame"),
])
def test_bad_prompt_masks_are_refused(masks: np.ndarray, message: str) -> None:
    image, _ = red_square_scene()
    with pytest.raises(ValueError, match=message):
        adapt(VOSModel(pretrained_backbone=False), image, masks, TINY, precision="fp32")


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="steps >= 0"):
        AdaptConfig(steps=-1)
    with pytest.raises(ValueError, match="frames >= 2"):
        AdaptConfig(frames=1)
