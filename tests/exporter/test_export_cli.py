"""`edgeattn export` through the CLI: exit codes, --json on stdout, errors as one line."""

from __future__ import annotations

import json

import onnx
from typer.testing import CliRunner

from edgeattn.cli import app


def test_export_json(tmp_path) -> None:
    out = tmp_path / "se.onnx"
    result = CliRunner().invoke(
        app,
        ["export", "se_mobilenet_small", "-o", str(out), "--input-size", "3,96,96", "--max-batch", "4", "--json"],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["opset"] == 18 and summary["fold"]["complete"] is True
    assert summary["fold"]["counts"]["SqueezeExcite"] == len(summary["blocks"]) > 0
    assert any(n.domain == "edgeattn" for n in onnx.load(str(out)).graph.node)


def test_export_summary_names_block_variants(tmp_path) -> None:
    # MobileNetV3-style SE blocks gate with HardSigmoid: the summary must show the variant, which
    # rich markup would swallow as an unknown style tag.
    result = CliRunner().invoke(
        app, ["export", "se_mobilenet_small", "-o", str(tmp_path / "se.onnx"), "--input-size", "3,96,96", "--max-batch", "4"]
    )
    assert result.exit_code == 0, result.output
    assert "[relu_hardsigmoid]" in result.stderr


def test_export_opset17_static(tmp_path) -> None:
    # The old spelling --input-shape N,C,H,W still works, as --batch-size N --input-size C,H,W.
    out = tmp_path / "cbam.onnx"
    result = CliRunner().invoke(
        app,
        ["export", "cbam_mobilenet_small", "-o", str(out), "--input-shape", "2,3,96,96", "--static-batch",
         "--opset", "17", "--fold", "inline", "--no-simplify"],
    )
    assert result.exit_code == 0, result.output
    assert "Warning: --input-shape is deprecated in export: use --input-size C,H,W --batch-size N" in result.stderr
    model = onnx.load(str(out))
    assert {o.domain: o.version for o in model.opset_import}[""] == 17
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_value == 2


def test_bad_input_size_is_a_usage_error(tmp_path) -> None:
    result = CliRunner().invoke(app, ["export", "se_resnet18", "-o", str(tmp_path / "x.onnx"), "--input-size", "3,224"])
    assert result.exit_code == 2
    assert "Error: Invalid value for '--input-size': received '3,224', expected C,H,W" in result.stderr
    assert not (tmp_path / "x.onnx").exists()
    # The deprecated --input-shape N,C,H,W is checked as strictly.
    result = CliRunner().invoke(app, ["export", "se_resnet18", "-o", str(tmp_path / "x.onnx"), "--input-shape", "3,224"])
    assert result.exit_code == 2 and "--input-shape: received '3,224', expected N,C,H,W" in result.stderr
    assert not (tmp_path / "x.onnx").exists()


def test_input_shape_sizes_the_recorded_preprocessing(tmp_path) -> None:
    # The recipe is recorded at the exported size, so every reader gets one size: the recipe used
    # to keep the model's default 224 next to input.shape [1, 3, 64, 64].
    from edgeattn.artifact import ArtifactInfo
    from edgeattn.data import Preprocessing

    out = tmp_path / "se.onnx"
    result = CliRunner().invoke(app, ["export", "se_resnet_tiny", "-o", str(out), "--input-shape", "1,3,64,64"])
    assert result.exit_code == 0, result.output
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    provenance = json.loads(props["edgeattn.provenance"])
    assert provenance["input"]["shape"] == [1, 3, 64, 64]
    assert provenance["preprocessing"]["input_size"] == [3, 64, 64]
    assert json.loads((tmp_path / "se.onnx.json").read_text())["provenance"]["preprocessing"]["input_size"] == [3, 64, 64]
    assert Preprocessing.from_onnx(out).input_size == (3, 64, 64)
    info = ArtifactInfo.read(out)
    assert info.input_size == (3, 64, 64) and info.input.dynamic_batch and info.max_batch == 32
