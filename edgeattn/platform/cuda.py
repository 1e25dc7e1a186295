"""The CUDA runtime library (libcudart) through ctypes: the few calls the TensorRT package needs.

TensorRT itself links libcudart, so every machine that runs TensorRT has one; a Python binding
(cuda-python) is not needed, and avoiding it avoids its coupling to the driver: cuda-bindings
13.x needs a CUDA 13 driver, 12.x a CUDA 12 one, so on a Jetson (JetPack 5.1: CUDA 11.4 driver,
6.x: 12.2/12.6) they fail with ``cudaErrorInsufficientDriver`` (docs/tensorrt.md F15). Polygraphy
does the same (``polygraphy/cuda/cuda.py``, F16); here every function has its ``argtypes`` and
``restype`` declared (so 64-bit pointers and sizes are never truncated to C ``int``) and errors are
named with ``cudaGetErrorName``.

Only calls whose signature is the same in CUDA 11.4, 12.x and 13.x are used: compute capability
comes from ``cudaDeviceGetAttribute`` (the ``cudaDeviceProp`` struct changes size between
releases); graphs are instantiated with ``cudaGraphInstantiateWithFlags`` (11.4+), because
``cudaGraphInstantiate`` itself changed its parameters in CUDA 12.

The library is searched like Polygraphy does, then wider: ``LD_LIBRARY_PATH``,
``/usr/local/cuda/lib64``, ``/usr/local/cuda/targets/*/lib``, the multiarch folders, pip's
``nvidia/cuda_runtime/lib``, then the versioned sonames through the dynamic loader.
"""

from __future__ import annotations

import ctypes
import glob
import os
import re
import sys
import threading
from typing import Any, Callable

import numpy as np

from ..errors import BackendUnavailableError, EdgeattnError

MEMCPY_HOST_TO_DEVICE = 1  # cudaMemcpyKind
MEMCPY_DEVICE_TO_HOST = 2
CAPTURE_MODE_THREAD_LOCAL = 1  # cudaStreamCaptureMode
ATTR_COMPUTE_CAPABILITY_MAJOR = 75  # cudaDeviceAttr
ATTR_COMPUTE_CAPABILITY_MINOR = 76
SUCCESS = 0
SONAMES = ("libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0", "libcudart.so")
MULTIARCH_DIRS = ("/usr/lib/aarch64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib")
# cudaGetDeviceProperties writes a struct whose size changes between CUDA releases (about 1 KiB in
# 11.x-13.x); ``name`` (char[256]) is its first member in all of them. A buffer far larger than any
# of them is safe to hand over, and only the name is read from it.
_DEVICE_PROP_BUFFER = 16384
_SONAME_VERSION = re.compile(r"libcudart\.so((?:\.\d+)*)$")


class CudaError(EdgeattnError):
    """A CUDA runtime call returned an error code."""


_vp, _sz, _int, _uint, _ull = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_uint, ctypes.c_ulonglong
_pvp, _pint, _pfloat, _psz = ctypes.POINTER(_vp), ctypes.POINTER(_int), ctypes.POINTER(ctypes.c_float), ctypes.POINTER(_sz)
# name -> argtypes (every function returns cudaError_t, an int, except cudaGetErrorName)
SIGNATURES: dict[str, list[Any]] = {
    "cudaGetDeviceCount": [_pint],
    "cudaSetDevice": [_int],
    "cudaGetDevice": [_pint],
    "cudaDeviceGetAttribute": [_pint, _int, _int],
    "cudaGetDeviceProperties": [_vp, _int],
    "cudaMemGetInfo": [_psz, _psz],
    "cudaRuntimeGetVersion": [_pint],
    "cudaDriverGetVersion": [_pint],
    "cudaGetLastError": [],
    "cudaMalloc": [_pvp, _sz],
    "cudaFree": [_vp],
    "cudaMallocHost": [_pvp, _sz],
    "cudaFreeHost": [_vp],
    "cudaMemcpy": [_vp, _vp, _sz, _int],
    "cudaMemcpyAsync": [_vp, _vp, _sz, _int, _vp],
    "cudaStreamCreate": [_pvp],
    "cudaStreamSynchronize": [_vp],
    "cudaStreamDestroy": [_vp],
    "cudaEventCreate": [_pvp],
    "cudaEventRecord": [_vp, _vp],
    "cudaEventElapsedTime": [_pfloat, _vp, _vp],
    "cudaEventDestroy": [_vp],
    "cudaStreamBeginCapture": [_vp, _int],
    "cudaStreamEndCapture": [_vp, _pvp],
    "cudaGraphInstantiateWithFlags": [_pvp, _vp, _ull],
    "cudaGraphLaunch": [_vp, _vp],
    "cudaGraphDestroy": [_vp],
    "cudaGraphExecDestroy": [_vp],
}


