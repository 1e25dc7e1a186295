"""A libcudart stand-in for :mod:`edgeattn.platform.cuda` (ctypes calls, not CUDA's behaviour).

``World.cuda_generation`` is the CUDA runtime library found ("11" = 11.4 as on JetPack 5.1, "12",
"13"; ``None``: no libcudart anywhere). Functions take what ctypes would pass (``byref`` out
parameters, ``c_void_p``/``c_size_t`` values) and return ``cudaError_t`` codes. Device memory is host
memory; copies and kernels are queued per stream and run only at ``cudaStreamSynchronize``, so
reading outputs before synchronizing returns stale data, as on a GPU.

The driver is modelled too: a CUDA runtime of a newer major version than the driver's returns
``cudaErrorInsufficientDriver`` (35) from every device call, as libcudart does. That is why the
project does not use cuda-python: its 13.x wheels bundle a CUDA 13 runtime and its 12.x wheels a
CUDA 12 one, which is exactly this mismatch on every Jetson (docs/tensorrt.md F15, table below).
"""

from __future__ import annotations

import ctypes
from typing import Any

from .world import ContractViolation, Stream, World

ERRORS = {
    0: "cudaSuccess",
    1: "cudaErrorInvalidValue",
    2: "cudaErrorMemoryAllocation",
    35: "cudaErrorInsufficientDriver",
    100: "cudaErrorNoDevice",
    400: "cudaErrorInvalidResourceHandle",
    900: "cudaErrorStreamCaptureUnsupported",
}
RUNTIME_VERSION = {"11": 11040, "12": 12060, "13": 13000}  # cudaRuntimeGetVersion of each library
# The driver's CUDA version per platform, and the cuda-python major whose runtime it can run
# (cuda-bindings 13.x needs a driver >= 580 = CUDA 13.0, 12.x needs >= 525 = CUDA 12.0):
DRIVER_BY_PLATFORM = {
    "jetpack-5.1": 11040,  # L4T 35.x: CUDA 11.4 driver -> neither cuda-python 12 nor 13 runs
    "jetpack-6.0": 12020,  # L4T 36.2/36.3 -> cuda-python 12.x runs, 13.x does not
    "jetpack-6.2": 12060,  # L4T 36.4 -> cuda-python 12.x runs, 13.x does not
    "x86-r580": 13000,  # x86 driver 580+ -> both
}


def _val(x: Any) -> int:
    """The integer behind what ctypes would pass: c_void_p(None) is 0."""
    v = getattr(x, "value", x)
    return int(v or 0)


def _out(ref: Any) -> Any:
    """The ctypes object behind ``ctypes.byref(obj)``."""
    obj = getattr(ref, "_obj", None)
    if obj is None:
        raise ContractViolation(f"an out parameter must be passed with ctypes.byref(), got {ref!r}")
    return obj


class _CFunction:
    """A library symbol: like a ctypes function pointer, it takes ``argtypes``/``restype``, and the
    stand-in insists they were declared (an undeclared 64-bit pointer is truncated to a C int)."""

    def __init__(self, name: str, impl: Any) -> None:
        self.__name__, self._impl = name, impl
        self.argtypes: list[Any] | None = None
        self.restype: Any = ctypes.c_int

    def __call__(self, *args: Any) -> Any:
        if self.argtypes is None:
            raise ContractViolation(f"{self.__name__} called without argtypes declared")
        if len(args) != len(self.argtypes):
            raise ContractViolation(f"{self.__name__} takes {len(self.argtypes)} argument(s), got {len(args)}")
        return self._impl(*args)


