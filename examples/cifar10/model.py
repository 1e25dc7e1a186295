"""CIFAR-style attention networks for 3x32x32 images: SE-ResNet-20, CBAM-ResNet-20 and a
MobileNetV3-style net with hard-sigmoid SE.

Load them through the ``path/file.py:factory`` model source::

    edgeattn export examples/cifar10/model.py:se_resnet20 -c examples/cifar10/se_resnet20.safetensors -o se.onnx

ResNet-20 is He et al. 2016, section 4.2 (3 stages of 3 basic blocks, 16/32/64 channels at
32/16/8 pixels), with 1x1-conv projection shortcuts (option B) where the shape changes. The
attention block sits at the end of the residual branch, before the addition, as in SE-ResNet
(Hu et al. 2018, Fig. 3) and CBAM-ResNet (Woo et al. 2018, Fig. 3).

The MobileNetV3-style net follows Howard et al. 2019 (inverted residuals, depthwise convs,
hard-swish in the later blocks, SE with a hard-sigmoid gate and hidden width C/4 inside the
expanded block), with the strides of a 32x32 input: a stride-1 stem, then blocks at 16 and 8
pixels.

Module paths are what the folded ONNX nodes are named after (``layer2.1.attn`` etc.).
"""

from __future__ import annotations

import torch
from torch import nn

from edgeattn.layers import CBAM, SqueezeExcite

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

# Preprocessing in timm's ``pretrained_cfg`` form (read by the export provenance and so by
# `quantize --calibration` and `validate --inputs` on image folders): the images are 32x32 already,
# so resizing is the identity and crop_pct is 1. Mean is the training split's mean pixel (its
# README: 125.3/122.9/113.9); std is the usual CIFAR-10 per-channel std.
INPUT_CONFIG = {
    "input_size": (3, 32, 32),
    "mean": (125.3 / 255, 122.9 / 255, 113.9 / 255),
    "std": (0.2470, 0.2435, 0.2616),
    "interpolation": "bilinear",
    "crop_pct": 1.0,
    "num_classes": 10,
}


