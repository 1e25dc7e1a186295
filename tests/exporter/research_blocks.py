"""The attention blocks as the papers' own code writes them, re-implemented small for the tests.

Each class reproduces the forward pass (the torch ops, in order) of the named upstream file, so
the exporters see the same graph the research code produces; names follow upstream so
``find_attention_blocks`` recognises them as it would in a user's project. Nothing here is
imported from those projects, and no pretrained weights are involved.

- ``SELayer``: moskomule/senet.pytorch, ``senet/se_module.py`` (AdaptiveAvgPool2d, bias-free
  Linear FCs, ``y.view(b, c, 1, 1)``, ``x * y.expand_as(x)``).
- ``SEModule``: Cadene/pretrained-models.pytorch, ``pretrainedmodels/models/senet.py`` (1x1
  conv FCs with bias).
- ``SEBasicBlock``, ``SEBottleneck``, ``senet_pytorch_se_resnet18`` / ``_50``: moskomule/senet.pytorch,
  ``senet/se_resnet.py`` (torchvision's ``ResNet`` with ``SEBasicBlock`` / ``SEBottleneck``, an
  ``SELayer(C, reduction=16)`` after the last BN, ``avgpool`` replaced by
  ``AdaptiveAvgPool2d(1)``): its state dict is that repository's checkpoint layout
  (``layerL.B.se.fc.{0,2}.weight``, hidden width ``C // 16``: 4 in ResNet-18's ``layer1``).
- ``OfficialCBAMBottleneck``, ``official_cbam_resnet50``: Jongchan/attention-module,
  ``MODELS/model_resnet.py`` (``Bottleneck`` with ``use_cbam``: ``CBAM(planes * 4, 16)`` after
  ``bn3`` and after the downsample, before the add) on torchvision's ``ResNet`` scaffolding; the
  official ImageNet model's ``AvgPool2d(7)`` head is replaced by the adaptive pool so that it runs
  below 224 px (the head is not part of the attention).
- ``BasicConv``, ``Flatten``, ``ChannelGate``, ``ChannelPool``, ``SpatialGate``, ``CBAM``:
  Jongchan/attention-module, ``MODELS/cbam.py`` (the official CBAM code: ``F.avg_pool2d`` /
  ``F.max_pool2d`` with the kernel taken from ``x.size()``, a Flatten + Linear MLP called once
  per pooling, ``sigmoid(..).unsqueeze(2).unsqueeze(3).expand_as(x)``, ``[max, mean]`` channel
  pooling by ``torch.max(x, 1)[0].unsqueeze(1)``, and a 7x7 conv + BatchNorm spatial gate).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SELayer(nn.Module):
    """senet.pytorch ``SELayer``."""

    def __init__(self, channel: int, reduction: int = 16) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Sequential(
            nn.Linear(channel, channel // reduction, bias=False),
            nn.ReLU(inplace=True),
            nn.Linear(channel // reduction, channel, bias=False),
            nn.Sigmoid(),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, _, _ = x.size()
        y = self.avg_pool(x).view(b, c)
        y = self.fc(y).view(b, c, 1, 1)
        return x * y.expand_as(x)


class SEBasicBlock(nn.Module):
    """senet.pytorch ``SEBasicBlock`` (torchvision ``BasicBlock`` signature, SE before the add)."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1, norm_layer: object = None,
                 *, reduction: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.se = SELayer(planes, reduction)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.se(self.bn2(self.conv2(out)))
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return self.relu(out)


