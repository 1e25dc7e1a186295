"""Attention-aware precision policy: which nodes stay out of low precision, and why.

SE (Hu et al. 2018, Eq. 2-4) and CBAM (Woo et al. 2018, Eq. 1-3) blocks end in a gated product
``x * sigma(f(pool(x)))``. What of it stays out of low precision is the policy's ``attention``
mode:

* ``"fp32"``: the whole gate path, from the pooling reductions through the excitation MLP /
  spatial conv and the gate to the scaling multiply (folded blocks are left folded);
* ``"gate"``: only the gate (Sigmoid / HardSigmoid and the layout ops behind it) and the scaling
  multiply; pooling and the MLP / 7x7 conv go to INT8. The default of ``quantize(..., "int8")``:
  on the trained CIFAR-10 examples it kept the accuracy of ``"fp32"`` at a lower cost
  (docs/precision.md, "CIFAR-10 examples");
* ``"int8"`` (``quantize_attention=True``): nothing.

Gate paths are found two ways:

* folded graphs: every ``edgeattn::`` node (ONNX local function) *is* a gate path;
* plain graphs (``--fold none``, a third-party export, a block the folding rules refused): a
  ``Mul(x, g)`` where ``g`` comes from ``Sigmoid``/``HardSigmoid`` or the hard sigmoid written
  out, ``relu6(z + 3) / 6`` (Keras' MobileNetV3 through tf2onnx; Howard et al. 2019, Eq. 2)
  (through layout ops and an
  ``Expand`` to ``x``'s shape: ``y.view(b, c, 1, 1)``, ``expand_as(x)``) whose ancestors, walked
  back through MLP-like ops, all end in reductions (``ReduceMean``/``ReduceMax``/
  ``GlobalAveragePool``/``GlobalMaxPool``, or an ``AveragePool``/``MaxPool`` as the official CBAM
  code writes its global pooling) of that same ``x``. SiLU/Swish (``x * sigmoid(x)``, no
  reduction) does not match.

Every other sigmoid-gated product (``x * sigmoid(f(x))`` that is neither SiLU nor a recognised
path, e.g. a gated conv) is listed by :func:`unprotected_gates`, so quantizing it is never silent.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import onnx
from onnx import NodeProto

from ...errors import InputError
from ...graph import attention_calls
from ._graph import constant_outputs, initializer_names, producers

GATE_OPS = frozenset({"Sigmoid", "HardSigmoid"})
ATTENTION_MODES = ("fp32", "gate", "int8")
# Inside an inlined edgeattn:: block (nodes named "<block>/<Kind>_<i>_<Op>"), the gate and the
# scaling multiply. The canonical bodies (exporter/fold/functions.py) have no other Sigmoid or Mul,
# except a SiLU activation inside an EfficientNet-style excitation MLP, which then stays FP32 too.
_INLINED_GATE_OPS = frozenset({"Sigmoid", "HardSigmoid", "Mul"})
REDUCTION_OPS = frozenset({"ReduceMean", "ReduceMax", "GlobalAveragePool", "GlobalMaxPool"})
# Windowed pooling ends a gate walk too (F.avg_pool2d(x, x.size()[2:]) in the official CBAM code);
# kept apart from REDUCTION_OPS, which FP16 conversion keeps in FP32 everywhere.
_POOL_OPS = frozenset({"AveragePool", "MaxPool"})
# Layout ops between the gate and the scaling Mul (view(b, c, 1, 1), unsqueeze, expand_as(x)).
_LAYOUT_OPS = frozenset({"Reshape", "Unsqueeze", "Squeeze", "Flatten", "Identity", "Expand"})
# Ops allowed between the reductions and the gate (excitation MLP, spatial conv, layout glue).
_PATH_OPS = frozenset(
    {
        "Conv", "Gemm", "MatMul", "Add", "Relu", "Clip", "LeakyRelu", "PRelu", "HardSwish", "Silu",
        "BatchNormalization", "Concat", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose",
        "Identity", "Cast", "Shape", "ReduceSum", "Slice", "Split",
        # SiLU / hard-swish inside an excitation MLP (EfficientNet, MobileNetV3): safe to walk
        # through because a match still needs every reduction to read the multiplied feature map.
        "Mul", "Sigmoid", "HardSigmoid",
    }
)
_MAX_PATH_NODES = 32


@dataclass(frozen=True)
class GatePath:
    """One attention gate found in a graph: its kind, its nodes (by name) and the scaling Mul."""

    kind: str
    nodes: tuple[str, ...]
    scale_node: str
    folded: bool = False
    gate: tuple[str, ...] = ()  # the gate, the layout ops behind it and the scaling Mul


@dataclass
class PrecisionPolicy:
    """What stays in high precision. Node names are regular expressions (``re.search``).

    ``attention``: one of ATTENTION_MODES (module docstring); ``None`` means ``"int8"`` when
    ``quantize_attention`` else ``"fp32"``. ``quantize_attention`` ends up True only for ``"int8"``.
    """

    quantize_attention: bool = False
    exclude_nodes: Sequence[str] = field(default_factory=tuple)
    exclude_op_types: Sequence[str] = field(default_factory=tuple)
    attention: str | None = None

    def __post_init__(self) -> None:
        self.exclude_nodes = tuple(self.exclude_nodes)
        self.exclude_op_types = tuple(self.exclude_op_types)
        if self.attention is None:
            self.attention = "int8" if self.quantize_attention else "fp32"
        if self.attention not in ATTENTION_MODES:
            raise InputError(f"--attention-policy: received {self.attention!r}, expected one of {list(ATTENTION_MODES)}")
        if self.quantize_attention and self.attention != "int8":
            raise InputError(f"--quantize-attention with --attention-policy {self.attention}: received both, expected one")
        self.quantize_attention = self.attention == "int8"
        for pattern in self.exclude_nodes:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise InputError(
                    f"--exclude-nodes: received {pattern!r}, expected a regular expression ({exc})"
                ) from None

    def to_dict(self) -> dict[str, object]:
        return {
            "attention": self.attention,
            "quantize_attention": self.quantize_attention,
            "exclude_nodes": list(self.exclude_nodes),
            "exclude_op_types": list(self.exclude_op_types),
        }

    def user_reason(self, node: NodeProto) -> str | None:
        """Why the user's lists keep ``node`` in high precision, or ``None``."""
        if node.op_type in self.exclude_op_types:
            return f"excluded op type {node.op_type} (--exclude-op-types)"
        for pattern in self.exclude_nodes:
            if re.search(pattern, node.name):
                return f"excluded by name /{pattern}/ (--exclude-nodes)"
        return None


