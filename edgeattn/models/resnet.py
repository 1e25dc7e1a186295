"""ResNet (He et al. 2016) with an attention slot: plain, SE (Hu et al. 2018) and CBAM (Woo et al. 2018).

Layout follows torchvision/timm ("ResNet v1.5"): the stride of a bottleneck sits on its 3x3 conv.
The attention block sits after the last BatchNorm of the residual branch and before the addition,
as in both papers (SENet Fig. 3, CBAM Fig. 3). State-dict keys are timm's ``resnet*``/``seresnet*``
keys (``conv1``, ``bn1``, ``layerL.B.{conv1,bn1,...,se,downsample.0/1}``, ``fc``), so timm
checkpoints load strictly; the CBAM models keep the block in the same ``se`` slot (timm's name for
its attention slot) as ``se.channel.{fc1,fc2}`` and ``se.spatial.{conv,bn}``.

``stride_in_1x1=True`` moves the stride to the first 1x1 conv of a bottleneck (the original
Caffe ResNet, and Cadene's SE-ResNet ports). The papers' GFLOPs were counted on that layout:
ResNet-50 3.858, +SE 3.860, +CBAM 3.864 GMACs at 224 (CBAM paper, Table 4) are what this
module gives with ``stride_in_1x1=True``; the default v1.5 layout costs 4.09 GMACs.

SE hidden width follows a width rule (``se_width``), because the layouts that checkpoints come in
disagree on it: ``"timm"`` (default) is timm's C/r rounded to a multiple of 8 (64 -> 8, 256 -> 16),
so timm ``seresnet*`` checkpoints load; ``"floor"`` is ``C // r`` (64 -> 4), what the SENet paper,
senet.pytorch and Cadene's pretrainedmodels use. The two differ only where C/r < 8 or is not a
multiple of 8 (the first stage of SE-ResNet-18/34); ``load_model`` picks the rule a checkpoint
needs (``convert.se_width_rule``). CBAM's width is the official code's ``C // 16``, and its
spatial conv is followed by BatchNorm as in the official code.
"""

from __future__ import annotations

from typing import Any, Callable, Literal, Optional

import torch
from torch import nn

from ..errors import InputError
from ..layers import CBAM, SqueezeExcite
from ..layers._common import make_divisible
from ._registry import register_model
from .config import zoo_cfg

AttentionKind = Literal["se", "cbam", "none"]
SEWidthRule = Literal["timm", "floor"]
AttnFactory = Callable[[int], nn.Module]

SE_WIDTH_RULES: tuple[str, ...] = ("timm", "floor")


