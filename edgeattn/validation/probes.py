"""Intermediate tensors to compare when parity fails: attention blocks and stage outputs.

Part of the artifact record (:mod:`edgeattn.artifact`): the blocks (each folded SE / CBAM node:
module path, its ONNX input and output tensors) and the probes (stage outputs: module path -> tensor).
The ONNX side marks those tensors as extra graph outputs in a copy of the model; the PyTorch side
captures the same module paths with forward hooks. Marking a tensor as an output keeps it from
being fused away, which can itself change the numbers (TensorRT#2571, #3258): reports say so.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..artifact import ArtifactInfo


@dataclass(frozen=True)
class Probe:
    """One comparison point: a PyTorch module path and the ONNX tensor holding its output."""

    module: str
    tensor: str
    kind: str  # SqueezeExcite / ChannelAttention / SpatialAttention / stage
    order: int = 0  # position of the producing node in the (topologically sorted) graph


def read_probes(model: str | os.PathLike[str] | Any) -> list[Probe]:
    """Blocks and stage probes from the metadata, sorted by where the graph computes them."""
    import onnx

    if isinstance(model, (str, os.PathLike)):
        path: Path | None = Path(model)
        proto = onnx.load(os.fspath(model), load_external_data=False)
    else:
        path, proto = None, model
    record = ArtifactInfo.from_proto(proto, path)
    producers: dict[str, int] = {}
    for index, node in enumerate(proto.graph.node):
        for out in node.output:
            producers[out] = index
    found: dict[str, Probe] = {}
    for block in record.blocks:
        if isinstance(block, dict) and block.get("name") and block.get("output"):
            tensor = str(block["output"])
            found[tensor] = Probe(str(block["name"]), tensor, str(block.get("op_type", "block")), producers.get(tensor, -1))
    for probe in record.probes:
        if isinstance(probe, dict) and probe.get("module") and probe.get("tensor"):
            tensor = str(probe["tensor"])
            if tensor not in found:
                found[tensor] = Probe(str(probe["module"]), tensor, str(probe.get("kind", "stage")), producers.get(tensor, -1))
    # Probes whose tensor the graph does not produce (renamed by a later pass) cannot be compared.
    return sorted((p for p in found.values() if p.order >= 0), key=lambda p: p.order)


def add_outputs(model: Any, tensor_names: Sequence[str]) -> Any:
    """A copy of ``model`` with ``tensor_names`` appended to the graph outputs."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    existing = {o.name for o in copy.graph.output}
    wanted = [t for t in tensor_names if t not in existing]
    if not wanted:
        return copy
    try:
        inferred = onnx.shape_inference.infer_shapes(copy)
        known = {v.name: v for v in list(inferred.graph.value_info) + list(inferred.graph.input)}
    except Exception:  # shape inference is a nicety here; ORT accepts untyped-shape outputs
        known = {}
    for name in wanted:
        if name in known:
            info = onnx.ValueInfoProto()
            info.CopyFrom(known[name])
        else:
            info = onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        copy.graph.output.append(info)
    return copy
