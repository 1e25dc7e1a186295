"""The excitation MLP that SE (Hu et al. 2018, Eq. 3) and CBAM's channel attention (Woo et al.
2018, Eq. 2) share: ``C -> C/r -> C`` with an activation between and a gate after,

    s = gate(W2 act(W1 z)),  W1: C -> C/r,  W2: C/r -> C,

applied to pooled descriptors ``z`` and used to scale the input per channel. The two blocks differ
only in the descriptors (SE: the mean; CBAM: mean and max through the same MLP, summed), so they
subclass :class:`ExcitationMLP` and write only their ``forward``. The layers stay attributes of the
block itself so that checkpoint keys are ``fc1.*``/``fc2.*`` as in timm's ``SEModule``/``ChannelAttn``
and torchvision's ``SqueezeExcitation`` (``tests/layers/test_state_dict_keys.py``).

The FCs are 1x1 convolutions by default (weights [C/r, C, 1, 1], the timm/torchvision layout);
``use_conv=False`` gives ``nn.Linear`` FCs (weights [C/r, C]) as in the official code ports.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import GateSpec, hidden_width, make_act, make_gate


class ExcitationMLP(nn.Module):
    """Base of the channel-attention blocks: the excitation MLP and the per-channel scaling.

    Args:
        channels: C, channels of the input feature map.
        reduction: r in C/r (both papers' default 16). Ignored when ``rd_channels`` is given.
        rd_channels: explicit hidden width, overriding ``reduction``.
        min_channels: lower bound of the hidden width.
        divisor: round the hidden width to a multiple of this (timm uses 8; 1 = exact C/r).
        act: excitation activation (both papers: ReLU).
        gate: ``sigmoid`` (papers) or ``hard_sigmoid`` (MobileNetV3).
        bias: bias on both FCs.
        use_conv: FCs as 1x1 convolutions (timm/torchvision layout) instead of ``nn.Linear``.
        round_limit: with ``divisor > 1``, how far below C/r the rounding may go (0.9, the
            MobileNetV3 rule; 0.0 reproduces timm's ``SEModule``).
    """

    def __init__(
        self,
        channels: int,
        reduction: float = 16,
        rd_channels: int | None = None,
        min_channels: int = 1,
        divisor: int = 1,
        act: GateSpec = "relu",
        gate: GateSpec = "sigmoid",
        bias: bool = True,
        use_conv: bool = True,
        round_limit: float = 0.9,
    ) -> None:
        super().__init__()
        self.channels = channels
        self.rd_channels = hidden_width(channels, reduction, rd_channels, divisor, min_channels, round_limit)
        self.use_conv = use_conv
        if use_conv:
            self.fc1: nn.Module = nn.Conv2d(channels, self.rd_channels, kernel_size=1, bias=bias)
            self.fc2: nn.Module = nn.Conv2d(self.rd_channels, channels, kernel_size=1, bias=bias)
        else:
            self.fc1 = nn.Linear(channels, self.rd_channels, bias=bias)
            self.fc2 = nn.Linear(self.rd_channels, channels, bias=bias)
        self.act = make_act(act)
        self.gate = make_gate(gate)

    def excite(self, descriptor: torch.Tensor) -> torch.Tensor:
        """``W2 act(W1 z)``: the MLP before the gate."""
        return self.fc2(self.act(self.fc1(descriptor)))

    def scale(self, x: torch.Tensor, excitation: torch.Tensor) -> torch.Tensor:
        """``x * gate(excitation)``, the gate broadcast over H and W."""
        weights = self.gate(excitation)
        if not self.use_conv:
            weights = weights[:, :, None, None]
        return x * weights

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_channels={self.rd_channels}, use_conv={self.use_conv}"
