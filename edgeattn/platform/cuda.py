"""cuda-python runtime API access for the TensorRT runner, across cuda-python 12 and 13.

cuda-python 12.6.1 moved the runtime bindings to ``cuda.bindings.runtime``; the old
``cuda.cudart`` module became a deprecated forwarding shim and was removed in 13.0
(cuda-bindings 13.0.0 release notes). We import ``cuda.bindings.runtime`` first and fall back to
``cuda.cudart`` only when ``cuda.bindings`` does not exist at all (cuda-python <= 12.6.0), so a
13.x install never sees the removed module.

Every runtime call returns a tuple whose first element is a ``cudaError_t``; :func:`check` turns a
non-success code into an exception naming the call.
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
from types import ModuleType
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError, EdgeattnError


class CudaError(EdgeattnError):
    """A CUDA runtime call returned an error code."""


def import_cudart() -> ModuleType:
    """Return the cuda-python runtime module, or raise :class:`BackendUnavailableError`."""
    try:
        return importlib.import_module("cuda.bindings.runtime")
    except ImportError as exc:
        bindings_error = exc
    # ``cuda.bindings`` present but its runtime unusable: a broken install, not an old one.
    if _has_module("cuda.bindings"):
        raise BackendUnavailableError(
            f"cuda-python is installed but cuda.bindings.runtime cannot be imported ({bindings_error})",
            hint="reinstall it: pip install --force-reinstall 'cuda-python>=12.6.1'",
        )
    try:  # cuda-python <= 12.6.0: the monolithic layout
        return importlib.import_module("cuda.cudart")
    except ImportError:
        raise BackendUnavailableError(
            "cuda-python is not installed (needed for the TensorRT runner's memory and streams)",
            hint="pip install 'edgeattn[gpu]'  (or: pip install cuda-python)",
        ) from None


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def succeeded(cudart: ModuleType, err: Any) -> bool:
    """Whether a runtime call's error code is ``cudaSuccess``."""
    success = cudart.cudaError_t.cudaSuccess
    return err == success or getattr(err, "value", err) == 0


def error_name(cudart: ModuleType, err: Any) -> str:
    try:
        res = cudart.cudaGetErrorName(err)
        name = res[1] if isinstance(res, tuple) else res
        return name.decode() if isinstance(name, bytes) else str(name)
    except Exception:  # pragma: no cover - very old bindings
        return str(err)


def check(cudart: ModuleType, result: Any, what: str) -> Any:
    """Unpack ``(err, *values)``; raise :class:`CudaError` naming ``what`` on failure.

    Returns ``None`` for no outputs, the single output, or a tuple of outputs.
    """
    if not isinstance(result, tuple):
        result = (result,)
    err, values = result[0], result[1:]
    if not succeeded(cudart, err):
        raise CudaError(f"CUDA call {what} failed: {error_name(cudart, err)}")
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def device_count(cudart: ModuleType) -> int:
    """Number of CUDA devices; 0 when the driver is missing or too old (no exception)."""
    try:
        result = cudart.cudaGetDeviceCount()
    except RuntimeError:  # cuda-python <= 12.5 raises when libcuda cannot be loaded
        return 0
    err, count = result[0], result[1] if len(result) > 1 else 0
    if not succeeded(cudart, err):
        return 0
    return int(count or 0)


def require_device(cudart: ModuleType, device: int = 0) -> None:
    """Raise :class:`BackendUnavailableError` ("no CUDA device") unless ``device`` exists."""
    count = device_count(cudart)
    if count == 0:
        reason = ""
        try:
            err = cudart.cudaGetDeviceCount()[0]
            reason = f" ({error_name(cudart, err)})" if not succeeded(cudart, err) else ""
        except Exception:
            pass
        raise BackendUnavailableError(
            f"no CUDA device{reason}: the TensorRT backend needs an NVIDIA GPU with a working driver",
            hint="run on a machine with an NVIDIA GPU, or use --backend onnxruntime",
        )
    if not 0 <= device < count:
        raise BackendUnavailableError(f"CUDA device {device} requested, but only {count} device(s) present")
    check(cudart, cudart.cudaSetDevice(device), "cudaSetDevice")


def native_handle(obj: Any) -> int:
    """Integer handle of a cuda-python object (stream, event, graph exec).

    ``int(obj)`` is deprecated from cuda-bindings 12.9.1/13.0 in favour of
    ``cuda.bindings.utils.get_cuda_native_handle``.
    """
    try:
        utils = importlib.import_module("cuda.bindings.utils")
        getter = getattr(utils, "get_cuda_native_handle", None)
    except ImportError:
        getter = None
    if getter is not None:
        try:
            return int(getter(obj))
        except Exception:
            pass
    if isinstance(obj, int):
        return obj
    return int(obj)


def versions(cudart: ModuleType) -> dict[str, str | None]:
    """CUDA runtime and driver versions as "12.6" strings (``None`` when unknown)."""

    def fmt(value: Any) -> str | None:
        try:
            v = int(value)
        except (TypeError, ValueError):
            return None
        return f"{v // 1000}.{(v % 1000) // 10}" if v else None

    out: dict[str, str | None] = {"cuda_runtime": None, "cuda_driver": None}
    for key, fn in (("cuda_runtime", "cudaRuntimeGetVersion"), ("cuda_driver", "cudaDriverGetVersion")):
        try:
            res = getattr(cudart, fn)()
            if succeeded(cudart, res[0]):
                out[key] = fmt(res[1])
        except Exception:
            pass
    return out


def device_properties(cudart: ModuleType, device: int = 0) -> dict[str, Any]:
    """GPU name and compute capability from ``cudaGetDeviceProperties``."""
    props = check(cudart, cudart.cudaGetDeviceProperties(device), "cudaGetDeviceProperties")
    name = getattr(props, "name", b"")
    if isinstance(name, (bytes, bytearray)):
        name = bytes(name).split(b"\0", 1)[0].decode(errors="replace")
    return {
        "gpu_name": str(name),
        "compute_capability": f"{int(props.major)}.{int(props.minor)}",
        "total_memory": int(getattr(props, "totalGlobalMem", 0) or 0),
    }


class PinnedBuffer:
    """Page-locked host memory (``cudaMallocHost``) viewed as a flat uint8 numpy array.

    Pinned memory lets ``cudaMemcpyAsync`` overlap with compute; pageable memory would make
    the copy synchronous.
    """

    def __init__(self, cudart: ModuleType, nbytes: int) -> None:
        self._cudart = cudart
        self.nbytes = max(int(nbytes), 1)
        self.ptr = int(check(cudart, cudart.cudaMallocHost(self.nbytes), "cudaMallocHost"))
        raw = (ctypes.c_uint8 * self.nbytes).from_address(self.ptr)
        self.array = np.ctypeslib.as_array(raw)

    def view(self, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        count = int(np.prod(shape, dtype=np.int64)) if shape else 1
        nbytes = count * np.dtype(dtype).itemsize
        return self.array[:nbytes].view(dtype).reshape(shape)

    def free(self) -> None:
        if self.ptr:
            self._cudart.cudaFreeHost(self.ptr)
            self.ptr = 0
            self.array = np.empty(0, np.uint8)


class DeviceBuffer:
    """Device memory from ``cudaMalloc``."""

    def __init__(self, cudart: ModuleType, nbytes: int) -> None:
        self._cudart = cudart
        self.nbytes = max(int(nbytes), 1)
        self.ptr = int(check(cudart, cudart.cudaMalloc(self.nbytes), "cudaMalloc"))

    def free(self) -> None:
        if self.ptr:
            self._cudart.cudaFree(self.ptr)
            self.ptr = 0
