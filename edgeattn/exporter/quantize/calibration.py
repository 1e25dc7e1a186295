"""Calibration data for static INT8 quantization: sources, the ORT data reader, and the cache.

Sources: an image folder (preprocessed with the model's recipe from the artifact's
recorded provenance), a ``.npy``/``.npz`` of preprocessed ``[N, C, H, W]`` arrays,
an in-memory array, or synthetic uniform noise with a loud warning (the ranges then describe
noise, not your data, so INT8 accuracy is unknown).

Methods map to ONNX Runtime's calibrators: ``minmax`` (MinMax), ``entropy`` (KL divergence over
histograms, TensorRT's classic entropy calibrator) and ``percentile`` (clip at the 99.999th
percentile of ``|x|`` by default).

The cache key is (model sha256, data fingerprint, method, options): ORT stores the computed
tensor ranges (``calibration_cache_path`` of ``quantize_static``) and a re-run with the same key
never touches the data reader.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from ...artifact import Preprocessing
from ...errors import CalibrationError, InputError

METHODS = ("minmax", "entropy", "percentile")
SYNTHETIC_WARNING = (
    "calibrating INT8 on SYNTHETIC random inputs: the activation ranges describe noise, not your data, "
    "so INT8 accuracy is UNKNOWN; pass --calibration with a few hundred real images or a .npy/.npz"
)


@dataclass
class CalibrationData:
    """Preprocessed calibration inputs and where they came from."""

    arrays: np.ndarray
    source: str
    synthetic: bool = False
    preprocessing: dict[str, Any] | None = None
    warnings: list[str] = field(default_factory=list)

    @cached_property
    def fingerprint(self) -> str:
        """sha256 over shape, dtype and bytes: equal data gives an equal cache key.

        Hashed once (the cache key and the report both use it); ``arrays`` is not reassigned
        afterwards: use ``dataclasses.replace`` for a changed set."""
        digest = hashlib.sha256()
        digest.update(json.dumps([list(self.arrays.shape), str(self.arrays.dtype)]).encode())
        digest.update(np.ascontiguousarray(self.arrays).tobytes())
        return digest.hexdigest()

    def describe(self, method: str) -> dict[str, Any]:
        return {
            "source": self.source,
            "synthetic": self.synthetic,
            "num_samples": int(self.arrays.shape[0]),
            "method": method,
            "fingerprint": self.fingerprint,
            "preprocessing": self.preprocessing,
        }


def calibration_method(name: str) -> Any:
    """Our method name -> ``onnxruntime.quantization.CalibrationMethod``."""
    from onnxruntime.quantization import CalibrationMethod

    table = {
        "minmax": CalibrationMethod.MinMax,
        "entropy": CalibrationMethod.Entropy,
        "percentile": CalibrationMethod.Percentile,
    }
    key = name.lower().replace("-", "").replace("_", "")
    if key not in table:
        raise InputError(f"calibration method: received {name!r}, expected one of {list(METHODS)}")
    return table[key]


def load_calibration(
    source: str | os.PathLike[str] | np.ndarray | None,
    *,
    input_name: str,
    input_size: tuple[int, int, int],
    preprocessing: Preprocessing | None,
    limit: int | None,
    seed: int = 0,
) -> CalibrationData:
    """Load calibration inputs; every failure a user can cause is a one-line CalibrationError."""
    if limit is not None and limit < 1:
        raise CalibrationError(f"--num-calibration: received {limit}, expected >= 1")
    notes: list[str] = []
    if source is None:
        from ...data import random_samples

        count = limit or 32
        samples = random_samples(input_size, count, seed=seed)
        warnings.warn(SYNTHETIC_WARNING, UserWarning, stacklevel=3)
        return CalibrationData(samples.arrays, f"synthetic(uniform[-2,2), n={count}, seed={seed})", True, None, [SYNTHETIC_WARNING])
    if isinstance(source, np.ndarray):
        arrays = _check_arrays(source, input_size, "calibration array")
        if limit is not None:
            arrays = arrays[:limit]
        return CalibrationData(arrays, f"array{list(source.shape)}", False, None, notes)
    from ...data import load_samples

    path = Path(source)
    recipe = None
    if path.is_dir():
        if preprocessing is not None:
            recipe = preprocessing.with_input_size(input_size)
        else:
            recipe = Preprocessing(input_size=input_size)
            notes.append(
                "the model records no preprocessing (not written by edgeattn export); calibration images were "
                "preprocessed with the ImageNet recipe (resize, crop 0.875, ImageNet mean/std, RGB)"
            )
    try:
        samples = load_samples(path, input_size=input_size, preprocessing=recipe, limit=limit, input_name=input_name)
    except CalibrationError:
        raise
    except InputError as exc:
        raise CalibrationError(f"calibration data: {exc.message}", hint=exc.hint) from None
    arrays = _check_arrays(samples.arrays, input_size, str(path))
    return CalibrationData(
        arrays, str(path), False, recipe.to_dict() if recipe is not None else None, notes
    )


def _check_arrays(array: np.ndarray, input_size: tuple[int, int, int], name: str) -> np.ndarray:
    if array.ndim == 3:
        array = array[None]
    expected = f"[N,{','.join(map(str, input_size))}]"
    if array.ndim != 4 or tuple(int(d) for d in array.shape[1:]) != tuple(input_size):
        raise CalibrationError(f"{name}: received shape {list(array.shape)}, expected {expected}")
    if array.shape[0] == 0:
        raise CalibrationError(f"{name}: received 0 samples, expected at least one")
    if not np.issubdtype(array.dtype, np.number):
        raise CalibrationError(f"{name}: received dtype {array.dtype}, expected float32")
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise CalibrationError(f"{name}: received NaN or Inf values, expected finite inputs")
    return array


class ArrayDataReader:
    """``onnxruntime.quantization.CalibrationDataReader`` over an array, with a rich progress bar.

    ``calls`` counts ``get_next`` calls, which is how the tests prove a cache hit skips calibration.
    """

    def __init__(self, input_name: str, arrays: np.ndarray, batch_size: int, progress: bool = True) -> None:
        if batch_size < 1:
            raise InputError(f"calibration batch size: received {batch_size}, expected >= 1")
        self.input_name = input_name
        self.arrays = arrays
        self.batch_size = batch_size
        self.progress = progress
        self.calls = 0
        self._next = 0
        self._bar: Any = None
        self._task: Any = None

    def __len__(self) -> int:
        return -(-int(self.arrays.shape[0]) // self.batch_size)

    def get_next(self) -> dict[str, np.ndarray] | None:
        self.calls += 1
        if self._next >= self.arrays.shape[0]:
            self._stop()
            return None
        if self.progress and self._bar is None:
            self._start()
        batch = self.arrays[self._next : self._next + self.batch_size]
        self._next += self.batch_size
        if self._bar is not None:
            self._bar.advance(self._task)
        return {self.input_name: batch}

    def rewind(self) -> None:
        self._next = 0

    def __iter__(self) -> Any:
        while (item := self.get_next()) is not None:
            yield item

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(
            TextColumn("calibrating"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("batches"),
            TimeElapsedColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self._task = self._bar.add_task("calibrate", total=len(self))
        self._bar.start()

    def _stop(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None


def default_cache_dir() -> Path:
    root = os.environ.get("EDGEATTN_CACHE_DIR")
    if root:
        return Path(root) / "calibration"
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgeattn" / "calibration"


def cache_key(model_sha256: str, data_fingerprint: str, method: str, options: dict[str, Any]) -> str:
    payload = json.dumps(
        {"model": model_sha256, "data": data_fingerprint, "method": method, "options": options},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


def cache_path(cache_dir: str | os.PathLike[str] | None, key: str) -> Path:
    return (Path(cache_dir) if cache_dir is not None else default_cache_dir()) / f"{key}.json"
