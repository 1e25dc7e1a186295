"""ONNX Runtime runner: CPU by default, CUDA / TensorRT execution providers on request.

ORT silently falls back to the CPU when a requested provider cannot be created (no CUDA, a
missing library): the providers the session actually uses (``get_providers()``) are reported in
``info()`` and a fallback raises a warning. ``InferenceSession.run`` is thread-safe, so ``run``
needs no lock. ``onnxruntime`` and ``onnxruntime-gpu`` install into the same folder; when both
distributions are present the install is broken in unpredictable ways and we say so.
"""

from __future__ import annotations

import functools
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError, BackendWarning, ExportError, InputError
from .base import Runner, RunnerInfo, TensorSpec

# Short names accepted for providers, in ORT's preference order when several are asked for.
PROVIDER_ALIASES = {
    "cpu": "CPUExecutionProvider",
    "cuda": "CUDAExecutionProvider",
    "tensorrt": "TensorrtExecutionProvider",
    "trt": "TensorrtExecutionProvider",
    "openvino": "OpenVINOExecutionProvider",
    "dml": "DmlExecutionProvider",
}
OPT_LEVELS = ("disable", "basic", "extended", "layout", "all")

_ORT_TYPES = {
    "tensor(float)": np.float32,
    "tensor(float16)": np.float16,
    "tensor(double)": np.float64,
    "tensor(int8)": np.int8,
    "tensor(uint8)": np.uint8,
    "tensor(int16)": np.int16,
    "tensor(int32)": np.int32,
    "tensor(int64)": np.int64,
    "tensor(bool)": np.bool_,
}


def ort_distributions() -> list[str]:
    """Installed ONNX Runtime distributions (``onnxruntime``, ``onnxruntime-gpu`` ...)."""
    return list(_ort_distributions())


@functools.lru_cache(maxsize=None)  # functools.cache is 3.9+
def _ort_distributions() -> tuple[str, ...]:
    # Walking every installed distribution takes 50-100 ms; each runner load and info() asks.
    from importlib import metadata

    found = set()
    for dist in metadata.distributions():
        # An email.message.Message at runtime; the PackageMetadata protocol has no .get, and
        # Distribution.name needs Python 3.10 (the runtime side runs on 3.8).
        name = (dist.metadata.get("Name") or "").lower().replace("_", "-")  # type: ignore[attr-defined]
        if name == "onnxruntime" or name.startswith("onnxruntime-") and name not in ("onnxruntime-extensions", "onnxruntime-tools", "onnxruntime-genai"):
            found.add(name)
    return tuple(sorted(found))


def conflicting_install_message() -> str | None:
    dists = ort_distributions()
    if len(dists) > 1:
        return (
            f"several ONNX Runtime distributions are installed ({', '.join(dists)}); they overwrite each other's "
            "files in one 'onnxruntime' folder"
        )
    return None


CONFLICT_HINT = "pip uninstall -y onnxruntime onnxruntime-gpu, then install exactly one (edgeattn[cpu] or edgeattn[gpu])"


def resolve_providers(providers: Sequence[str | tuple[str, dict[str, Any]]] | str | None) -> list[str]:
    """Map short names (``cpu``, ``cuda``, ``tensorrt``) to ORT provider names; CPU is always last."""
    if providers is None:
        return ["CPUExecutionProvider"]
    if isinstance(providers, str):
        providers = [p.strip() for p in providers.split(",") if p.strip()]
    names: list[str] = []
    for item in providers:
        name = item[0] if isinstance(item, tuple) else item
        full = PROVIDER_ALIASES.get(str(name).lower(), str(name))
        if not full.endswith("ExecutionProvider"):
            raise InputError(
                f"execution provider: received {name!r}, expected one of {sorted(PROVIDER_ALIASES)} or an ORT provider name"
            )
        if full not in names:
            names.append(full)
    # The CPU provider is the fallback for nodes the accelerator cannot take.
    if "CPUExecutionProvider" not in names:
        names.append("CPUExecutionProvider")
    return names


