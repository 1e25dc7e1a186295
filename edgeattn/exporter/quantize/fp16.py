"""FP16 conversion with FP32 islands for reductions and gates.

The main graph goes through onnxconverter-common's ``convert_float_to_float16`` (FP32 graph
inputs/outputs by default, ``keep_io_types``), with reductions (GlobalAveragePool/ReduceMean over
large maps can overflow FP16's 65504 or lose the mean: TensorRT#2564, #3101) and gates (a small
sigmoid output rounds to 0 in FP16: onnxruntime PR #14784) on its block list, so they run in
FP32 between Cast nodes.

onnxconverter-common does not look into ``model.functions``: a folded ``edgeattn::`` node is
treated as an opaque op whose inputs (and weights) become FP16. ONNX function bodies are typed at
the call site, so the body then runs in FP16 as well. :func:`make_function_bodies_precision_safe`
makes the body explicit instead: every reduction/gate inside computes in FP32
(``Cast(to=FLOAT)`` in front, ``CastLike(.., x)`` behind, ``x`` being the block input) and every
float ``Constant`` is ``CastLike``'d to the input type. Because it casts *like the input*, one
body serves both an FP16 call and an FP32 one (a call the user kept in FP32).
"""

from __future__ import annotations

from collections.abc import Sequence

import onnx
from onnx import FunctionProto, NodeProto, helper

from ...errors import QuantizationError
from ...graph import DOMAIN, attention_calls
from ._graph import ensure_node_names
from .policy import GATE_OPS, REDUCTION_OPS, PrecisionPolicy
from .report import NodePrecision, fp16_node_report

# Reductions whose FP16 accumulation overflows or loses precision over large maps, plus Pow.
FP32_REDUCTION_OPS: tuple[str, ...] = (*sorted(REDUCTION_OPS), "ReduceSum", "ReduceL2", "ReduceSumSquare", "Pow")
FP32_GATE_OPS: tuple[str, ...] = tuple(sorted(GATE_OPS))


def default_fp32_op_types(quantize_attention: bool = False) -> tuple[str, ...]:
    """Op types kept in FP32: reductions always, gates unless ``quantize_attention``."""
    return FP32_REDUCTION_OPS if quantize_attention else (*FP32_REDUCTION_OPS, *FP32_GATE_OPS)


def _float_constant(node: NodeProto) -> bool:
    if node.op_type != "Constant":
        return False
    for attr in node.attribute:
        if attr.name == "value" and attr.t.data_type == onnx.TensorProto.FLOAT:
            return True
        if attr.name in ("value_float", "value_floats"):
            return True
    return False


def make_function_bodies_precision_safe(model: onnx.ModelProto, fp32_op_types: Sequence[str]) -> int:
    """Rewrite the ``edgeattn`` function bodies in place (see module docstring); returns #casts."""
    fp32 = set(fp32_op_types)
    added = 0
    for function in model.functions:
        if function.domain != DOMAIN or not function.input:
            continue
        reference = function.input[0]  # the feature map: the type the block is called with
        body: list[NodeProto] = []
        for index, node in enumerate(function.node):
            tag = f"{node.op_type}_{index}"
            if _float_constant(node):
                raw = f"{node.output[0]}__fp32const"
                const = NodeProto()
                const.CopyFrom(node)
                out = const.output[0]
                const.output[0] = raw
                body += [const, helper.make_node("CastLike", [raw, reference], [out], name=f"{tag}/castlike")]
                added += 1
                continue
            if node.op_type not in fp32:
                body.append(node)
                continue
            copy = NodeProto()
            copy.CopyFrom(node)
            if copy.input and copy.input[0]:
                cast_in = f"{copy.input[0]}__to_fp32_{index}"
                body.append(helper.make_node("Cast", [copy.input[0]], [cast_in], to=onnx.TensorProto.FLOAT, name=f"{tag}/cast_in"))
                copy.input[0] = cast_in
                added += 1
            outputs = list(copy.output)
            back: list[NodeProto] = []
            for slot, out in enumerate(outputs):
                if not out:
                    continue
                raw = f"{out}__fp32"
                copy.output[slot] = raw
                back.append(helper.make_node("CastLike", [raw, reference], [out], name=f"{tag}/cast_out{slot}"))
                added += 1
            body += [copy, *back]
        _set_body(function, body)
    return added


def _set_body(function: FunctionProto, body: list[NodeProto]) -> None:
    del function.node[:]
    function.node.extend(body)
    # CastLike needs opset 15; the folding pass exports at 17/18, but say so if it did not.
    version = next((o.version for o in function.opset_import if o.domain in ("", "ai.onnx")), None)
    if version is not None and version < 15:
        raise QuantizationError(
            f"attention function {function.name} uses opset {version}; FP16 conversion needs >= 15",
            hint="re-export with --opset 17 or newer (an ONNX from another exporter: edgeattn fold --convert-opset 17)",
        )


def convert_fp16(
    model: onnx.ModelProto,
    policy: PrecisionPolicy,
    *,
    keep_io_types: bool = True,
    fp32_op_types: Sequence[str] | None = None,
) -> tuple[onnx.ModelProto, list[NodePrecision]]:
    """Convert ``model`` to FP16 under ``policy``; returns the model and the node report."""
    from onnxconverter_common import float16

    ensure_node_names(model.graph)
    ops = tuple(fp32_op_types) if fp32_op_types is not None else default_fp32_op_types(policy.quantize_attention)
    ops = (*ops, *policy.exclude_op_types)
    reasons: dict[str, str] = {}
    node_block_list: list[str] = []  # the user's exclusions; op types go on the op block list
    for node in model.graph.node:
        user = policy.user_reason(node)
        if user is not None:
            reasons[node.name] = user
            node_block_list.append(node.name)
        elif node.op_type in ops:
            reasons[node.name] = f"{node.op_type} kept in FP32 (overflow / underflow in FP16)"
    block_names = [n.name for n in attention_calls(model)]
    make_function_bodies_precision_safe(model, ops)
    try:
        converted = float16.convert_float_to_float16(
            model,
            keep_io_types=keep_io_types,
            op_block_list=list(set(float16.DEFAULT_OP_BLOCK_LIST) | set(ops)),
            node_block_list=node_block_list,
        )
    except ValueError as exc:
        raise QuantizationError(f"FP16 conversion failed: {exc}", hint="pass an FP32 model") from exc
    # The report reads the unconverted graph: the converter works on a shape-inferred copy.
    return converted, fp16_node_report(model, reasons, block_names)
