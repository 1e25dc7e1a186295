"""inspect ENGINE: the engine's record from its sidecar, without TensorRT (issue 10 item 3)."""

from __future__ import annotations

import hashlib
import json

from typer.testing import CliRunner

from edgeattn.cli import app
from edgeattn.tensorrt.options import BuildOptions, rebuild_command
from edgeattn.tensorrt.sidecar import MachineInfo, make_sidecar, sidecar_path


def _engine(tmp_path, plan: bytes = b"plan bytes"):
    engine = tmp_path / "m.engine"
    engine.write_bytes(plan)
    options = BuildOptions(hardware_compatibility="ampere_plus").validate()
    machine = MachineInfo(tensorrt_version="10.3.0.26", gpu_name="Orin", compute_capability="8.7", system="Linux", machine="aarch64")
    recipe = {"input_size": [3, 32, 32], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    data = make_sidecar(
        engine_path=engine, engine_sha256=hashlib.sha256(plan).hexdigest(), engine_bytes=len(plan), onnx_path="m.onnx",
        onnx_sha256="cd", machine=machine, precision="fp16", precision_plan={"path": "strongly typed"},
        profiles=[{"input": {"min": [1, 3, 32, 32], "opt": [4, 3, 32, 32], "max": [8, 3, 32, 32]}}],
        io=[{"name": "input", "mode": "input", "dtype": "float16", "shape": [-1, 3, 32, 32]},
            {"name": "logits", "mode": "output", "dtype": "float16", "shape": [-1, 10]}],
        build_options=options.to_dict(), features={}, rebuild_command=rebuild_command("m.onnx", str(engine), options),
        blocks=[{"name": "layer1.0.se", "type": "SqueezeExcite"}],
        provenance={"source": "se_resnet_tiny", "preprocessing": recipe},
    )
    sidecar_path(engine).write_text(json.dumps(data))
    return engine


def test_inspect_engine_reads_its_sidecar(tmp_path):
    engine = _engine(tmp_path)
    result = CliRunner().invoke(app, ["inspect", str(engine), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["format"] == "tensorrt-engine" and data["precision"] == "fp16"
    assert data["engine_matches_sidecar"] is True
    assert data["built_for"]["tensorrt"] == "10.3.0.26"
    assert data["built_for"]["gpu"]["compute_capability"] == "8.7"
    assert data["built_for"]["compatibility"]["hardware"] == "ampere_plus"
    assert [t["name"] for t in data["io"]] == ["input", "logits"]
    assert data["preprocessing"]["input_size"] == [3, 32, 32] and data["provenance"]["source"] == "se_resnet_tiny"
    text = CliRunner().invoke(app, ["inspect", str(engine)])
    assert text.exit_code == 0 and "TensorRT 10.3.0.26, Orin (compute capability 8.7)" in text.output


def test_an_engine_replaced_after_the_build_is_named(tmp_path):
    engine = _engine(tmp_path)
    engine.write_bytes(b"another plan")
    data = json.loads(CliRunner().invoke(app, ["inspect", str(engine), "--json"]).stdout)
    assert data["engine_matches_sidecar"] is False


def test_an_engine_without_its_sidecar_is_one_line(tmp_path):
    engine = tmp_path / "lost.engine"
    engine.write_bytes(b"plan")
    result = CliRunner().invoke(app, ["inspect", str(engine)])
    assert result.exit_code == 1
    assert "has no sidecar lost.engine.json" in result.output
