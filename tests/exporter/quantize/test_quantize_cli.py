"""`edgeattn quantize` end to end through the CLI: exit codes, JSON, one-line errors."""

from __future__ import annotations

import json

import onnx
from typer.testing import CliRunner

from edgeattn.cli import app


def test_cli_int8_json(folded_onnx, calib_npy, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEATTN_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "q.onnx"
    result = CliRunner().invoke(
        app, ["quantize", str(folded_onnx), "-o", str(out), "--precision", "int8", "--calibration", str(calib_npy),
              "--calibration-method", "percentile", "--exclude-op-types", "Add", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["precision"] == "int8" and data["calibration"]["method"] == "percentile"
    assert {n["name"]: n["precision"] for n in data["nodes"]}["layer1.add"] == "fp32"
    assert list((tmp_path / "cache").glob("calibration/*.json"))
    assert {p.key: p.value for p in onnx.load(out).metadata_props}["edgeattn.precision"] == "int8"


def test_cli_fp16_table(folded_onnx, tmp_path):
    result = CliRunner().invoke(app, ["quantize", str(folded_onnx), "-o", str(tmp_path / "h.onnx"), "-p", "fp16"])
    assert result.exit_code == 0, result.output
    assert "FP16 node placement" in result.output and "GlobalAveragePool" in result.output


def test_cli_bad_calibration_exits_1_with_one_line(folded_onnx, tmp_path):
    (tmp_path / "empty").mkdir()
    result = CliRunner().invoke(
        app, ["quantize", str(folded_onnx), "-o", str(tmp_path / "q.onnx"), "--calibration", str(tmp_path / "empty")]
    )
    assert result.exit_code == 1
    assert "Error: calibration data: image folder" in result.output
    assert "Traceback" not in result.output


def test_cli_output_directory_is_one_line_error(folded_onnx, tmp_path):
    result = CliRunner().invoke(app, ["quantize", str(folded_onnx), "-o", str(tmp_path), "-p", "fp16"])
    assert result.exit_code == 1
    assert "Error: output" in result.output and "is a directory" in result.output
    assert "Traceback" not in result.output


def test_cli_synthetic_calibration_warns_once(folded_onnx, tmp_path):
    # Once in the table (or, with --json, on stderr beside the JSON), never as a raw Python warning.
    for extra in ([], ["--json"]):
        result = CliRunner().invoke(
            app, ["quantize", str(folded_onnx), "-o", str(tmp_path / "s.onnx"), "--num-calibration", "8", "--no-cache", *extra]
        )
        assert result.exit_code == 0, result.output
        shown = result.stderr if extra else result.output
        assert shown.count("SYNTHETIC") == 1, result.output
        assert "Warning: calibrating INT8 on SYNTHETIC" in shown and "UserWarning" not in result.output


def test_cli_table_shows_regex_reasons_verbatim(folded_onnx, tmp_path):
    result = CliRunner().invoke(
        app, ["quantize", str(folded_onnx), "-o", str(tmp_path / "h.onnx"), "-p", "fp16", "--exclude-nodes", "^[a-z]+1"]
    )
    assert result.exit_code == 0, result.output
    assert "/^[a-z]+1/" in result.output


def test_cli_bad_choice_is_a_usage_error(folded_onnx, tmp_path):
    result = CliRunner().invoke(app, ["quantize", str(folded_onnx), "-o", str(tmp_path / "q.onnx"), "--target", "gpu"])
    assert result.exit_code == 2 and "Invalid value for '--target'" in result.output
    assert not (tmp_path / "q.onnx").exists()


def test_cli_quantize_attention_is_a_flag(folded_onnx, calib_npy, tmp_path, monkeypatch):
    monkeypatch.setenv("EDGEATTN_CACHE_DIR", str(tmp_path / "cache"))
    result = CliRunner().invoke(
        app, ["quantize", str(folded_onnx), "-o", str(tmp_path / "qa.onnx"), "--calibration", str(calib_npy),
              "--quantize-attention", "--target", "tensorrt", "--no-reduce-range", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["policy"]["quantize_attention"] is True and data["target"] == "tensorrt"
    assert data["settings"]["reduce_range"] is False
    assert not any(n["op_type"].startswith("edgeattn::") for n in data["nodes"])
    # --attention-policy fp32 keeps the blocks folded; a mode name it does not know is a one-line error
    kept = CliRunner().invoke(
        app, ["quantize", str(folded_onnx), "-o", str(tmp_path / "fp32gates.onnx"), "--calibration", str(calib_npy),
              "--attention-policy", "fp32", "--json"],
    )
    assert kept.exit_code == 0, kept.output
    folded = json.loads(kept.stdout)
    assert folded["policy"]["attention"] == "fp32" and folded["settings"]["folded_blocks_kept"] is True
    assert any(n["op_type"].startswith("edgeattn::") for n in folded["nodes"])
    bad = CliRunner().invoke(app, ["quantize", str(folded_onnx), "-o", str(tmp_path / "bad.onnx"),
                                   "--calibration", str(calib_npy), "--attention-policy", "half"])
    assert bad.exit_code != 0 and "half" in bad.output and not (tmp_path / "bad.onnx").exists()