class FakeCudart:
    """What ``ctypes.CDLL("libcudart.so.N")`` returns, for the world's CUDA generation."""

    def __init__(self, world: World, path: str) -> None:
        self.world, self.path = world, path
        self.version = world.runtime_version or RUNTIME_VERSION[str(world.cuda_generation)]
        self.event_times: dict[int, float] = {}
        self.clock = 0.0
        self.last_error = 0
        for name in dir(type(self)):
            if name.startswith("cuda"):
                setattr(self, name, _CFunction(name, getattr(self, name)))

    # helpers ---------------------------------------------------------------------------------
    def _rec(self, name: str, *args: Any) -> None:
        self.world.record(f"cudart.{name}", tuple(_val(a) if not hasattr(a, "_obj") else "byref" for a in args))

    def _device_error(self) -> int:
        w = self.world
        if w.device_count == 0:
            return 100 if w.driver_version else 35
        if w.driver_version // 1000 < self.version // 1000:
            return 35  # a runtime of a newer CUDA major than the driver's
        return 0

    def _fail(self, code: int) -> int:
        self.last_error = code
        return code

    # device ----------------------------------------------------------------------------------
    def cudaGetDeviceCount(self, count: Any) -> int:
        self._rec("cudaGetDeviceCount", count)
        code = self._device_error()
        _out(count).value = 0 if code else self.world.device_count
        return self._fail(code) if code else 0

    def cudaSetDevice(self, device: Any) -> int:
        self._rec("cudaSetDevice", device)
        code = self._device_error()
        if code:
            return self._fail(code)
        return 0 if 0 <= _val(device) < self.world.device_count else self._fail(1)

    def cudaGetDevice(self, device: Any) -> int:
        _out(device).value = 0
        return self._device_error()

    def cudaDeviceGetAttribute(self, value: Any, attr: Any, device: Any) -> int:
        self._rec("cudaDeviceGetAttribute", value, attr, device)
        code = self._device_error()
        if code:
            return self._fail(code)
        major, minor = self.world.compute_capability
        table = {75: major, 76: minor}
        if _val(attr) not in table:
            raise ContractViolation(f"stand-in knows device attributes 75/76 only, got {_val(attr)}")
        _out(value).value = table[_val(attr)]
        return 0

    def cudaGetDeviceProperties(self, prop: Any, device: Any) -> int:
        self._rec("cudaGetDeviceProperties", prop, device)
        code = self._device_error()
        if code:
            return self._fail(code)
        name = self.world.gpu_name.encode()[:255] + b"\0"
        ctypes.memmove(_val(prop), name, len(name))  # name is the struct's first member
        return 0

    def cudaMemGetInfo(self, free: Any, total: Any) -> int:
        code = self._device_error()
        if code:
            return self._fail(code)
        _out(free).value, _out(total).value = 4 << 30, 8 << 30
        return 0

    def cudaRuntimeGetVersion(self, version: Any) -> int:
        self._rec("cudaRuntimeGetVersion", version)
        _out(version).value = self.version
        return 0

    def cudaDriverGetVersion(self, version: Any) -> int:
        self._rec("cudaDriverGetVersion", version)
        _out(version).value = self.world.driver_version if self.world.device_count else 0
        return 0

    def cudaGetErrorName(self, code: Any) -> bytes:
        return ERRORS.get(_val(code), "cudaErrorUnknown").encode()

    def cudaGetLastError(self) -> int:
        self._rec("cudaGetLastError")
        code, self.last_error = self.last_error, 0
        return code

    # memory ----------------------------------------------------------------------------------
    def _alloc(self, name: str, ptr: Any, size: Any) -> int:
        self._rec(name, ptr, size)
        code = self._device_error()
        if code:
            return self._fail(code)
        if self.world.fail_allocations_after is not None:
            if self.world.fail_allocations_after <= 0:
                return self._fail(2)
            self.world.fail_allocations_after -= 1
        _out(ptr).value = self.world.alloc(_val(size))
        return 0

    def cudaMalloc(self, ptr: Any, size: Any) -> int:
        return self._alloc("cudaMalloc", ptr, size)

    def cudaMallocHost(self, ptr: Any, size: Any) -> int:
        return self._alloc("cudaMallocHost", ptr, size)

    def cudaFree(self, ptr: Any) -> int:
        self._rec("cudaFree", ptr)
        self.world.free(_val(ptr))
        return 0

    def cudaFreeHost(self, ptr: Any) -> int:
        self._rec("cudaFreeHost", ptr)
        self.world.free(_val(ptr))
        return 0

    def _check_kind(self, kind: Any) -> None:
        if _val(kind) not in (1, 2):
            raise ContractViolation(f"memcpy kind must be cudaMemcpyHostToDevice (1) or DeviceToHost (2), got {kind!r}")

    def cudaMemcpy(self, dst: Any, src: Any, count: Any, kind: Any) -> int:
        self._rec("cudaMemcpy", dst, src, count, kind)
        self._check_kind(kind)
        ctypes.memmove(_val(dst), _val(src), _val(count))
        return 0

    def cudaMemcpyAsync(self, dst: Any, src: Any, count: Any, kind: Any, stream: Any) -> int:
        self._rec("cudaMemcpyAsync", dst, src, count, kind, stream)
        self._check_kind(kind)
        d, s, n = _val(dst), _val(src), _val(count)
        self.world.enqueue(_val(stream), lambda: ctypes.memmove(d, s, n))
        return 0

    # streams and events ------------------------------------------------------------------------
    def cudaStreamCreate(self, stream: Any) -> int:
        self._rec("cudaStreamCreate", stream)
        code = self._device_error()
        if code:
            return self._fail(code)
        self.world.streams_created += 1
        if self.world.fail_stream_create_at == self.world.streams_created:
            return self._fail(2)
        h = self.world.new_handle()
        self.world.streams[h] = Stream(h)
        _out(stream).value = h
        return 0

    def cudaStreamSynchronize(self, stream: Any) -> int:
        self._rec("cudaStreamSynchronize", stream)
        self.world.drain(_val(stream))
        return 0

    def cudaStreamDestroy(self, stream: Any) -> int:
        self._rec("cudaStreamDestroy", stream)
        self.world.streams.pop(_val(stream), None)
        return 0

    def cudaEventCreate(self, event: Any) -> int:
        self._rec("cudaEventCreate", event)
        _out(event).value = self.world.new_handle()
        return 0

    def cudaEventRecord(self, event: Any, stream: Any) -> int:
        self._rec("cudaEventRecord", event, stream)
        e = _val(event)

        def stamp() -> None:
            self.clock += 0.25
            self.event_times[e] = self.clock

        self.world.enqueue(_val(stream), stamp)
        return 0

    def cudaEventElapsedTime(self, ms: Any, start: Any, end: Any) -> int:
        self._rec("cudaEventElapsedTime", ms, start, end)
        a, b = self.event_times.get(_val(start)), self.event_times.get(_val(end))
        if a is None or b is None:
            raise ContractViolation("cudaEventElapsedTime on an event that has not completed (synchronize first)")
        _out(ms).value = b - a
        return 0

    def cudaEventDestroy(self, event: Any) -> int:
        self._rec("cudaEventDestroy", event)
        return 0

    # graphs ----------------------------------------------------------------------------------
    def cudaStreamBeginCapture(self, stream: Any, mode: Any) -> int:
        self._rec("cudaStreamBeginCapture", stream, mode)
        if _val(mode) not in (0, 1, 2):
            raise ContractViolation(f"capture mode must be a cudaStreamCaptureMode value, got {mode!r}")
        s = self.world.streams[_val(stream)]
        if s.pending:
            raise ContractViolation("capture begun on a stream with unfinished work")
        s.capturing = []
        return 0

    def cudaStreamEndCapture(self, stream: Any, graph: Any) -> int:
        self._rec("cudaStreamEndCapture", stream, graph)
        s = self.world.streams[_val(stream)]
        ops, s.capturing = s.capturing or [], None
        if self.world.capture_unsupported:
            _out(graph).value = None
            return self._fail(900)  # sticky until cudaGetLastError clears it
        h = self.world.new_handle()
        self.world.graphs[h] = ops
        _out(graph).value = h
        return 0

    def cudaGraphInstantiateWithFlags(self, exe: Any, graph: Any, flags: Any) -> int:
        self._rec("cudaGraphInstantiateWithFlags", exe, graph, flags)
        h = self.world.new_handle()
        self.world.graphs[h] = list(self.world.graphs[_val(graph)])
        _out(exe).value = h
        return 0

    def cudaGraphLaunch(self, exe: Any, stream: Any) -> int:
        self._rec("cudaGraphLaunch", exe, stream)
        if self.last_error:
            raise ContractViolation(f"a CUDA call after error {ERRORS[self.last_error]} was left uncleared (cudaGetLastError)")
        for op in self.world.graphs[_val(exe)]:
            self.world.enqueue(_val(stream), op)
        return 0

    def cudaGraphDestroy(self, graph: Any) -> int:
        self._rec("cudaGraphDestroy", graph)
        return 0

    def cudaGraphExecDestroy(self, exe: Any) -> int:
        self._rec("cudaGraphExecDestroy", exe)
        return 0


def make_opener(world: World):
    """A stand-in for ``ctypes.CDLL``: only ``libcudart.so.<generation>*`` (or the bare soname) opens."""

    def opener(path: str) -> Any:
        world.record("dlopen", (path,))
        gen = world.cuda_generation
        name = path.rsplit("/", 1)[-1]
        wanted = {"11": "libcudart.so.11.0", "12": "libcudart.so.12", "13": "libcudart.so.13"}.get(str(gen))
        if gen is None or not (name.startswith(wanted) if wanted else False) and name != "libcudart.so":
            raise OSError(f"{path}: cannot open shared object file: No such file or directory")
        return FakeCudart(world, path)

    return opener
