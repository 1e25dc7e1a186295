"""`edgeattn build` end to end against the stand-ins (API usage, not TensorRT behaviour)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from edgeattn.cli import app


@pytest.mark.parametrize("gen", ["8.5", "10.16", "11.1"])
def test_contract_cli_build_json(make_world, tiny_onnx, tmp_path, gen):
    world = make_world(gen, "13")
    engine = tmp_path / "out" / "m.engine"
    cache = tmp_path / "trt.cache"
    result = CliRunner().invoke(
        app,
        ["build", str(tiny_onnx), "-o", str(engine), "--max-batch", "4", "--opt-batch", "2", "--workspace", "512M",
         "--timing-cache", str(cache), "--json"],
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["engine"] == str(engine) and report["sidecar"] == str(engine) + ".json"
    assert report["profiles"] == [{"name": "input", "min": [1, 3, 8, 8], "opt": [2, 3, 8, 8], "max": [4, 3, 8, 8]}]
    assert report["timing_cache_status"] == "created" and cache.is_file()
    side = json.loads((tmp_path / "out" / "m.engine.json").read_text())
    assert side["rebuild_command"].endswith("--opt-batch 2 --max-batch 4 --workspace 536870912 --timing-cache " + str(cache))
    assert world.count("Builder.build_serialized_network") == 1


def test_contract_cli_build_classic_fp16_refused_on_11(make_world, tiny_onnx, tmp_path):
    make_world("11.1", "13")
    result = CliRunner().invoke(app, ["build", str(tiny_onnx), "-o", str(tmp_path / "m.engine"), "--classic-fp16"])
    assert result.exit_code == 1
    assert "no FP16 builder flag" in result.output and "edgeattn quantize" in result.output


def test_contract_cli_build_default_output_and_text(make_world, tiny_onnx):
    make_world("10.3", "12")
    result = CliRunner().invoke(app, ["build", str(tiny_onnx), "--shapes", "input:2x3x8x8"])
    assert result.exit_code == 0, result.output
    assert f"engine    {tiny_onnx.with_suffix('.engine')}" in result.output
    assert "profile   input: 2x3x8x8" in result.output