def _site_dirs() -> list[str]:
    return [p for p in sys.path if p.endswith(("site-packages", "dist-packages"))]


def _soname_version(path: str) -> tuple[int, ...]:
    """libcudart.so.12.1 -> (12, 1); the unversioned libcudart.so -> (-1,), which sorts last."""
    match = _SONAME_VERSION.search(path)
    version = tuple(int(x) for x in match.group(1).split(".")[1:]) if match is not None else ()
    return version or (-1,)


def candidate_paths(environ: dict[str, str] | None = None, site_dirs: list[str] | None = None) -> list[str]:
    """Where libcudart is looked for, in order (files found on disk, then bare sonames)."""
    env = os.environ if environ is None else environ
    folders = [d for d in env.get("LD_LIBRARY_PATH", "").split(os.pathsep) if d]
    folders += ["/usr/local/cuda/lib64", *sorted(glob.glob("/usr/local/cuda/targets/*/lib")), *MULTIARCH_DIRS]
    folders += [os.path.join(s, "nvidia", "cuda_runtime", "lib") for s in (site_dirs if site_dirs is not None else _site_dirs())]
    found: list[str] = []
    for folder in folders:
        files = [f for f in glob.glob(os.path.join(folder, "libcudart.so*")) if _SONAME_VERSION.search(f)]
        # Newest first: libcudart.so.13 before .12; the unversioned dev symlink last.
        files.sort(key=_soname_version, reverse=True)
        found += [f for f in files if f not in found]
    return found + [s for s in SONAMES if s not in found]


def _dlopen(path: str) -> Any:
    return ctypes.CDLL(path)