class SEBottleneck(nn.Module):
    """senet.pytorch ``SEBottleneck`` (stride on the 3x3 conv, SE after ``bn3``)."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1, norm_layer: object = None,
                 *, reduction: int = 16) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.se = SELayer(planes * 4, reduction)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.se(self.bn3(self.conv3(out)))
        if self.downsample is not None:
            residual = self.downsample(x)
        out += residual
        return self.relu(out)


def senet_pytorch_se_resnet18(num_classes: int = 1000) -> nn.Module:
    """senet.pytorch ``se_resnet18``: torchvision ``ResNet(SEBasicBlock, [2, 2, 2, 2])``."""
    from torchvision.models import ResNet

    model = ResNet(SEBasicBlock, [2, 2, 2, 2], num_classes=num_classes)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    return model


def senet_pytorch_se_resnet50(num_classes: int = 1000) -> nn.Module:
    """senet.pytorch ``se_resnet50``: torchvision ``ResNet(SEBottleneck, [3, 4, 6, 3])``."""
    from torchvision.models import ResNet

    model = ResNet(SEBottleneck, [3, 4, 6, 3], num_classes=num_classes)
    model.avgpool = nn.AdaptiveAvgPool2d(1)
    return model


class SEModule(nn.Module):
    """pretrainedmodels ``senet.SEModule``."""

    def __init__(self, channels: int, reduction: int) -> None:
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, channels // reduction, kernel_size=1, padding=0)
        self.relu = nn.ReLU(inplace=True)
        self.fc2 = nn.Conv2d(channels // reduction, channels, kernel_size=1, padding=0)
        self.sigmoid = nn.Sigmoid()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        module_input = x
        x = self.avg_pool(x)
        x = self.fc1(x)
        x = self.relu(x)
        x = self.fc2(x)
        x = self.sigmoid(x)
        return module_input * x


class BasicConv(nn.Module):
    """attention-module ``BasicConv``: conv, optional BatchNorm (momentum 0.01), optional ReLU."""

    def __init__(self, in_planes: int, out_planes: int, kernel_size: int, stride: int = 1, padding: int = 0,
                 relu: bool = True, bn: bool = True, bias: bool = False) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_planes, out_planes, kernel_size, stride=stride, padding=padding, bias=bias)
        self.bn = nn.BatchNorm2d(out_planes, eps=1e-5, momentum=0.01, affine=True) if bn else None
        self.relu = nn.ReLU() if relu else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


class Flatten(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.size(0), -1)


class ChannelGate(nn.Module):
    """attention-module ``ChannelGate`` with its default ``pool_types=['avg', 'max']``."""

    def __init__(self, gate_channels: int, reduction_ratio: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(
            Flatten(),
            nn.Linear(gate_channels, gate_channels // reduction_ratio),
            nn.ReLU(),
            nn.Linear(gate_channels // reduction_ratio, gate_channels),
        )
        self.pool_types = ["avg", "max"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        channel_att_sum = None
        for pool_type in self.pool_types:
            if pool_type == "avg":
                pooled = F.avg_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
            else:
                pooled = F.max_pool2d(x, (x.size(2), x.size(3)), stride=(x.size(2), x.size(3)))
            channel_att_raw = self.mlp(pooled)
            channel_att_sum = channel_att_raw if channel_att_sum is None else channel_att_sum + channel_att_raw
        scale = torch.sigmoid(channel_att_sum).unsqueeze(2).unsqueeze(3).expand_as(x)
        return x * scale


class ChannelPool(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)


class SpatialGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        kernel_size = 7
        self.compress = ChannelPool()
        self.spatial = BasicConv(2, 1, kernel_size, stride=1, padding=(kernel_size - 1) // 2, relu=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x_compress = self.compress(x)
        x_out = self.spatial(x_compress)
        scale = torch.sigmoid(x_out)  # broadcasting
        return x * scale


class CBAM(nn.Module):
    def __init__(self, gate_channels: int, reduction_ratio: int = 16) -> None:
        super().__init__()
        self.ChannelGate = ChannelGate(gate_channels, reduction_ratio)
        self.SpatialGate = SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


class OfficialCBAMBottleneck(nn.Module):
    """attention-module ``model_resnet.Bottleneck`` with ``use_cbam=True``."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 groups: int = 1, base_width: int = 64, dilation: int = 1, norm_layer: object = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride
        self.cbam = CBAM(planes * 4, 16)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        residual = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            residual = self.downsample(x)
        out = self.cbam(out)
        out += residual
        return self.relu(out)


def official_cbam_resnet50(num_classes: int = 1000) -> nn.Module:
    """attention-module ``ResidualNet('ImageNet', 50, num_classes, 'CBAM')`` (adaptive head pool)."""
    from torchvision.models import ResNet

    return ResNet(OfficialCBAMBottleneck, [3, 4, 6, 3], num_classes=num_classes)


class TinyNet(nn.Module):
    """Two stages (so the pooling kernel differs per stage), ``attention(channels)`` after each."""

    def __init__(self, attention: type[nn.Module] | None, num_classes: int = 5, **kwargs: int) -> None:
        super().__init__()
        self.stem = BasicConv(3, 16, 3, stride=2, padding=1)
        self.att1 = attention(16, **kwargs) if attention else nn.Identity()
        self.down = BasicConv(16, 32, 3, stride=2, padding=1)
        self.att2 = attention(32, **kwargs) if attention else nn.Identity()
        self.head = nn.Linear(32, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.att1(self.stem(x))
        x = self.att2(self.down(x))
        return self.head(x.mean((2, 3)))


def randomise_batchnorm(model: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm trained-looking statistics and affine terms (eval mode)."""
    g = torch.Generator().manual_seed(seed)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.2)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.2)
    return model.eval()


def se_layer_net() -> nn.Module:
    torch.manual_seed(0)
    return randomise_batchnorm(TinyNet(SELayer, reduction=4))


def se_module_net() -> nn.Module:
    torch.manual_seed(0)
    return randomise_batchnorm(TinyNet(SEModule, reduction=4))


def cbam_net() -> nn.Module:
    torch.manual_seed(0)
    return randomise_batchnorm(TinyNet(CBAM, reduction_ratio=4))