def _guess_kind(reductions: list[NodeProto], graph_constants: dict[str, list[int]]) -> str:
    ops = {r.op_type for r in reductions}
    ops = {{"AveragePool": "GlobalAveragePool", "MaxPool": "GlobalMaxPool"}.get(op, op) for op in ops}
    spatial = False
    for node in reductions:
        axes = [a.ints for a in node.attribute if a.name == "axes"]
        values = list(axes[0]) if axes else graph_constants.get(node.input[1], []) if len(node.input) > 1 else []
        if values and all(v in (1, -3) for v in values):
            spatial = True
    if spatial:
        return "SpatialAttention"
    has_max = bool(ops & {"ReduceMax", "GlobalMaxPool"})
    has_mean = bool(ops & {"ReduceMean", "GlobalAveragePool"})
    return "ChannelAttention" if has_max and has_mean else "SqueezeExcite"


def _int_constants(graph: onnx.GraphProto) -> dict[str, list[int]]:
    from onnx import numpy_helper

    table: dict[str, list[int]] = {}
    for tensor in graph.initializer:
        if tensor.data_type == onnx.TensorProto.INT64 and len(tensor.dims) <= 1:
            table[tensor.name] = [int(v) for v in numpy_helper.to_array(tensor).reshape(-1)]
    for node in graph.node:
        if node.op_type == "Constant":
            for attr in node.attribute:
                if attr.name == "value" and attr.t.data_type == onnx.TensorProto.INT64:
                    table[node.output[0]] = [int(v) for v in numpy_helper.to_array(attr.t).reshape(-1)]
    return table


