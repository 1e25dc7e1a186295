"""Inline ``edgeattn::`` function calls with the block path as the name prefix (pure ONNX).

ONNX local functions (ONNX IR spec, "Functions") keep each attention block one node; runtimes
inline them on load and name the inlined nodes after the *function*, which loses which block a
node came from (ONNX Runtime: ``_inlfunc_SqueezeExcite_...``; TensorRT's parser: body-node names
with one global suffix counter, docs/tensorrt.md F10). Inlining here names every body node and
every intermediate tensor ``<block>/<name>``, so profiles and engine layers stay attributable to
their block on every runtime. Used by the per-block profile (``edgeattn.bench.profile``) and by the
TensorRT graph preparation (``edgeattn.tensorrt.prepare``).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

DOMAIN = "edgeattn"


def inline_blocks(model: Any, *, keep: Collection[str] = ()) -> tuple[Any, dict[str, str]]:
    """Inline every ``edgeattn::`` function call, prefixing node and tensor names with the block.

    Returns the new model and ``{block name: op type}`` in graph order. Blocks already inlined by
    the exporter (``--fold inline``: nodes named ``<block>/...``) are recognised from the
    ``edgeattn.blocks`` metadata. Calls whose op type is in ``keep`` (e.g. an op a TensorRT plugin
    implements) stay as they are, with their function.
    """
    import onnx

    from ..data import read_json_metadata

    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    functions = {(f.domain, f.name, getattr(f, "overload", "")): f for f in proto.functions}
    blocks: dict[str, str] = {}
    block_outputs: set[str] = set()
    for _ in range(4):  # a body may itself call an edgeattn function
        new_nodes = []
        changed = False
        for index, node in enumerate(proto.graph.node):
            key = (node.domain, node.op_type, getattr(node, "overload", ""))
            if node.domain != DOMAIN or key not in functions or node.op_type in keep:
                new_nodes.append(node)
                continue
            changed = True
            prefix = node.name or f"{node.op_type}_{index}"
            blocks.setdefault(prefix, node.op_type)
            block_outputs.update(o for o in node.output if o)
            new_nodes.extend(_expand(node, functions[key], prefix))
        del proto.graph.node[:]
        proto.graph.node.extend(new_nodes)
        if not changed:
            break
    used = {(n.domain, n.op_type, getattr(n, "overload", "")) for n in proto.graph.node}
    kept = [f for f in proto.functions if (f.domain, f.name, getattr(f, "overload", "")) in used]
    del proto.functions[:]
    proto.functions.extend(kept)
    for entry in read_json_metadata(model, "edgeattn.blocks") or []:
        if isinstance(entry, dict) and entry.get("name"):
            blocks.setdefault(str(entry["name"]), str(entry.get("op_type", "block")))
            if entry.get("output"):
                block_outputs.add(str(entry["output"]))
    _prefix_internal_tensors(proto, blocks, block_outputs)
    return proto, blocks


def _expand(node: Any, function: Any, prefix: str) -> list[Any]:
    import onnx

    mapping = dict(zip(function.input, node.input))
    mapping.update(zip(function.output, node.output))
    caller_attrs = {a.name: a for a in node.attribute}
    defaults = {a.name: a for a in getattr(function, "attribute_proto", [])}
    out = []
    for j, body in enumerate(function.node):
        new = onnx.NodeProto()
        new.CopyFrom(body)
        new.name = f"{prefix}/{body.name or f'{body.op_type}_{j}'}"
        new.input[:] = [mapping.get(t, f"{prefix}/{t}") if t else "" for t in body.input]
        new.output[:] = [mapping.get(t, f"{prefix}/{t}") if t else "" for t in body.output]
        attrs = []
        for attr in new.attribute:
            if attr.ref_attr_name:
                source = caller_attrs.get(attr.ref_attr_name) or defaults.get(attr.ref_attr_name)
                if source is None:
                    continue  # optional attribute not given: the op's default applies
                resolved = onnx.AttributeProto()
                resolved.CopyFrom(source)
                resolved.name = attr.name
                attrs.append(resolved)
            else:
                attrs.append(attr)
        del new.attribute[:]
        new.attribute.extend(attrs)
        out.append(new)
    return out


def block_of(name: str, blocks: dict[str, str]) -> str | None:
    """The longest block name that prefixes ``name`` as ``<block>/...``; ``None`` outside blocks."""
    best = None
    for block in blocks:
        if name.startswith(block + "/") and (best is None or len(block) > len(best)):
            best = block
    return best


def _prefix_internal_tensors(proto: Any, blocks: dict[str, str], keep: set[str]) -> None:
    """Rename tensors produced inside a block to ``<block>/<tensor>`` (graph I/O untouched)."""
    keep = set(keep) | {o.name for o in proto.graph.output}
    rename: dict[str, str] = {}
    for node in proto.graph.node:
        block = block_of(node.name, blocks)
        if block is None:
            continue
        for out in node.output:
            if out and out not in keep and not out.startswith(block + "/"):
                rename[out] = f"{block}/{out}"
    if not rename:
        return
    for node in proto.graph.node:
        node.input[:] = [rename.get(t, t) for t in node.input]
        node.output[:] = [rename.get(t, t) for t in node.output]
    for info in proto.graph.value_info:
        info.name = rename.get(info.name, info.name)
