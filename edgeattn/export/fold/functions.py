"""Canonical standard-op bodies of the folded attention ops (ONNX local functions).

Each body takes the activation ``X`` and the block's weights as inputs (initializers stay in the
main graph, where quantizers and TensorRT's refitter see them) and returns ``Y = X * gate``:

SqueezeExcite (Hu et al. 2018, Eq. 2-4), inputs ``X, W1, B1, W2, B2`` (1x1-conv layout)::

    Y = X * gate(Conv(act(Conv(GlobalAveragePool(X), W1, B1)), W2, B2))

ChannelAttention (Woo et al. 2018, Eq. 2). The MLP is shared, so the avg and max descriptors are
stacked on the batch axis and go through ONE MLP evaluation (two Convs instead of four), then
the two halves are summed::

    D = Concat(GlobalAveragePool(X), GlobalMaxPool(X), axis=0)          # [2N, C, 1, 1]
    E = Conv(act(Conv(D, W1, B1)), W2, B2)                              # [2N, C, 1, 1]
    Y = X * gate(Reshape(ReduceSum(Reshape(E, [2, -1]), axes=[0]), Shape(GAP(X))))

SpatialAttention (Eq. 3), inputs ``X, W, B``; the descriptors are always in [mean, max] order (a
[max, mean] model gets its conv weight's input channels swapped at fold time) and a BatchNorm
after the conv is folded into ``W, B``::

    Y = X * gate(Conv(Concat(ReduceMean_c(X), ReduceMax_c(X)), W, B, auto_pad=SAME_UPPER))

Variants (activation inside the MLP, gate) are ONNX function overloads: the papers' ReLU +
sigmoid has the empty overload, others are named ``<act>_<gate>`` (``relu_hardsigmoid`` for
MobileNetV3, ``silu_sigmoid`` for EfficientNet). ``benchmarks/fold_speed.py`` measures the
alternatives kept selectable here (``SE_FORMS``, ``CHANNEL_FORMS``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import onnx_ir as ir
from onnxscript._internal.tape_builder import TapeBuilder

DOMAIN = "edgeattn"
DOMAIN_VERSION = 1
OP_TYPES = ("SqueezeExcite", "ChannelAttention", "SpatialAttention")

DEFAULT_VARIANT = {"SqueezeExcite": "relu_sigmoid", "ChannelAttention": "relu_sigmoid", "SpatialAttention": "sigmoid"}
SE_FORMS = ("conv", "gemm")
CHANNEL_FORMS = ("stacked", "twice")
SPATIAL_FORMS = ("concat", "split")


@dataclass
class BodyOptions:
    """Which canonical form to emit; the defaults are the measured fastest on ORT CPU."""

    se_form: str = "conv"
    channel_form: str = "stacked"
    spatial_form: str = "concat"


DEFAULT_OPTIONS = BodyOptions()


def overload_for(op_type: str, variant: str) -> str:
    return "" if variant == DEFAULT_VARIANT[op_type] else variant


def _const(op: Any, array: np.ndarray) -> ir.Value:
    return op.Constant(value=ir.tensor(array))


def _ints(values: list[int]) -> np.ndarray:
    return np.array(values, dtype=np.int64)


def _act(op: Any, h: ir.Value, kind: str) -> ir.Value:
    if kind == "relu":
        return op.Relu(h)
    if kind == "silu":
        return op.Mul(h, op.Sigmoid(h))
    if kind == "hardswish":
        return op.HardSwish(h)
    if kind == "relu6":
        return op.Clip(h, _const(op, np.array(0.0, np.float32)), _const(op, np.array(6.0, np.float32)))
    raise ValueError(f"unknown activation {kind!r}")


def _gate(op: Any, z: ir.Value, kind: str) -> ir.Value:
    if kind == "sigmoid":
        return op.Sigmoid(z)
    if kind == "hardsigmoid":
        return op.HardSigmoid(z, alpha=1.0 / 6.0, beta=0.5)
    raise ValueError(f"unknown gate {kind!r}")


def _reduce(op: Any, op_type: str, x: ir.Value, axes: list[int], opset: int) -> ir.Value:
    # ReduceMean/ReduceMax take axes as an input from opset 18, as an attribute before.
    if opset >= 18:
        return op.op(op_type, x, _const(op, _ints(axes)), keepdims=1)
    return op.op(op_type, x, axes=axes, keepdims=1)


def _variant(variant: str) -> tuple[str, str]:
    act, _, gate = variant.rpartition("_")
    return (act or "relu"), gate


def se_body(op: Any, x: ir.Value, w1: ir.Value, b1: ir.Value, w2: ir.Value, b2: ir.Value,
            variant: str, opset: int, options: BodyOptions = DEFAULT_OPTIONS) -> ir.Value:
    act, gate = _variant(variant)
    pooled = op.GlobalAveragePool(x)
    if options.se_form == "gemm":
        flat = op.Flatten(pooled, axis=1)
        w1_2d = op.Flatten(w1, axis=1)
        w2_2d = op.Flatten(w2, axis=1)
        h = _act(op, op.Gemm(flat, w1_2d, b1, transB=1), act)
        e = op.Gemm(h, w2_2d, b2, transB=1)
        scale = op.Unsqueeze(_gate(op, e, gate), _const(op, _ints([2, 3])))
        return op.Mul(x, scale)
    h = _act(op, op.Conv(pooled, w1, b1), act)
    return op.Mul(x, _gate(op, op.Conv(h, w2, b2), gate))


def channel_body(op: Any, x: ir.Value, w1: ir.Value, b1: ir.Value, w2: ir.Value, b2: ir.Value,
                 variant: str, opset: int, options: BodyOptions = DEFAULT_OPTIONS) -> ir.Value:
    act, gate = _variant(variant)
    avg = op.GlobalAveragePool(x)
    mx = op.GlobalMaxPool(x)
    if options.channel_form == "twice":
        e_avg = op.Conv(_act(op, op.Conv(avg, w1, b1), act), w2, b2)
        e_max = op.Conv(_act(op, op.Conv(mx, w1, b1), act), w2, b2)
        return op.Mul(x, _gate(op, op.Add(e_avg, e_max), gate))
    stacked = op.Concat(avg, mx, axis=0)
    e = op.Conv(_act(op, op.Conv(stacked, w1, b1), act), w2, b2)
    summed = op.ReduceSum(op.Reshape(e, _const(op, _ints([2, -1]))), _const(op, _ints([0])), keepdims=0)
    return op.Mul(x, _gate(op, op.Reshape(summed, op.Shape(avg)), gate))


def spatial_body(op: Any, x: ir.Value, w: ir.Value, b: ir.Value, variant: str, opset: int,
                 options: BodyOptions = DEFAULT_OPTIONS) -> ir.Value:
    mean = _reduce(op, "ReduceMean", x, [1], opset)
    mx = _reduce(op, "ReduceMax", x, [1], opset)
    if options.spatial_form == "split":
        # No Concat: one 1-channel conv per descriptor (the weight slices fold to constants).
        one, two, axis = _const(op, _ints([1])), _const(op, _ints([2])), _const(op, _ints([1]))
        w_mean = op.Slice(w, _const(op, _ints([0])), one, axis)
        w_max = op.Slice(w, one, two, axis)
        z = op.Add(op.Conv(mean, w_mean, b, auto_pad="SAME_UPPER"), op.Conv(mx, w_max, auto_pad="SAME_UPPER"))
        return op.Mul(x, _gate(op, z, variant))
    z = op.Conv(op.Concat(mean, mx, axis=1), w, b, auto_pad="SAME_UPPER")
    return op.Mul(x, _gate(op, z, variant))


_BODIES = {"SqueezeExcite": se_body, "ChannelAttention": channel_body, "SpatialAttention": spatial_body}
_INPUTS = {
    "SqueezeExcite": ("X", "W1", "B1", "W2", "B2"),
    "ChannelAttention": ("X", "W1", "B1", "W2", "B2"),
    "SpatialAttention": ("X", "W", "B"),
}


def emit_body(op: Any, op_type: str, inputs: list[ir.Value], variant: str, opset: int,
              options: BodyOptions = DEFAULT_OPTIONS) -> ir.Value:
    """Write the canonical body with builder ``op`` (a function body or inline in the graph)."""
    return _BODIES[op_type](op, *inputs, variant=variant, opset=opset, options=options)


def make_function(op_type: str, variant: str, opset: int, options: BodyOptions = DEFAULT_OPTIONS) -> ir.Function:
    """The ONNX local function ``edgeattn::<op_type>`` (overload by variant) for ``opset``."""
    inputs = [ir.Value(name=n) for n in _INPUTS[op_type]]
    tape = TapeBuilder()
    out = emit_body(tape, op_type, inputs, variant, opset, options)
    out.name = "Y"
    for i, node in enumerate(tape.nodes):
        node.name = f"{op_type}_{i}_{node.op_type}"
    graph = ir.Graph(inputs, [out], nodes=tape.nodes, opset_imports={"": opset}, name=op_type)
    return ir.Function(DOMAIN, op_type, overload_for(op_type, variant), graph=graph, attributes=())