def find_gate_paths(model: onnx.ModelProto) -> list[GatePath]:
    """Gate paths of the main graph: folded ``edgeattn::`` calls plus plain-graph SE/CBAM gates."""
    graph = model.graph
    paths = [GatePath(n.op_type, (n.name,), n.name, folded=True) for n in attention_calls(model)]
    made_by = producers(graph)
    leaves = initializer_names(graph) | constant_outputs(graph)
    graph_inputs = {i.name for i in graph.input}
    constants = _int_constants(graph)
    scalars = _float_scalars(graph)
    for mul in graph.node:
        if mul.op_type != "Mul" or len(mul.input) != 2:
            continue
        for gate_slot in (0, 1):
            gate, layout = _gate_behind_layout(mul.input[gate_slot], made_by, scalars)
            if gate is None:
                continue
            feature = mul.input[1 - gate_slot]
            found = _walk_gate(gate, made_by, leaves, graph_inputs)
            if found is None:
                continue
            nodes, reductions = found
            if not reductions or any(r.input[0] != feature for r in reductions):
                continue
            on_path = {m.name for m in [*nodes, *layout]}  # built once, not once per graph node
            ordered = [n.name for n in graph.node if n.name in on_path]
            gate_part = (gate.name, *(m.name for m in layout), mul.name)
            paths.append(GatePath(_guess_kind(reductions, constants), (*ordered, mul.name), mul.name, gate=gate_part))
            break
    return paths


def _gate_behind_layout(
    name: str, made_by: dict[str, NodeProto], scalars: dict[str, float] | None = None
) -> tuple[NodeProto | None, list[NodeProto]]:
    """The gate behind ``name`` and the nodes passed on the way, or ``(None, [])``.

    The gate is a Sigmoid/HardSigmoid node, or for ``relu6(z + 3) / 6`` the ``Add`` (whose first
    input is ``z``, as a Sigmoid's is), with the Div/Mul and the Clip (or Min/Max) among the nodes passed.
    """
    layout: list[NodeProto] = []
    node = made_by.get(name)
    while node is not None and node.op_type in _LAYOUT_OPS and len(layout) < 8:
        layout.append(node)
        node = made_by.get(node.input[0])
    if node is not None and node.op_type in ("Div", "Mul") and scalars is not None:
        written_out = _written_out_hard_sigmoid(node, made_by, scalars)
        if written_out is not None:
            return written_out[0], [*layout, *written_out[1]]
    if node is None or node.op_type not in GATE_OPS:
        return None, []
    return node, layout


def _written_out_hard_sigmoid(
    node: NodeProto, made_by: dict[str, NodeProto], scalars: dict[str, float]
) -> tuple[NodeProto, list[NodeProto]] | None:
    """``(Add, [Div|Mul, Clip|Min, Max])`` when ``node`` is ``relu6(z + 3) / 6`` or ``* (1/6)``."""

    def scalar(name: str, value: float) -> bool:
        return name in scalars and abs(scalars[name] - value) < 1e-6

    if len(node.input) != 2 or not scalar(node.input[1], 6.0 if node.op_type == "Div" else 1 / 6):
        return None
    passed = [node]
    relu6 = made_by.get(node.input[0])
    if relu6 is not None and relu6.op_type == "Clip" and len(relu6.input) == 3:
        if not (scalar(relu6.input[1], 0.0) and scalar(relu6.input[2], 6.0)):
            return None
        passed.append(relu6)
    elif relu6 is not None and relu6.op_type == "Min" and scalar(relu6.input[1], 6.0):
        low = made_by.get(relu6.input[0])
        if low is None or low.op_type != "Max" or not scalar(low.input[1], 0.0):
            return None
        passed += [relu6, low]
        relu6 = low
    else:
        return None
    add = made_by.get(relu6.input[0])
    if add is None or add.op_type != "Add" or not scalar(add.input[1], 3.0):
        return None
    return add, passed


def _float_scalars(graph: onnx.GraphProto) -> dict[str, float]:
    """Single-element float constants (initializers and Constant nodes) by name."""
    from onnx import numpy_helper

    tensors = [(t.name, t) for t in graph.initializer]
    tensors += [(n.output[0], a.t) for n in graph.node if n.op_type == "Constant" for a in n.attribute if a.name == "value"]
    table: dict[str, float] = {}
    for name, tensor in tensors:
        if tensor.data_type in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE, onnx.TensorProto.FLOAT16):
            array = numpy_helper.to_array(tensor)
            if array.size == 1:
                table[name] = float(array.reshape(()))
    return table


