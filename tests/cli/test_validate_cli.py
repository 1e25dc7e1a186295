import json
import sys
from pathlib import Path

import onnx
import pytest
from onnx import numpy_helper
from typer.testing import CliRunner

from edgeattn.cli import app
from edgeattn.cli.validate import parse_tolerances
from edgeattn.errors import InputError

sys.path.insert(0, str(Path(__file__).parents[1] / "validation"))
from _tiny_se import export_tiny  # noqa: E402

MODEL_FILE = '''
import sys
sys.path.insert(0, {folder!r})
from _tiny_se import make_model
def factory(**kwargs):
    return make_model(0)
'''


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cli")
    path, _ = export_tiny(folder)
    # A model source the CLI can load: path/file.py:factory
    (folder / "tinymodel.py").write_text(MODEL_FILE.format(folder=str(Path(__file__).parents[1] / "validation")))
    return path, f"{folder / 'tinymodel.py'}:factory"


def test_parse_tolerances():
    assert parse_tolerances(None, "--atol") is None
    assert parse_tolerances(["0.5"], "--atol") == 0.5
    assert parse_tolerances(["logits=0.1", "0.01"], "--atol") == {"logits": 0.1, "*": 0.01}
    with pytest.raises(InputError):
        parse_tolerances(["logits=abc"], "--atol")


def test_pass_exit_0_and_reports(artifact, tmp_path):
    path, model = artifact
    result = CliRunner().invoke(
        app, ["validate", str(path), "--model", model, "-n", "3", "--report-json", str(tmp_path / "r.json"), "--report-md", str(tmp_path / "r.md")]
    )
    assert result.exit_code == 0, result.output
    assert "PASS" in result.output
    data = json.loads((tmp_path / "r.json").read_text())
    assert data["passed"] is True and data["artifacts"][0]["outputs"][0]["name"] == "logits"
    assert "Parity validation: PASS" in (tmp_path / "r.md").read_text()


def test_fail_exit_1_json_with_localisation(artifact, tmp_path):
    path, model = artifact
    proto = onnx.load(path)
    for init in proto.graph.initializer:
        if init.name == "se1.fc2.weight":
            init.CopyFrom(numpy_helper.from_array(numpy_helper.to_array(init) * 4, init.name))
    bad = tmp_path / "bad.onnx"
    onnx.save(proto, bad)
    result = CliRunner().invoke(app, ["validate", str(bad), "--model", model, "-n", "2", "--json"])
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["passed"] is False
    assert data["artifacts"][0]["localization"]["first_divergence"] == "se1"


def test_usage_errors(artifact):
    path, model = artifact
    result = CliRunner().invoke(app, ["validate", str(path), "--model", model, "--precision", "int4"])
    assert result.exit_code == 2 and "Error: Invalid value for '--precision'" in result.output and "int4" in result.output
    result = CliRunner().invoke(app, ["validate", str(path), "--model", model, "--atol", "x=y"])
    assert result.exit_code == 2 and "Invalid value for '--atol': received 'x=y'" in result.output


def test_unreadable_onnx_is_a_one_line_error(tmp_path):
    bad = tmp_path / "corrupt.onnx"
    bad.write_text("not a protobuf")
    result = CliRunner().invoke(app, ["validate", str(bad)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "Error:" in result.output and "not a readable ONNX model" in result.output


def test_requested_provider_fallback_is_reported(artifact):
    path, model = artifact
    result = CliRunner().invoke(app, ["validate", str(path), "--model", model, "-n", "1", "--providers", "cuda", "--json"])
    assert result.exit_code == 0, result.output
    runner = json.loads(result.stdout)["artifacts"][0]["runner"]
    assert runner["requested_providers"][0] == "CUDAExecutionProvider"
    assert runner["providers"] == ["CPUExecutionProvider"] and "CUDAExecutionProvider" in runner["fallback"]
