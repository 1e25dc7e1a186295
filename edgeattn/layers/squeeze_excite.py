"""Squeeze-and-Excitation block (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018).

Eq. 2 squeeze:    z_c = 1/(H W) sum_{i,j} u_c(i, j)                 (global average pool)
Eq. 3 excitation: s = sigma(W2 delta(W1 z)),  W1: C -> C/r, W2: C/r -> C, delta = ReLU
Eq. 4 scale:      x~_c = s_c * u_c

The FCs are 1x1 convolutions by default so that state-dict keys (``fc1.weight`` of shape
[C/r, C, 1, 1]) match timm's ``SEModule`` and torchvision's ``SqueezeExcitation``; ``use_conv=False``
gives ``nn.Linear`` FCs (weights [C/r, C]) as in the official SENet code ports.
"""

from __future__ import annotations

import torch
from torch import nn

from ._common import GateSpec, hidden_width, make_act, make_gate


class SqueezeExcite(nn.Module):
    """Channel attention by squeeze, excitation and scale.

    Args:
        channels: C, channels of the input feature map.
        reduction: r in C/r (paper default 16). Ignored when ``rd_channels`` is given.
        rd_channels: explicit hidden width, overriding ``reduction``.
        min_channels: lower bound of the hidden width.
        divisor: round the hidden width to a multiple of this (timm uses 8; 1 = exact C/r).
        act: excitation activation (paper: ReLU).
        gate: ``sigmoid`` (paper) or ``hard_sigmoid`` (MobileNetV3).
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
            self.fc1 = nn.Conv2d(channels, self.rd_channels, kernel_size=1, bias=bias)
            self.fc2 = nn.Conv2d(self.rd_channels, channels, kernel_size=1, bias=bias)
        else:
            self.fc1 = nn.Linear(channels, self.rd_channels, bias=bias)
            self.fc2 = nn.Linear(self.rd_channels, channels, bias=bias)
        self.act = make_act(act)
        self.gate = make_gate(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.mean(dim=(2, 3), keepdim=self.use_conv)  # Eq. 2
        excited = self.fc2(self.act(self.fc1(squeezed)))  # Eq. 3 before the gate
        scale = self.gate(excited)
        if not self.use_conv:
            scale = scale[:, :, None, None]
        return x * scale  # Eq. 4

    def extra_repr(self) -> str:
        return f"channels={self.channels}, rd_channels={self.rd_channels}, use_conv={self.use_conv}"
