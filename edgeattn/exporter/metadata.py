"""Artifact metadata: provenance, folded blocks and stage probes, in the ONNX model and a sidecar.

``metadata_props`` keys (values are JSON):

- ``edgeattn.provenance``: edgeattn version, source model, checkpoint path + sha256, input spec,
  preprocessing (``input_config(model).to_dict()``), exporter and opset.
- ``edgeattn.blocks``: ``[{"name", "op_type", "input", "output"}]`` per attention block.
- ``edgeattn.probes``: ``[{"module", "tensor"}]`` for stage outputs (``layer1`` .. ``layer4``,
  ``stages.N``, ``blocks.N``, ``features.N``) found in the graph.

The sidecar ``<model>.onnx.json`` holds the same under ``provenance``/``blocks``/``probes`` plus
the fold report, so tools that strip ``metadata_props`` lose nothing.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import onnx

if TYPE_CHECKING:  # quantize writes metadata in the torch-free install, which has no onnx-ir
    import onnx_ir as ir

from .._io import sha256_file

PROVENANCE = "edgeattn.provenance"
BLOCKS = "edgeattn.blocks"
PROBES = "edgeattn.probes"

# Module paths that are stage outputs in our zoo, timm and torchvision.
_STAGE = re.compile(r"^(layer\d+|stages?\.\d+|blocks\.\d+|features\.\d+)$")


def build_provenance(
    *,
    source: str | None,
    checkpoint: str | os.PathLike[str] | None,
    input_names: Sequence[str],
    output_names: Sequence[str],
    input_shape: Sequence[int],
    dynamic_batch: bool,
    max_batch: int,
    preprocessing: Mapping[str, Any] | None,
    exporter: str,
    opset: int,
    fold: str,
) -> dict[str, Any]:
    from .. import __version__

    from ..models.source_spec import parse_source

    source_path = parse_source(source).path if source else None
    return {
        "edgeattn_version": __version__,
        "source": source,
        # The file a file.py:factory or saved-model source reads, hashed: validate --trust-provenance
        # runs it again only while it is byte-for-byte the file that was exported.
        "source_file": file_record(source_path) if source_path is not None else None,
        "checkpoint": file_record(Path(checkpoint)) if checkpoint is not None else None,
        "input": {
            "names": list(input_names),
            "shape": list(input_shape),
            "dynamic_batch": dynamic_batch,
            "max_batch": max_batch if dynamic_batch else int(input_shape[0]),
            "dtype": "float32",
        },
        "outputs": list(output_names),
        "preprocessing": dict(preprocessing) if preprocessing is not None else None,
        "exporter": exporter,
        "opset": opset,
        "fold": fold,
    }


def file_record(path: Path) -> dict[str, Any]:
    """``{"path": absolute path, "sha256": digest or None when it is not a file}``."""
    return {"path": os.fspath(path.resolve()), "sha256": sha256_file(path) if path.is_file() else None}


def find_probes(model: ir.Model) -> list[dict[str, str]]:
    """Stage outputs: the last tensor computed inside each stage module that leaves the stage."""
    from .fold._match import _scope_of

    last: dict[str, ir.Node] = {}
    for node in model.graph:
        for path in _scope_of(node) or []:
            if _STAGE.match(path):
                last[path] = node
    probes = []
    for path, node in last.items():
        if len(node.outputs) == 1 and node.outputs[0].name:
            probes.append({"module": path, "tensor": node.outputs[0].name})
    return probes


def set_metadata(model: onnx.ModelProto, entries: Mapping[str, Any]) -> None:
    """Write JSON values into ``metadata_props`` (replacing earlier values of the same keys)."""
    set_metadata_strings(model, {key: json.dumps(value, default=str) for key, value in entries.items()})


def set_metadata_strings(model: onnx.ModelProto, entries: Mapping[str, str]) -> None:
    """Write string values into ``metadata_props`` as given (keys kept unique, earlier values replaced)."""
    keep = [p for p in model.metadata_props if p.key not in entries]
    del model.metadata_props[:]
    model.metadata_props.extend(keep)
    for key, value in entries.items():
        prop = model.metadata_props.add()
        prop.key = key
        prop.value = value

