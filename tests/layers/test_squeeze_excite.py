"""SqueezeExcite against the SENet equations in NumPy (tests/layers/_numpy_ref.py)."""

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
from edgeattn.layers import SqueezeExcite  # noqa: E402


@pytest.mark.parametrize("use_conv", [True, False])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("gate", ["sigmoid", "hard_sigmoid"])
def test_matches_paper_equations(use_conv: bool, bias: bool, gate: str) -> None:
    block = SqueezeExcite(32, reduction=4, use_conv=use_conv, bias=bias, gate=gate).eval()
    randomize(block)
    x = torch.randn(3, 32, 7, 5, generator=torch.Generator().manual_seed(1))
    expected = ref.se(
        to_numpy(x), to_numpy(block.fc1.weight), to_numpy(block.fc1.bias), to_numpy(block.fc2.weight), to_numpy(block.fc2.bias),
        gate=ref.sigmoid if gate == "sigmoid" else ref.hard_sigmoid,
    )
    np.testing.assert_allclose(block(x).detach().double().numpy(), expected, rtol=1e-5, atol=1e-5)


def test_hard_sigmoid_saturates_where_sigmoid_does_not() -> None:
    # Large positive excitation: hard-sigmoid gives exactly 1, the logistic sigmoid does not.
    block = SqueezeExcite(4, rd_channels=2, gate="hard_sigmoid")
    with torch.no_grad():
        block.fc1.weight.fill_(1.0)
        block.fc1.bias.zero_()
        block.fc2.weight.fill_(1.0)
        block.fc2.bias.fill_(10.0)
    x = torch.ones(1, 4, 2, 2)
    assert torch.equal(block(x), x)


@pytest.mark.parametrize(
    ("channels", "kwargs", "hidden"),
    [
        (64, {}, 4),  # paper: C / r with r = 16
        (64, {"reduction": 8}, 8),
        (64, {"rd_channels": 5}, 5),
        (20, {"reduction": 16}, 1),  # int(20/16) = 1
        (8, {"reduction": 16, "min_channels": 4}, 4),
        (64, {"divisor": 8}, 8),  # 4 rounded up to a multiple of 8
    ],
)
def test_hidden_width(channels: int, kwargs: dict, hidden: int) -> None:
    assert SqueezeExcite(channels, **kwargs).rd_channels == hidden


@pytest.mark.parametrize("use_conv", [True, False])
@pytest.mark.parametrize("bias", [True, False])
def test_exact_parameter_count(use_conv: bool, bias: bool) -> None:
    c, h = 256, 16
    block = SqueezeExcite(c, reduction=16, use_conv=use_conv, bias=bias)
    expected = 2 * c * h + (h + c if bias else 0)
    assert sum(p.numel() for p in block.parameters()) == expected
    shape = (h, c, 1, 1) if use_conv else (h, c)
    assert tuple(block.fc1.weight.shape) == shape


@pytest.mark.parametrize("shape", [(1, 3, 1, 1), (1, 17, 5, 9), (2, 33, 13, 1)])
def test_odd_shapes_and_batch_one(shape: tuple[int, ...]) -> None:
    block = SqueezeExcite(shape[1], rd_channels=2)
    x = torch.randn(shape)
    assert block(x).shape == x.shape


def test_gradients_reach_input_and_both_fcs() -> None:
    block = SqueezeExcite(16, reduction=4)
    x = torch.randn(2, 16, 5, 5, requires_grad=True)
    block(x).square().sum().backward()
    for tensor in (x, block.fc1.weight, block.fc2.weight, block.fc2.bias):
        assert tensor.grad is not None and torch.isfinite(tensor.grad).all() and tensor.grad.abs().sum() > 0


def test_scale_is_per_channel_constant_over_space() -> None:
    # SE rescales each channel by one number (Eq. 4): out / in is constant over H, W.
    block = SqueezeExcite(8, rd_channels=4)
    x = torch.rand(1, 8, 6, 6) + 0.5
    ratio = block(x) / x
    assert torch.allclose(ratio, ratio[:, :, :1, :1].expand_as(ratio), atol=1e-6)


@pytest.mark.parametrize(
    "kwargs",
    [{"reduction": 0}, {"rd_channels": 0}, {"gate": "softmax"}, {"act": "tanhh"}],
)
def test_bad_options_raise_input_error(kwargs: dict) -> None:
    with pytest.raises(InputError):
        SqueezeExcite(16, **kwargs)


def test_matches_timm_and_torchvision_blocks() -> None:
    timm_layers = pytest.importorskip("timm.layers")
    tv_ops = pytest.importorskip("torchvision.ops")
    x = torch.randn(2, 32, 6, 6)
    ours = SqueezeExcite(32, rd_channels=8).eval()
    randomize(ours)
    theirs = timm_layers.SEModule(32, rd_channels=8).eval()
    theirs.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours(x), theirs(x))
    tv = tv_ops.SqueezeExcitation(32, 8, scale_activation=nn.Hardsigmoid).eval()
    ours_hs = SqueezeExcite(32, rd_channels=8, gate="hard_sigmoid").eval()
    ours_hs.load_state_dict(ours.state_dict())
    tv.load_state_dict(ours.state_dict())
    torch.testing.assert_close(ours_hs(x), tv(x))


@pytest.mark.parametrize("channels", [64, 160, 200, 1024])
def test_round_limit_reproduces_timm_semodule_width(channels: int) -> None:
    timm_layers = pytest.importorskip("timm.layers")
    theirs = timm_layers.SEModule(channels).fc1.out_channels  # rd_ratio 1/16, divisor 8, round_limit 0
    assert SqueezeExcite(channels, reduction=16, divisor=8, round_limit=0.0).rd_channels == theirs
    # The MobileNetV3 rule (default 0.9) rounds 160/16 = 10 up to 16, timm's SEModule down to 8.
    assert SqueezeExcite(160, reduction=16, divisor=8).rd_channels == 16
