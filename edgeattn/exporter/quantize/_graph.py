"""ONNX graph helpers shared by the FP16 and INT8 passes.

Folded attention blocks are ``edgeattn::*`` nodes backed by ONNX local functions (FunctionProto,
ONNX IR v8+). ``onnx.inliner`` and onnx-ir's ``InlinePass`` both drop the call-site name from the
inlined nodes, which would leave the precision report unable to say which block a node came from,
so :func:`inline_attention_functions` prefixes every inlined node and value with the block path.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import onnx
from onnx import AttributeProto, FunctionProto, ModelProto, NodeProto

from ...errors import InputError, QuantizationError

ATTENTION_DOMAIN = "edgeattn"
ATTENTION_OPS = frozenset({"SqueezeExcite", "ChannelAttention", "SpatialAttention"})


def load_onnx(path: str | os.PathLike[str]) -> ModelProto:
    """Load an ONNX file; a missing or unparsable file is an :class:`InputError`."""
    if not os.path.exists(path):
        raise InputError(f"ONNX model not found: {os.fspath(path)}", hint="export one with `edgeattn export`")
    try:
        return onnx.load(os.fspath(path))
    except Exception as exc:  # onnx raises DecodeError / OSError subclasses depending on the build
        raise InputError(f"cannot read ONNX model {os.fspath(path)}: {exc}", hint="pass a .onnx file") from exc


def ensure_node_names(graph: onnx.GraphProto) -> None:
    """Give every node a unique name: ORT's ``nodes_to_exclude`` and our report key on names."""
    seen: set[str] = set()
    for index, node in enumerate(graph.node):
        name = node.name or f"{node.op_type}_{index}"
        while name in seen:
            name = f"{name}_{index}"
        node.name = name
        seen.add(name)


def is_attention_call(node: NodeProto) -> bool:
    return node.domain == ATTENTION_DOMAIN


def attention_calls(model: ModelProto) -> list[NodeProto]:
    return [n for n in model.graph.node if is_attention_call(n)]


def function_key(node_or_function: NodeProto | FunctionProto) -> tuple[str, str, str]:
    """(domain, name, overload): ONNX IR 10 tells function variants apart by ``overload``."""
    name = node_or_function.name if isinstance(node_or_function, FunctionProto) else node_or_function.op_type
    return (node_or_function.domain, name, getattr(node_or_function, "overload", ""))


def function_map(model: ModelProto) -> dict[tuple[str, str, str], FunctionProto]:
    return {function_key(f): f for f in model.functions}


def initializer_names(graph: onnx.GraphProto) -> set[str]:
    return {t.name for t in graph.initializer} | {t.values.name for t in graph.sparse_initializer}


def constant_outputs(graph: onnx.GraphProto) -> set[str]:
    return {o for n in graph.node if n.op_type == "Constant" for o in n.output}


def _has_attribute_refs(function: FunctionProto) -> bool:
    return any(a.ref_attr_name for n in function.node for a in n.attribute)


def _substitute_attributes(node: NodeProto, call: NodeProto, function: FunctionProto) -> None:
    """Resolve ``ref_attr_name`` attributes of a body node against the call site (ONNX IR spec)."""
    given = {a.name: a for a in call.attribute}
    defaults = {a.name: a for a in function.attribute_proto}
    resolved: list[AttributeProto] = []
    for attr in node.attribute:
        if not attr.ref_attr_name:
            resolved.append(attr)
            continue
        source = given.get(attr.ref_attr_name) or defaults.get(attr.ref_attr_name)
        if source is None:
            continue  # an unset optional attribute: the op default applies
        copy = AttributeProto()
        copy.CopyFrom(source)
        copy.name = attr.name
        resolved.append(copy)
    del node.attribute[:]
    node.attribute.extend(resolved)


def inline_attention_functions(model: ModelProto, only: Iterable[str] | None = None) -> ModelProto:
    """Inline ``edgeattn::`` calls (all, or those whose node name is in ``only``) into the graph.

    Inlined nodes are named ``<call name>/<body node name or op_type_i>`` and internal values
    ``<call name>/<value>``, so a node's block stays readable. Call-site input and output tensor
    names are kept, so ``edgeattn.blocks`` entries (input/output tensor names) stay valid.
    Functions no longer called are removed.
    """
    selected = set(only) if only is not None else None
    result = ModelProto()
    result.CopyFrom(model)
    functions = function_map(result)
    # Nested attention calls inside a body are inlined on the next round.
    for _ in range(8):
        new_nodes: list[NodeProto] = []
        changed = False
        for call in result.graph.node:
            key = function_key(call)
            if not is_attention_call(call) or key not in functions or (
                selected is not None and call.name not in selected
            ):
                new_nodes.append(call)
                continue
            function = functions[key]
            prefix = call.name or f"{call.op_type}_{len(new_nodes)}"
            rename: dict[str, str] = {"": ""}
            rename.update({formal: actual for formal, actual in zip(function.input, call.input)})
            for formal in list(function.input)[len(call.input) :]:
                rename[formal] = ""  # an omitted optional input
            rename.update({formal: actual for formal, actual in zip(function.output, call.output)})
            for index, body in enumerate(function.node):
                node = NodeProto()
                node.CopyFrom(body)
                node.name = f"{prefix}/{body.name or f'{body.op_type}_{index}'}"
                node.input[:] = [rename.get(v, f"{prefix}/{v}") for v in body.input]
                node.output[:] = [rename.setdefault(v, f"{prefix}/{v}") for v in body.output]
                if _has_attribute_refs(function):
                    _substitute_attributes(node, call, function)
                if any(a.type in (AttributeProto.GRAPH, AttributeProto.GRAPHS) for a in node.attribute):
                    raise QuantizationError(
                        f"attention block {call.name!r} holds a control-flow subgraph; expected plain ops",
                        hint="re-export with --fold none",
                    )
                new_nodes.append(node)
            changed = True
        if not changed:
            break
        del result.graph.node[:]
        result.graph.node.extend(new_nodes)
    still_called = {function_key(n) for n in result.graph.node}
    for f in result.functions:
        still_called |= {function_key(n) for n in f.node}
    kept = [f for f in result.functions if function_key(f) in still_called]
    del result.functions[:]
    result.functions.extend(kept)
    _merge_function_opsets(result, model.functions)
    return result


def _merge_function_opsets(model: ModelProto, functions: Iterable[FunctionProto]) -> None:
    have = {o.domain: o.version for o in model.opset_import}
    for function in functions:
        for opset in function.opset_import:
            if opset.domain not in have:
                model.opset_import.append(onnx.helper.make_opsetid(opset.domain, opset.version))
                have[opset.domain] = opset.version
            elif have[opset.domain] != opset.version:
                raise QuantizationError(
                    f"attention function {function.name} uses opset {opset.domain or 'ai.onnx'}:{opset.version}, "
                    f"the model {have[opset.domain]}; expected one opset version",
                    hint="re-export the model so the functions and graph share one opset",
                )


def producers(graph: onnx.GraphProto) -> dict[str, NodeProto]:
    return {o: n for n in graph.node for o in n.output if o}


def consumers(graph: onnx.GraphProto) -> dict[str, list[NodeProto]]:
    table: dict[str, list[NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            if name:
                table.setdefault(name, []).append(node)
    return table


def block_of(node_name: str, block_names: Iterable[str]) -> str | None:
    """The attention block an inlined node came from (longest ``<block>/`` prefix), if any."""
    best = None
    for block in block_names:
        if node_name == block or node_name.startswith(block + "/"):
            if best is None or len(block) > len(best):
                best = block
    return best
