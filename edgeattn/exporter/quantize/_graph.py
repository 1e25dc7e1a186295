"""ONNX graph helpers of the FP16 and INT8 passes: loading, node names, producer/consumer maps.

The folded graph's vocabulary and the inliner are the project's graph toolkit (:mod:`edgeattn.graph`).
"""

from __future__ import annotations

import os

import onnx
from onnx import ModelProto, NodeProto

from ...errors import InputError


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


def initializer_names(graph: onnx.GraphProto) -> set[str]:
    return {t.name for t in graph.initializer} | {t.values.name for t in graph.sparse_initializer}


def constant_outputs(graph: onnx.GraphProto) -> set[str]:
    return {o for n in graph.node if n.op_type == "Constant" for o in n.output}


def producers(graph: onnx.GraphProto) -> dict[str, NodeProto]:
    return {o: n for n in graph.node for o in n.output if o}


def consumers(graph: onnx.GraphProto) -> dict[str, list[NodeProto]]:
    table: dict[str, list[NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            if name:
                table.setdefault(name, []).append(node)
    return table
