"""Issue 13 item 5: threads bounded to the machine, memory estimated before allocating, random
inputs drawn in float32, and a .npy header that claims more than the file holds refused unread."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from edgeattn.data import load_samples, random_samples
from edgeattn.errors import InputError
from edgeattn.platform import memory


def test_threads_beyond_the_machine_are_refused(tiny_model: Path) -> None:
    from edgeattn.runtime.onnxruntime_runner import OnnxRuntimeRunner

    with pytest.raises(InputError, match=r"threads: received 100000, expected 1\.\.\d+"):
        OnnxRuntimeRunner(tiny_model, threads=100000)
    OnnxRuntimeRunner(tiny_model, threads=1).close()


def test_allocation_beyond_available_memory_says_asked_and_available(monkeypatch) -> None:
    monkeypatch.setattr(memory, "available_memory", lambda: 1 << 30)
    with pytest.raises(InputError, match=r"needs about 2\.2 GB of memory; 1\.0 GB is available"):
        random_samples((3, 224, 224), 4000)


def test_random_inputs_are_drawn_in_float32() -> None:
    tracemalloc.start()
    try:
        samples = random_samples((3, 64, 64), 64, seed=3)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert samples.arrays.dtype == np.float32
    assert peak < 1.5 * samples.arrays.nbytes  # a float64 draw would peak at 3x
    assert -2.0 <= samples.arrays.min() and samples.arrays.max() < 2.0


def test_npy_header_claiming_tebibytes_is_refused_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.npy"
    header = np.lib.format.header_data_from_array_1_0(np.zeros((1, 3, 8, 8), np.float32))
    header["shape"] = (1_000_000, 3, 1000, 1000)
    with open(path, "wb") as handle:
        np.lib.format.write_array_header_1_0(handle, header)
        handle.write(b"\0" * 1024)
    with pytest.raises(InputError, match=r"header claims .* \(10\.9 TB\) but the file holds 1\.0 KB"):
        load_samples(path, (3, 1000, 1000))
