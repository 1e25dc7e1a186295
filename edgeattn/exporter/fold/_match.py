"""Structural matchers shared by the folding rules.

The exporters write the same attention block in many shapes (dynamo opset 18 vs legacy opset 17,
Linear vs 1x1-conv FCs, GlobalAveragePool vs ReduceMean, keepdims or not, Flatten/Reshape/
Unsqueeze/Squeeze/Identity between the pieces). Each matcher here recognises ONE piece in all
its spellings and either returns what it found or raises :class:`Refusal` with a one-line reason,
which the rule's ``check`` turns into the rule report.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

import numpy as np
import onnx_ir as ir

# Ops that only add or remove size-1 axes between the pieces of an attention block.
NOISE_OPS = frozenset({"Identity", "Reshape", "Unsqueeze", "Squeeze", "Flatten"})


class Refusal(Exception):
    """A candidate is not (or not safely) an attention block; ``str(self)`` says why."""


# ---------------------------------------------------------------------------------- basics
def producer(value: ir.Value | None, *op_types: str) -> ir.Node | None:
    """The standard-domain node producing ``value`` when its op type is one of ``op_types``."""
    if value is None:
        return None
    node = value.producer()
    if node is None or node.domain not in ("", "ai.onnx"):
        return None
    if op_types and node.op_type not in op_types:
        return None
    return node


def const_array(value: ir.Value | None) -> np.ndarray | None:
    """The constant behind ``value`` (initializer, Constant node, or Identity of either)."""
    seen = 0
    while value is not None and seen < 8:
        if value.const_value is not None:
            return value.const_value.numpy()
        node = value.producer()
        if node is None:
            return None
        if node.op_type == "Constant" and node.domain in ("", "ai.onnx"):
            attr = node.attributes.get("value")
            if attr is None:
                return None
            return attr.value.numpy()
        if node.op_type != "Identity":
            return None
        value = node.inputs[0]
        seen += 1
    return None


def const_source(value: ir.Value) -> ir.Value:
    """The initializer value behind an Identity chain (so a fold reuses the original weight)."""
    while value.const_value is None:
        node = value.producer()
        if node is None or node.op_type != "Identity":
            break
        value = node.inputs[0]  # type: ignore[assignment]
    return value


def attr_int(node: ir.Node, name: str, default: int) -> int:
    attr = node.attributes.get(name)
    return default if attr is None else attr.as_int()


def attr_ints(node: ir.Node, name: str, default: list[int] | None = None) -> list[int] | None:
    attr = node.attributes.get(name)
    return default if attr is None else list(attr.as_ints())


def attr_float(node: ir.Node, name: str, default: float) -> float:
    attr = node.attributes.get(name)
    return default if attr is None else attr.as_float()


def only_used_inside(value: ir.Value, allowed: set[ir.Node]) -> bool:
    """True when every consumer of ``value`` is in ``allowed`` and it is not a graph output."""
    if value.is_graph_output():
        return False
    return all(use.node in allowed for use in value.uses())


def skip_noise(value: ir.Value, visited: list[ir.Node]) -> ir.Value:
    """Walk back over Identity/Reshape/Unsqueeze/Squeeze/Flatten, recording the nodes passed.

    A Reshape counts as noise only with a constant target shape, the case of ``x.view(N, C, 1, 1)``
    or ``flatten(1)``; a data-dependent reshape could move elements and is not skipped.
    """
    while True:
        node = producer(value, *NOISE_OPS)
        if node is None:
            return value
        if node.op_type == "Reshape" and const_array(node.inputs[1]) is None:
            shape_src = producer(node.inputs[1], "Concat", "Shape")
            if shape_src is None:
                return value
        visited.append(node)
        value = node.inputs[0]  # type: ignore[assignment]


def skip_expand(value: ir.Value, x: ir.Value, visited: list[ir.Node]) -> ir.Value:
    """Walk back over noise and ``Expand(g, shape)`` to ``x``'s shape (``g.expand_as(x)``).

    ``x * expand(g, shape(x))`` equals ``x * g`` whenever the Expand only broadcasts ``g`` to
    ``x``'s own shape: its target is ``Shape(x)`` (the legacy exporter) or its output shape is
    known and equal to ``x``'s (dynamo writes the target as a Concat of the sizes). Any other
    Expand could grow the product and is left alone.
    """
    while True:
        value = skip_noise(value, visited)
        node = producer(value, "Expand")
        if node is None or not _expands_to(node, x):
            return value
        visited.append(node)
        value = node.inputs[0]  # type: ignore[assignment]


def _expands_to(expand: ir.Node, x: ir.Value) -> bool:
    shape_node = producer(expand.inputs[1], "Shape")
    if shape_node is not None and shape_node.inputs[0] is x and not shape_node.attributes:
        return True
    out = expand.outputs[0].shape
    if out is None or x.shape is None or len(out) != len(x.shape):
        return False
    return all(a == b for a, b in zip(out, x.shape))


def channels_of(value: ir.Value) -> int | None:
    """Static channel count (axis 1) of an NCHW value, when known."""
    if value.shape is None or len(value.shape) < 2:
        return None
    c = value.shape[1]
    return c if isinstance(c, int) else None


# ---------------------------------------------------------------------------------- gates
@dataclass
class Gate:
    """A sigmoid-like gate: ``kind`` is ``sigmoid`` or ``hardsigmoid`` (relu6(z+3)/6).

    ``affine`` = ``(s, t)`` for a HardSigmoid with other constants: ``clip(a*z + b, 0, 1)`` equals
    the MobileNetV3 gate ``clip(z'/6 + 1/2, 0, 1)`` of ``z' = s*z + t`` with ``s = 6a``,
    ``t = 6(b - 1/2)``, which a rule folds into the linear layer that computes ``z``.
    """

    kind: str
    input: ir.Value
    nodes: list[ir.Node]
    affine: tuple[float, float] | None = None

    def describe(self) -> str:
        return f"HardSigmoid(alpha={self.affine[0] / 6:g}, beta={self.affine[1] / 6 + 0.5:g})" if self.affine else self.kind


def _is_scalar(value: ir.Value | None, expected: float) -> bool:
    arr = const_array(value)
    return arr is not None and arr.size == 1 and abs(float(arr.reshape(())) - expected) < 1e-6


def _relu6_input(value: ir.Value, nodes: list[ir.Node]) -> ir.Value | None:
    """``z`` when ``value = clip(z, 0, 6)`` (Clip, or Min(Max(z, 0), 6)); else None."""
    clip = producer(value, "Clip")
    if clip is not None:
        lo = const_array(clip.inputs[1]) if len(clip.inputs) > 1 and clip.inputs[1] is not None else None
        hi = const_array(clip.inputs[2]) if len(clip.inputs) > 2 and clip.inputs[2] is not None else None
        if lo is None and "min" in clip.attributes:  # opset < 11 spelling
            lo = np.array(attr_float(clip, "min", 0.0))
            hi = np.array(attr_float(clip, "max", 6.0))
        if lo is not None and hi is not None and float(lo) == 0.0 and float(hi) == 6.0:
            nodes.append(clip)
            return clip.inputs[0]
        return None
    mn = producer(value, "Min")
    if mn is not None and _is_scalar(mn.inputs[1], 6.0):
        mx = producer(mn.inputs[0], "Max")
        if mx is not None and _is_scalar(mx.inputs[1], 0.0):
            nodes.extend([mn, mx])
            return mx.inputs[0]
    return None


def match_gate(value: ir.Value) -> Gate:
    """Recognise ``sigmoid(z)``, ``HardSigmoid(z; 1/6, 0.5)`` or ``relu6(z + 3) / 6``."""
    node = producer(value, "Sigmoid", "HardSigmoid", "Div", "Mul")
    if node is None:
        raise Refusal("gate is not Sigmoid / HardSigmoid / relu6(z+3)/6")
    if node.op_type == "Sigmoid":
        return Gate("sigmoid", node.inputs[0], [node])  # type: ignore[arg-type]
    if node.op_type == "HardSigmoid":
        alpha, beta = attr_float(node, "alpha", 0.2), attr_float(node, "beta", 0.5)
        if abs(alpha - 1 / 6) <= 1e-6 and abs(beta - 0.5) <= 1e-6:
            return Gate("hardsigmoid", node.inputs[0], [node])  # type: ignore[arg-type]
        if alpha <= 0:
            raise Refusal(f"HardSigmoid(alpha={alpha:g}, beta={beta:g}) does not increase with its input; not a gate")
        # Keras' hard_sigmoid and PaddleClas' SE (slope 0.2, offset 0.5): the same gate of a rescaled input.
        return Gate("hardsigmoid", node.inputs[0], [node], affine=(6 * alpha, 6 * (beta - 0.5)))  # type: ignore[arg-type]
    # relu6(z + 3) / 6, or * (1/6)
    divisor_ok = _is_scalar(node.inputs[1], 6.0) if node.op_type == "Div" else _is_scalar(node.inputs[1], 1 / 6)
    if not divisor_ok:
        raise Refusal("gate is not Sigmoid / HardSigmoid / relu6(z+3)/6")
    nodes: list[ir.Node] = [node]
    inner = _relu6_input(node.inputs[0], nodes)  # type: ignore[arg-type]
    add = producer(inner, "Add")
    if add is None or not _is_scalar(add.inputs[1], 3.0):
        raise Refusal("Div/Mul by 6 is not preceded by relu6(z + 3)")
    nodes.append(add)
    return Gate("hardsigmoid", add.inputs[0], nodes)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- FCs
@dataclass
class FC:
    """A fully connected layer as conv weights ``weight [Cout, Cin]`` and ``bias [Cout]``.

    ``weight_value``/``bias_value`` are the original initializers when they are already in
    the canonical 1x1-conv layout, so folding keeps the original weight tensors.
    """

    input: ir.Value
    weight: np.ndarray
    bias: np.ndarray | None
    weight_value: ir.Value | None
    bias_value: ir.Value | None
    nodes: list[ir.Node]


def match_fc(value: ir.Value) -> FC:
    """Recognise a 1x1 Conv, a Gemm, or MatMul(+Add) with constant weights."""
    nodes: list[ir.Node] = []
    value = skip_noise(value, nodes)
    node = producer(value, "Conv", "Gemm", "MatMul", "Add")
    if node is None:
        raise Refusal(f"excitation FC is not Conv/Gemm/MatMul (found {_op(value)})")
    if node.op_type == "Conv":
        return _match_conv_fc(node, nodes)
    if node.op_type == "Gemm":
        return _match_gemm_fc(node, nodes)
    return _match_matmul_fc(node, nodes)


def _match_conv_fc(node: ir.Node, nodes: list[ir.Node]) -> FC:
    """A 1x1, ungrouped, unpadded Conv with constant weights (and bias)."""
    w = const_array(node.inputs[1])
    if w is None or w.ndim != 4 or w.shape[2:] != (1, 1):
        raise Refusal("excitation Conv is not a 1x1 conv with constant weights")
    if attr_int(node, "group", 1) != 1 or any(p != 0 for p in attr_ints(node, "pads", [0]) or [0]):
        raise Refusal("excitation Conv is grouped or padded")
    b = const_array(node.inputs[2]) if len(node.inputs) > 2 and node.inputs[2] is not None else None
    if len(node.inputs) > 2 and node.inputs[2] is not None and b is None:
        raise Refusal("excitation Conv bias is not constant")
    return FC(
        node.inputs[0],  # type: ignore[arg-type]
        w.reshape(w.shape[0], w.shape[1]),
        b,
        const_source(node.inputs[1]),  # type: ignore[arg-type]
        const_source(node.inputs[2]) if b is not None else None,  # type: ignore[arg-type]
        [*nodes, node],
    )


def _match_gemm_fc(node: ir.Node, nodes: list[ir.Node]) -> FC:
    """A Gemm with constant weights; alpha, beta and transB folded into the weights and bias."""
    w = const_array(node.inputs[1])
    if w is None or w.ndim != 2:
        raise Refusal("excitation Gemm has non-constant weights")
    if attr_int(node, "transA", 0):
        raise Refusal("excitation Gemm has transA=1")
    alpha, beta = attr_float(node, "alpha", 1.0), attr_float(node, "beta", 1.0)
    w = w if attr_int(node, "transB", 0) else w.T
    w = w * alpha
    b = None
    if len(node.inputs) > 2 and node.inputs[2] is not None:
        b = const_array(node.inputs[2])
        if b is None:
            raise Refusal("excitation Gemm bias is not constant")
        b = np.broadcast_to(b * beta, (w.shape[0],)).astype(w.dtype)
    return FC(node.inputs[0], np.ascontiguousarray(w), b, None, None, [*nodes, node])  # type: ignore[arg-type]


def _match_matmul_fc(node: ir.Node, nodes: list[ir.Node]) -> FC:
    """MatMul with constant weights, or Add(MatMul, constant bias) in either input order."""
    bias = None
    if node.op_type == "Add":
        # MatMul + Add (Linear with bias, as the legacy exporter writes it for >2-D inputs)
        mm, other = producer(node.inputs[0], "MatMul"), node.inputs[1]
        if mm is None:
            mm, other = producer(node.inputs[1], "MatMul"), node.inputs[0]
        if mm is None:
            raise Refusal("excitation FC is an Add without a MatMul")
        bias = const_array(other)
        if bias is None:
            raise Refusal("excitation MatMul bias is not constant")
        nodes.append(node)
        node = mm
    w = const_array(node.inputs[1])
    if w is None or w.ndim != 2:
        raise Refusal("excitation MatMul has non-constant weights")
    w = np.ascontiguousarray(w.T)
    if bias is not None:
        bias = np.broadcast_to(bias.reshape(-1), (w.shape[0],)).astype(w.dtype)
    return FC(node.inputs[0], w, bias, None, None, [*nodes, node])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------- activations
@dataclass
class Act:
    kind: str  # relu | silu | relu6 | hardswish | none
    input: ir.Value
    nodes: list[ir.Node]


def match_act(value: ir.Value) -> Act:
    """The activation between the two FCs: ReLU (papers), SiLU, ReLU6, HardSwish."""
    nodes: list[ir.Node] = []
    value = skip_noise(value, nodes)
    node = producer(value, "Relu", "HardSwish", "Mul", "Clip", "Min")
    if node is None:
        raise Refusal(f"no activation between the excitation FCs (found {_op(value)})")
    if node.op_type == "Relu":
        return Act("relu", node.inputs[0], [*nodes, node])  # type: ignore[arg-type]
    if node.op_type == "HardSwish":
        return Act("hardswish", node.inputs[0], [*nodes, node])  # type: ignore[arg-type]
    if node.op_type == "Mul":
        for a, b in ((node.inputs[0], node.inputs[1]), (node.inputs[1], node.inputs[0])):
            sig = producer(b, "Sigmoid")
            if sig is not None and sig.inputs[0] is a:
                return Act("silu", a, [*nodes, node, sig])  # type: ignore[arg-type]
        raise Refusal("Mul between the excitation FCs is not SiLU")
    relu6_nodes: list[ir.Node] = []
    inner = _relu6_input(value, relu6_nodes)
    if inner is None:
        raise Refusal("Clip between the excitation FCs is not ReLU6")
    return Act("relu6", inner, [*nodes, *relu6_nodes])


# ---------------------------------------------------------------------------------- pooling
def match_global_pool(value: ir.Value, kind: str, x: ir.Value, opset: int) -> list[ir.Node]:
    """``value`` is global ``kind`` (``avg``/``max``) pooling of ``x`` over H and W.

    Accepts GlobalAveragePool/GlobalMaxPool and ReduceMean/ReduceMax over axes (2, 3) or
    (-2, -1), keepdims or not, axes as attribute (opset <= 17 for ReduceMax) or input.
    """
    nodes: list[ir.Node] = []
    value = skip_noise(value, nodes)
    global_op, reduce_op, pool_op = (
        ("GlobalAveragePool", "ReduceMean", "AveragePool") if kind == "avg" else ("GlobalMaxPool", "ReduceMax", "MaxPool")
    )
    node = producer(value, global_op, reduce_op, pool_op)
    if node is None:
        raise Refusal(f"squeeze is not {global_op}/{reduce_op}/{pool_op} (found {_op(value)})")
    if node.op_type == pool_op:
        _check_whole_map_pool(node, x)
    elif node.op_type == reduce_op:
        axes = _reduce_axes(node)
        rank = len(x.shape) if x.shape is not None else 4
        if axes is None or sorted(a % rank for a in axes) != [2, 3] or rank != 4:
            raise Refusal(f"{reduce_op} is not over the spatial axes (axes={axes})")
    if node.inputs[0] is not x:
        raise Refusal("squeeze input is not the tensor the gate multiplies")
    return [*nodes, node]


def _check_whole_map_pool(node: ir.Node, x: ir.Value) -> None:
    """AveragePool/MaxPool whose window is the whole feature map: ``F.avg_pool2d(x, x.size()[2:])``.

    The official CBAM code pools this way; with no padding, no ceil mode and a kernel equal to
    ``x``'s static H x W it is exactly global pooling (one output per channel, any stride).
    """
    kernel = attr_ints(node, "kernel_shape")
    spatial = list(x.shape)[2:] if x.shape is not None and len(x.shape) == 4 else None
    if spatial is None or not all(isinstance(d, int) for d in spatial):
        raise Refusal(f"{node.op_type} kernel {kernel} cannot be checked against the feature map (size unknown)")
    if kernel != spatial:
        raise Refusal(f"{node.op_type} kernel {kernel} is not the whole {spatial[0]}x{spatial[1]} feature map")
    auto_pad = node.attributes.get("auto_pad")
    if any(p != 0 for p in attr_ints(node, "pads", [0]) or [0]) or attr_int(node, "ceil_mode", 0) or (
        auto_pad is not None and auto_pad.as_string() not in ("NOTSET", "VALID")
    ) or any(d != 1 for d in attr_ints(node, "dilations", [1]) or [1]):
        raise Refusal(f"{node.op_type} over the feature map is padded, dilated or in ceil mode")


def match_channel_pool(value: ir.Value, x: ir.Value) -> tuple[str, list[ir.Node]]:
    """``value`` is the channel-wise mean or max of ``x`` with the channel axis kept (CBAM spatial branch).

    Kept either by ``keepdims=1`` or, as ``torch.max(x, 1)[0].unsqueeze(1)`` and
    ``torch.mean(x, 1).unsqueeze(1)`` export, by ``keepdims=0`` then ``Unsqueeze`` at axis 1.
    """
    nodes: list[ir.Node] = []
    unsqueeze = producer(value, "Unsqueeze")
    if unsqueeze is not None:
        axes = _unsqueeze_axes(unsqueeze)
        if axes is None or [a % 4 for a in axes] != [1]:
            raise Refusal(f"Unsqueeze before the spatial conv is not at the channel axis (axes={axes})")
        nodes.append(unsqueeze)
        value = unsqueeze.inputs[0]  # type: ignore[assignment]
    node = producer(value, "ReduceMean", "ReduceMax")
    if node is None:
        raise Refusal(f"spatial descriptor is not ReduceMean/ReduceMax (found {_op(value)})")
    axes = _reduce_axes(node)
    axis_kept = (attr_int(node, "keepdims", 1) == 1) != bool(nodes)  # by keepdims or by the Unsqueeze
    if axes is None or [a % 4 for a in axes] != [1] or not axis_kept:
        raise Refusal(f"{node.op_type} is not over the channel axis with the axis kept (axes={axes})")
    if node.inputs[0] is not x:
        raise Refusal("channel pooling input is not the tensor the gate multiplies")
    return ("mean" if node.op_type == "ReduceMean" else "max"), [*nodes, node]


def _unsqueeze_axes(node: ir.Node) -> list[int] | None:
    # Unsqueeze takes axes as an input from opset 13, as an attribute before.
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        arr = const_array(node.inputs[1])
        return None if arr is None else [int(a) for a in arr.reshape(-1)]
    return attr_ints(node, "axes")


def _reduce_axes(node: ir.Node) -> list[int] | None:
    if len(node.inputs) > 1 and node.inputs[1] is not None:
        arr = const_array(node.inputs[1])
        return None if arr is None else [int(a) for a in arr.reshape(-1)]
    return attr_ints(node, "axes")


def _op(value: ir.Value | None) -> str:
    if value is None:
        return "nothing"
    node = value.producer()
    if node is None:
        return "a graph input or constant"
    return node.op_type


# ---------------------------------------------------------------------------------- names
def module_path(nodes: list[ir.Node]) -> str | None:
    """The PyTorch module path shared by ``nodes``, from the exporter's scope information.

    dynamo writes ``pkg.torch.onnx.name_scopes`` (``['', 'layer1', 'layer1.0.se', 'mul_3']``)
    into node metadata; the legacy exporter names nodes ``/layer1/layer1.0/se/fc1/Conv``.
    The deepest scope common to all nodes of the block is the block's module.
    """
    scopes = [s for s in (_scope_of(n) for n in nodes) if s is not None]
    if not scopes:
        return None
    common = scopes[0]
    for s in scopes[1:]:
        n = 0
        while n < min(len(common), len(s)) and common[n] == s[n]:
            n += 1
        common = common[:n]
    return common[-1] if common and common[-1] else None


def _scope_of(node: ir.Node) -> list[str] | None:
    raw = node.metadata_props.get("pkg.torch.onnx.name_scopes")
    if raw:
        try:
            scopes = [str(s) for s in ast.literal_eval(raw)]
        except (ValueError, SyntaxError):
            return None
        return scopes[:-1]  # the last entry names the op, not a module
    name = node.name or ""
    if not name.startswith("/"):
        return None
    parts = [p for p in name.split("/") if p][:-1]
    paths: list[str] = []
    prev_part = ""
    for part in parts:
        # Sequential children appear as "layer1.0" under "layer1": join, don't repeat.
        if prev_part and part.startswith(prev_part + "."):
            suffix = part[len(prev_part) + 1 :]
        else:
            suffix = part
        paths.append(f"{paths[-1]}.{suffix}" if paths else suffix)
        prev_part = part
    return paths
