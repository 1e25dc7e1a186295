"""cuda-python runtime stand-ins: cuda-python 12.5 (``cuda.cudart`` only), 12.9 (``cuda.bindings``
plus the deprecated ``cuda.cudart`` shim) and 13.x (``cuda.bindings`` only; ``cuda.cudart`` removed).

They verify API usage, not CUDA's behaviour: device memory is host memory, copies and kernels
are queued per stream and run only at ``cudaStreamSynchronize`` (so reading outputs before
synchronizing returns stale data, as on a GPU), every call returns ``(cudaError_t, *outputs)``.
"""

from __future__ import annotations

import ctypes
import enum
import importlib.machinery
import json
import types
import warnings
from pathlib import Path
from typing import Any

from .world import ContractViolation, Stream, World

SURFACE = json.loads((Path(__file__).with_name("api_surface.json")).read_text())
# Beyond the survey's checked list: the CUDA-graph calls (present in 12.x and 13.x bindings).
GRAPH_FUNCTIONS = [
    "cudaStreamBeginCapture",
    "cudaStreamEndCapture",
    "cudaGraphInstantiate",
    "cudaGraphLaunch",
    "cudaGraphDestroy",
    "cudaGraphExecDestroy",
]


class cudaError_t(enum.IntEnum):
    cudaSuccess = 0
    cudaErrorInvalidValue = 1
    cudaErrorMemoryAllocation = 2
    cudaErrorInsufficientDriver = 35
    cudaErrorNoDevice = 100
    cudaErrorInvalidResourceHandle = 400
    cudaErrorStreamCaptureUnsupported = 900


class cudaMemcpyKind(enum.IntEnum):
    cudaMemcpyHostToHost = 0
    cudaMemcpyHostToDevice = 1
    cudaMemcpyDeviceToHost = 2
    cudaMemcpyDeviceToDevice = 3
    cudaMemcpyDefault = 4


class cudaStreamCaptureMode(enum.IntEnum):
    cudaStreamCaptureModeGlobal = 0
    cudaStreamCaptureModeThreadLocal = 1
    cudaStreamCaptureModeRelaxed = 2


class _Handle:
    """cudaStream_t / cudaEvent_t / cudaGraph_t: ``int()`` deprecated from 13.0."""

    def __init__(self, value: int, kind: str, deprecated_int: bool) -> None:
        self._value, self._kind, self._deprecated_int = value, kind, deprecated_int

    def getPtr(self) -> int:
        return self._value

    def __int__(self) -> int:
        if self._deprecated_int:
            warnings.warn("int(cuda handle) is deprecated; use get_cuda_native_handle", DeprecationWarning, stacklevel=2)
        return self._value

    def __repr__(self) -> str:
        return f"<{self._kind} {self._value:#x}>"


class cudaDeviceProp:
    def __init__(self, name: bytes, major: int, minor: int) -> None:
        self.name, self.major, self.minor, self.totalGlobalMem = name, major, minor, 8 << 30


def _ptr(value: Any) -> int:
    if isinstance(value, _Handle):
        return value.getPtr()
    return int(value)


