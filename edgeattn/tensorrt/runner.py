"""TensorRT backend: run a serialized engine behind the common :class:`Runner` interface.

Memory and streams come from the CUDA runtime library through :mod:`edgeattn.platform.cuda`
(``cudaMalloc``/``cudaMallocHost``/``cudaMemcpyAsync``; no cuda-python, no pycuda); the call
sequence is NVIDIA's ``common_runtime.py`` (docs/tensorrt.md F3): ``set_input_shape`` -> ``set_tensor_address`` -> H2D copies -> ``execute_async_v3`` -> D2H
copies -> ``cudaStreamSynchronize`` -> read outputs. Copies and compute are bracketed by CUDA
events so ``last_timing`` separates H2D, GPU compute and D2H (trtexec's "GPU Compute Time").

* Dynamic shapes: any input shape inside optimization profile 0; outside it, an error naming
  the range. Buffers are sized for the profile maximum once.
* Thread safety: a pool of ``contexts`` execution contexts, each with its own stream, buffers
  and events; ``run`` borrows one, so up to ``contexts`` callers run concurrently.
* CUDA graphs (``cuda_graph=True``): after one plain run at a shape, the ``execute_async_v3``
  launch is captured and replayed; if capture fails (``execute_async_v3`` returns False while
  capturing, or any capture call errors) the runner falls back to plain launches.
* Per-layer times (``profile_layers=True``): an ``IProfiler`` subclass accumulates
  ``report_layer_time``; :func:`edgeattn.bench.layer_groups.block_times` groups them by
  attention block (module path). CUDA graphs are off while profiling.

Loading checks the engine's sidecar against this machine *before* deserializing
(:mod:`edgeattn.tensorrt.sidecar`).
"""

from __future__ import annotations

import hashlib
import os
import queue
import re
import threading
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from ..artifact import ArtifactInfo
from ..errors import BackendUnavailableError, EdgeattnError, EngineCompatibilityError, InputError
from ..platform import cuda as _cuda
from ..runtime.base import Runner, RunnerInfo, TensorSpec


@dataclass
class _Slot:
    """One execution context with its own stream, events and buffers."""

    context: Any
    stream: Any
    stream_handle: int
    events: list[Any]
    device: dict[str, _cuda.DeviceBuffer]
    host: dict[str, _cuda.PinnedBuffer]
    profiler: Any = None
    shapes: dict[str, tuple[int, ...]] | None = None
    warm: bool = False
    graph_exec: Any = None
    extra: dict[str, Any] = field(default_factory=dict)


# TensorRT DataType -> numpy. trt.nptype has no entry for BF16, FP8, INT4 or FP4 (numpy has no such
# types), so an engine with such an I/O tensor gets a one-line error at load, not a KeyError/TypeError.
_NUMPY_DTYPES = {"FLOAT": "float32", "HALF": "float16", "INT8": "int8", "INT32": "int32", "INT64": "int64",
                 "BOOL": "bool", "UINT8": "uint8"}


def numpy_dtype(trt: ModuleType, dtype: Any, tensor: str = "?") -> np.dtype:
    """The numpy dtype of a TensorRT I/O tensor; :class:`InputError` for types numpy lacks."""
    name = getattr(dtype, "name", str(dtype)).split(".")[-1]
    if name in _NUMPY_DTYPES:
        return np.dtype(_NUMPY_DTYPES[name])
    raise InputError(
        f"engine I/O tensor {tensor!r} has TensorRT type {name}, which numpy cannot hold "
        f"(supported: {', '.join(sorted(_NUMPY_DTYPES))})",
        hint="rebuild from an ONNX whose inputs and outputs are float32/float16 (keep_io_types when converting)",
    )


def backend_status() -> tuple[bool, str]:
    """(usable, reason) for backend listings: TensorRT importable, libcudart found, a GPU."""
    from .features import import_tensorrt

    try:
        trt = import_tensorrt()
        rt = _cuda.load_runtime()
        rt.require_device(0)
    except BackendUnavailableError as exc:
        return False, exc.message
    props: dict[str, Any] = {}
    try:
        props = rt.device_properties(0)
    except Exception:  # informative only
        pass
    gpu = f" on {props['gpu_name']} (compute {props['compute_capability']})" if props else ""
    return True, f"TensorRT {getattr(trt, '__version__', '?')}{gpu}"


