"""What a Triton model configuration needs to know about one of our artifacts.

An ``.onnx`` model is read with ``onnx`` (graph inputs/outputs, ``edgeattn.*`` metadata); a
TensorRT ``.engine``/``.plan`` is described by its JSON sidecar (``<engine>.json``: the I/O
tensors, the optimization profiles, the precision), because reading the plan itself needs
TensorRT and a GPU. An artifact without our metadata is refused: the repository is generated
from the artifact's own record, never from guesses.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

ONNX_SUFFIXES = (".onnx",)
ENGINE_SUFFIXES = (".engine", ".plan", ".trt")


@dataclass(frozen=True)
class TensorInfo:
    """One input or output: its name, numpy dtype and full shape (``-1`` = dynamic axis)."""

    name: str
    dtype: np.dtype
    shape: tuple[int, ...]


@dataclass(frozen=True)
class ArtifactInfo:
    """The facts about an artifact that its ``config.pbtxt`` is generated from."""

    path: Path
    kind: str  # "onnx" or "engine"
    inputs: tuple[TensorInfo, ...]
    outputs: tuple[TensorInfo, ...]
    dynamic_batch: bool  # axis 0 of every tensor is the batch and may vary
    max_batch: int  # the largest batch the artifact accepts (its fixed batch when not dynamic)
    precision: str  # fp32, fp16 or int8
    preprocessing: dict[str, Any] | None = field(default=None, compare=False)

    def to_dict(self) -> dict[str, Any]:
        def tensor(t: TensorInfo) -> dict[str, Any]:
            return {"name": t.name, "dtype": np.dtype(t.dtype).name, "shape": list(t.shape)}

        return {
            "path": os.fspath(self.path),
            "kind": self.kind,
            "inputs": [tensor(t) for t in self.inputs],
            "outputs": [tensor(t) for t in self.outputs],
            "dynamic_batch": self.dynamic_batch,
            "max_batch": self.max_batch,
            "precision": self.precision,
            "preprocessing": self.preprocessing,
        }


def describe_artifact(path: str | os.PathLike[str]) -> ArtifactInfo:
    """Read the I/O, batch range, precision and preprocessing of an ``.onnx`` or engine file."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"artifact {p}: no such file", hint="give an .onnx model or a TensorRT .engine")
    suffix = p.suffix.lower()
    if suffix in ONNX_SUFFIXES:
        return _describe_onnx(p)
    if suffix in ENGINE_SUFFIXES:
        return _describe_engine(p)
    raise InputError(
        f"artifact {p}: received a {suffix or 'suffix-less'} file, expected .onnx or a TensorRT "
        f"{'/'.join(ENGINE_SUFFIXES)}"
    )


# -- ONNX -------------------------------------------------------------------------------------
def _describe_onnx(path: Path) -> ArtifactInfo:
    import onnx

    from ..data import json_metadata_value

    try:
        model = onnx.load(os.fspath(path), load_external_data=False)
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError and friends
        raise InputError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {exc})") from None
    props = {p.key: p.value for p in model.metadata_props}
    provenance = json_metadata_value(props, "edgeattn.provenance")
    if not isinstance(provenance, Mapping):
        raise InputError(
            f"{path} has no edgeattn metadata (edgeattn.provenance), expected a model written by edgeattn export",
            hint="export it with `edgeattn export MODEL -o model.onnx` (and quantize from that file)",
        )
    initializers = {init.name for init in model.graph.initializer}
    inputs = tuple(_onnx_tensor(v) for v in model.graph.input if v.name not in initializers)
    outputs = tuple(_onnx_tensor(v) for v in model.graph.output)
    spec = provenance.get("input") if isinstance(provenance.get("input"), Mapping) else {}
    dynamic = all(t.shape and t.shape[0] == -1 for t in inputs + outputs)
    if dynamic:
        max_batch = int(spec.get("max_batch") or 0)
        if max_batch < 1:
            raise InputError(f"{path}: the provenance records no max_batch for its dynamic batch axis")
    else:
        first = {t.shape[0] if t.shape else None for t in inputs + outputs}
        max_batch = int(next(iter(first))) if len(first) == 1 and None not in first and -1 not in first else 0
    precision = props.get("edgeattn.precision", "fp32")
    pre = provenance.get("preprocessing")
    return ArtifactInfo(
        path=path,
        kind="onnx",
        inputs=inputs,
        outputs=outputs,
        dynamic_batch=dynamic,
        max_batch=max_batch,
        precision=precision if precision in ("fp32", "fp16", "int8") else "fp32",
        preprocessing=dict(pre) if isinstance(pre, Mapping) else None,
    )


def _onnx_tensor(value: Any) -> TensorInfo:
    import onnx

    tensor_type = value.type.tensor_type
    dims = tuple(int(d.dim_value) if d.HasField("dim_value") else -1 for d in tensor_type.shape.dim)
    dtype = np.dtype(onnx.helper.tensor_dtype_to_np_dtype(tensor_type.elem_type))
    return TensorInfo(value.name, dtype, dims)


# -- TensorRT engine ---------------------------------------------------------------------------
def _describe_engine(path: Path) -> ArtifactInfo:
    from ..tensorrt import read_sidecar, sidecar_path

    sidecar = read_sidecar(path)
    if sidecar is None:
        raise InputError(
            f"engine {path} has no sidecar ({sidecar_path(path).name}), expected the JSON that "
            "`edgeattn build` writes beside it",
            hint="rebuild it with `edgeattn build model.onnx -o model.engine`, or copy its .json along",
        )
    io = sidecar.get("io") or []
    try:
        inputs = tuple(_engine_tensor(t) for t in io if t["mode"] == "input")
        outputs = tuple(_engine_tensor(t) for t in io if t["mode"] == "output")
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"engine sidecar of {path}: unreadable io entry ({exc})", hint="rebuild the engine") from None
    if not inputs or not outputs:
        raise InputError(f"engine sidecar of {path} lists no input or no output tensors", hint="rebuild the engine")
    profiles = {p.get("name"): p for p in sidecar.get("profiles") or [] if isinstance(p, Mapping)}
    dynamic = all(t.shape and t.shape[0] == -1 for t in inputs)
    if dynamic:
        maxes = [int(profiles[t.name]["max"][0]) for t in inputs if t.name in profiles]
        if not maxes:
            raise InputError(f"engine sidecar of {path}: a dynamic batch axis but no optimization profile")
        max_batch = min(maxes)
        # Outputs of a dynamic-batch engine carry -1 on axis 0 as well.
        outputs = tuple(TensorInfo(t.name, t.dtype, (-1, *t.shape[1:])) if t.shape else t for t in outputs)
    else:
        max_batch = int(inputs[0].shape[0]) if inputs[0].shape else 0
    precision = str((sidecar.get("precision") or {}).get("precision") or "fp32")
    provenance = sidecar.get("provenance")
    pre = provenance.get("preprocessing") if isinstance(provenance, Mapping) else None
    return ArtifactInfo(
        path=path,
        kind="engine",
        inputs=inputs,
        outputs=outputs,
        dynamic_batch=dynamic,
        max_batch=max_batch,
        precision=precision,
        preprocessing=dict(pre) if isinstance(pre, Mapping) else None,
    )


def _engine_tensor(entry: Mapping[str, Any]) -> TensorInfo:
    return TensorInfo(str(entry["name"]), np.dtype(str(entry["dtype"])), tuple(int(d) for d in entry["shape"]))