class OnnxRuntimeRunner(Runner):
    """An ``onnxruntime.InferenceSession`` behind the runner interface."""

    backend = "onnxruntime"

    def __init__(
        self,
        model: str | os.PathLike[str] | bytes,
        *,
        providers: Sequence[str] | str | None = None,
        provider_options: Mapping[str, Mapping[str, Any]] | None = None,
        threads: int | None = None,
        inter_op_threads: int | None = None,
        optimization_level: str = "all",
        enable_profiling: bool = False,
        profile_prefix: str | os.PathLike[str] | None = None,
        optimized_model_path: str | os.PathLike[str] | None = None,
        extra_outputs: Sequence[str] | None = None,
        session_config: Mapping[str, str] | None = None,
        log_severity: int | None = None,
        spinning: bool = False,
    ) -> None:
        super().__init__()
        if isinstance(model, (str, os.PathLike)) and not Path(model).exists():
            raise InputError(f"ONNX model not found: {os.fspath(model)}")
        if optimization_level not in OPT_LEVELS:
            raise InputError(f"graph optimization level: received {optimization_level!r}, expected one of {list(OPT_LEVELS)}")
        self._model = model
        self.requested_providers = resolve_providers(providers)
        self._provider_options = {PROVIDER_ALIASES.get(k.lower(), k): dict(v) for k, v in (provider_options or {}).items()}
        from ..platform.memory import check_threads

        check_threads(threads, "threads")
        check_threads(inter_op_threads, "inter_op_threads")
        self._threads = threads
        self._inter_op_threads = inter_op_threads
        self._opt_level = optimization_level
        self._profiling = enable_profiling
        self._profile_prefix = profile_prefix
        self._optimized_model_path = optimized_model_path
        self._extra_outputs = list(extra_outputs or [])
        self._session_config = dict(session_config or {})
        self._log_severity = log_severity
        self._spinning = bool(spinning)
        self.session: Any = None
        self.used_providers: list[str] = []
        self.fallback: list[str] = []

    @property
    def model_path(self) -> str | None:
        return os.fspath(self._model) if isinstance(self._model, (str, os.PathLike)) else None

    def _load_impl(self) -> None:
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailableError(
                f"ONNX Runtime is not installed ({exc})", hint="pip install 'edgeattn[cpu]' (or [gpu] on a CUDA machine)"
            ) from exc
        conflict = conflicting_install_message()
        if conflict:
            warnings.warn(f"{conflict}; fix: {CONFLICT_HINT}", BackendWarning, stacklevel=3)
        options = ort.SessionOptions()
        levels = {
            "disable": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
            "basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
            "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
            "layout": getattr(ort.GraphOptimizationLevel, "ORT_ENABLE_LAYOUT", ort.GraphOptimizationLevel.ORT_ENABLE_ALL),
            "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL,
        }
        options.graph_optimization_level = levels[self._opt_level]
        if self._threads is not None:
            options.intra_op_num_threads = int(self._threads)
        if self._inter_op_threads is not None:
            options.inter_op_num_threads = int(self._inter_op_threads)
        if self._profiling:
            options.enable_profiling = True
            if self._profile_prefix is not None:
                options.profile_file_prefix = os.fspath(self._profile_prefix)
        if self._optimized_model_path is not None:
            options.optimized_model_filepath = os.fspath(self._optimized_model_path)
        if self._log_severity is not None:
            options.log_severity_level = int(self._log_severity)  # 0 verbose ... 3 error, 4 fatal
        # ORT's thread pools busy-wait after each run by default: the fastest for one model alone
        # on the machine, but an idle session then steals cores from every other session and
        # process (issue 15 measured 2x on se_resnet50 with five sessions interleaved on 2 cores).
        # Off unless asked for; an explicit session_config entry still wins.
        flag = "1" if self._spinning else "0"
        options.add_session_config_entry("session.intra_op.allow_spinning", flag)
        options.add_session_config_entry("session.inter_op.allow_spinning", flag)
        for key, value in self._session_config.items():
            options.add_session_config_entry(key, str(value))
        available = ort.get_available_providers()
        chosen = [p for p in self.requested_providers if p in available]
        missing = [p for p in self.requested_providers if p not in available]
        if missing:
            warnings.warn(
                f"ONNX Runtime here has no {', '.join(missing)} (available: {', '.join(available)}); "
                "running on the remaining providers",
                BackendWarning,
                stacklevel=3,
            )
        provider_args = [(p, self._provider_options.get(p, {})) for p in chosen]
        model = self._model_bytes_with_extra_outputs() if self._extra_outputs else self._model
        if isinstance(model, os.PathLike):
            model = os.fspath(model)
        try:
            self.session = ort.InferenceSession(model, sess_options=options, providers=provider_args)
        except Exception as exc:  # ORT raises its own Fail/InvalidGraph/NotImplemented types
            name = self.model_path or "<bytes>"
            raise ExportError(
                f"ONNX Runtime cannot load {name}: {str(exc).splitlines()[0][:300]}",
                hint="run 'edgeattn inspect' on the file; a custom-domain node needs its local function",
            ) from exc
        self.used_providers = list(self.session.get_providers())
        self.fallback = [p for p in self.requested_providers if p not in self.used_providers]
        if self.fallback and not missing:
            warnings.warn(
                f"ONNX Runtime fell back: requested {self.requested_providers}, using {self.used_providers}",
                BackendWarning,
                stacklevel=3,
            )
        self.fallback = sorted(set(self.fallback) | set(missing))
        self._inputs = [_spec(i) for i in self.session.get_inputs()]
        self._outputs = [_spec(o) for o in self.session.get_outputs()]

    def _model_bytes_with_extra_outputs(self) -> bytes:
        """A copy of the model with intermediate tensors marked as graph outputs."""
        import onnx

        from ..validation.probes import add_outputs

        proto = onnx.load(self._model) if not isinstance(self._model, bytes) else onnx.load_from_string(self._model)
        return add_outputs(proto, self._extra_outputs).SerializeToString()

    def _close_impl(self) -> None:
        self.session = None

    def _read_artifact(self) -> Any:
        from ..artifact import ArtifactInfo

        if self.session is None:
            return None
        path = Path(self.model_path) if self.model_path else None
        return ArtifactInfo.from_metadata(self.session.get_modelmeta().custom_metadata_map, path=path)

    def info(self) -> RunnerInfo:
        import onnxruntime as ort

        threads = self._threads
        details: dict[str, Any] = {
            "onnxruntime": ort.__version__,
            "distributions": ort_distributions(),
            "requested_providers": self.requested_providers,
            "providers": self.used_providers,
            "fallback": self.fallback,
            "intra_op_threads": threads if threads is not None else "default (one per physical core)",
            "optimization_level": self._opt_level,
            "spinning": self._session_config.get("session.intra_op.allow_spinning", "1" if self._spinning else "0") == "1",
            "model": self.model_path,
        }
        if self.session is not None:
            from ..artifact import ArtifactInfo

            recorded = ArtifactInfo.from_metadata(self.session.get_modelmeta().custom_metadata_map).precision
            if recorded is not None:
                details["precision"] = recorded
        device = "cuda" if any(p in self.used_providers for p in ("CUDAExecutionProvider", "TensorrtExecutionProvider")) else "cpu"
        return RunnerInfo(backend=self.backend, device=device, details=details)

    def _run_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        names = [o.name for o in self._outputs]
        results = self.session.run(names, feed)
        return dict(zip(names, results))

    def end_profiling(self) -> str | None:
        """Stop profiling and return the trace file ORT wrote (Chrome trace JSON)."""
        if self.session is None or not self._profiling:
            return None
        return str(self.session.end_profiling())


def _spec(arg: Any) -> TensorSpec:
    dtype = _ORT_TYPES.get(arg.type)
    if dtype is None:
        dtype = np.float32 if "float" in arg.type else np.int64
    shape = tuple(d if isinstance(d, (int, str)) else None for d in (arg.shape or []))
    return TensorSpec(arg.name, np.dtype(dtype), shape)
