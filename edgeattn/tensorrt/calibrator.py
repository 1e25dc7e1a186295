"""Classic (implicit) INT8 calibration for TensorRT 8.5-10.x: an IInt8EntropyCalibrator2 subclass.

JetPack 5/6 users build INT8 this way (TensorRT 8.5/8.6/10.3). The calibrators and
``BuilderFlag.INT8`` were deprecated in 10.1/10.12 and removed in 11.0 (docs/tensorrt.md F5),
so this path is offered only where ``trt.IInt8EntropyCalibrator2`` exists; new code should build
from an explicit Q/DQ ONNX (``edgeattn quantize --precision int8``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from .._io import write_bytes_atomic
from ..errors import CalibrationError, InputError


def load_calibration_arrays(
    source: Any,
    input_name: str,
    input_size: Sequence[int],
    *,
    limit: int | None = None,
    onnx_path: str | os.PathLike[str] | None = None,
) -> np.ndarray:
    """Calibration samples as float32 ``[N, C, H, W]`` from an array, .npy, .npz or image folder.

    Files go through :func:`edgeattn.data.load_samples`; images are preprocessed with the recipe
    recorded in the ONNX's provenance (the model's own mean/std/resize), so the
    calibrator sees what the deployed model will see.
    """
    if isinstance(source, np.ndarray):
        arrays = source
    else:
        from ..data import load_samples
        from ..data.preprocessing import Preprocessing

        path = Path(os.fspath(source))
        if not path.exists():
            raise CalibrationError(f"calibration data not found: {path}")
        try:
            pre = Preprocessing.from_onnx(onnx_path, input_size=tuple(input_size)) if onnx_path else None
            arrays = load_samples(
                path, input_size=tuple(input_size), preprocessing=pre, limit=limit, input_name=input_name
            ).arrays
        except CalibrationError:
            raise
        except InputError as exc:
            raise CalibrationError(f"calibration data {path}: {exc.message}", hint=exc.hint) from None
    arrays = np.asarray(arrays)
    if arrays.ndim == len(input_size):
        arrays = arrays[None]
    if arrays.ndim != len(input_size) + 1 or tuple(arrays.shape[1:]) != tuple(input_size):
        raise CalibrationError(
            f"calibration data has shape {list(arrays.shape)}, expected [N, {', '.join(map(str, input_size))}]"
        )
    if arrays.shape[0] == 0:
        raise CalibrationError("calibration data is empty")
    if limit is not None:
        arrays = arrays[:limit]
    return np.ascontiguousarray(arrays, dtype=np.float32)


def make_entropy_calibrator(
    trt: ModuleType,
    rt: Any,
    samples: np.ndarray,
    *,
    input_name: str,
    batch_size: int,
    cache_path: str | None,
) -> Any:
    """An ``IInt8EntropyCalibrator2`` feeding ``samples`` batch by batch from device memory.

    ``rt`` is the :class:`edgeattn.platform.cuda.CudaRuntime`. The device buffer is freed by
    ``free()``, and also when the calibrator is garbage-collected after a build that raised.
    """
    from ..platform import cuda as _cuda

    base = trt.IInt8EntropyCalibrator2

    class EntropyCalibrator(base):  # type: ignore[misc, valid-type]
        def __init__(self) -> None:
            base.__init__(self)
            self.samples = samples
            self.batch_size = int(batch_size)
            self.cursor = 0
            self.cache_path = cache_path
            self.device: Any = None
            self.batches_served = 0

        def get_batch_size(self) -> int:
            return self.batch_size

        def get_batch(self, names: list[str]) -> list[int] | None:
            # The last partial batch is dropped: TensorRT expects exactly batch_size samples.
            if self.cursor + self.batch_size > len(self.samples):
                return None
            if rt is None:
                raise CalibrationError("INT8 calibration needs the CUDA runtime library to copy batches to the GPU")
            batch = np.ascontiguousarray(self.samples[self.cursor : self.cursor + self.batch_size])
            self.cursor += self.batch_size
            if self.device is None:
                self.device = _cuda.DeviceBuffer(rt, batch.nbytes)
            rt.memcpy(self.device.ptr, batch.ctypes.data, batch.nbytes, _cuda.MEMCPY_HOST_TO_DEVICE)
            self.batches_served += 1
            return [self.device.ptr]

        def read_calibration_cache(self) -> bytes | None:
            if self.cache_path and os.path.isfile(self.cache_path):
                with open(self.cache_path, "rb") as handle:
                    return handle.read()
            return None

        def write_calibration_cache(self, cache: Any) -> None:
            if self.cache_path:
                write_bytes_atomic(self.cache_path, bytes(cache))

        def free(self) -> None:
            if self.device is not None:
                self.device.free()
                self.device = None

    if len(samples) < batch_size:
        raise CalibrationError(
            f"calibration data has {len(samples)} sample(s), fewer than one batch of {batch_size}",
            hint="give more samples or a smaller --calibration-batch-size",
        )
    return EntropyCalibrator()
