"""A small CBAM + SE network for scikit-learn's handwritten digits (8x8 upsampled to 32x32, gray).

Load it through the ``path/file.py:factory`` model source::

    edgeattn export examples/digits/model.py:create -c examples/digits/digits_cbam.safetensors -o digits.onnx

Layout (module paths are what the folded ONNX nodes are named after):
``stem`` 1->16 @32x32, ``layer1`` 16->32 @16x16 with an SE block (Hu et al. 2018) in the residual
branch, ``layer2`` 32->64 @8x8 with CBAM (Woo et al. 2018, channel then spatial), global average
pool, linear classifier. About 64k parameters.
"""

from __future__ import annotations

import torch
from torch import nn

from edgeattn.layers import CBAM, SqueezeExcite

# Preprocessing the checkpoint was trained with, in timm's ``pretrained_cfg`` form so that
# ``edgeattn.models.input_config`` and the export provenance pick it up: the images are stored
# as 32x32 8-bit gray PNGs (train.py), so resizing is the identity and crop_pct is 1.
INPUT_CONFIG = {
    "input_size": (1, 32, 32),
    "mean": (0.25,),
    "std": (0.35,),
    "interpolation": "bilinear",
    "crop_pct": 1.0,
    "num_classes": 10,
}


def _conv_bn(cin: int, cout: int, stride: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


class Block(nn.Module):
    """Downsampling residual block: conv-bn-relu (stride 2), conv-bn, attention, + shortcut, relu."""

    def __init__(self, cin: int, cout: int, attention: nn.Module) -> None:
        super().__init__()
        self.conv1 = _conv_bn(cin, cout, stride=2)
        self.conv2 = nn.Sequential(nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout))
        self.se = attention
        self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride=2, bias=False), nn.BatchNorm2d(cout))
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.se(self.conv2(self.conv1(x))) + self.downsample(x))


class DigitsNet(nn.Module):
    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.stem = _conv_bn(1, 16)
        self.layer1 = Block(16, 32, SqueezeExcite(32, reduction=4))
        self.layer2 = Block(32, 64, CBAM(64, reduction=8))
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)
        self.pretrained_cfg = dict(INPUT_CONFIG, num_classes=num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


def create(num_classes: int = 10) -> DigitsNet:
    """Factory for the ``examples/digits/model.py:create`` model source (random weights, eval mode)."""
    return DigitsNet(num_classes).eval()
