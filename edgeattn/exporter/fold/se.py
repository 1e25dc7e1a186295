"""Rule: Squeeze-and-Excitation -> ``edgeattn::SqueezeExcite`` (Hu et al. 2018, Eq. 2-4).

Matches ``X * gate(FC2(act(FC1(squeeze(X)))))`` where

- squeeze: GlobalAveragePool, or ReduceMean over (H, W) with or without keepdims;
- FC1/FC2: 1x1 Conv, Gemm (either transB), or MatMul(+Add); with or without bias;
- act: ReLU (paper), SiLU (EfficientNet), ReLU6, HardSwish;
- gate: Sigmoid (paper), HardSigmoid(1/6, 1/2) or relu6(z + 3) / 6 (MobileNetV3); a HardSigmoid
  with other constants (Keras' and PaddleClas' slope 0.2) as the MobileNetV3 gate of FC2 rescaled;
- Flatten/Reshape/Unsqueeze/Squeeze/Identity anywhere between them.

Refuses (with the reason in the rule report) e.g. ``x * sigmoid(conv(x))``: a gated conv whose
gate input is not a squeezed descriptor of ``x``.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from ._base import AttentionRule, BlockMatch, mlp_weights
from ._match import FC, Gate, Refusal, channels_of, match_act, match_fc, match_global_pool


class SqueezeExciteRule(AttentionRule):
    op_type = "SqueezeExcite"

    def analyze(self, x: ir.Value, gate: Gate, gate_nodes: list[ir.Node], anchor: ir.Node) -> BlockMatch:
        fc2 = match_fc(gate.input)
        notes: list[str] = []
        if gate.affine is not None:
            fc2 = _rescaled(fc2, *gate.affine)
            notes.append(f"{gate.describe()} folded as HardSigmoid(1/6, 1/2) of FC2 scaled by {gate.affine[0]:g}")
        act = match_act(fc2.input)
        fc1 = match_fc(act.input)
        pool_nodes = match_global_pool(fc1.input, "avg", x, self.ctx.opset)
        c = channels_of(x)
        cr = fc1.weight.shape[0]
        if fc2.weight.shape != (fc1.weight.shape[1], cr):
            raise Refusal(f"FC shapes {fc1.weight.shape} and {fc2.weight.shape} do not form C -> C/r -> C")
        if c is not None and fc1.weight.shape[1] != c:
            raise Refusal(f"FC1 takes {fc1.weight.shape[1]} channels but the feature map has {c}")
        weights = mlp_weights(fc1, fc2)
        nodes = [*gate_nodes, *fc2.nodes, *act.nodes, *fc1.nodes, *pool_nodes]
        return BlockMatch(self.op_type, f"{act.kind}_{gate.kind}", x, weights, nodes, notes)


def _rescaled(fc: FC, scale: float, shift: float) -> FC:
    """``fc`` computing ``scale * fc(h) + shift``: new weight arrays, the originals left to other users."""
    bias = fc.bias if fc.bias is not None else np.zeros((fc.weight.shape[0],), fc.weight.dtype)
    dtype = fc.weight.dtype
    return FC(fc.input, (fc.weight * scale).astype(dtype), (bias * scale + shift).astype(dtype), None, None, fc.nodes)
