"""Inline ``edgeattn::`` function calls with the block path as the name prefix (pure ONNX).

ONNX local functions (ONNX IR spec, "Functions") keep each attention block one node; runtimes
inline them on load and name the inlined nodes after the *function*, which loses which block a
node came from (ONNX Runtime: ``_inlfunc_SqueezeExcite_...``; TensorRT's parser: body-node names
with one global suffix counter, docs/tensorrt.md F10; ``onnx.inliner`` and onnx-ir's
``InlinePass`` drop the call-site name too). Inlining here names every body node and every
intermediate tensor ``<block>/<name>``, so a profile, an engine layer or a quantization report
stays attributable to its block on every runtime. Call-site input and output tensor names are
kept, so the recorded blocks (which name them) stay valid.

The one inliner of the project: the INT8 pass (``edgeattn.exporter.quantize.int8``), the
per-block profile (``edgeattn.bench.profile``) and the TensorRT graph preparation
(``edgeattn.tensorrt.prepare``) all call :func:`inline_functions`.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, NamedTuple

from ..errors import InputError
from .vocabulary import DOMAIN


class Inlined(NamedTuple):
    """The inlined model and ``{block name: op type}`` in graph order."""

    model: Any  # onnx.ModelProto
    blocks: dict[str, str]


def is_attention_call(node: Any) -> bool:
    """Whether ``node`` calls a folded attention block (a node of the ``edgeattn`` domain)."""
    return bool(node.domain == DOMAIN)


def attention_calls(model: Any) -> list[Any]:
    """The top-level graph's ``edgeattn::`` nodes, in graph order."""
    return [n for n in model.graph.node if is_attention_call(n)]


def function_key(node_or_function: Any) -> tuple[str, str, str]:
    """(domain, name, overload) of a call or a FunctionProto: ONNX IR 10 tells overloads apart."""
    import onnx

    name = node_or_function.name if isinstance(node_or_function, onnx.FunctionProto) else node_or_function.op_type
    return (node_or_function.domain, name, getattr(node_or_function, "overload", ""))


def inline_functions(model: Any, *, keep: Collection[str] = (), only: Collection[str] | None = None) -> Inlined:
    """Inline ``edgeattn::`` calls into the graph, prefixing node and tensor names with the block.

    ``only`` (call-site node names) restricts which blocks are inlined (with the calls inside
    them); calls whose op type is in
    ``keep`` (an op a TensorRT plugin implements) stay as they are, with their function. Blocks the
    exporter inlined already (``--fold inline``: nodes named ``<block>/...``) are recognised from
    the recorded blocks (:class:`edgeattn.artifact.ArtifactInfo`) and their tensors prefixed the same way. Functions no longer
    called are removed and the functions' opsets merged into the model's. ``model`` is not changed.
    """
    import onnx

    from ..artifact import ArtifactInfo

    result = onnx.ModelProto()
    result.CopyFrom(model)
    functions = {function_key(f): f for f in result.functions}
    selected = set(only) if only is not None else None
    blocks: dict[str, str] = {}
    block_outputs: set[str] = set()
    # A body may itself call an edgeattn function; each round inlines one level. Without recursion
    # (which ONNX forbids, IR spec "Functions") a chain of calls is at most len(functions) deep.
    for _ in range(len(functions) + 1):
        new_nodes: list[Any] = []
        changed = False
        for index, call in enumerate(result.graph.node):
            key = function_key(call)
            if (
                not is_attention_call(call)
                or key not in functions
                or call.op_type in keep
                or (selected is not None and call.name not in selected)
            ):
                new_nodes.append(call)
                continue
            prefix = call.name or f"{call.op_type}_{index}"
            blocks.setdefault(prefix, call.op_type)
            block_outputs.update(o for o in call.output if o)
            body = _expand(call, functions[key], prefix)
            if selected is not None:  # a call inside a selected block belongs to it
                selected.update(n.name for n in body if is_attention_call(n))
            new_nodes.extend(body)
            changed = True
        if not changed:
            break
        del result.graph.node[:]
        result.graph.node.extend(new_nodes)
    else:
        raise InputError(
            f"edgeattn:: function calls nest deeper than the model's {len(functions)} function(s): "
            "a function calls itself; expected a call graph without cycles (ONNX IR spec)"
        )
    _drop_unused_functions(result)
    _merge_function_opsets(result, model.functions)
    remaining = {n.name for n in attention_calls(result)}
    for entry in ArtifactInfo.from_proto(model).blocks:
        if isinstance(entry, dict) and entry.get("name") and str(entry["name"]) not in remaining:
            blocks.setdefault(str(entry["name"]), str(entry.get("op_type", "block")))
            if entry.get("output"):
                block_outputs.add(str(entry["output"]))
    _prefix_internal_tensors(result, blocks, block_outputs)
    return Inlined(result, blocks)


