"""Rule: CBAM spatial attention -> ``edgeattn::SpatialAttention`` (Woo et al. 2018, Eq. 3).

Matches ``X * gate([BN](Conv_kxk(Concat(mean_c(X), max_c(X)))))``: channel-wise ReduceMean and
ReduceMax with keepdims, concatenated on the channel axis in either order, a 2 -> 1 conv with an
odd kernel (7x7 in the paper, 3x3 allowed), "same" padding and stride 1, an optional
BatchNormalization after it (the official code; folded into the conv weights here), and a
sigmoid-like gate. A [max, mean] model gets its conv weight's two input channels swapped so the
canonical body always concatenates [mean, max].

Refuses e.g. a mean/max concat feeding a conv with more than one output channel, a 1x1 kernel,
strides or uneven padding.
"""

from __future__ import annotations

import numpy as np
import onnx_ir as ir

from ._base import AttentionRule, BlockMatch, Weight
from ._match import (
    Gate,
    Refusal,
    attr_float,
    attr_int,
    attr_ints,
    const_array,
    const_source,
    match_channel_pool,
    producer,
    skip_noise,
)


class SpatialAttentionRule(AttentionRule):
    op_type = "SpatialAttention"

    def analyze(self, x: ir.Value, gate: Gate, gate_nodes: list[ir.Node], anchor: ir.Node) -> BlockMatch:
        if gate.affine is not None:
            raise Refusal(f"{gate.describe()} gate: only an SE block's is folded (rescaled into its FC2)")
        nodes: list[ir.Node] = [*gate_nodes]
        value = skip_noise(gate.input, nodes)
        bn = producer(value, "BatchNormalization")
        if bn is not None:
            nodes.append(bn)
            value = bn.inputs[0]  # type: ignore[assignment]
        conv = producer(value, "Conv")
        if conv is None:
            raise Refusal("gate input is not a conv over pooled descriptors")
        w = const_array(conv.inputs[1])
        if w is None or w.ndim != 4:
            raise Refusal("spatial conv weight is not constant")
        k = w.shape[2]
        if w.shape[0] != 1 or w.shape[1] != 2 or w.shape[3] != k or k % 2 == 0 or k < 3:
            raise Refusal(f"spatial conv weight {tuple(w.shape)} is not [1, 2, k, k] with odd k >= 3")
        pads = attr_ints(conv, "pads", [0, 0, 0, 0]) or [0, 0, 0, 0]
        auto_pad = conv.attributes.get("auto_pad")
        same = auto_pad is not None and auto_pad.as_string() in ("SAME_UPPER", "SAME_LOWER")
        if not same and any(p != k // 2 for p in pads):
            raise Refusal(f"spatial conv pads {pads} are not 'same' for a {k}x{k} kernel")
        if any(s != 1 for s in attr_ints(conv, "strides", [1, 1]) or [1]) or any(
            d != 1 for d in attr_ints(conv, "dilations", [1, 1]) or [1]
        ) or attr_int(conv, "group", 1) != 1:
            raise Refusal("spatial conv has strides, dilation or groups")
        b = None
        if len(conv.inputs) > 2 and conv.inputs[2] is not None:
            b = const_array(conv.inputs[2])
            if b is None:
                raise Refusal("spatial conv bias is not constant")
        nodes.append(conv)
        cat = producer(conv.inputs[0], "Concat")
        if cat is None or len(cat.inputs) != 2 or attr_int(cat, "axis", 1) % 4 != 1:
            raise Refusal("spatial conv input is not a 2-way channel concat")
        nodes.append(cat)
        first, n0 = match_channel_pool(cat.inputs[0], x)  # type: ignore[arg-type]
        second, n1 = match_channel_pool(cat.inputs[1], x)  # type: ignore[arg-type]
        if {first, second} != {"mean", "max"}:
            raise Refusal(f"spatial descriptors are [{first}, {second}], expected mean and max")
        nodes += [*n0, *n1]
        notes = []
        changed = False
        weight = w.astype(w.dtype, copy=True)
        bias_arr = np.zeros((1,), dtype=w.dtype) if b is None else b.astype(w.dtype).reshape(1)
        if first == "max":
            weight = np.ascontiguousarray(weight[:, ::-1])
            changed = True
            notes.append("descriptor order [max, mean]: conv input channels swapped")
        if bn is not None:
            weight, bias_arr = _fold_bn(bn, weight, bias_arr)
            changed = True
            notes.append("BatchNormalization folded into the spatial conv")
        wv = None if changed else const_source(conv.inputs[1])  # type: ignore[arg-type]
        bv = None if (changed or b is None) else const_source(conv.inputs[2])  # type: ignore[arg-type]
        weights = [Weight("conv.weight", weight, wv), Weight("conv.bias", bias_arr, bv)]
        return BlockMatch(self.op_type, gate.kind, x, weights, nodes, notes)


def _fold_bn(bn: ir.Node, w: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """conv then BN == conv with w * s, (b - mean) * s + beta, s = gamma / sqrt(var + eps)."""
    params = [const_array(v) for v in bn.inputs[1:5]]
    if any(p is None for p in params):
        raise Refusal("BatchNormalization after the spatial conv has non-constant statistics")
    gamma, beta, mean, var = (p.astype(np.float64) for p in params)  # type: ignore[union-attr]
    scale = gamma / np.sqrt(var + attr_float(bn, "epsilon", 1e-5))
    w2 = (w.astype(np.float64) * scale.reshape(-1, 1, 1, 1)).astype(w.dtype)
    b2 = ((b.astype(np.float64) - mean) * scale + beta).astype(w.dtype)
    return w2, b2
