"""Squeeze-and-Excitation block (Hu et al., "Squeeze-and-Excitation Networks", CVPR 2018).

Eq. 2 squeeze:    z_c = 1/(H W) sum_{i,j} u_c(i, j)                 (global average pool)
Eq. 3 excitation: s = sigma(W2 delta(W1 z)),  W1: C -> C/r, W2: C/r -> C, delta = ReLU
Eq. 4 scale:      x~_c = s_c * u_c

The excitation MLP and its options are :class:`~edgeattn.layers.excitation.ExcitationMLP`'s,
shared with CBAM's channel attention.
"""

from __future__ import annotations

import torch

from .excitation import ExcitationMLP


class SqueezeExcite(ExcitationMLP):
    """Channel attention by squeeze, excitation and scale (arguments: :class:`ExcitationMLP`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        squeezed = x.mean(dim=(2, 3), keepdim=self.use_conv)  # Eq. 2
        return self.scale(x, self.excite(squeezed))  # Eq. 3, 4
