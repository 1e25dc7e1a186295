"""OpenVINO runner (CPU): the same ONNX artifacts, OpenVINO's kernels.

OpenVINO's ONNX frontend has no conversion rule for model-local functions in a custom domain, so
the ``edgeattn::`` calls are inlined first (``onnx.inliner.inline_local_functions``: the bodies are
standard ops). A Q/DQ INT8 model runs on OpenVINO's INT8 kernels: its low-precision
transformations turn QuantizeLinear/DequantizeLinear pairs into quantized convolutions
(docs.openvino.ai, "Low Precision Transformations").

``inference_precision`` defaults to ``f32``: an artifact runs at the precision it was written
in, so validation compares like with like. ``None`` keeps OpenVINO's own default, which is bf16
on CPUs with native bf16 (AVX-512 BF16, AMX); ``bf16`` asks for it explicitly. ``run`` is
serialised with a lock (one infer request per runner; OpenVINO requests are not re-entrant).
"""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError, ExportError, InputError
from .base import Runner, RunnerInfo, TensorSpec

PRECISIONS = ("f32", "bf16", "f16")
INSTALL_HINT = "pip install 'edgeattn[bench]' (OpenVINO is an optional CPU backend)"


def _import_openvino() -> Any:
    try:
        import openvino as ov
    except ImportError as exc:
        raise BackendUnavailableError(f"OpenVINO is not installed ({exc})", hint=INSTALL_HINT) from exc
    return ov


class OpenVINORunner(Runner):
    """An OpenVINO compiled model (CPU by default) behind the runner interface."""

    backend = "openvino"

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes,
        *,
        device: str = "CPU",
        threads: int | None = None,
        inference_precision: str | None = "f32",
        performance_hint: str = "LATENCY",
        config: dict[str, Any] | None = None,
    ) -> None:
        super().__init__()
        if isinstance(model, (str, os.PathLike)) and not Path(model).exists():
            raise InputError(f"ONNX model not found: {os.fspath(model)}")
        if inference_precision is not None and inference_precision not in PRECISIONS:
            raise InputError(f"OpenVINO inference precision: received {inference_precision!r}, expected one of {list(PRECISIONS)} or None")
        self._model = model
        self._device = device
        self._threads = threads
        self._precision = inference_precision
        self._hint = performance_hint
        self._config = dict(config or {})
        self._lock = threading.Lock()
        self.compiled: Any = None
        self._request: Any = None

    @property
    def model_path(self) -> str | None:
        return os.fspath(self._model) if isinstance(self._model, (str, os.PathLike)) else None

    def _load_impl(self) -> None:
        ov = _import_openvino()
        import onnx
        import onnx.inliner

        proto = onnx.load_from_string(self._model) if isinstance(self._model, bytes) else onnx.load(os.fspath(self._model))
        if proto.functions:
            proto = onnx.inliner.inline_local_functions(proto)
        config: dict[str, Any] = {"PERFORMANCE_HINT": self._hint}
        if self._threads is not None:
            config["INFERENCE_NUM_THREADS"] = int(self._threads)
        if self._precision is not None:
            config["INFERENCE_PRECISION_HINT"] = self._precision
        config.update(self._config)
        core = ov.Core()
        name = self.model_path or "<bytes>"
        try:
            with tempfile.TemporaryDirectory(prefix="edgeattn-ov-") as tmp:
                path = Path(tmp) / "model.onnx"
                onnx.save(proto, str(path))  # read_model takes a file; inlined copy, never the input
                ov_model = core.read_model(str(path))
            self.compiled = core.compile_model(ov_model, self._device, config)
        except Exception as exc:  # OpenVINO raises RuntimeError/GeneralFailure with long traces
            raise ExportError(
                f"OpenVINO cannot compile {name}: {str(exc).strip().splitlines()[0][:300]}",
                hint="check the model with 'edgeattn inspect'; OpenVINO's ONNX frontend supports standard ops only",
            ) from exc
        self._request = self.compiled.create_infer_request()
        self._inputs = [_spec(port, f"input{i}") for i, port in enumerate(self.compiled.inputs)]
        self._outputs = [_spec(port, f"output{i}") for i, port in enumerate(self.compiled.outputs)]

    def _close_impl(self) -> None:
        self._request = None
        self.compiled = None

    def _read_artifact(self) -> Any:
        from ..artifact import ArtifactInfo

        # OpenVINO keeps no ONNX metadata: read the file's record (metadata and sidecar) once.
        return ArtifactInfo.read(self.model_path) if self.model_path else None

    def info(self) -> RunnerInfo:
        ov = _import_openvino()
        details: dict[str, Any] = {
            "openvino": ov.__version__,
            "device": self._device,
            "requested_precision": self._precision or "default",
            "threads": self._threads if self._threads is not None else "default",
            "performance_hint": self._hint,
            "model": self.model_path,
        }
        if self.compiled is not None:
            for key, prop in (("inference_precision", "INFERENCE_PRECISION_HINT"), ("num_streams", "NUM_STREAMS"),
                              ("inference_threads", "INFERENCE_NUM_THREADS")):
                try:
                    value = self.compiled.get_property(prop)
                    details[key] = value.get_type_name() if hasattr(value, "get_type_name") else str(value)
                except Exception:  # noqa: BLE001 - a property a device does not report
                    continue
        return RunnerInfo(backend=self.backend, device=self._device.lower(), details=details)

    def _run_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        with self._lock:
            results = self._request.infer([feed[spec.name] for spec in self._inputs])
            # The request's output tensors are reused by the next run: copy them out.
            return {spec.name: np.array(results[i], copy=True) for i, spec in enumerate(self._outputs)}


_OV_TYPES = {"f32": np.float32, "f16": np.float16, "f64": np.float64, "i64": np.int64, "i32": np.int32,
             "i8": np.int8, "u8": np.uint8, "boolean": np.bool_}


def _spec(port: Any, fallback: str) -> TensorSpec:
    try:
        name = port.get_any_name()
    except RuntimeError:  # an unnamed port
        name = fallback
    dtype = _OV_TYPES.get(port.get_element_type().get_type_name(), np.float32)
    dims = []
    for dim in port.get_partial_shape():
        dims.append(dim.get_length() if dim.is_static else None)
    return TensorSpec(name, np.dtype(dtype), tuple(dims))