def se_hidden_width(channels: int, reduction: int, rule: str = "timm") -> int:
    """SE hidden width of a ``channels``-wide block under ``rule`` (see the module docstring).

    ``"timm"``: timm SEModule's ``make_divisible(C / r, 8, round_limit=0)``; ``"floor"``: ``C // r``
    (senet.pytorch ``SELayer``, pretrainedmodels ``SEModule``), at least 1.
    """
    if rule == "timm":
        return make_divisible(channels / reduction, 8, round_limit=0.0)
    if rule == "floor":
        return max(1, channels // reduction)
    raise InputError(f"se_width must be one of {list(SE_WIDTH_RULES)}, received {rule!r}")


def attention_factory(
    kind: AttentionKind, reduction: int = 16, se_width: SEWidthRule = "timm", **options: Any
) -> Optional[AttnFactory]:
    """Callable ``channels -> block`` for the attention slot, or None for a plain ResNet."""
    if kind == "none":
        return None
    if kind == "se":
        se_hidden_width(64, reduction, se_width)  # an unknown rule fails here, before any block is built
        # Explicit rd_channels so the hidden width (the checkpoint's fc1 shape) is the rule's,
        # not whatever SqueezeExcite's own default rounding gives.
        return lambda c: SqueezeExcite(c, rd_channels=se_hidden_width(c, reduction, se_width), **options)
    if kind == "cbam":
        opts = {"spatial_batch_norm": True, **options}
        return lambda c: CBAM(c, rd_channels=max(1, c // reduction), **opts)
    raise ValueError(f"unknown attention kind {kind!r}")


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34); attention after ``bn2``, before the residual add."""

    expansion = 1

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
        attn: AttnFactory | None = None,
    ) -> None:
        super().__init__()
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(out)
        self.se = attn(out) if attn is not None else nn.Identity()
        self.act2 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.se(self.bn2(self.conv2(y)))
        return self.act2(y + shortcut)


class Bottleneck(nn.Module):
    """1x1 -> 3x3 (strided) -> 1x1 (ResNet-50/101); attention after ``bn3``, before the add."""

    expansion = 4

    def __init__(
        self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
        attn: AttnFactory | None = None, stride_in_1x1: bool = False,
    ) -> None:
        super().__init__()
        out = planes * self.expansion
        s1, s3 = (stride, 1) if stride_in_1x1 else (1, stride)
        self.conv1 = nn.Conv2d(inplanes, planes, 1, stride=s1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.act1 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=s3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.act2 = nn.ReLU(inplace=True)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.se = attn(out) if attn is not None else nn.Identity()
        self.act3 = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        y = self.act1(self.bn1(self.conv1(x)))
        y = self.act2(self.bn2(self.conv2(y)))
        y = self.se(self.bn3(self.conv3(y)))
        return self.act3(y + shortcut)


class ResNet(nn.Module):
    """ImageNet ResNet: 7x7/2 stem, 3x3/2 max pool, four stages, global average pool, ``fc``.

    Stage outputs are the modules ``layer1``..``layer4`` (the export's probe points).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        attn: AttnFactory | None = None,
        in_chans: int = 3,
        stride_in_1x1: bool = False,
        widths: tuple[int, int, int, int] = (64, 128, 256, 512),
    ) -> None:
        super().__init__()
        self.num_classes = num_classes
        # The evaluation recipe, in timm's form (``edgeattn.models.input_config`` reads it).
        self.pretrained_cfg = zoo_cfg(in_chans)
        if stride_in_1x1 and block is not Bottleneck:
            raise InputError(f"stride_in_1x1 applies to bottleneck ResNets (50/101), received {block.__name__} blocks")
        self._block_kwargs = {"stride_in_1x1": True} if stride_in_1x1 else {}
        self.conv1 = nn.Conv2d(in_chans, widths[0], 7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        self.act1 = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        self.inplanes = widths[0]
        self.layer1 = self._make_layer(block, widths[0], layers[0], 1, attn)
        self.layer2 = self._make_layer(block, widths[1], layers[1], 2, attn)
        self.layer3 = self._make_layer(block, widths[2], layers[2], 2, attn)
        self.layer4 = self._make_layer(block, widths[3], layers[3], 2, attn)
        self.global_pool = nn.AdaptiveAvgPool2d(1)
        self.num_features = widths[3] * block.expansion
        self.fc = nn.Linear(self.num_features, num_classes)
        self._init_weights()

    def _make_layer(
        self, block: type[BasicBlock] | type[Bottleneck], planes: int, blocks: int, stride: int,
        attn: AttnFactory | None,
    ) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride, bias=False),
                nn.BatchNorm2d(planes * block.expansion),
            )
        layers = [block(self.inplanes, planes, stride, downsample, attn, **self._block_kwargs)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes, 1, None, attn) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def _init_weights(self) -> None:
        # He init for convs; BN gamma=1 everywhere. Unlike timm we do NOT zero the last BN of each
        # branch: a random-weight model would then bypass every attention block, which makes
        # export/parity tests on untrained models meaningless.
        for m in self.modules():
            if isinstance(m, nn.Conv2d) and m.weight.device.type != "meta":
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        return self.layer4(self.layer3(self.layer2(self.layer1(x))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.global_pool(self.forward_features(x)).flatten(1)
        return self.fc(x)


_DEPTHS: dict[int, tuple[type[BasicBlock] | type[Bottleneck], tuple[int, int, int, int]]] = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
}


def build_resnet(
    depth: int,
    attention: AttentionKind = "none",
    num_classes: int = 1000,
    reduction: int = 16,
    attn_kwargs: dict[str, Any] | None = None,
    in_chans: int = 3,
    stride_in_1x1: bool = False,
    se_width: SEWidthRule = "timm",
) -> ResNet:
    """A ResNet-``depth`` (18/34/50/101) with ``attention`` in every residual block.

    ``reduction`` is the SE/CBAM ratio r (16); ``attn_kwargs`` go to the block (e.g.
    ``{"arrangement": "parallel"}`` for CBAM, ``{"gate": "hard_sigmoid"}`` for SE);
    ``se_width`` is the SE hidden-width rule (``"timm"`` or ``"floor"``, module docstring).
    """
    if depth not in _DEPTHS:
        raise InputError(f"ResNet depth must be one of {sorted(_DEPTHS)}, got {depth}")
    if se_width != "timm" and attention != "se":
        raise InputError(f"se_width applies to SE models, received se_width={se_width!r} for attention {attention!r}")
    block, layers = _DEPTHS[depth]
    attn = attention_factory(attention, reduction, se_width, **(attn_kwargs or {}))
    model = ResNet(block, layers, num_classes=num_classes, attn=attn, in_chans=in_chans, stride_in_1x1=stride_in_1x1)
    return model.eval()


def build_tiny_resnet(
    attention: AttentionKind = "none", num_classes: int = 1000, reduction: int = 4,
    attn_kwargs: dict[str, Any] | None = None, in_chans: int = 3,
) -> ResNet:
    """One basic block per stage, widths 16/32/64/128: the smallest net with every stage and probe.

    Meant for unit tests and smoke runs (exports in about a second); r = 4 so that the narrow
    blocks keep a non-trivial hidden width.
    """
    attn = attention_factory(attention, reduction, **(attn_kwargs or {}))
    model = ResNet(BasicBlock, (1, 1, 1, 1), num_classes=num_classes, attn=attn, in_chans=in_chans, widths=(16, 32, 64, 128))
    return model.eval()


# The registry: one factory per name, written out as timm and torchvision do (the name is the
# function name, the first docstring line the description `edgeattn models` shows).

@register_model
def resnet_tiny(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """Tiny 4-block ResNet (no attention, widths 16-128) for tests and smoke runs."""
    return build_tiny_resnet("none", num_classes=num_classes, **kwargs)


@register_model
def se_resnet_tiny(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """Tiny 4-block ResNet (SE, widths 16-128) for tests and smoke runs."""
    return build_tiny_resnet("se", num_classes=num_classes, **kwargs)


@register_model
def cbam_resnet_tiny(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """Tiny 4-block ResNet (CBAM, widths 16-128) for tests and smoke runs."""
    return build_tiny_resnet("cbam", num_classes=num_classes, **kwargs)


@register_model
def resnet18(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-18 (He et al. 2016), stride on the 3x3 conv, timm key layout."""
    return build_resnet(18, "none", num_classes=num_classes, **kwargs)


@register_model
def se_resnet18(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """SE-ResNet-18 (Hu et al. 2018), stride on the 3x3 conv, timm key layout."""
    return build_resnet(18, "se", num_classes=num_classes, **kwargs)


@register_model
def cbam_resnet18(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """CBAM-ResNet-18 (Woo et al. 2018), stride on the 3x3 conv, timm key layout."""
    return build_resnet(18, "cbam", num_classes=num_classes, **kwargs)


@register_model
def resnet34(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-34 (He et al. 2016), stride on the 3x3 conv, timm key layout."""
    return build_resnet(34, "none", num_classes=num_classes, **kwargs)


@register_model
def se_resnet34(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """SE-ResNet-34 (Hu et al. 2018), stride on the 3x3 conv, timm key layout."""
    return build_resnet(34, "se", num_classes=num_classes, **kwargs)


@register_model
def cbam_resnet34(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """CBAM-ResNet-34 (Woo et al. 2018), stride on the 3x3 conv, timm key layout."""
    return build_resnet(34, "cbam", num_classes=num_classes, **kwargs)


@register_model
def resnet50(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-50 (He et al. 2016), stride on the 3x3 conv, timm key layout."""
    return build_resnet(50, "none", num_classes=num_classes, **kwargs)


@register_model
def se_resnet50(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """SE-ResNet-50 (Hu et al. 2018), stride on the 3x3 conv, timm key layout."""
    return build_resnet(50, "se", num_classes=num_classes, **kwargs)


@register_model
def cbam_resnet50(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """CBAM-ResNet-50 (Woo et al. 2018), stride on the 3x3 conv, timm key layout."""
    return build_resnet(50, "cbam", num_classes=num_classes, **kwargs)


@register_model
def resnet101(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """ResNet-101 (He et al. 2016), stride on the 3x3 conv, timm key layout."""
    return build_resnet(101, "none", num_classes=num_classes, **kwargs)


@register_model
def se_resnet101(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """SE-ResNet-101 (Hu et al. 2018), stride on the 3x3 conv, timm key layout."""
    return build_resnet(101, "se", num_classes=num_classes, **kwargs)


@register_model
def cbam_resnet101(num_classes: int = 1000, **kwargs: Any) -> ResNet:
    """CBAM-ResNet-101 (Woo et al. 2018), stride on the 3x3 conv, timm key layout."""
    return build_resnet(101, "cbam", num_classes=num_classes, **kwargs)
