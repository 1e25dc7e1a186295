"""Torch-side helpers shared by the layer tests (the reference math is in _numpy_ref.py)."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def to_numpy(t: torch.Tensor | None) -> np.ndarray | None:
    return None if t is None else t.detach().double().numpy()


def randomize(module: nn.Module, seed: int = 0) -> None:
    """Random weights (scaled 0.5) and, for BatchNorm, random running statistics."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.5)
        for name, buf in module.named_buffers():
            if name.endswith("running_mean"):
                buf.copy_(torch.randn(buf.shape, generator=g))
            elif name.endswith("running_var"):
                buf.copy_(torch.rand(buf.shape, generator=g) + 0.5)