def make_runtime_module(world: World, name: str) -> types.ModuleType:
    gen = world.cuda_generation
    legacy = gen == "12-legacy"
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None)
    ok = cudaError_t.cudaSuccess
    no_driver = cudaError_t.cudaErrorInsufficientDriver

    def rec(fn_name: str, *args: Any) -> None:
        world.record(f"cudart.{fn_name}", args)

    def gpu() -> bool:
        if world.device_count == 0 and legacy:
            # cuda-python <= 12.5 raises instead of returning an error code without a driver.
            raise RuntimeError('Failed to dlopen libcuda.so.1')
        return world.device_count > 0

    fns: dict[str, Any] = {}

    def cudaGetDeviceCount():
        rec("cudaGetDeviceCount")
        if not gpu():
            return (no_driver, None)
        return (ok, world.device_count)

    def cudaGetDevice():
        rec("cudaGetDevice")
        return (ok, 0) if gpu() else (no_driver, None)

    def cudaSetDevice(device):
        rec("cudaSetDevice", device)
        if not gpu():
            return (no_driver,)
        return (ok,) if 0 <= int(device) < world.device_count else (cudaError_t.cudaErrorInvalidValue,)

    def cudaGetDeviceProperties(device):
        rec("cudaGetDeviceProperties", device)
        if not gpu():
            return (no_driver, None)
        major, minor = world.compute_capability
        return (ok, cudaDeviceProp(world.gpu_name.encode() + b"\0\0", major, minor))

    def cudaRuntimeGetVersion():
        rec("cudaRuntimeGetVersion")
        return (ok, {"12-legacy": 12050, "12": 12090, "13": 13050}[gen])

    def cudaDriverGetVersion():
        rec("cudaDriverGetVersion")
        return (ok, 13000 if world.device_count else 0)

    def cudaGetErrorName(err):
        return (ok, cudaError_t(int(err)).name.encode())

    def cudaGetErrorString(err):
        return (ok, cudaError_t(int(err)).name.encode())

    def cudaMalloc(size):
        rec("cudaMalloc", size)
        if not gpu():
            return (no_driver, None)
        return (ok, world.alloc(size))

    def cudaMallocHost(size):
        rec("cudaMallocHost", size)
        if not gpu():
            return (no_driver, None)
        return (ok, world.alloc(size))

    def cudaFree(ptr):
        rec("cudaFree", ptr)
        world.free(_ptr(ptr))
        return (ok,)

    def cudaFreeHost(ptr):
        rec("cudaFreeHost", ptr)
        world.free(_ptr(ptr))
        return (ok,)

    def _check_kind(kind):
        if not isinstance(kind, cudaMemcpyKind):
            raise ContractViolation(f"memcpy kind must be a cudaMemcpyKind member, got {kind!r}")

    def cudaMemcpy(dst, src, count, kind):
        rec("cudaMemcpy", dst, src, count, kind)
        _check_kind(kind)
        ctypes.memmove(_ptr(dst), _ptr(src), int(count))
        return (ok,)

    def cudaMemcpyAsync(dst, src, count, kind, stream):
        rec("cudaMemcpyAsync", dst, src, count, kind, stream)
        _check_kind(kind)
        d, s, n = _ptr(dst), _ptr(src), int(count)
        world.enqueue(_ptr(stream), lambda: ctypes.memmove(d, s, n))
        return (ok,)

    def cudaMemset(ptr, value, count):
        rec("cudaMemset", ptr, value, count)
        ctypes.memset(_ptr(ptr), int(value), int(count))
        return (ok,)

    def cudaMemsetAsync(ptr, value, count, stream):
        rec("cudaMemsetAsync", ptr, value, count, stream)
        p, v, n = _ptr(ptr), int(value), int(count)
        world.enqueue(_ptr(stream), lambda: ctypes.memset(p, v, n))
        return (ok,)

    def _new_stream():
        h = world.new_handle()
        world.streams[h] = Stream(h)
        return _Handle(h, "cudaStream_t", gen == "13")

    def cudaStreamCreate():
        rec("cudaStreamCreate")
        if not gpu():
            return (no_driver, None)
        return (ok, _new_stream())

    def cudaStreamCreateWithFlags(flags):
        rec("cudaStreamCreateWithFlags", flags)
        return (ok, _new_stream())

    def cudaStreamSynchronize(stream):
        rec("cudaStreamSynchronize", stream)
        world.drain(_ptr(stream))
        return (ok,)

    def cudaStreamDestroy(stream):
        rec("cudaStreamDestroy", stream)
        world.streams.pop(_ptr(stream), None)
        return (ok,)

    event_times: dict[int, float] = {}
    clock = [0.0]

    def cudaEventCreate():
        rec("cudaEventCreate")
        return (ok, _Handle(world.new_handle(), "cudaEvent_t", gen == "13"))

    def cudaEventRecord(event, stream=0):
        rec("cudaEventRecord", event, stream)

        def stamp(e=_ptr(event)):
            clock[0] += 0.25
            event_times[e] = clock[0]

        world.enqueue(_ptr(stream), stamp)
        return (ok,)

    def cudaEventSynchronize(event):
        rec("cudaEventSynchronize", event)
        return (ok,)

    def cudaEventElapsedTime(start, end):
        rec("cudaEventElapsedTime", start, end)
        a, b = event_times.get(_ptr(start)), event_times.get(_ptr(end))
        if a is None or b is None:
            raise ContractViolation("cudaEventElapsedTime on an event that has not completed (synchronize first)")
        return (ok, b - a)

    def cudaEventDestroy(event):
        rec("cudaEventDestroy", event)
        return (ok,)

    def cudaDeviceSynchronize():
        rec("cudaDeviceSynchronize")
        for h in list(world.streams):
            world.drain(h)
        return (ok,)

    def cudaMemGetInfo():
        return (ok, 4 << 30, 8 << 30)

    def cudaGetLastError():
        return (ok,)

    def cudaPeekAtLastError():
        return (ok,)

    def cudaStreamBeginCapture(stream, mode):
        rec("cudaStreamBeginCapture", stream, mode)
        if not isinstance(mode, cudaStreamCaptureMode):
            raise ContractViolation(f"capture mode must be a cudaStreamCaptureMode member, got {mode!r}")
        s = world.streams[_ptr(stream)]
        if s.pending:
            raise ContractViolation("capture begun on a stream with unfinished work")
        s.capturing = []
        return (ok,)

    def cudaStreamEndCapture(stream):
        rec("cudaStreamEndCapture", stream)
        s = world.streams[_ptr(stream)]
        ops, s.capturing = s.capturing or [], None
        if world.capture_unsupported:
            return (cudaError_t.cudaErrorStreamCaptureUnsupported, None)
        graph = _Handle(world.new_handle(), "cudaGraph_t", gen == "13")
        graph.ops = ops  # type: ignore[attr-defined]
        return (ok, graph)

    def cudaGraphInstantiate(graph, flags):
        rec("cudaGraphInstantiate", graph, flags)
        exe = _Handle(world.new_handle(), "cudaGraphExec_t", gen == "13")
        exe.ops = list(graph.ops)  # type: ignore[attr-defined]
        return (ok, exe)

    def cudaGraphLaunch(exe, stream):
        rec("cudaGraphLaunch", exe, stream)
        for op in exe.ops:
            world.enqueue(_ptr(stream), op)
        return (ok,)

    def cudaGraphDestroy(graph):
        rec("cudaGraphDestroy", graph)
        return (ok,)

    def cudaGraphExecDestroy(exe):
        rec("cudaGraphExecDestroy", exe)
        return (ok,)

    local = dict(locals())
    wanted = list(SURFACE["cuda_python"]["runtime_functions"]) + GRAPH_FUNCTIONS
    for fn_name in wanted:
        setattr(mod, fn_name, local[fn_name])
    mod.cudaError_t = cudaError_t
    mod.cudaMemcpyKind = cudaMemcpyKind
    mod.cudaStreamCaptureMode = cudaStreamCaptureMode
    mod.cudaDeviceProp = cudaDeviceProp
    return mod


