"""Checkpoint key names of the attention blocks are part of the format (timm/torchvision layout).

Written by hand from the layouts the blocks load (timm ``SEModule``/``CbamModule``, torchvision
``SqueezeExcitation``): a refactor that nests the excitation MLP differently must fail here.
"""

from __future__ import annotations

import pytest
import torch

from edgeattn.layers import CBAM, ChannelAttention, SpatialAttention, SqueezeExcite

MLP = ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


@pytest.mark.parametrize("cls", [SqueezeExcite, ChannelAttention])
@pytest.mark.parametrize("use_conv", [True, False])
def test_excitation_blocks_keep_fc1_fc2_at_the_top(cls, use_conv):
    block = cls(16, rd_channels=4, use_conv=use_conv)
    shapes = {k: tuple(v.shape) for k, v in block.state_dict().items()}
    first, second = ((4, 16, 1, 1), (16, 4, 1, 1)) if use_conv else ((4, 16), (16, 4))
    assert shapes == {"fc1.weight": first, "fc1.bias": (4,), "fc2.weight": second, "fc2.bias": (16,)}
    assert list(shapes) == MLP


def test_no_bias_drops_only_the_biases():
    assert list(SqueezeExcite(8, rd_channels=2, bias=False).state_dict()) == ["fc1.weight", "fc2.weight"]


def test_cbam_keys_nest_channel_and_spatial():
    keys = list(CBAM(16, rd_channels=4, spatial_batch_norm=True).state_dict())
    assert keys == [
        *(f"channel.{k}" for k in MLP),
        "spatial.conv.weight",
        "spatial.bn.weight", "spatial.bn.bias", "spatial.bn.running_mean", "spatial.bn.running_var",
        "spatial.bn.num_batches_tracked",
    ]
    assert list(CBAM(16, rd_channels=4).state_dict())[-2:] == ["spatial.conv.weight", "spatial.conv.bias"]


def test_cbam_passes_each_option_to_its_half():
    block = CBAM(32, reduction=8, use_conv=False, bias=False, act="silu", gate="hard_sigmoid",
                 spatial_kernel_size=3, pool_order="max_mean", arrangement="parallel")
    assert block.channel.rd_channels == 4 and not block.channel.use_conv and block.channel.fc1.bias is None
    assert isinstance(block.channel.act, torch.nn.SiLU)
    assert isinstance(block.channel.gate, torch.nn.Hardsigmoid) and isinstance(block.spatial.gate, torch.nn.Hardsigmoid)
    assert isinstance(block.spatial, SpatialAttention) and block.spatial.kernel_size == 3
    assert block.spatial.pool_order == "max_mean" and block.arrangement == "parallel"
