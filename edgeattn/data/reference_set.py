"""Recorded reference sets: real inputs and the outputs a trusted model gave for them.

``quantize`` with calibration data writes ``<artifact>.reference.npz`` beside its output: a few of
the calibration inputs and what the FP32 parent returned for them on ONNX Runtime. ``validate`` then
checks the artifact (or an engine built from it) on those inputs without PyTorch and without a
dataset on the device. Random inputs are no test of an INT8 model: they fall outside the calibrated
ranges, so even a correct model diverges on them (TensorRT#1565).

The file is a plain ``.npz`` (read with ``allow_pickle=False``: data, never code): ``inputs``
``[N, C, H, W]``, one ``output/<name>`` array per output in the reference's output order, and
``meta``, a JSON string saying what produced the outputs.
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError

SUFFIX = ".reference.npz"
MAX_SAMPLES = 32  # enough for cosine / top-1 agreement, small enough to ship beside the artifact
_OUTPUT = "output/"


def reference_set_path(artifact: str | os.PathLike[str]) -> Path:
    """``model.onnx`` -> ``model.onnx.reference.npz``."""
    path = Path(artifact)
    return path.with_name(path.name + SUFFIX)


@dataclass
class ReferenceSet:
    """Inputs, the reference outputs for them (by name, in order) and what produced them."""

    inputs: np.ndarray
    outputs: dict[str, np.ndarray]
    meta: dict[str, Any] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        arrays = {"inputs": self.inputs, **{_OUTPUT + k: v for k, v in self.outputs.items()}}
        # numpy's stub matches **arrays against the allow_pickle: bool keyword too
        np.savez_compressed(buffer, meta=np.array(json.dumps(self.meta)), **arrays)  # type: ignore[arg-type]
        return buffer.getvalue()

    @property
    def producer(self) -> str:
        return str(self.meta.get("producer", "recorded outputs"))


def read_reference_set(path: str | os.PathLike[str]) -> ReferenceSet:
    """Load a ``.reference.npz``; a file that is not one is an InputError naming what is missing."""
    src = Path(path)
    try:
        with np.load(src, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read reference set {src}: {exc}", hint="pass the .reference.npz that quantize wrote") from exc
    outputs = {k[len(_OUTPUT):]: v for k, v in arrays.items() if k.startswith(_OUTPUT)}
    if "inputs" not in arrays or not outputs:
        raise InputError(f"{src}: received arrays {sorted(arrays)}, expected 'inputs' and 'output/<name>'",
                         hint="pass the .reference.npz that quantize wrote")
    inputs = arrays["inputs"]
    if inputs.ndim != 4 or any(len(v) != len(inputs) for v in outputs.values()):
        raise InputError(f"{src}: inputs {list(inputs.shape)} and outputs "
                         f"{ {k: list(v.shape) for k, v in outputs.items()} } do not pair up; expected [N, C, H, W] and N rows each")
    try:
        meta = json.loads(str(arrays["meta"])) if "meta" in arrays else {}
    except ValueError:
        meta = {}
    return ReferenceSet(inputs=inputs.astype(np.float32, copy=False), outputs=outputs, meta=meta if isinstance(meta, dict) else {})


def record_outputs(model: str | os.PathLike[str], inputs: np.ndarray, meta: Mapping[str, Any]) -> ReferenceSet | None:
    """Run ``inputs`` through the ONNX ``model`` on ONNX Runtime CPU (in whole batches when the
    model has a fixed batch) and keep the outputs as a :class:`ReferenceSet`; None when there are
    fewer inputs than one fixed batch."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(os.fspath(model), options, providers=["CPUExecutionProvider"])
    spec = session.get_inputs()[0]
    batch = spec.shape[0] if isinstance(spec.shape[0], int) and spec.shape[0] > 0 else None
    names = [o.name for o in session.get_outputs()]
    rows: dict[str, list[np.ndarray]] = {n: [] for n in names}
    step = batch or 8
    usable = len(inputs) - len(inputs) % step if batch else len(inputs)
    if usable == 0:
        return None
    for start in range(0, usable, step):
        for name, value in zip(names, session.run(names, {spec.name: inputs[start : start + step]})):
            rows[name].append(np.asarray(value))
    return ReferenceSet(inputs=inputs[:usable], outputs={n: np.concatenate(v) for n, v in rows.items()}, meta=dict(meta))
