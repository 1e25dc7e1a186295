"""What a Triton model configuration needs to know about one of our artifacts.

The facts come from the artifact record (:class:`edgeattn.artifact.ArtifactInfo`): an ``.onnx``
model's graph I/O and metadata, a TensorRT ``.engine``/``.plan`` 's JSON sidecar (reading the
plan itself needs TensorRT and a GPU). An artifact without our record is refused: the repository
is generated from the artifact's own record, never from guesses.
"""

from __future__ import annotations

import os
from pathlib import Path

from .._io import sidecar_path
from ..artifact import ENGINE_SUFFIXES, ArtifactInfo, TensorInfo
from ..errors import InputError

ONNX_SUFFIXES = (".onnx",)

__all__ = ["ENGINE_SUFFIXES", "ONNX_SUFFIXES", "ArtifactInfo", "TensorInfo", "describe_artifact"]


def describe_artifact(path: str | os.PathLike[str]) -> ArtifactInfo:
    """Read the I/O, batch range, precision and preprocessing of an ``.onnx`` or engine file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"artifact {p}: no such file", hint="give an .onnx model or a TensorRT .engine")
    suffix = p.suffix.lower()
    if suffix not in ONNX_SUFFIXES + ENGINE_SUFFIXES:
        raise InputError(
            f"artifact {p}: received a {suffix or 'suffix-less'} file, expected .onnx or a TensorRT "
            f"{'/'.join(ENGINE_SUFFIXES)}"
        )
    info = ArtifactInfo.read(p)
    if info.kind == "engine":
        if not sidecar_path(p).is_file():
            raise InputError(
                f"engine {p} has no sidecar ({sidecar_path(p).name}), expected the JSON that "
                "`edgeattn build` writes beside it",
                hint="rebuild it with `edgeattn build model.onnx -o model.engine`, or copy its .json along",
            )
        if not info.inputs or not info.outputs:
            raise InputError(f"engine sidecar of {p} lists no input or no output tensors", hint="rebuild the engine")
        if info.dynamic_batch and not info.max_batch:
            raise InputError(f"engine sidecar of {p}: a dynamic batch axis but no optimization profile")
        return info
    if not info.recorded:
        raise InputError(
            f"{p} has no edgeattn metadata (provenance), expected a model written by edgeattn export",
            hint="export it with `edgeattn export MODEL -o model.onnx` (and quantize from that file)",
        )
    if info.dynamic_batch and not info.max_batch:
        raise InputError(f"{p}: the provenance records no max_batch for its dynamic batch axis")
    return info