class CudaRuntime:
    """The loaded libcudart with typed functions; methods raise :class:`CudaError` on failure."""

    def __init__(self, lib: Any, path: str) -> None:
        self.lib, self.path = lib, path
        for name, argtypes in SIGNATURES.items():
            fn = getattr(lib, name, None)
            if fn is None:
                continue  # an old runtime without it; the method using it says so
            fn.argtypes, fn.restype = argtypes, ctypes.c_int
        getter = lib.cudaGetErrorName
        getter.argtypes, getter.restype = [ctypes.c_int], ctypes.c_char_p

    def _call(self, name: str, *args: Any) -> int:
        fn = getattr(self.lib, name, None)
        if fn is None:
            raise CudaError(f"CUDA runtime {self.path} has no {name} (too old a CUDA?)")
        return int(fn(*args))

    def error_name(self, code: int) -> str:
        name = self.lib.cudaGetErrorName(int(code))
        return name.decode(errors="replace") if isinstance(name, bytes) else f"cudaError {code}"

    def check(self, code: int, what: str) -> None:
        if int(code) != SUCCESS:
            raise CudaError(f"CUDA call {what} failed: {self.error_name(code)}")

    def call(self, name: str, *args: Any) -> None:
        self.check(self._call(name, *args), name)

    # -- device --------------------------------------------------------------------------------
    def device_count_status(self) -> tuple[int, int]:
        count = ctypes.c_int(0)
        code = self._call("cudaGetDeviceCount", ctypes.byref(count))
        return code, (count.value if code == SUCCESS else 0)

    def device_count(self) -> int:
        """Number of CUDA devices; 0 when the driver is missing or too old (no exception)."""
        return self.device_count_status()[1]

    def require_device(self, device: int = 0) -> None:
        """Raise :class:`BackendUnavailableError` ("no CUDA device") unless ``device`` exists."""
        code, count = self.device_count_status()
        if count == 0:
            reason = f" ({self.error_name(code)})" if code != SUCCESS else ""
            raise BackendUnavailableError(
                f"no CUDA device{reason}: the TensorRT backend needs an NVIDIA GPU with a working driver",
                hint="run on a machine with an NVIDIA GPU, or use --backend onnxruntime",
            )
        if not 0 <= device < count:
            raise BackendUnavailableError(f"CUDA device {device} requested, but only {count} device(s) present")
        self.set_device(device)

    def set_device(self, device: int) -> None:
        self.call("cudaSetDevice", int(device))

    def attribute(self, attr: int, device: int = 0) -> int:
        value = ctypes.c_int(0)
        self.check(self._call("cudaDeviceGetAttribute", ctypes.byref(value), int(attr), int(device)), "cudaDeviceGetAttribute")
        return value.value

    def compute_capability(self, device: int = 0) -> str:
        major = self.attribute(ATTR_COMPUTE_CAPABILITY_MAJOR, device)
        return f"{major}.{self.attribute(ATTR_COMPUTE_CAPABILITY_MINOR, device)}"

    def device_name(self, device: int = 0) -> str:
        buf = ctypes.create_string_buffer(_DEVICE_PROP_BUFFER)
        self.check(self._call("cudaGetDeviceProperties", ctypes.cast(buf, ctypes.c_void_p), int(device)), "cudaGetDeviceProperties")
        return buf.raw[:256].split(b"\0", 1)[0].decode(errors="replace")

    def total_memory(self) -> int:
        free, total = ctypes.c_size_t(0), ctypes.c_size_t(0)
        self.check(self._call("cudaMemGetInfo", ctypes.byref(free), ctypes.byref(total)), "cudaMemGetInfo")
        return int(total.value)

    def device_properties(self, device: int = 0) -> dict[str, Any]:
        """GPU name and compute capability (``cudaDeviceGetAttribute``) and memory."""
        props: dict[str, Any] = {"gpu_name": self.device_name(device), "compute_capability": self.compute_capability(device)}
        try:
            props["total_memory"] = self.total_memory()
        except CudaError:
            props["total_memory"] = 0
        return props

    def versions(self) -> dict[str, str | None]:
        """CUDA runtime and driver versions as "12.6" strings (``None`` when unknown; driver 0: none)."""
        out: dict[str, str | None] = {}
        for key, name in (("cuda_runtime", "cudaRuntimeGetVersion"), ("cuda_driver", "cudaDriverGetVersion")):
            value = ctypes.c_int(0)
            ok = self._call(name, ctypes.byref(value)) == SUCCESS and value.value > 0
            out[key] = f"{value.value // 1000}.{(value.value % 1000) // 10}" if ok else None
        return out

    def get_last_error(self) -> int:
        """``cudaGetLastError``: the last error of this thread, reset to success (except sticky errors)."""
        return self._call("cudaGetLastError")

    # -- memory --------------------------------------------------------------------------------
    def _alloc(self, name: str, nbytes: int) -> int:
        ptr = ctypes.c_void_p()
        self.check(self._call(name, ctypes.byref(ptr), ctypes.c_size_t(int(nbytes))), name)
        return int(ptr.value or 0)

    def malloc(self, nbytes: int) -> int:
        return self._alloc("cudaMalloc", nbytes)

    def malloc_host(self, nbytes: int) -> int:
        return self._alloc("cudaMallocHost", nbytes)

    def free(self, ptr: int) -> None:
        self._call("cudaFree", ctypes.c_void_p(int(ptr)))

    def free_host(self, ptr: int) -> None:
        self._call("cudaFreeHost", ctypes.c_void_p(int(ptr)))

    def memcpy(self, dst: int, src: int, nbytes: int, kind: int) -> None:
        self.call("cudaMemcpy", _vp(int(dst)), _vp(int(src)), _sz(int(nbytes)), int(kind))

    def memcpy_async(self, dst: int, src: int, nbytes: int, kind: int, stream: int) -> None:
        self.call("cudaMemcpyAsync", _vp(int(dst)), _vp(int(src)), _sz(int(nbytes)), int(kind), _vp(int(stream)))

    # -- streams, events, graphs -------------------------------------------------------------------
    def _create(self, name: str) -> int:
        handle = ctypes.c_void_p()
        self.check(self._call(name, ctypes.byref(handle)), name)
        return int(handle.value or 0)

    def stream_create(self) -> int:
        return self._create("cudaStreamCreate")

    def stream_synchronize(self, stream: int) -> None:
        self.call("cudaStreamSynchronize", _vp(int(stream)))

    def stream_destroy(self, stream: int) -> None:
        self._call("cudaStreamDestroy", _vp(int(stream)))

    def event_create(self) -> int:
        return self._create("cudaEventCreate")

    def event_record(self, event: int, stream: int) -> None:
        self.call("cudaEventRecord", _vp(int(event)), _vp(int(stream)))

    def event_elapsed_ms(self, start: int, end: int) -> float:
        ms = ctypes.c_float(0.0)
        self.check(self._call("cudaEventElapsedTime", ctypes.byref(ms), _vp(int(start)), _vp(int(end))), "cudaEventElapsedTime")
        return float(ms.value)

    def event_destroy(self, event: int) -> None:
        self._call("cudaEventDestroy", _vp(int(event)))

    def begin_capture(self, stream: int, mode: int = CAPTURE_MODE_THREAD_LOCAL) -> None:
        self.call("cudaStreamBeginCapture", _vp(int(stream)), int(mode))

    def end_capture(self, stream: int) -> tuple[int, int]:
        """(error code, graph handle); the caller decides what a failed capture means."""
        graph = ctypes.c_void_p()
        code = self._call("cudaStreamEndCapture", _vp(int(stream)), ctypes.byref(graph))
        return code, int(graph.value or 0)

    def graph_instantiate(self, graph: int) -> tuple[int, int]:
        exe = ctypes.c_void_p()
        code = self._call("cudaGraphInstantiateWithFlags", ctypes.byref(exe), _vp(int(graph)), _ull(0))
        return code, int(exe.value or 0)

    def graph_launch(self, exe: int, stream: int) -> None:
        self.call("cudaGraphLaunch", _vp(int(exe)), _vp(int(stream)))

    def graph_destroy(self, graph: int) -> None:
        self._call("cudaGraphDestroy", _vp(int(graph)))

    def graph_exec_destroy(self, exe: int) -> None:
        self._call("cudaGraphExecDestroy", _vp(int(exe)))