def _expand(call: Any, function: Any, prefix: str) -> list[Any]:
    """The body of ``function`` as graph nodes for ``call``, names under ``prefix``."""
    import onnx

    rename: dict[str, str] = {"": ""}
    rename.update(zip(function.input, call.input))
    for formal in list(function.input)[len(call.input) :]:
        rename[formal] = ""  # an omitted optional input
    rename.update(zip(function.output, call.output))
    out = []
    for index, body in enumerate(function.node):
        node = onnx.NodeProto()
        node.CopyFrom(body)
        node.name = f"{prefix}/{body.name or f'{body.op_type}_{index}'}"
        node.input[:] = [rename.get(v, f"{prefix}/{v}") for v in body.input]
        node.output[:] = [rename.setdefault(v, f"{prefix}/{v}") for v in body.output]
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            # The subgraph's references to body values would need renaming too; folded blocks are
            # straight-line code, so a subgraph means a model this toolkit did not write.
            raise InputError(
                f"edgeattn block {prefix!r} holds a control-flow subgraph ({body.op_type}); expected plain ops",
                hint="re-export with --fold none",
            )
        _resolve_attributes(node, call, function)
        out.append(node)
    return out


def _resolve_attributes(node: Any, call: Any, function: Any) -> None:
    """Replace ``ref_attr_name`` attributes by the call site's value or the function default."""
    import onnx

    if not any(a.ref_attr_name for a in node.attribute):
        return
    given = {a.name: a for a in call.attribute}
    defaults = {a.name: a for a in function.attribute_proto}
    resolved = []
    for attr in node.attribute:
        if not attr.ref_attr_name:
            resolved.append(attr)
            continue
        source = given.get(attr.ref_attr_name) or defaults.get(attr.ref_attr_name)
        if source is None:
            continue  # an optional attribute not given: the op's default applies
        copy = onnx.AttributeProto()
        copy.CopyFrom(source)
        copy.name = attr.name
        resolved.append(copy)
    del node.attribute[:]
    node.attribute.extend(resolved)


def _drop_unused_functions(model: Any) -> None:
    """Keep the functions the graph calls, directly or from another kept function's body."""
    by_key = {function_key(f): f for f in model.functions}
    called: set[tuple[str, str, str]] = set()
    pending = [function_key(n) for n in model.graph.node]
    while pending:
        key = pending.pop()
        if key in by_key and key not in called:
            called.add(key)
            pending.extend(function_key(n) for n in by_key[key].node)
    kept = [f for f in model.functions if function_key(f) in called]
    del model.functions[:]
    model.functions.extend(kept)


def _merge_function_opsets(model: Any, functions: Iterable[Any]) -> None:
    """Give the model the opsets the inlined bodies were written in (one version per domain)."""
    import onnx

    have = {o.domain: o.version for o in model.opset_import}
    for function in functions:
        for opset in function.opset_import:
            if opset.domain not in have:
                model.opset_import.append(onnx.helper.make_opsetid(opset.domain, opset.version))
                have[opset.domain] = opset.version
            elif have[opset.domain] != opset.version:
                raise InputError(
                    f"edgeattn function {function.name} uses opset {opset.domain or 'ai.onnx'}:{opset.version}, "
                    f"the model {have[opset.domain]}; expected one opset version",
                    hint="re-export the model so the functions and graph share one opset",
                )


def block_of(name: str, blocks: Iterable[str]) -> str | None:
    """The longest block name that is ``name`` or prefixes it as ``<block>/...``; ``None`` outside."""
    best = None
    for block in blocks:
        if (name == block or name.startswith(block + "/")) and (best is None or len(block) > len(best)):
            best = block
    return best


def _prefix_internal_tensors(model: Any, blocks: dict[str, str], keep: set[str]) -> None:
    """Rename tensors produced inside a block to ``<block>/<tensor>`` (graph I/O and call outputs kept)."""
    keep = set(keep) | {o.name for o in model.graph.output}
    rename: dict[str, str] = {}
    for node in model.graph.node:
        block = block_of(node.name, blocks)
        if block is None or node.name == block:
            continue
        for out in node.output:
            if out and out not in keep and not out.startswith(block + "/"):
                rename[out] = f"{block}/{out}"
    if not rename:
        return
    for node in model.graph.node:
        node.input[:] = [rename.get(t, t) for t in node.input]
        node.output[:] = [rename.get(t, t) for t in node.output]
    for info in model.graph.value_info:
        info.name = rename.get(info.name, info.name)
