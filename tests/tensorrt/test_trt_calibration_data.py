"""Calibration data for the classic INT8 path: arrays, .npy, .npz and image folders."""

from __future__ import annotations

import numpy as np
import pytest

from edgeattn.errors import CalibrationError
from edgeattn.tensorrt.calibrator import load_calibration_arrays


def test_array_npy_npz(tmp_path):
    data = np.random.default_rng(0).standard_normal((6, 3, 8, 8)).astype(np.float32)
    np.testing.assert_array_equal(load_calibration_arrays(data, "input", (3, 8, 8)), data)
    np.save(tmp_path / "c.npy", data)
    assert load_calibration_arrays(tmp_path / "c.npy", "input", (3, 8, 8)).shape == (6, 3, 8, 8)
    np.savez(tmp_path / "c.npz", input=data)
    out = load_calibration_arrays(tmp_path / "c.npz", "input", (3, 8, 8), limit=4)
    assert out.shape == (4, 3, 8, 8) and out.dtype == np.float32


def test_image_folder_uses_edgeattn_data(tmp_path):
    from PIL import Image

    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 24, 3), 40 * i, np.uint8)).save(folder / f"{i}.png")
    out = load_calibration_arrays(folder, "input", (3, 16, 16))
    assert out.shape == (3, 3, 16, 16)
    assert out[0].mean() < out[2].mean()  # brighter image -> larger normalised values


@pytest.mark.parametrize(
    "data,match",
    [(np.zeros((4, 3, 9, 9), np.float32), r"expected \[N, 3, 8, 8\]"), (np.zeros((0, 3, 8, 8), np.float32), "empty")],
)
def test_bad_arrays(data, match):
    with pytest.raises(CalibrationError, match=match):
        load_calibration_arrays(data, "input", (3, 8, 8))


def test_missing_path(tmp_path):
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration_arrays(tmp_path / "none.npy", "input", (3, 8, 8))
