"""Without TensorRT or a GPU (this machine), everything fails cleanly: real modules, no stand-ins."""

from __future__ import annotations

import importlib.util

import pytest
from typer.testing import CliRunner

from edgeattn.cli import app
from edgeattn.errors import BackendUnavailableError


def _real_module(name: str) -> bool:
    # tests/ is on sys.path here, so tests/tensorrt/ is an importable *namespace* package named
    # "tensorrt" (origin None); only a regular package or extension counts as installed.
    spec = importlib.util.find_spec(name)
    return spec is not None and spec.origin is not None


HAS_TRT = _real_module("tensorrt")


def _cudart():
    from edgeattn.platform import cuda as _cuda

    return _cuda.try_load_runtime()


HAS_CUDART = _cudart() is not None


def _cuda_device_present() -> bool:
    return HAS_CUDART and _cudart().device_count() > 0


pytestmark = pytest.mark.skipif(HAS_TRT, reason="TensorRT is installed here: the no-TensorRT path cannot be tested")


def test_cli_build_fails_cleanly(tiny_onnx, tmp_path):
    result = CliRunner().invoke(app, ["build", str(tiny_onnx), "-o", str(tmp_path / "m.engine")])
    assert result.exit_code == 1
    assert "Error: TensorRT is not installed" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "m.engine").exists() and not (tmp_path / "m.engine.json").exists()


def test_cli_build_json_flag_still_fails_cleanly(tiny_onnx, tmp_path):
    result = CliRunner().invoke(app, ["build", str(tiny_onnx), "--json", "--max-batch", "4"])
    assert result.exit_code == 1 and "TensorRT is not installed" in result.output


def test_cli_build_usage_error_is_exit_2(tiny_onnx):
    result = CliRunner().invoke(app, ["build", str(tiny_onnx), "--opt-level", "9"])
    assert result.exit_code == 2


def test_cli_build_bad_input_reported_before_tensorrt(tmp_path):
    result = CliRunner().invoke(app, ["build", str(tmp_path / "missing.onnx")])
    assert result.exit_code == 1 and "ONNX file not found" in result.output


def test_runner_load_without_tensorrt(tmp_path):
    from edgeattn.tensorrt.runner import TensorRTRunner

    engine = tmp_path / "m.engine"
    engine.write_bytes(b"not really a plan")
    with pytest.raises(BackendUnavailableError, match="TensorRT is not installed"):
        TensorRTRunner(engine).load()


@pytest.mark.skipif(not HAS_CUDART, reason="no CUDA runtime library (libcudart) on this machine")
@pytest.mark.skipif(_cuda_device_present(), reason="a CUDA device is present")
def test_real_cuda_runtime_through_ctypes_reports_no_device():
    """This machine has a real libcudart (CUDA 13 toolkit) but no GPU: the real ctypes path."""
    from edgeattn.platform import cuda as _cuda

    rt = _cuda.load_runtime()
    assert "libcudart.so" in rt.path
    assert rt.device_count() == 0
    with pytest.raises(BackendUnavailableError, match=r"no CUDA device \(cudaError\w+\)"):
        rt.require_device()
    versions = rt.versions()
    assert versions["cuda_runtime"] is not None and versions["cuda_runtime"].count(".") == 1
    with pytest.raises(_cuda.CudaError, match="cudaMalloc failed: cudaError"):
        _cuda.DeviceBuffer(rt, 16)
