"""Backend registry and selection: by name, or ``auto`` from what the artifact is.

``auto``: ``.onnx`` -> onnxruntime or openvino; ``.engine`` / ``.plan`` -> tensorrt; an
``nn.Module`` or any other model source -> torch. For an ``.onnx`` path on an x86-64 CPU with
OpenVINO installed, ``load`` times both ONNX readers on the artifact once and picks the faster
(:mod:`.auto_backend`: cached per artifact, CPU, threads and library versions;
``EDGEATTN_AUTO_BACKEND=onnxruntime`` switches it off); bytes, other CPUs, no OpenVINO, or an
ONNX-Runtime-only option (``providers`` ...) mean onnxruntime, as before. The runner carries the
decision in ``runner.selection``. A backend whose library is missing stays listed by
:func:`available_backends` with the reason, as Polygraphy does, and is only imported when used.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from ..errors import BackendUnavailableError, InputError
from . import auto_backend
from .auto_backend import BackendSelection
from .base import Runner

ENGINE_SUFFIXES = (".engine", ".plan", ".trt")
ORT_ONLY_OPTIONS = ("providers", "provider_options", "optimization_level", "inter_op_threads", "spinning")
ONNX_READERS = ("onnxruntime", "openvino")  # backends that take an .onnx file
# The TensorRT package sits above the runtime layer (it builds engines as well as running them), so
# its runner is named here and imported only when the backend is asked for, never at import time.
TENSORRT_RUNNER = "edgeattn.tensorrt.runner"


@dataclass(frozen=True)
class BackendStatus:
    name: str
    available: bool
    reason: str
    version: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _version(module: str) -> str | None:
    from importlib import metadata

    for dist in {"torch": ["torch"], "onnxruntime": ["onnxruntime", "onnxruntime-gpu"], "tensorrt": ["tensorrt", "tensorrt-cu12", "tensorrt-cu13"]}.get(module, [module]):
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return None


def _installed(module: str) -> bool:
    """A real installed package, not a namespace package (a ``tests/tensorrt`` folder on sys.path)."""
    spec = importlib.util.find_spec(module)
    return spec is not None and spec.origin not in (None, "namespace")


def _torch_status() -> BackendStatus:
    if importlib.util.find_spec("torch") is None:
        return BackendStatus("torch", False, "PyTorch is not installed (pip install 'edgeattn[export]')")
    return BackendStatus("torch", True, "PyTorch reference (CPU)", _version("torch"))


def _ort_status() -> BackendStatus:
    if importlib.util.find_spec("onnxruntime") is None:
        return BackendStatus("onnxruntime", False, "ONNX Runtime is not installed (pip install 'edgeattn[cpu]')")
    from .onnxruntime_runner import conflicting_install_message

    conflict = conflicting_install_message()
    try:
        import onnxruntime as ort

        providers = ort.get_available_providers()
    except Exception as exc:  # a broken install (e.g. both wheels) can fail at import
        return BackendStatus("onnxruntime", False, f"ONNX Runtime fails to import: {exc}" + (f"; {conflict}" if conflict else ""))
    reason = "providers: " + ", ".join(providers)
    if conflict:
        reason += f"; WARNING: {conflict}"
    return BackendStatus("onnxruntime", True, reason, _version("onnxruntime"))


def _openvino_status() -> BackendStatus:
    if not _installed("openvino"):
        return BackendStatus("openvino", False, "OpenVINO is not installed (pip install 'edgeattn[bench]')")
    return BackendStatus("openvino", True, "OpenVINO (CPU; .onnx with edgeattn:: functions inlined)", _version("openvino"))


def _tensorrt_status() -> BackendStatus:
    if not _installed("tensorrt"):
        return BackendStatus("tensorrt", False, "TensorRT is not installed")
    try:
        module = importlib.import_module(TENSORRT_RUNNER)
    except ImportError as exc:
        return BackendStatus("tensorrt", False, f"TensorRT runner cannot be imported: {exc}", _version("tensorrt"))
    try:
        ok, why = module.backend_status()
    except Exception as exc:  # noqa: BLE001 - reported, not raised
        return BackendStatus("tensorrt", False, f"TensorRT check failed: {exc}", _version("tensorrt"))
    return BackendStatus("tensorrt", ok, why, _version("tensorrt"))


def _make_torch(artifact: Any, **opts: Any) -> Runner:
    if importlib.util.find_spec("torch") is None:
        raise BackendUnavailableError("PyTorch is not installed", hint="pip install 'edgeattn[export]'")
    from .torch_runner import TorchRunner

    return TorchRunner(artifact, **opts)


def _make_ort(artifact: Any, **opts: Any) -> Runner:
    if importlib.util.find_spec("onnxruntime") is None:
        raise BackendUnavailableError("ONNX Runtime is not installed", hint="pip install 'edgeattn[cpu]' (or [gpu])")
    from .onnxruntime_runner import OnnxRuntimeRunner

    return OnnxRuntimeRunner(artifact, **opts)


def _make_openvino(artifact: Any, **opts: Any) -> Runner:
    from .openvino_runner import OpenVINORunner

    return OpenVINORunner(artifact, **opts)


def _make_tensorrt(artifact: Any, **opts: Any) -> Runner:
    status = _tensorrt_status()
    if not status.available:
        raise BackendUnavailableError(status.reason, hint="TensorRT engines run only on a machine with an NVIDIA GPU and TensorRT")
    try:
        module = importlib.import_module(TENSORRT_RUNNER)
        runner_cls = module.TensorRTRunner
    except (ImportError, AttributeError) as exc:
        raise BackendUnavailableError(f"TensorRT is not installed or its runner is missing ({exc})") from exc
    return runner_cls(artifact, **opts)


# name -> (factory, status check)
BACKENDS: dict[str, tuple[Callable[..., Runner], Callable[[], BackendStatus]]] = {
    "torch": (_make_torch, _torch_status),
    "onnxruntime": (_make_ort, _ort_status),
    "tensorrt": (_make_tensorrt, _tensorrt_status),
    "openvino": (_make_openvino, _openvino_status),
}
ALIASES = {"pytorch": "torch", "ort": "onnxruntime", "trt": "tensorrt", "ov": "openvino"}


def register_backend(name: str, factory: Callable[..., Runner], status: Callable[[], BackendStatus]) -> None:
    """Add a backend (a plug-in or a test double) under ``name``."""
    BACKENDS[name] = (factory, status)


def available_backends() -> list[BackendStatus]:
    """Every known backend with whether it can run here and why (not)."""
    return [status() for _, status in BACKENDS.values()]


def backend_for(artifact: Any) -> str:
    """The backend ``auto`` picks for ``artifact`` from what it is (``load`` may then measure an
    ``.onnx`` path and pick openvino instead: :mod:`.auto_backend`)."""
    if isinstance(artifact, (bytes, bytearray)):
        return "onnxruntime"
    if isinstance(artifact, (str, os.PathLike)):
        suffix = Path(os.fspath(artifact)).suffix.lower()
        if suffix == ".onnx":
            return "onnxruntime"
        if suffix in ENGINE_SUFFIXES:
            return "tensorrt"
    return "torch"


def load(artifact_or_model: Any, backend: str = "auto", **opts: Any) -> Runner:
    """Create and load a runner for ``artifact_or_model`` on ``backend`` (``auto`` picks one).

    Options go to the backend's runner (e.g. ``threads``, ``providers``, ``provider_options`` for
    onnxruntime; ``checkpoint`` for torch).
    """
    name = ALIASES.get(backend.lower(), backend.lower())
    selection: BackendSelection | None = None
    if name == "auto":
        name = backend_for(artifact_or_model)
        if name == "onnxruntime":
            selection, measured = _choose_onnx_reader(artifact_or_model, opts)
            if measured is not None:
                return measured
            name = selection.backend
            if name == "openvino":  # a cached choice; applies() let only shared options through
                opts = {k: v for k, v in opts.items() if k in auto_backend.SHARED_OPTIONS}
    if name not in BACKENDS:
        raise InputError(f"backend: received {backend!r}, expected 'auto' or one of {sorted(BACKENDS)}")
    if name in ONNX_READERS and isinstance(artifact_or_model, (str, os.PathLike)):
        suffix = Path(os.fspath(artifact_or_model)).suffix.lower()
        if suffix in ENGINE_SUFFIXES:
            raise InputError(f"backend {name}: received a TensorRT engine {artifact_or_model}, expected a .onnx file")
    if name == "openvino" and not isinstance(artifact_or_model, (str, os.PathLike, bytes, bytearray)):
        raise InputError(f"backend openvino: received {type(artifact_or_model).__name__}, expected an .onnx file or its bytes")
    if name != "onnxruntime":
        # Execution-provider settings only mean something to ONNX Runtime; dropping them lets one
        # option set serve a mix of .onnx, engines and PyTorch models (validate, bench).
        for key in ORT_ONLY_OPTIONS:
            opts.pop(key, None)
    if name == "tensorrt":
        # CPU thread counts do not apply to an engine.
        opts.pop("threads", None)
    factory, _ = BACKENDS[name]
    runner = factory(artifact_or_model, **opts)
    runner.selection = selection
    return runner.load()


def _choose_onnx_reader(artifact: Any, opts: dict[str, Any]) -> tuple[BackendSelection, Runner | None]:
    """``auto`` for an ``.onnx`` (or its bytes): ONNX Runtime by rule, or the faster of ONNX Runtime
    and OpenVINO here (:mod:`.auto_backend`); a runner comes back when it was loaded to be measured."""
    why_not = auto_backend.applies(artifact, opts, lambda: _installed("openvino"))
    if why_not is not None:
        return auto_backend.BackendSelection("onnxruntime", "rule", why_not), None
    selection, runner = auto_backend.select(artifact, opts, {n: BACKENDS[n][0] for n in ONNX_READERS})
    if runner is not None:
        runner.selection = selection
    return selection, runner
