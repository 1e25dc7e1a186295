"""CBAM blocks against the CBAM paper's equations in NumPy (tests/layers/_numpy_ref.py)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).parent))
import _numpy_ref as ref  # noqa: E402
from _torch_helpers import randomize, to_numpy  # noqa: E402

from edgeattn.errors import InputError  # noqa: E402
from edgeattn.layers import CBAM, ChannelAttention, SpatialAttention  # noqa: E402


def _x(*shape: int, seed: int = 1) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed))


def _channel_ref(block: ChannelAttention, x: np.ndarray) -> np.ndarray:
    return ref.channel_attention(x, to_numpy(block.fc1.weight), to_numpy(block.fc1.bias), to_numpy(block.fc2.weight), to_numpy(block.fc2.bias))


def _spatial_ref(block: SpatialAttention, x: np.ndarray) -> np.ndarray:
    bn = None
    if isinstance(block.bn, nn.BatchNorm2d):
        bn = (to_numpy(block.bn.weight), to_numpy(block.bn.bias), to_numpy(block.bn.running_mean), to_numpy(block.bn.running_var), block.bn.eps)
    return ref.spatial_attention(x, to_numpy(block.conv.weight), to_numpy(block.conv.bias), block.pool_order, bn)


@pytest.mark.parametrize("use_conv", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_channel_attention_matches_eq2(use_conv: bool, bias: bool) -> None:
    block = ChannelAttention(24, reduction=4, use_conv=use_conv, bias=bias).eval()
    randomize(block)
    x = _x(2, 24, 5, 7)
    np.testing.assert_allclose(to_numpy(block(x)), _channel_ref(block, to_numpy(x)), rtol=1e-5, atol=1e-5)


def test_channel_attention_uses_max_pool_too() -> None:
    # Two inputs with equal channel means but different maxima must get different gates.
    block = ChannelAttention(2, rd_channels=2).eval()
    randomize(block)
    a = torch.tensor([[[[1.0, 1.0]], [[1.0, 1.0]]]])
    b = torch.tensor([[[[0.0, 2.0]], [[1.0, 1.0]]]])
    gate_a = block(a)[0, :, 0, 1] / a[0, :, 0, 1]
    gate_b = block(b)[0, :, 0, 1] / b[0, :, 0, 1]
    assert (gate_a - gate_b).abs().max() > 1e-4


@pytest.mark.parametrize("kernel_size", [7, 3])
@pytest.mark.parametrize("order", ["mean_max", "max_mean"])
@pytest.mark.parametrize("batch_norm", [False, True])
def test_spatial_attention_matches_eq3(kernel_size: int, order: str, batch_norm: bool) -> None:
    block = SpatialAttention(kernel_size, batch_norm=batch_norm, pool_order=order).eval()
    randomize(block)
    x = _x(2, 5, 9, 6)
    np.testing.assert_allclose(to_numpy(block(x)), _spatial_ref(block, to_numpy(x)), rtol=1e-5, atol=1e-5)


def test_pool_orders_differ_by_swapped_conv_channels() -> None:
    # Official [max, mean] == ours [mean, max] with the conv's two input channels swapped.
    official = SpatialAttention(7, batch_norm=True, pool_order="max_mean").eval()
    randomize(official)
    ours = SpatialAttention(7, batch_norm=True, pool_order="mean_max").eval()
    state = official.state_dict()
    state["conv.weight"] = state["conv.weight"][:, [1, 0]]
    ours.load_state_dict(state)
    x = _x(1, 6, 8, 8)
    torch.testing.assert_close(ours(x), official(x))
    assert not torch.allclose(SpatialAttention(7, pool_order="mean_max").eval()(x), x)


@pytest.mark.parametrize("arrangement", ["channel_first", "spatial_first", "parallel"])
def test_cbam_arrangements_match_eq1_and_table3(arrangement: str) -> None:
    block = CBAM(16, reduction=4, arrangement=arrangement, spatial_batch_norm=True).eval()
    randomize(block)
    x = to_numpy(_x(2, 16, 6, 5))
    if arrangement == "channel_first":
        expected = _spatial_ref(block.spatial, _channel_ref(block.channel, x))
    elif arrangement == "spatial_first":
        expected = _channel_ref(block.channel, _spatial_ref(block.spatial, x))
    else:
        expected = _channel_ref(block.channel, x) + _spatial_ref(block.spatial, x)
    np.testing.assert_allclose(to_numpy(block(torch.from_numpy(x).float())), expected, rtol=1e-4, atol=1e-5)


def test_arrangements_give_different_results() -> None:
    torch.manual_seed(0)
    blocks = {a: CBAM(8, rd_channels=4, arrangement=a).eval() for a in ("channel_first", "spatial_first", "parallel")}
    state = blocks["channel_first"].state_dict()
    for block in blocks.values():
        block.load_state_dict(state)
    x = _x(1, 8, 5, 5)
    outs = {a: b(x) for a, b in blocks.items()}
    assert not torch.allclose(outs["channel_first"], outs["spatial_first"])
    assert not torch.allclose(outs["channel_first"], outs["parallel"])


@pytest.mark.parametrize("shape", [(1, 1, 1, 1), (1, 17, 5, 9), (3, 33, 13, 2)])
def test_odd_shapes_and_batch_one(shape: tuple[int, ...]) -> None:
    block = CBAM(shape[1], rd_channels=1)
    x = torch.randn(shape)
    assert block(x).shape == x.shape


def test_gradients_reach_input_and_every_parameter() -> None:
    block = CBAM(16, reduction=4, spatial_batch_norm=True).train()
    x = torch.randn(2, 16, 6, 6, requires_grad=True)
    block(x).square().sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0
    for name, p in block.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0, name


@pytest.mark.parametrize(("kernel", "batch_norm"), [(7, False), (7, True), (3, False)])
def test_exact_parameter_counts(kernel: int, batch_norm: bool) -> None:
    c, h = 256, 16
    channel = ChannelAttention(c, reduction=16)
    assert sum(p.numel() for p in channel.parameters()) == 2 * c * h + h + c
    spatial = SpatialAttention(kernel, batch_norm=batch_norm)
    # conv 2 -> 1 (k x k): bias only without BN (official code: conv without bias, then BN).
    expected = 2 * kernel * kernel + (2 if batch_norm else 1)
    assert sum(p.numel() for p in spatial.parameters()) == expected
    block = CBAM(c, reduction=16, spatial_kernel_size=kernel, spatial_batch_norm=batch_norm)
    assert sum(p.numel() for p in block.parameters()) == 2 * c * h + h + c + expected


@pytest.mark.parametrize(
    ("factory", "kwargs"),
    [
        (SpatialAttention, {"kernel_size": 5}),
        (SpatialAttention, {"pool_order": "min_max"}),
        (CBAM, {"channels": 8, "arrangement": "sequential"}),
        (ChannelAttention, {"channels": 8, "reduction": -1}),
    ],
)
def test_bad_options_raise_input_error(factory: type, kwargs: dict) -> None:
    with pytest.raises(InputError):
        factory(**kwargs)


def test_matches_timm_cbam_halves() -> None:
    timm_cbam = pytest.importorskip("timm.layers.cbam")
    theirs = timm_cbam.CbamModule(32, rd_ratio=1 / 8, spatial_kernel_size=7).eval()
    randomize(theirs)
    ours = CBAM(32, rd_channels=theirs.channel.fc1.out_channels, bias=False, spatial_batch_norm=True).eval()
    state = {k.replace("spatial.conv.conv.", "spatial.conv.").replace("spatial.conv.bn.", "spatial.bn."): v
             for k, v in theirs.state_dict().items()}
    ours.load_state_dict(state)
    x = _x(2, 32, 7, 7)
    torch.testing.assert_close(ours(x), theirs(x))
