"""Calibration sources, methods, cache, and the one-line errors for bad data."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest

from edgeattn.errors import CalibrationError
from edgeattn.exporter.quantize import quantize


def _counting():
    readers = []
    return readers, readers.append


def test_cache_hit_skips_calibration(folded_onnx, calib_npy, cache_dir, tmp_path):
    first, hook1 = _counting()
    r1 = quantize(folded_onnx, tmp_path / "a.onnx", "int8", calib_npy, cache_dir=cache_dir, progress=False, reader_hook=hook1)
    assert first[0].calls == len(first[0]) + 1  # every batch, then the end marker
    assert r1.calibration["cache_hit"] is False and list(cache_dir.glob("*.json"))
    second, hook2 = _counting()
    r2 = quantize(folded_onnx, tmp_path / "b.onnx", "int8", calib_npy, cache_dir=cache_dir, progress=False, reader_hook=hook2)
    assert second[0].calls == 0 and r2.calibration["cache_hit"] is True
    # same ranges -> the same quantized weights and scales
    a, b = onnx.load(tmp_path / "a.onnx"), onnx.load(tmp_path / "b.onnx")
    assert {t.name: t.raw_data for t in a.graph.initializer} == {t.name: t.raw_data for t in b.graph.initializer}


def test_cache_misses_on_other_data_method_or_policy(folded_onnx, calib_npy, cache_dir, tmp_path):
    quantize(folded_onnx, tmp_path / "a.onnx", "int8", calib_npy, cache_dir=cache_dir, progress=False)
    other = tmp_path / "other.npy"
    np.save(other, np.load(calib_npy) * 2)
    for kwargs in ({"calibration": other}, {"calibration_method": "entropy"}, {"quantize_attention": True},
                   {"target": "tensorrt"}):
        readers, hook = _counting()
        args = {"calibration": calib_npy, **kwargs}
        result = quantize(folded_onnx, tmp_path / "x.onnx", "int8", cache_dir=cache_dir, progress=False,
                          reader_hook=hook, **{k: v for k, v in args.items()})
        assert readers[0].calls > 0 and result.calibration["cache_hit"] is False, kwargs


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_methods_run(method, folded_onnx, calib_npy, tmp_path):
    out = tmp_path / f"{method}.onnx"
    result = quantize(folded_onnx, out, "int8", calib_npy, calibration_method=method, use_cache=False, progress=False)
    assert result.calibration["method"] == method
    record = json.loads({p.key: p.value for p in onnx.load(out).metadata_props}["edgeattn.quantization"])
    assert record["calibration"]["method"] == method


@pytest.mark.parametrize("method", ["entropy", "percentile"])
def test_histogram_methods_take_a_sample_count_that_is_no_multiple_of_8(method, folded_onnx, tmp_path):
    """ORT stacks all batches' outputs for its histograms: a shorter last batch used to fail there."""
    calib = np.random.default_rng(2).standard_normal((13, 3, 16, 16)).astype(np.float32)
    readers, hook = _counting()
    result = quantize(folded_onnx, tmp_path / "h.onnx", "int8", calib, calibration_method=method, num_calibration=None,
                      use_cache=False, progress=False, reader_hook=hook)
    assert result.calibration["num_samples"] == 13
    assert readers[0].batch_size == 1  # 13 is prime: the only even split is one sample per batch


def test_synthetic_calibration_warns_loudly(folded_onnx, tmp_path):
    with pytest.warns(UserWarning, match="SYNTHETIC"):
        result = quantize(folded_onnx, tmp_path / "s.onnx", "int8", None, num_calibration=8, use_cache=False, progress=False)
    assert result.calibration["synthetic"] is True
    assert any("UNKNOWN" in w for w in result.warnings)


def test_image_folder_uses_the_artifacts_preprocessing(folded_onnx, tmp_path):
    from PIL import Image

    folder = tmp_path / "images" / "cat"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    result = quantize(folded_onnx, tmp_path / "img.onnx", "int8", tmp_path / "images", use_cache=False, progress=False)
    pre = result.calibration["preprocessing"]
    assert pre["mean"] == [0.5, 0.5, 0.5] and pre["input_size"] == [3, 16, 16]  # from edgeattn.provenance
    assert result.calibration["num_samples"] == 6


def _bad_image_folder(tmp_path):
    folder = tmp_path / "bad" / "a"
    folder.mkdir(parents=True)
    (folder / "x.png").write_bytes(b"not a png")
    return tmp_path / "bad"


def _npy(tmp_path, array, name="bad.npy"):
    np.save(tmp_path / name, array)
    return tmp_path / name


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: (p / "empty").mkdir() or p / "empty", "is empty"),
        (lambda p: _npy(p, np.zeros((4, 3, 8, 8), np.float32)), r"received shape \[4, 3, 8, 8\]"),
        (lambda p: _npy(p, np.zeros((4, 16, 16, 3), np.float32)), "channels-last|received shape"),
        (_bad_image_folder, "cannot read image"),
        (lambda p: _npy(p, np.full((2, 3, 16, 16), np.nan, np.float32)), "NaN"),
        (lambda p: p / "missing.npz", "not found"),
    ],
    ids=["empty-folder", "wrong-shape", "nhwc", "unreadable-image", "nan", "missing"],
)
def test_bad_calibration_input_is_a_one_line_error(make, message, folded_onnx, tmp_path):
    source = make(tmp_path)
    out = tmp_path / "never.onnx"
    with pytest.raises(CalibrationError, match=message) as info:
        quantize(folded_onnx, out, "int8", source, use_cache=False, progress=False)
    assert "\n" not in str(info.value)
    assert not out.exists()  # nothing half-written


def test_fixed_batch_model_gets_whole_batches(tmp_path):
    from _qgraphs import build_folded

    model = build_folded()
    model.graph.input[0].type.tensor_type.shape.dim[0].dim_value = 4  # fixed batch 4
    path = tmp_path / "fixed.onnx"
    onnx.save(model, path)
    data = np.random.default_rng(0).standard_normal((10, 3, 16, 16)).astype(np.float32)
    readers, hook = _counting()
    result = quantize(path, tmp_path / "q.onnx", "int8", data, use_cache=False, progress=False, reader_hook=hook)
    assert result.calibration["num_samples"] == 8 and readers[0].batch_size == 4
    with pytest.raises(CalibrationError, match="fixed batch of 4"):
        quantize(path, tmp_path / "q2.onnx", "int8", data[:3], use_cache=False, progress=False)