def _conv_bn(cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


class BasicBlock(nn.Module):
    """conv3x3-bn-relu, conv3x3-bn, attention, + shortcut, relu (He et al. 2016 Fig. 2 + attention)."""

    def __init__(self, cin: int, cout: int, stride: int, attention: str) -> None:
        super().__init__()
        self.conv1 = nn.Sequential(*_conv_bn(cin, cout, stride=stride), nn.ReLU(inplace=True))
        self.conv2 = nn.Sequential(*_conv_bn(cout, cout))
        # r = 4: at 16-64 channels the paper's r = 16 leaves 1-4 hidden units.
        self.attn = SqueezeExcite(cout, reduction=4) if attention == "se" else CBAM(cout, reduction=4)
        self.shortcut = (
            nn.Sequential(*_conv_bn(cin, cout, kernel=1, stride=stride)) if stride != 1 or cin != cout else nn.Identity()
        )
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.attn(self.conv2(self.conv1(x))) + self.shortcut(x))


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 inputs with an attention block in every basic block."""

    def __init__(self, attention: str, depth: int = 20, width: int = 16, num_classes: int = 10) -> None:
        super().__init__()
        if (depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 (20, 32, 44, ...), got {depth}")
        n = (depth - 2) // 6
        self.stem = nn.Sequential(*_conv_bn(3, width), nn.ReLU(inplace=True))
        stages, cin = [], width
        for i, cout in enumerate((width, 2 * width, 4 * width)):
            blocks = [BasicBlock(cin if j == 0 else cout, cout, 2 if (i and j == 0) else 1, attention) for j in range(n)]
            stages.append(nn.Sequential(*blocks))
            cin = cout
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(cin, num_classes)
        self.pretrained_cfg = dict(INPUT_CONFIG, num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer3(self.layer2(self.layer1(self.stem(x))))
        return self.fc(torch.flatten(self.pool(x), 1))


def se_resnet20(num_classes: int = 10) -> CifarResNet:
    """SE-ResNet-20 (random weights, eval mode): ``examples/cifar10/model.py:se_resnet20``."""
    return CifarResNet("se", 20, num_classes=num_classes).eval()


def cbam_resnet20(num_classes: int = 10) -> CifarResNet:
    """CBAM-ResNet-20 (random weights, eval mode): ``examples/cifar10/model.py:cbam_resnet20``."""
    return CifarResNet("cbam", 20, num_classes=num_classes).eval()


class InvertedResidual(nn.Module):
    """MobileNetV3 block (Howard et al. 2019, Fig. 4): 1x1 expand, k x k depthwise, SE, 1x1 project."""

    def __init__(self, cin: int, expanded: int, cout: int, kernel: int, stride: int, se: bool, act: str) -> None:
        super().__init__()
        make_act = nn.Hardswish if act == "hswish" else nn.ReLU
        self.expand = nn.Sequential(*_conv_bn(cin, expanded, kernel=1), make_act(inplace=True))
        self.depthwise = nn.Sequential(*_conv_bn(expanded, expanded, kernel, stride, groups=expanded), make_act(inplace=True))
        # The paper's SE: hidden width C/4 of the expanded channels, hard-sigmoid gate.
        self.attn = SqueezeExcite(expanded, reduction=4, gate="hard_sigmoid") if se else nn.Identity()
        self.project = nn.Sequential(*_conv_bn(expanded, cout, kernel=1))
        self.residual = stride == 1 and cin == cout

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.project(self.attn(self.depthwise(self.expand(x))))
        return x + y if self.residual else y


# (kernel, expanded, out, SE, activation, stride) per block; MobileNetV3-Small's pattern (SE and
# hard-swish in the later blocks), widened for 10 classes at 32x32 and kept shallow for CPU training:
# depthwise convs train about 3x slower per FLOP than dense ones on a CPU, so the blocks run at
# 16 and 8 pixels (only the stem at 32) and use 3x3 kernels (measured, 2 cores, batch 128: 422
# images/s; 5x5 kernels and two 32-pixel blocks: 203).
MOBILENET_BLOCKS = (
    (3, 64, 32, False, "relu", 2),
    (3, 128, 32, True, "relu", 1),
    (3, 192, 64, True, "hswish", 2),
    (3, 256, 64, True, "hswish", 1),
    (3, 384, 96, True, "hswish", 1),
    (3, 384, 96, True, "hswish", 1),
)


class CifarMobileNetV3(nn.Module):
    """MobileNetV3-style CNN for 32x32 inputs; SE (hard-sigmoid) in the blocks MOBILENET_BLOCKS marks."""

    def __init__(self, num_classes: int = 10, stem: int = 24, head: int = 384) -> None:
        super().__init__()
        self.stem = nn.Sequential(*_conv_bn(3, stem), nn.Hardswish(inplace=True))
        blocks, cin = [], stem
        for kernel, expanded, cout, se, act, stride in MOBILENET_BLOCKS:
            blocks.append(InvertedResidual(cin, expanded, cout, kernel, stride, se, act))
            cin = cout
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(*_conv_bn(cin, head, kernel=1), nn.Hardswish(inplace=True))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(head, num_classes)
        self.pretrained_cfg = dict(INPUT_CONFIG, num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.head(self.blocks(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def mobilenetv3_cifar(num_classes: int = 10) -> CifarMobileNetV3:
    """MobileNetV3-style net, hard-sigmoid SE (random weights, eval mode): ``examples/cifar10/model.py:mobilenetv3_cifar``."""
    return CifarMobileNetV3(num_classes).eval()


FACTORIES = {"se_resnet20": se_resnet20, "cbam_resnet20": cbam_resnet20, "mobilenetv3_cifar": mobilenetv3_cifar}