class TensorRTRunner(Runner):
    """Run a TensorRT engine (``.engine``/``.plan``) on an NVIDIA GPU."""

    backend = "tensorrt"

    def __init__(
        self,
        engine_path: str | os.PathLike[str],
        *,
        device: int = 0,
        contexts: int = 1,
        cuda_graph: bool = False,
        profile_layers: bool = False,
        check_compatibility: bool = True,
        dla_core: int | None = None,
        lean_runtime: str | os.PathLike[str] | None = None,
        verbose: bool = False,
    ) -> None:
        super().__init__()
        if contexts < 1:
            raise InputError(f"contexts must be >= 1, received {contexts}")
        self.engine_path = Path(os.fspath(engine_path))
        self.device = int(device)
        self.num_contexts = int(contexts)
        self.cuda_graph = bool(cuda_graph) and not profile_layers
        self.profile_layers = bool(profile_layers)
        self.check_compatibility = bool(check_compatibility)
        self.dla_core = dla_core
        self.verbose = verbose
        self.lean_runtime = os.fspath(lean_runtime) if lean_runtime is not None else None
        self.sidecar: dict[str, Any] | None = None
        self.last_timing: dict[str, float] | None = None
        self.graph_fallback_reason: str | None = None
        self._inputs: list[TensorSpec] = []
        self._outputs: list[TensorSpec] = []
        self._profile: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {}
        self._max_out: dict[str, tuple[int, ...]] = {}
        self._pool: queue.Queue[_Slot] = queue.Queue()
        self._slots: list[_Slot] = []
        self._layer_lock = threading.Lock()
        self._layer_sum: dict[str, float] = {}
        self._layer_runs = 0
        self._trt: ModuleType | None = None
        self._rt: _cuda.CudaRuntime | None = None
        self._engine: Any = None
        self._runtime: Any = None
        self._logger: Any = None
        self._machine: Any = None
        self._jetson_warning: str | None = None
        self._profile_per_context = False

    # -- loading ------------------------------------------------------------------------------
    def _load_impl(self) -> None:
        from ..platform import jetson
        from . import sidecar as sidecar_mod
        from .diagnostics import make_logger
        from .features import detect_features, import_tensorrt

        if not self.engine_path.is_file():
            raise InputError(
                f"engine file not found: {self.engine_path}",
                hint="build one: edgeattn build model.onnx -o model.engine",
            )
        trt = import_tensorrt()
        rt = _cuda.load_runtime()
        rt.require_device(self.device)
        self._trt, self._rt = trt, rt
        features = detect_features(trt)
        self.sidecar = sidecar_mod.read_sidecar(self.engine_path)
        self._machine = sidecar_mod.probe_machine(trt, rt, self.device)
        plan = self.engine_path.read_bytes()  # read once: hashed here, deserialized below
        recorded = ((self.sidecar or {}).get("engine") or {}).get("sha256")
        if self.sidecar is not None and recorded and recorded != hashlib.sha256(plan).hexdigest():
            # A stale sidecar (engine rebuilt or copied over) must not vouch for this file.
            warnings.warn(
                f"{sidecar_mod.sidecar_path(self.engine_path).name} describes another engine (sha256 differs); ignoring it",
                RuntimeWarning,
                stacklevel=3,
            )
            self.sidecar = None
        elif self.sidecar is None:
            warnings.warn(
                f"{self.engine_path} has no sidecar ({sidecar_mod.sidecar_path(self.engine_path).name}); "
                "cannot check it was built for this TensorRT/GPU before loading",
                RuntimeWarning,
                stacklevel=3,
            )
        elif self.check_compatibility:
            sidecar_mod.check_compatible(self.engine_path, self.sidecar, self._machine)
        self._jetson_warning = jetson.warn_if_unlocked()

        self._logger = make_logger(trt, verbose=self.verbose)
        runtime = trt.Runtime(self._logger)
        compat = (self.sidecar or {}).get("compatibility") or {}
        if compat.get("exclude_lean_runtime"):
            runtime = self._load_lean_runtime(runtime)
        if compat.get("version_compatible") and features.engine_host_code_allowed:
            # Version-compatible plans embed a lean runtime that must be allowed to run.
            runtime.engine_host_code_allowed = True
        dla = self.dla_core
        if dla is None:
            dla = ((self.sidecar or {}).get("build_options") or {}).get("dla_core")
        if dla is not None:
            runtime.DLA_core = int(dla)
        engine = runtime.deserialize_cuda_engine(plan)
        if engine is None:
            errors = self._logger.errors()
            reason = " | ".join(errors[-3:]) or "no reason logged"
            command = (self.sidecar or {}).get("rebuild_command") or f"edgeattn build MODEL.onnx -o {self.engine_path}"
            if re.search(r"version|incompatible|magic|serializ", reason, re.IGNORECASE):
                raise EngineCompatibilityError(
                    f"TensorRT {features.version} cannot load {self.engine_path}: {reason}",
                    hint=f"rebuild it on this machine: {command}",
                )
            raise EdgeattnError(f"TensorRT could not deserialize {self.engine_path}: {reason}", hint=f"rebuild: {command}")
        self._runtime, self._engine = runtime, engine
        try:
            self._describe_io()
            self._profile_per_context = self._plan_contexts(features)
            for index in range(self.num_contexts):
                self._pool.put(self._make_slot(index))
        except BaseException:
            self._close_impl()  # free what the slots made so far: load() did not succeed
            raise

    def _load_lean_runtime(self, runtime: Any) -> Any:
        """The lean runtime a plan built with ``--exclude-lean-runtime`` needs (``IRuntime::loadRuntime``).

        Such a plan carries no runtime of its own; it runs on the lean runtime library of the
        TensorRT version that built it (``libnvinfer_lean.so.<major>``, or ``lean_runtime=PATH``).
        """
        built = str(((self.sidecar or {}).get("tensorrt") or {}).get("version") or "")
        path = self.lean_runtime or f"libnvinfer_lean.so.{built.split('.')[0] or '10'}"
        loader = getattr(runtime, "load_runtime", None)
        lean = loader(path) if loader is not None else None
        if lean is None:
            raise EngineCompatibilityError(
                f"{self.engine_path} was built with --exclude-lean-runtime and needs the lean runtime of TensorRT "
                f"{built or '?'}; {path} could not be loaded",
                hint="pass lean_runtime=PATH to libnvinfer_lean.so of that TensorRT version, or rebuild without --exclude-lean-runtime",
            )
        return lean

    def _describe_io(self) -> None:
        trt, engine = self._trt, self._engine
        assert trt is not None
        inputs, outputs = [], []
        for i in range(int(engine.num_io_tensors)):
            name = engine.get_tensor_name(i)
            dtype = numpy_dtype(trt, engine.get_tensor_dtype(name), name)
            dims = tuple(int(d) for d in engine.get_tensor_shape(name))
            shape = tuple(("batch" if axis == 0 else None) if d < 0 else d for axis, d in enumerate(dims))
            if engine.get_tensor_mode(name) == trt.TensorIOMode.INPUT:
                lo, opt, hi = (tuple(int(d) for d in s) for s in engine.get_tensor_profile_shape(name, 0))
                self._profile[name] = (lo, opt, hi)
                inputs.append(TensorSpec(name, dtype, shape))
            else:
                outputs.append(TensorSpec(name, dtype, shape))
        self._inputs, self._outputs = inputs, outputs

    def _plan_contexts(self, features: Any) -> bool:
        """Whether context k must select profile k (TensorRT 8.5/8.6 without sharing, docs/tensorrt.md F14).

        Caps ``num_contexts`` at the engine's profile count there, with a warning naming the
        rebuild option, since a context without a profile of its own cannot run.
        """
        if features.contexts_share_profiles or not any(
            lo != hi for lo, _, hi in self._profile.values()
        ):
            return False
        if ((self.sidecar or {}).get("contexts") or {}).get("shared_profile") and features.profile_sharing_preview:
            return False  # built on 8.6 with PROFILE_SHARING_0806
        available = int(getattr(self._engine, "num_optimization_profiles", 1) or 1)
        if self.num_contexts > available:
            warnings.warn(
                f"TensorRT {features.version} gives each execution context its own optimization profile and "
                f"{self.engine_path.name} has {available}: running {available} context(s), not {self.num_contexts} "
                f"(rebuild with --contexts {self.num_contexts})",
                RuntimeWarning,
                stacklevel=4,
            )
            self.num_contexts = available
        return True

    def _make_slot(self, index: int = 0) -> _Slot:
        rt = self._rt
        assert rt is not None
        context = self._engine.create_execution_context()
        if context is None:
            raise EdgeattnError("TensorRT could not create an execution context (out of GPU memory?)")
        # Registered before any allocation so that a failure part-way still frees everything.
        slot = _Slot(context, None, 0, [], {}, {})
        self._slots.append(slot)
        slot.stream = slot.stream_handle = rt.stream_create()
        if self._profile_per_context and index > 0:
            if not context.set_optimization_profile_async(index, slot.stream_handle):
                raise EdgeattnError(f"TensorRT refused optimization profile {index} for execution context {index}")
        # Size every buffer for the profile maximum so shapes can change without reallocating.
        for name, (_, _, hi) in self._profile.items():
            if not context.set_input_shape(name, hi):
                raise EdgeattnError(f"TensorRT rejected the profile maximum {list(hi)} for input {name!r}")
        for spec in self._inputs:
            nbytes = int(np.prod(self._profile[spec.name][2])) * spec.dtype.itemsize
            slot.device[spec.name] = _cuda.DeviceBuffer(rt, nbytes)
            slot.host[spec.name] = _cuda.PinnedBuffer(rt, nbytes)
        for spec in self._outputs:
            out_shape = tuple(int(d) for d in context.get_tensor_shape(spec.name))
            if any(d < 0 for d in out_shape):
                raise EdgeattnError(f"output {spec.name!r} has a data-dependent shape {list(out_shape)}: not supported")
            self._max_out[spec.name] = out_shape
            nbytes = int(np.prod(out_shape)) * spec.dtype.itemsize
            slot.device[spec.name] = _cuda.DeviceBuffer(rt, nbytes)
            slot.host[spec.name] = _cuda.PinnedBuffer(rt, nbytes)
        for _ in range(4):
            slot.events.append(rt.event_create())
        if self.profile_layers:
            slot.profiler = self._make_profiler()
            context.profiler = slot.profiler
        return slot

    def _make_profiler(self) -> Any:
        trt = self._trt
        assert trt is not None
        runner = self

        profiler_base: Any = trt.IProfiler  # a class of the TensorRT module loaded at runtime

        class LayerProfiler(profiler_base):
            def __init__(self) -> None:
                profiler_base.__init__(self)

            def report_layer_time(self, layer_name: str, ms: float) -> None:
                with runner._layer_lock:
                    runner._layer_sum[layer_name] = runner._layer_sum.get(layer_name, 0.0) + float(ms)

        return LayerProfiler()

    # -- metadata -----------------------------------------------------------------------------
    def profile_shapes(self) -> dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]]:
        """(min, opt, max) per input, from the engine's optimization profile 0."""
        if not self._loaded:
            self.load()
        return dict(self._profile)

    def _read_artifact(self) -> Any:
        return ArtifactInfo.from_engine_sidecar(self.sidecar, self.engine_path) if self.sidecar else None

    def info(self) -> RunnerInfo:
        machine = self._machine
        details: dict[str, Any] = {
            "engine": str(self.engine_path),
            "tensorrt_version": getattr(self._trt, "__version__", None),
            "contexts": self.num_contexts,
            "cuda_graph": self.cuda_graph and self.graph_fallback_reason is None,
            "cuda_graph_fallback": self.graph_fallback_reason,
            "profile_layers": self.profile_layers,
            "precision": ArtifactInfo.from_engine_sidecar(self.sidecar).precision if self.sidecar else None,
            "profiles": {k: [list(s) for s in v] for k, v in self._profile.items()},
        }
        device = f"cuda:{self.device}"
        if machine is not None:
            details.update(
                gpu=machine.gpu_name,
                compute_capability=machine.compute_capability,
                cuda_runtime=machine.cuda_runtime,
                cuda_driver=machine.cuda_driver,
                jetson=machine.jetson,
            )
            if machine.gpu_name:
                device = f"cuda:{self.device} ({machine.gpu_name})"
        if self._jetson_warning:
            details["warning"] = self._jetson_warning
        return RunnerInfo(backend=self.backend, device=device, details=details)

    # -- inference ----------------------------------------------------------------------------
    def _check_profile(self, feed: Mapping[str, np.ndarray]) -> dict[str, tuple[int, ...]]:
        shapes = {}
        for name, arr in feed.items():
            lo, _, hi = self._profile[name]
            shape = tuple(int(d) for d in arr.shape)
            if len(shape) != len(lo) or any(not (a <= s <= b) for s, a, b in zip(shape, lo, hi)):
                fmt = "x".join
                raise InputError(
                    f"input {name!r}: shape {list(shape)} is outside the engine's optimization profile "
                    f"(min {fmt(map(str, lo))}, max {fmt(map(str, hi))})",
                    hint="rebuild the engine with a wider range, e.g. edgeattn build model.onnx -o model.engine "
                    f"--max-batch {max(shape[0], hi[0]) if shape else 1}",
                )
            shapes[name] = shape
        return shapes

    def _run_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        shapes = self._check_profile(feed)
        slot = self._pool.get()
        try:
            return self._run_on(slot, feed, shapes)
        finally:
            self._pool.put(slot)

    def _run_on(self, slot: _Slot, feed: dict[str, np.ndarray], shapes: dict[str, tuple[int, ...]]) -> dict[str, np.ndarray]:
        rt = self._rt
        assert rt is not None
        ctx = slot.context
        if self.device != 0:  # the current device is per host thread
            rt.set_device(self.device)
        if slot.shapes != shapes:
            for name, shape in shapes.items():
                if not ctx.set_input_shape(name, shape):
                    raise InputError(f"TensorRT rejected shape {list(shape)} for input {name!r}")
            for name, buf in slot.device.items():
                ctx.set_tensor_address(name, buf.ptr)
            self._drop_graph(slot)
            slot.shapes, slot.warm = dict(shapes), False
        out_shapes = {s.name: tuple(int(d) for d in ctx.get_tensor_shape(s.name)) for s in self._outputs}
        use_graph = self.cuda_graph and self.graph_fallback_reason is None
        if use_graph and slot.warm and slot.graph_exec is None:
            self._capture(slot)
        ev = slot.events
        for name, arr in feed.items():
            np.copyto(slot.host[name].view(arr.dtype, arr.shape), arr)
        rt.event_record(ev[0], slot.stream)
        for name, arr in feed.items():
            rt.memcpy_async(slot.device[name].ptr, slot.host[name].ptr, arr.nbytes, _cuda.MEMCPY_HOST_TO_DEVICE, slot.stream)
        rt.event_record(ev[1], slot.stream)
        if slot.graph_exec is not None:
            rt.graph_launch(slot.graph_exec, slot.stream)
        elif not ctx.execute_async_v3(slot.stream_handle):
            errors = self._logger.errors() if self._logger is not None else []
            raise EdgeattnError("TensorRT execute_async_v3 failed" + (f": {' | '.join(errors[-3:])}" if errors else ""))
        rt.event_record(ev[2], slot.stream)
        outputs: dict[str, np.ndarray] = {}
        for spec in self._outputs:
            nbytes = int(np.prod(out_shapes[spec.name])) * spec.dtype.itemsize
            rt.memcpy_async(slot.host[spec.name].ptr, slot.device[spec.name].ptr, nbytes, _cuda.MEMCPY_DEVICE_TO_HOST, slot.stream)
        rt.event_record(ev[3], slot.stream)
        # Outputs are valid only after the stream has drained.
        rt.stream_synchronize(slot.stream)
        for spec in self._outputs:
            outputs[spec.name] = slot.host[spec.name].view(spec.dtype, out_shapes[spec.name]).copy()
        slot.warm = True
        timing = {
            "h2d_ms": rt.event_elapsed_ms(ev[0], ev[1]),
            "compute_ms": rt.event_elapsed_ms(ev[1], ev[2]),
            "d2h_ms": rt.event_elapsed_ms(ev[2], ev[3]),
        }
        timing["total_ms"] = timing["h2d_ms"] + timing["compute_ms"] + timing["d2h_ms"]
        timing["cuda_graph"] = float(slot.graph_exec is not None)
        self.last_timing = timing
        if self.profile_layers:
            with self._layer_lock:
                self._layer_runs += 1
        return outputs

    def _capture(self, slot: _Slot) -> None:
        """Capture one ``execute_async_v3`` into a CUDA graph; fall back on any failure."""
        rt = self._rt
        assert rt is not None
        # Thread-local mode: other pool threads keep calling cudaStreamSynchronize/cudaMemcpyAsync
        # on their own streams while this one captures, which global mode would forbid.
        try:
            rt.begin_capture(slot.stream, _cuda.CAPTURE_MODE_THREAD_LOCAL)
        except _cuda.CudaError as exc:
            rt.get_last_error()  # clear it, or the next unrelated call reports it
            self.graph_fallback_reason = str(exc)
            return
        ok = False
        try:
            ok = bool(slot.context.execute_async_v3(slot.stream_handle))
        finally:
            code, graph = rt.end_capture(slot.stream)
        if not ok or code != _cuda.SUCCESS or not graph:
            if code != _cuda.SUCCESS:
                rt.get_last_error()  # an invalidated capture leaves its error behind: clear it
            self.graph_fallback_reason = (
                "execute_async_v3 is not capturable for this engine" if not ok else f"cudaStreamEndCapture: {rt.error_name(code)}"
            )
            if graph:
                rt.graph_destroy(graph)
            return
        code, exe = rt.graph_instantiate(graph)
        rt.graph_destroy(graph)
        if code != _cuda.SUCCESS:
            rt.get_last_error()
            self.graph_fallback_reason = f"cudaGraphInstantiateWithFlags: {rt.error_name(code)}"
            return
        slot.graph_exec = exe

    def _drop_graph(self, slot: _Slot) -> None:
        if slot.graph_exec is not None and self._rt is not None:
            self._rt.graph_exec_destroy(slot.graph_exec)
        slot.graph_exec = None

    # -- profiling ----------------------------------------------------------------------------
    def layer_times(self) -> dict[str, float]:
        """Mean milliseconds per TensorRT layer per run (needs ``profile_layers=True``)."""
        with self._layer_lock:
            runs = max(self._layer_runs, 1)
            return {name: total / runs for name, total in self._layer_sum.items()}

    def reset_layer_times(self) -> None:
        with self._layer_lock:
            self._layer_sum.clear()
            self._layer_runs = 0

    def read_power(self) -> dict[str, float] | None:
        """Jetson power rails (mW) from tegrastats; ``None`` elsewhere."""
        from ..platform import jetson

        return jetson.read_power() if jetson.is_jetson() else None

    # -- teardown -----------------------------------------------------------------------------
    def _close_impl(self) -> None:
        rt = self._rt
        for slot in self._slots:
            self._drop_graph(slot)
            for buf in list(slot.device.values()) + list(slot.host.values()):
                buf.free()
            if rt is not None:
                for event in slot.events:
                    rt.event_destroy(event)
                if slot.stream:
                    rt.stream_destroy(slot.stream)
            slot.context = None
        self._slots.clear()
        self._pool = queue.Queue()
        self._engine = None
        self._runtime = None
