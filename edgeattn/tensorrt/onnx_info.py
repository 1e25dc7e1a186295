"""What the TensorRT build needs to know about an ONNX file: inputs, precision, the edgeattn record.

Precision is the one recorded in the artifact (:mod:`edgeattn.artifact`, written by ``edgeattn
quantize``) when present, else read from the graph (:func:`edgeattn.graph.detect_precision`: quantize/dequantize nodes
mean explicit INT8, TensorRT "explicit quantization"; float16 inputs or initializers mean FP16).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..artifact import ArtifactInfo
from ..errors import InputError
from ..graph import detect_precision

_ELEM_NAMES = {1: "float32", 10: "float16", 16: "bfloat16", 7: "int64", 6: "int32", 3: "int8", 2: "uint8", 9: "bool"}


@dataclass(frozen=True)
class OnnxInput:
    name: str
    dtype: str
    shape: tuple[int | str | None, ...]  # int = fixed, str = symbolic (batch), None = unknown


@dataclass
class OnnxInfo:
    path: str
    inputs: list[OnnxInput]
    outputs: list[OnnxInput]
    precision: str
    precision_source: str  # "metadata" | "graph"
    artifact: ArtifactInfo = field(default_factory=ArtifactInfo)  # the edgeattn record
    opset: int | None = None  # default-domain opset
    custom_domains: tuple[str, ...] = ()  # e.g. ("edgeattn",) when blocks are folded into functions
    # op_type -> {"body_nodes": [...], "call_sites": [caller node names in graph order]}
    functions: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    @property
    def blocks(self) -> list[dict[str, Any]]:
        return self.artifact.blocks


def _value_info(vi: Any) -> OnnxInput:
    tt = vi.type.tensor_type
    dims: list[int | str | None] = []
    for d in tt.shape.dim:
        if d.HasField("dim_value"):
            dims.append(int(d.dim_value))
        elif d.HasField("dim_param"):
            dims.append(str(d.dim_param))
        else:
            dims.append(None)
    return OnnxInput(vi.name, _ELEM_NAMES.get(tt.elem_type, f"onnx_type_{tt.elem_type}"), tuple(dims))


def _precision(model: Any, artifact: ArtifactInfo) -> tuple[str, str]:
    """(precision, source) of an ``onnx.ModelProto``: the recorded one first, else the graph's."""
    if artifact.precision is not None:
        return artifact.precision, "metadata"
    return detect_precision(model), "graph"


def read_onnx(path: str | os.PathLike[str]) -> OnnxInfo:
    """Read inputs, outputs, precision and metadata without loading external weight files."""
    import onnx

    path = os.fspath(path)
    if not os.path.isfile(path):
        raise InputError(f"ONNX file not found: {path}", hint="export one first: edgeattn export MODEL -o model.onnx")
    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:
        raise InputError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    initializer_names = {init.name for init in model.graph.initializer}
    inputs = [_value_info(vi) for vi in model.graph.input if vi.name not in initializer_names]
    outputs = [_value_info(vi) for vi in model.graph.output]
    artifact = ArtifactInfo.from_proto(model, Path(path))
    precision, source = _precision(model, artifact)
    opset = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    domains = tuple(sorted({n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx")}))
    bodies = {(f.domain, f.name): [n.name for n in f.node if n.name] for f in model.functions}
    functions: dict[str, dict[str, list[str]]] = {}
    for node in model.graph.node:
        body = bodies.get((node.domain, node.op_type))
        if body is not None:
            entry = functions.setdefault(node.op_type, {"body_nodes": body, "call_sites": []})
            entry["call_sites"].append(node.name)
    return OnnxInfo(path, inputs, outputs, precision, source, artifact, opset, domains, functions)
