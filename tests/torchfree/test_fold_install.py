"""``edgeattn fold`` without PyTorch: it runs where onnx-ir and onnxscript are (``edgeattn[fold]``),
and where they are not it says in one line which extra to install."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

WORKSTATION_ONLY = sys.version_info < (3, 10)
# conftest.ABSENT without onnx-ir and onnxscript: the [cpu] + [fold] install.
FOLD_INSTALL_ABSENT = ("torch", "torchvision", "timm", "onnxsim", "safetensors", "onnxconverter_common", "PIL",
                       "matplotlib", "openvino", "tensorrt", "sklearn")


def _se_model(path) -> None:  # type: ignore[no-untyped-def]
    from tests.exporter.thirdparty_onnx import mobilenetv3_like
    import onnx

    onnx.save(mobilenetv3_like(), path)


def test_fold_names_its_extra_when_onnx_ir_is_missing(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _se_model(tmp_path / "m.onnx")
    result = cli("fold", tmp_path / "m.onnx", "-o", tmp_path / "f.onnx")
    assert result.returncode == 1, result.stderr[-2000:]
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1 and "Traceback" not in result.stderr, result.stderr
    assert "edgeattn[fold]" in errors[0] and "fold needs onnx-ir" in errors[0], errors[0]
    if WORKSTATION_ONLY:
        assert "needs Python >= 3.10" in errors[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.onnx"]


@pytest.mark.skipif(
    importlib.util.find_spec("onnx_ir") is None or importlib.util.find_spec("onnxscript") is None,
    reason="the [cpu] install has no onnx-ir/onnxscript (edgeattn[fold])",
)
def test_fold_runs_without_torch(cli, tmp_path) -> None:  # type: ignore[no-untyped-def]
    _se_model(tmp_path / "m.onnx")
    result = cli("fold", tmp_path / "m.onnx", "-o", tmp_path / "f.onnx", "--json", absent=FOLD_INSTALL_ABSENT)
    assert result.returncode == 0, result.stderr[-2000:]
    data = json.loads(result.stdout)
    assert data["fold"]["counts"] == {"SqueezeExcite": 3} and data["max_abs_diff_vs_source"] < 1e-4
