"""Convolutional Block Attention Module (Woo et al., "CBAM", ECCV 2018).

Channel attention (Eq. 2):
    M_c(F) = sigma(MLP(AvgPool(F)) + MLP(MaxPool(F))),  one shared MLP C -> C/r -> C, ReLU inside
Spatial attention (Eq. 3):
    M_s(F) = sigma(f^{7x7}([AvgPool_c(F); MaxPool_c(F)])),  pooling over channels
CBAM (Eq. 1), channel first (the paper's best arrangement, Table 3):
    F' = M_c(F) * F,  F'' = M_s(F') * F'

The paper's Table 3 also compares spatial-first and parallel arrangements; all three are offered.
The official code concatenates ``[max, mean]`` and puts a BatchNorm after the 7x7 conv; timm
concatenates ``[mean, max]`` (the paper's order). Both are options here so either checkpoint loads.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from ..errors import InputError
from ._common import GateSpec, make_gate
from .excitation import ExcitationMLP

Arrangement = Literal["channel_first", "spatial_first", "parallel"]
PoolOrder = Literal["mean_max", "max_mean"]


class ChannelAttention(ExcitationMLP):
    """CBAM channel attention: avg- and max-pooled descriptors through one shared MLP, summed
    (arguments: :class:`ExcitationMLP`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = x.mean(dim=(2, 3), keepdim=self.use_conv)
        mx = x.amax(dim=(2, 3), keepdim=self.use_conv)
        # The MLP is shared, so its output bias enters twice (as in the official code).
        return self.scale(x, self.excite(avg) + self.excite(mx))


class SpatialAttention(nn.Module):
    """CBAM spatial attention: channel-wise mean and max, concatenated, k x k conv, gate."""

    def __init__(
        self,
        kernel_size: int = 7,
        batch_norm: bool = False,
        pool_order: PoolOrder = "mean_max",
        gate: GateSpec = "sigmoid",
        bias: bool | None = None,
    ) -> None:
        super().__init__()
        if kernel_size not in (3, 7):
            raise InputError(f"spatial kernel_size must be 7 (paper) or 3, got {kernel_size}")
        if pool_order not in ("mean_max", "max_mean"):
            raise InputError(f"pool_order must be 'mean_max' or 'max_mean', got {pool_order!r}")
        self.kernel_size = kernel_size
        self.pool_order = pool_order
        # A conv followed by BatchNorm needs no bias (official code: bias=False, then BN).
        conv_bias = (not batch_norm) if bias is None else bias
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2, bias=conv_bias)
        self.bn = nn.BatchNorm2d(1, eps=1e-5) if batch_norm else nn.Identity()
        self.gate = make_gate(gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = x.mean(dim=1, keepdim=True)
        mx = x.amax(dim=1, keepdim=True)
        pooled = torch.cat([avg, mx] if self.pool_order == "mean_max" else [mx, avg], dim=1)
        return x * self.gate(self.bn(self.conv(pooled)))

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, pool_order={self.pool_order}"


class CBAM(nn.Module):
    """Channel and spatial attention in the paper's channel-first order (or the ablation orders).

    ``parallel`` applies both maps to the input and sums the two refined features (Table 3).
    ``gate`` is both halves' gate; the spatial options are named ``spatial_*``/``pool_order``, and
    every other keyword (``rd_channels``, ``act``, ``bias``, ``use_conv``, ...) configures the channel
    half's MLP (:class:`ExcitationMLP`).
    """

    def __init__(
        self,
        channels: int,
        reduction: float = 16,
        *,
        gate: GateSpec = "sigmoid",
        arrangement: Arrangement = "channel_first",
        spatial_kernel_size: int = 7,
        spatial_batch_norm: bool = False,
        pool_order: PoolOrder = "mean_max",
        **channel_options: Any,
    ) -> None:
        super().__init__()
        if arrangement not in ("channel_first", "spatial_first", "parallel"):
            raise InputError(
                f"arrangement must be 'channel_first', 'spatial_first' or 'parallel', got {arrangement!r}"
            )
        self.arrangement = arrangement
        self.channel = ChannelAttention(channels, reduction, gate=gate, **channel_options)
        self.spatial = SpatialAttention(spatial_kernel_size, spatial_batch_norm, pool_order, gate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.arrangement == "channel_first":
            return self.spatial(self.channel(x))
        if self.arrangement == "spatial_first":
            return self.channel(self.spatial(x))
        return self.channel(x) + self.spatial(x)

    def extra_repr(self) -> str:
        return f"arrangement={self.arrangement}"