_RUNTIME: CudaRuntime | None = None
_LOCK = threading.Lock()


def load_runtime(opener: Callable[[str], Any] | None = None) -> CudaRuntime:
    """The process's :class:`CudaRuntime` (loaded once), or :class:`BackendUnavailableError`."""
    global _RUNTIME
    with _LOCK:
        if _RUNTIME is not None and opener is None:
            return _RUNTIME
        candidates = candidate_paths()
        errors = []
        for path in candidates:
            try:
                lib = (opener or _dlopen)(path)
            except OSError as exc:
                errors.append(f"{os.path.basename(path)}: {exc}")
                continue
            if getattr(lib, "cudaRuntimeGetVersion", None) is None:
                continue
            runtime = CudaRuntime(lib, path)
            if opener is None:
                _RUNTIME = runtime
            return runtime
        raise BackendUnavailableError(
            "the CUDA runtime library (libcudart) was not found: searched LD_LIBRARY_PATH, /usr/local/cuda, "
            "the system library folders and pip's nvidia-cuda-runtime",
            hint="TensorRT needs it too: on Jetson it comes with JetPack; on x86 install the CUDA toolkit or "
            "`pip install nvidia-cuda-runtime-cu12` (or -cu13), or add its folder to LD_LIBRARY_PATH",
        )


def reset() -> None:
    """Forget the loaded runtime (tests; a changed LD_LIBRARY_PATH)."""
    global _RUNTIME
    with _LOCK:
        _RUNTIME = None


def try_load_runtime() -> CudaRuntime | None:
    try:
        return load_runtime()
    except BackendUnavailableError:
        return None


class PinnedBuffer:
    """Page-locked host memory (``cudaMallocHost``) viewed as a flat uint8 numpy array.

    Pinned memory lets ``cudaMemcpyAsync`` overlap with compute; pageable memory would make
    the copy synchronous.
    """

    def __init__(self, rt: CudaRuntime, nbytes: int) -> None:
        self._rt = rt
        self.nbytes = max(int(nbytes), 1)
        self.ptr = rt.malloc_host(self.nbytes)
        raw = (ctypes.c_uint8 * self.nbytes).from_address(self.ptr)
        self.array = np.ctypeslib.as_array(raw)

    def view(self, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        nbytes = count * np.dtype(dtype).itemsize
        return self.array[:nbytes].view(dtype).reshape(shape)

    def free(self) -> None:
        if self.ptr:
            self._rt.free_host(self.ptr)
            self.ptr = 0
            self.array = np.empty(0, np.uint8)

    def __del__(self) -> None:  # a runner never closed, or a build that raised, still frees it
        try:
            self.free()
        except Exception:  # noqa: BLE001 - interpreter shutdown: nothing left to report to
            pass


class DeviceBuffer:
    """Device memory from ``cudaMalloc``; freed by :meth:`free` or when garbage-collected."""

    def __init__(self, rt: CudaRuntime, nbytes: int) -> None:
        self._rt = rt
        self.nbytes = max(int(nbytes), 1)
        self.ptr = rt.malloc(self.nbytes)

    def free(self) -> None:
        if self.ptr:
            self._rt.free(self.ptr)
            self.ptr = 0

    def __del__(self) -> None:
        try:
            self.free()
        except Exception:  # noqa: BLE001
            pass
