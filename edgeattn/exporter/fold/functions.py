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

``gate_layout="full"`` (``BodyOptions``) repeats each gate to X's shape before the Mul (a nearest
Resize for [N, C, 1, 1] gates, a 1x1 Conv of ones for the [N, 1, H, W] spatial gate): the same
values, but ONNX Runtime's NCHWc pass then keeps the Mul, and the residual Add and ReLU after it,
in its blocked layout instead of reordering the whole tensor to NCHW and back around each block
(docs/performance.md has the measurements).

Variants (activation inside the MLP, gate) are ONNX function overloads: the papers' ReLU +
sigmoid has the empty overload, others are named ``<act>_<gate>`` (``relu_hardsigmoid`` for
MobileNetV3, ``silu_sigmoid`` for EfficientNet). The two forms ``export --optimize-for`` selects
(:data:`OPTIMIZE_FOR`) are the only ones kept: ``benchmarks/fold_speed.py`` measures them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import onnx_ir as ir
from onnxscript import TapeBuilder

from ...graph import DOMAIN

DOMAIN_VERSION = 1

DEFAULT_VARIANT = {"SqueezeExcite": "relu_sigmoid", "ChannelAttention": "relu_sigmoid", "SpatialAttention": "sigmoid"}


@dataclass
class BodyOptions:
    """Which canonical form to emit: the defaults (``any``) or ``ort-cpu``'s (:data:`OPTIMIZE_FOR`)."""

    channel_form: str = "stacked"  # or "twice": the shared MLP run on avg and max separately
    gate_layout: str = "broadcast"  # or "full": the gate repeated to X's shape before the Mul


DEFAULT_OPTIONS = BodyOptions()

# ``export(optimize_for=...)``: ``any`` is the portable default (the gate broadcast in the Mul);
# ``ort-cpu`` keeps ONNX Runtime's NCHWc blocked layout through each block (the CBAM MLP runs twice
# so its output stays blocked too); it needs a static input shape. Measured in docs/performance.md.
OPTIMIZE_FOR = {
    "any": DEFAULT_OPTIONS,
    "ort-cpu": BodyOptions(channel_form="twice", gate_layout="full"),
}


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
    h = _act(op, op.Conv(pooled, w1, b1), act)
    return _apply(op, x, _gate(op, op.Conv(h, w2, b2), gate), options, opset)


def _apply(op: Any, x: ir.Value, gate: ir.Value, options: BodyOptions, opset: int, spatial: bool = False) -> ir.Value:
    """``x * gate``; with ``gate_layout="full"`` the gate is first repeated to ``x``'s shape."""
    if options.gate_layout == "full":
        gate = _full_spatial(op, gate, x, opset) if spatial else _full_channel(op, gate, x, opset)
    return op.Mul(x, gate)


def _dims(op: Any, x: ir.Value, start: int, end: int, opset: int) -> ir.Value:
    # Shape's start/end attributes (opset 15+) leave out the batch dimension. ORT 1.32 still folds
    # the result only when the whole input shape is static (docs/performance.md).
    if opset >= 15:
        return op.Shape(x, start=start, end=end)
    return op.Slice(op.Shape(x), _const(op, _ints([start])), _const(op, _ints([end])))


def _full_spatial(op: Any, gate: ir.Value, x: ir.Value, opset: int) -> ir.Value:
    """A spatial gate [N, 1, H, W] repeated over ``x``'s C channels by a 1x1 Conv with weights 1.

    The weights [C, 1, 1, 1] are built from ``Shape(x)`` and constant-folded when C is static, so
    ONNX Runtime runs the Conv in the blocked layout and the Mul that follows stays there.
    """
    channels = _dims(op, x, 1, 2, opset)
    ones = op.Expand(_const(op, np.ones((1, 1, 1, 1), np.float32)), op.Concat(channels, _const(op, _ints([1, 1, 1])), axis=0))
    return op.Conv(gate, ones)


def _full_channel(op: Any, gate: ir.Value, x: ir.Value, opset: int) -> ir.Value:
    """``gate`` [N, C, 1, 1] repeated to ``x``'s [N, C, H, W] by a nearest Resize.

    ONNX Runtime's NCHWc layout pass keeps a Mul in the blocked layout only when both operands
    have the same shape (a broadcast [N, C, 1, 1] operand sends ``x`` back to NCHW and the result
    forward again: two reorders of the whole tensor), and it runs a nearest, asymmetric, floor
    Resize with constant integer scales as a blocked Upsample. The scales come from
    ``x``'s shape, which ONNX Runtime constant-folds only when the whole input shape is static
(with a dynamic batch it does not, and this form is slower than the broadcast Mul). Exact: every output element
    is the single input element of its channel.
    """
    hw = op.Cast(_dims(op, x, 2, 4, opset), to=ir.DataType.FLOAT)
    scales = op.Concat(_const(op, np.array([1.0, 1.0], np.float32)), hw, axis=0)
    return op.Resize(gate, None, scales, mode="nearest", coordinate_transformation_mode="asymmetric", nearest_mode="floor")


def channel_body(op: Any, x: ir.Value, w1: ir.Value, b1: ir.Value, w2: ir.Value, b2: ir.Value,
                 variant: str, opset: int, options: BodyOptions = DEFAULT_OPTIONS) -> ir.Value:
    act, gate = _variant(variant)
    avg = op.GlobalAveragePool(x)
    mx = op.GlobalMaxPool(x)
    if options.channel_form == "twice":
        e_avg = op.Conv(_act(op, op.Conv(avg, w1, b1), act), w2, b2)
        e_max = op.Conv(_act(op, op.Conv(mx, w1, b1), act), w2, b2)
        return _apply(op, x, _gate(op, op.Add(e_avg, e_max), gate), options, opset)
    stacked = op.Concat(avg, mx, axis=0)
    e = op.Conv(_act(op, op.Conv(stacked, w1, b1), act), w2, b2)
    summed = op.ReduceSum(op.Reshape(e, _const(op, _ints([2, -1]))), _const(op, _ints([0])), keepdims=0)
    return _apply(op, x, _gate(op, op.Reshape(summed, op.Shape(avg)), gate), options, opset)


def spatial_body(op: Any, x: ir.Value, w: ir.Value, b: ir.Value, variant: str, opset: int,
                 options: BodyOptions = DEFAULT_OPTIONS) -> ir.Value:
    mean = _reduce(op, "ReduceMean", x, [1], opset)
    mx = _reduce(op, "ReduceMax", x, [1], opset)
    z = op.Conv(op.Concat(mean, mx, axis=1), w, b, auto_pad="SAME_UPPER")
    return _apply(op, x, _gate(op, z, variant), options, opset, spatial=True)


_BODIES: dict[str, Callable[..., ir.Value]] = {"SqueezeExcite": se_body, "ChannelAttention": channel_body, "SpatialAttention": spatial_body}
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
