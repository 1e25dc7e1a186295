"""Rule: CBAM channel attention -> ``edgeattn::ChannelAttention`` (Woo et al. 2018, Eq. 2).

Matches ``X * gate(MLP(avgpool(X)) + MLP(maxpool(X)))`` with ONE shared MLP (the weights of
both branches must be equal), in either order, with the same FC / activation / gate / pooling
spellings as the SE rule (GlobalMaxPool or ReduceMax over H, W for the max branch).

Refuses two MLPs with different weights (that is not CBAM), two avg or two max branches, and an
Add of anything else.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from ._base import AttentionRule, BlockMatch, mlp_weights
from ._match import FC, Gate, Refusal, match_act, match_fc, match_global_pool, producer, skip_noise


class ChannelAttentionRule(AttentionRule):
    op_type = "ChannelAttention"

    def analyze(self, x: ir.Value, gate: Gate, gate_nodes: list[ir.Node], anchor: ir.Node) -> BlockMatch:
        if gate.affine is not None:
            raise Refusal(f"{gate.describe()} gate: only an SE block's is folded (rescaled into its FC2)")
        noise: list[ir.Node] = []
        add = producer(skip_noise(gate.input, noise), "Add")
        if add is None:
            raise Refusal("gate input is not the sum of two MLP branches")
        branches = []
        for value in add.inputs:
            fc2 = match_fc(value)  # type: ignore[arg-type]
            act = match_act(fc2.input)
            fc1 = match_fc(act.input)
            kind, pool_nodes = _pool_kind(fc1.input, x, self.ctx.opset)
            branches.append((kind, fc1, act, fc2, pool_nodes))
        kinds = sorted(b[0] for b in branches)
        if kinds != ["avg", "max"]:
            raise Refusal(f"branches pool by {kinds}, expected one avg and one max")
        (_, fc1a, acta, fc2a, _), (_, fc1b, actb, fc2b, _) = branches
        if not (_same(fc1a, fc1b) and _same(fc2a, fc2b)) or acta.kind != actb.kind:
            raise Refusal("the avg and max branches do not share one MLP")
        weights = mlp_weights(fc1a, fc2a)
        nodes = [*gate_nodes, *noise, add]
        for _, fc1, act, fc2, pool_nodes in branches:
            nodes += [*fc2.nodes, *act.nodes, *fc1.nodes, *pool_nodes]
        return BlockMatch(self.op_type, f"{acta.kind}_{gate.kind}", x, weights, nodes)


def _pool_kind(value: ir.Value, x: ir.Value, opset: int) -> tuple[str, list[ir.Node]]:
    try:
        return "avg", match_global_pool(value, "avg", x, opset)
    except Refusal:
        return "max", match_global_pool(value, "max", x, opset)


def _same(a: FC, b: FC) -> bool:
    if a.weight.shape != b.weight.shape or not np.array_equal(a.weight, b.weight):
        return False
    if (a.bias is None) != (b.bias is None):
        return False
    if a.bias is None or b.bias is None:
        return True  # both None (checked above)
    return np.array_equal(a.bias, b.bias)

