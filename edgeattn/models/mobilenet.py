"""Small edge network: a MobileNetV3-Small-style CNN (Howard et al. 2019) with SE or CBAM.

Inverted residual blocks (1x1 expand, k x k depthwise, attention, 1x1 project) with the attention
block in the expanded space after the depthwise conv, where MobileNetV3 puts its SE. It keeps
MobileNetV3-Small's widths and strides but drops three of its eleven blocks, so that it exports
in about a second; stages are named ``layer1``..``layer4`` (output strides 4, 8, 16, 32) like the
ResNets, so the same probe points exist.

- ``se_mobilenet_small``: SE with hidden width make_divisible(C/4, 8) and a hard-sigmoid gate
  (MobileNetV3's choice, cheap on edge hardware).
- ``cbam_mobilenet_small``: CBAM (sigmoid gates, 7x7 spatial conv + BN) in the same slot.
- ``mobilenet_small``: no attention, the baseline for attention overhead.
"""

from __future__ import annotations

from typing import Any, Literal

import torch
from torch import nn

from ..layers import CBAM, SqueezeExcite
from ..layers._common import make_divisible
from ._registry import register_model
from .config import zoo_cfg

AttentionKind = Literal["se", "cbam", "none"]

# (kernel, expanded width, out width, attention?, activation, stride) per block, grouped in stages.
_STAGES: tuple[tuple[tuple[int, int, int, bool, str, int], ...], ...] = (
    ((3, 16, 16, True, "relu", 2),),
    ((3, 72, 24, False, "relu", 2), (3, 88, 24, False, "relu", 1)),
    ((5, 96, 40, True, "hswish", 2), (5, 240, 40, True, "hswish", 1), (5, 120, 48, True, "hswish", 1)),
    ((5, 288, 96, True, "hswish", 2), (5, 576, 96, True, "hswish", 1)),
)


def _act(name: str) -> nn.Module:
    return nn.ReLU(inplace=True) if name == "relu" else nn.Hardswish(inplace=True)


def _attention(kind: AttentionKind, channels: int, reduction: int) -> nn.Module:
    hidden = make_divisible(channels / reduction, 8)
    if kind == "se":
        return SqueezeExcite(channels, rd_channels=hidden, gate="hard_sigmoid")
    if kind == "cbam":
        return CBAM(channels, rd_channels=hidden, spatial_batch_norm=True)
    return nn.Identity()


class InvertedResidual(nn.Module):
    """1x1 expand (skipped when the width does not change), depthwise k x k, attention, 1x1 project."""

    def __init__(
        self, in_chs: int, exp_chs: int, out_chs: int, kernel: int, stride: int, act: str,
        attention: AttentionKind, reduction: int,
    ) -> None:
        super().__init__()
        self.has_residual = stride == 1 and in_chs == out_chs
        self.conv_pw: nn.Module
        self.bn1: nn.Module
        if exp_chs != in_chs:
            self.conv_pw = nn.Conv2d(in_chs, exp_chs, 1, bias=False)
            self.bn1 = nn.BatchNorm2d(exp_chs)
            self.act1 = _act(act)
        else:
            self.conv_pw, self.bn1, self.act1 = nn.Identity(), nn.Identity(), nn.Identity()
        self.conv_dw = nn.Conv2d(exp_chs, exp_chs, kernel, stride, kernel // 2, groups=exp_chs, bias=False)
        self.bn2 = nn.BatchNorm2d(exp_chs)
        self.act2 = _act(act)
        self.se = _attention(attention, exp_chs, reduction)
        self.conv_pwl = nn.Conv2d(exp_chs, out_chs, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.act1(self.bn1(self.conv_pw(x)))
        y = self.se(self.act2(self.bn2(self.conv_dw(y))))
        y = self.bn3(self.conv_pwl(y))
        return x + y if self.has_residual else y


class MobileNetSmall(nn.Module):
    """Stem (3x3/2, 16), four stages ``layer1``..``layer4``, 1x1 head to 576, pooled 1024-wide classifier."""

    # The stages are added with add_module (named by index); declared here for type checkers.
    layer1: nn.Sequential
    layer2: nn.Sequential
    layer3: nn.Sequential
    layer4: nn.Sequential

    def __init__(
        self, num_classes: int = 1000, attention: AttentionKind = "se", reduction: int = 4,
        in_chans: int = 3, drop_rate: float = 0.2,
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        # The evaluation recipe, in timm's form (``edgeattn.models.input_config`` reads it).
        self.pretrained_cfg = zoo_cfg(in_chans)
        self.conv_stem = nn.Conv2d(in_chans, 16, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.act1 = nn.Hardswish(inplace=True)
        chs = 16
        for index, stage in enumerate(_STAGES, start=1):
            blocks = []
            for kernel, exp, out, use_attn, act, stride in stage:
                kind: AttentionKind = attention if use_attn else "none"
                blocks.append(InvertedResidual(chs, exp, out, kernel, stride, act, kind, reduction))
                chs = out
            self.add_module(f"layer{index}", nn.Sequential(*blocks))
        self.conv_head = nn.Conv2d(chs, 576, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(576)
        self.act2 = nn.Hardswish(inplace=True)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_pool = nn.Linear(576, 1024)
        self.act3 = nn.Hardswish(inplace=True)
        self.dropout = nn.Dropout(drop_rate)
        self.num_features = 1024
        self.fc = nn.Linear(1024, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.weight.device.type != "meta":
                nn.init.kaiming_normal_(m.weight, mode="fan_out")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.act1(self.bn1(self.conv_stem(x)))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.act2(self.bn2(self.conv_head(x)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.global_pool(self.forward_features(x)).flatten(1)
        return self.fc(self.dropout(self.act3(self.conv_pool(x))))


def build_mobilenet_small(attention: AttentionKind = "none", num_classes: int = 1000, **kwargs: Any) -> MobileNetSmall:
    """A :class:`MobileNetSmall` with ``attention`` in its blocks, in eval mode."""
    return MobileNetSmall(num_classes=num_classes, attention=attention, **kwargs).eval()


# The registry, written out as timm and torchvision do (name = function name, description = first
# docstring line).
@register_model
def mobilenet_small(num_classes: int = 1000, **kwargs: Any) -> MobileNetSmall:
    """Edge-sized MobileNetV3-Small-style CNN (no attention); exports in about a second."""
    return build_mobilenet_small("none", num_classes=num_classes, **kwargs)


@register_model
def se_mobilenet_small(num_classes: int = 1000, **kwargs: Any) -> MobileNetSmall:
    """Edge-sized MobileNetV3-Small-style CNN (SE, hard-sigmoid gate); exports in about a second."""
    return build_mobilenet_small("se", num_classes=num_classes, **kwargs)


@register_model
def cbam_mobilenet_small(num_classes: int = 1000, **kwargs: Any) -> MobileNetSmall:
    """Edge-sized MobileNetV3-Small-style CNN (CBAM); exports in about a second."""
    return build_mobilenet_small("cbam", num_classes=num_classes, **kwargs)