def _package(name: str, path: bool = True) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=path)
    if path:
        mod.__path__ = []  # submodules come only from sys.modules: the real cuda-python is hidden
    return mod


def cuda_modules(world: World) -> dict[str, types.ModuleType]:
    """The ``sys.modules`` entries for this cuda-python generation."""
    gen = world.cuda_generation
    if gen is None:
        return {}
    cuda = _package("cuda")
    mods = {"cuda": cuda}
    if gen in ("12", "13"):
        bindings = _package("cuda.bindings")
        runtime = make_runtime_module(world, "cuda.bindings.runtime")
        bindings.runtime = runtime
        cuda.bindings = bindings
        mods.update({"cuda.bindings": bindings, "cuda.bindings.runtime": runtime})
        if gen == "13":
            utils = _package("cuda.bindings.utils", path=False)

            def get_cuda_native_handle(obj: Any) -> int:
                world.record("cuda.bindings.utils.get_cuda_native_handle", (obj,))
                return _ptr(obj)

            utils.get_cuda_native_handle = get_cuda_native_handle
            bindings.utils = utils
            mods["cuda.bindings.utils"] = utils
        if gen == "12":
            # The 12.6.1-12.9 forwarding shim: same functions, warns on import.
            mods["cuda.cudart"] = runtime
    elif gen == "12-legacy":
        runtime = make_runtime_module(world, "cuda.cudart")
        cuda.cudart = runtime
        mods["cuda.cudart"] = runtime
    else:
        raise ValueError(f"unknown cuda-python stand-in generation {gen!r}")
    return mods