def unprotected_gates(model: onnx.ModelProto, paths: Sequence[GatePath]) -> list[str]:
    """Scaling Muls of sigmoid-gated products that are not gate paths (and not SiLU/Swish).

    ``x * sigmoid(g(x))`` outside any recognised SE/CBAM path: a block the folding rules and the
    plain-graph walk did not recognise, or a gate of another kind (a gated conv). Quantize lists
    them in a warning instead of putting them in INT8 silently.
    """
    made_by = producers(model.graph)
    scalars = _float_scalars(model.graph)
    covered = {path.scale_node for path in paths}
    found: list[str] = []
    for mul in model.graph.node:
        if mul.op_type != "Mul" or len(mul.input) != 2 or mul.name in covered:
            continue
        for gate_slot in (0, 1):
            gate, _ = _gate_behind_layout(mul.input[gate_slot], made_by, scalars)
            if gate is not None and gate.input[0] != mul.input[1 - gate_slot]:  # x * sigmoid(x) is SiLU
                found.append(mul.name)
                break
    return found


def _walk_gate(
    gate: NodeProto, made_by: dict[str, NodeProto], leaves: set[str], graph_inputs: set[str]
) -> tuple[list[NodeProto], list[NodeProto]] | None:
    """Nodes from the gate back to the reductions, or ``None`` when the walk leaves the pattern."""
    nodes: dict[str, NodeProto] = {gate.name: gate}
    reductions: list[NodeProto] = []
    stack = [gate]
    while stack:
        node = stack.pop()
        if node.op_type in REDUCTION_OPS or node.op_type in _POOL_OPS:
            reductions.append(node)
            continue  # the reduction's input is the feature map itself: stop here
        if node.op_type == "Shape":
            continue  # reads x's shape (expand_as(x), view(b, c)), not its values
        for name in node.input:
            if not name or name in leaves:
                continue
            if name in graph_inputs:
                return None
            parent = made_by.get(name)
            if parent is None:
                return None
            if parent.name in nodes:
                continue
            if parent.op_type not in _PATH_OPS and parent.op_type not in REDUCTION_OPS | _POOL_OPS | _LAYOUT_OPS:
                return None
            nodes[parent.name] = parent
            if len(nodes) > _MAX_PATH_NODES:
                return None
            stack.append(parent)
    return list(nodes.values()), reductions


def gate_nodes(paths: Sequence[GatePath]) -> dict[str, GatePath]:
    """Node name -> the gate path it belongs to."""
    return {name: path for path in paths for name in path.nodes}


def high_precision_nodes(
    model: onnx.ModelProto, policy: PrecisionPolicy, paths: Sequence[GatePath] | None = None,
    inlined_blocks: Sequence[str] = (),
) -> dict[str, str]:
    """Node name -> reason, for every main-graph node the policy keeps out of low precision.

    ``inlined_blocks``: names of the ``edgeattn::`` calls inlined before quantization (their
    nodes are named ``<block>/...``); under ``attention="gate"`` their gate and scaling Mul stay FP32.
    """
    paths = find_gate_paths(model) if paths is None else paths
    in_gate = gate_nodes(paths)
    gate_ops = {name: path.kind for path in paths for name in path.gate}
    prefixes = tuple(f"{block}/" for block in inlined_blocks)
    reasons: dict[str, str] = {}
    for node in model.graph.node:
        user = policy.user_reason(node)
        if user is not None:
            reasons[node.name] = user
        elif node.name in in_gate and policy.attention == "fp32":
            path = in_gate[node.name]
            reasons[node.name] = (
                f"folded edgeattn::{path.kind} block kept in FP32 (attention-aware policy)"
                if path.folded
                else f"{path.kind} gate path kept in FP32 (attention-aware policy)"
            )
        elif policy.attention == "gate":
            in_block = node.name.startswith(prefixes)
            if (in_block and node.op_type in _INLINED_GATE_OPS) or node.name in gate_ops:
                where = node.name.split("/", 1)[0] if in_block else f"a {gate_ops[node.name]}"
                reasons[node.name] = f"gate and scaling Mul of {where} kept in FP32 (attention policy 'gate')"
    return reasons

