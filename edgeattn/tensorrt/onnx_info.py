"""What the TensorRT build needs to know about an ONNX file: inputs, precision, edgeattn metadata.

Precision is read from the ``edgeattn.precision`` metadata written by ``edgeattn quantize`` when
present, else from the graph (:func:`edgeattn.graph.detect_precision`: quantize/dequantize nodes
mean explicit INT8, TensorRT "explicit quantization"; float16 inputs or initializers mean FP16).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from ..data import json_metadata_value
from ..errors import InputError
from ..graph import PRECISIONS, detect_precision

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
    metadata: dict[str, str] = field(default_factory=dict)
    opset: int | None = None  # default-domain opset
    custom_domains: tuple[str, ...] = ()  # e.g. ("edgeattn",) when blocks are folded into functions
    # op_type -> {"body_nodes": [...], "call_sites": [caller node names in graph order]}
    functions: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def json_meta(self, key: str) -> Any:
        return json_metadata_value(self.metadata, key)

    @property
    def blocks(self) -> list[dict[str, Any]]:
        value = self.json_meta("edgeattn.blocks")
        return value if isinstance(value, list) else []


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


def _precision(model: Any) -> tuple[str, str]:
    """(precision, source) of an ``onnx.ModelProto``: recorded metadata first, else the graph."""
    for prop in model.metadata_props:
        if prop.key == "edgeattn.precision":
            value = prop.value.strip().lower()
            if value in PRECISIONS:
                return value, "metadata"
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
    precision, source = _precision(model)
    metadata = {p.key: p.value for p in model.metadata_props}
    opset = next((int(o.version) for o in model.opset_import if o.domain in ("", "ai.onnx")), None)
    domains = tuple(sorted({n.domain for n in model.graph.node if n.domain not in ("", "ai.onnx")}))
    bodies = {(f.domain, f.name): [n.name for n in f.node if n.name] for f in model.functions}
    functions: dict[str, dict[str, list[str]]] = {}
    for node in model.graph.node:
        body = bodies.get((node.domain, node.op_type))
        if body is not None:
            entry = functions.setdefault(node.op_type, {"body_nodes": body, "call_sites": []})
            entry["call_sites"].append(node.name)
    return OnnxInfo(path, inputs, outputs, precision, source, metadata, opset, domains, functions)
