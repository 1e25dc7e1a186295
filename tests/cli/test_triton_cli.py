"""`edgeattn triton`: a repository on disk, one `Error:` line per bad input."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from typer.testing import CliRunner

from edgeattn.cli import app

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from _artifacts import make_onnx, write_engine_with_sidecar  # noqa: E402

runner = CliRunner()


def test_triton_writes_models_and_reports_them(tmp_path):
    artifact = make_onnx(tmp_path / "digits.onnx")
    repo = tmp_path / "repo"
    result = runner.invoke(app, ["triton", str(repo), str(artifact), "--triton-backend", "python", "--preferred-batch", "2,4",
                                 "--with-preprocessing", "--instances", "2", "--no-model-warmup"])
    assert result.exit_code == 0, result.output
    assert "model      digits/1" in result.output and "ensemble   digits_ensemble/1" in result.output
    text = (repo / "digits" / "config.pbtxt").read_text()
    assert 'backend: "python"' in text and "preferred_batch_size: 2" in text and "count: 2" in text
    assert "model_warmup" not in text
    again = runner.invoke(app, ["triton", str(repo), str(artifact), "--json"])
    assert again.exit_code == 1  # the new version would switch python -> onnxruntime: refused
    assert "Error: model 'digits'" in again.output
    ok = runner.invoke(app, ["triton", str(repo), str(artifact), "--triton-backend", "python", "--with-preprocessing", "--json"])
    data = json.loads(ok.stdout)
    assert {m["name"]: m["version"] for m in data["models"]} == {"digits": 2, "digits_preprocess": 2, "digits_ensemble": 2}
    assert "model_warmup" in (repo / "digits" / "config.pbtxt").read_text()


def test_old_spellings(tmp_path):
    """--no-warmup still works (deprecated); -b/--backend, -n and --version now mean something
    else in other commands, so they are refused with the new name."""
    artifact = make_onnx(tmp_path / "digits.onnx")
    result = runner.invoke(app, ["triton", str(tmp_path / "repo"), str(artifact), "--no-warmup", "--model-version", "3"])
    assert result.exit_code == 0, result.output
    assert "Warning: --no-warmup is deprecated in triton: use --no-model-warmup" in result.stderr
    assert "model_warmup" not in (tmp_path / "repo" / "digits" / "config.pbtxt").read_text()
    assert (tmp_path / "repo" / "digits" / "3").is_dir()
    for old, new in ((["-b", "python"], "--triton-backend"), (["--backend", "python"], "--triton-backend"),
                     (["-n", "x"], "--name"), (["--version", "2"], "--model-version"), (["--warmup"], "--model-warmup")):
        result = runner.invoke(app, ["triton", str(tmp_path / "repo2"), str(artifact), *old])
        assert result.exit_code == 2 and new in result.output, (old, result.output)
    assert not (tmp_path / "repo2").exists()


def test_bad_inputs_are_one_error_line_each(tmp_path):
    artifact = make_onnx(tmp_path / "m.onnx")
    engine = write_engine_with_sidecar(tmp_path, sidecar=False)
    cases = [
        (["--name", "bad name"], 1, "Error: model name: received 'bad name'"),
        # Values that do not parse are usage errors: Click's message, exit 2.
        (["--preferred-batch", "4,x"], 2, "Invalid value for '--preferred-batch': received '4,x'"),
        (["--kind", "tpu"], 2, "Invalid value for '--kind'"),
        (["--triton-backend", "tf"], 2, "Invalid value for '--triton-backend'"),
    ]
    for extra, code, message in cases:
        result = runner.invoke(app, ["triton", str(tmp_path / "repo"), str(artifact), *extra])
        assert result.exit_code == code and message in result.output, (extra, result.output)
    result = runner.invoke(app, ["triton", str(tmp_path / "repo"), str(engine)])
    assert result.exit_code == 1 and "Error: engine" in result.output and "has no sidecar" in result.output
    result = runner.invoke(app, ["triton", str(tmp_path / "repo"), str(tmp_path / "missing.onnx")])
    assert result.exit_code == 1 and "missing.onnx: no such file" in result.output
    assert not (tmp_path / "repo").exists()
    assert "Traceback" not in result.output
