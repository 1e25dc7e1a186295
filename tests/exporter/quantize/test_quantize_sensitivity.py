"""`quantize --sensitivity` (each attention block / conv stage alone in INT8) and `--keep-fp32`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import onnx
import pytest
from typer.testing import CliRunner

from edgeattn.cli import app

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "cifar10"


@pytest.fixture(scope="module")
def se_onnx(tmp_path_factory):
    """SE-ResNet-20 (random weights, seeded) exported with folded blocks and stage probes."""
    import torch

    from edgeattn.exporter import export

    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("sens") / "se.onnx"
    export(f"{EXAMPLE / 'model.py'}:se_resnet20", path)
    return path


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    path = tmp_path_factory.mktemp("sens_calib") / "calib.npy"
    np.save(path, np.random.default_rng(0).standard_normal((24, 3, 32, 32)).astype(np.float32))
    return path


def _quantized_convs(path: Path) -> set[str]:
    """Names of the weight initializers that feed a Conv through a DequantizeLinear (i.e. INT8 convs)."""
    graph = onnx.load(path).graph
    made = {o: n for n in graph.node for o in n.output}
    out = set()
    for node in graph.node:
        if node.op_type == "Conv":
            dq = made.get(node.input[1])
            if dq is not None and dq.op_type == "DequantizeLinear":
                out.add(dq.input[0])
    return out


def test_units_are_the_blocks_and_stages_and_partition_the_backbone(se_onnx):
    from edgeattn.exporter.quantize.sensitivity import find_units

    model = onnx.load(se_onnx)
    units = find_units(model)
    assert [u.name for u in units if u.kind == "attention"] == [f"layer{s}.{b}.attn" for s in (1, 2, 3) for b in range(3)]
    assert [u.name for u in units if u.kind == "stage"] == ["layer1", "layer2", "layer3", "head"]
    stages = [u for u in units if u.kind == "stage"]
    blocks = {u.name for u in units if u.kind == "attention"}
    for node in model.graph.node:
        owners = [u.name for u in stages if re.search(u.pattern, node.name)]
        assert len(owners) == (0 if node.name in blocks else 1), (node.name, owners)


def test_cli_sensitivity_ranks_units_alone_in_int8_and_keep_fp32_acts(se_onnx, calib, tmp_path):
    out = tmp_path / "se_int8.onnx"
    result = CliRunner().invoke(app, ["quantize", str(se_onnx), "--calibration", str(calib), "--sensitivity",
                                      "-o", str(out), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    rows = report["units"]
    assert report["samples"] == 24 and len(rows) == 9 + 4
    errors = [r["rel_l2"] for r in rows]
    assert errors == sorted(errors, reverse=True) and [r["rank"] for r in rows] == list(range(1, 14))
    assert all(e > 0 for e in errors)  # every unit really was put into INT8
    # The whole model in INT8 (attention FP32) moves the output more than any one attention block.
    assert report["all_int8_default_policy"]["rel_l2"] > max(r["rel_l2"] for r in rows if r["kind"] == "attention")
    assert {Path(p).name for p in report["written"].values()} == {
        "se_int8.sensitivity.json", "se_int8.sensitivity.md", "se_int8.sensitivity.png"}
    assert not out.exists()  # analysis only, no model written
    assert (tmp_path / "se_int8.sensitivity.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "se_int8.sensitivity.json").read_text())["units"] == rows
    assert f"| 1 | `{rows[0]['unit']}` |" in (tmp_path / "se_int8.sensitivity.md").read_text()

    full = tmp_path / "full.onnx"
    kept = tmp_path / "kept.onnx"
    for path, extra in ((full, []), (kept, ["--keep-fp32", "layer2"])):
        result = CliRunner().invoke(app, ["quantize", str(se_onnx), "--calibration", str(calib), "-o", str(path),
                                          "--no-cache", *extra])
        assert result.exit_code == 0, result.output
    dropped = _quantized_convs(full) - _quantized_convs(kept)
    assert dropped and all(name.startswith("layer2.") for name in dropped), dropped
    assert {n for n in _quantized_convs(kept) if n.startswith("layer2.")} == set()


def test_sensitivity_needs_a_folded_export(folded_onnx, calib_npy, tmp_path):
    result = CliRunner().invoke(app, ["quantize", str(folded_onnx), "--calibration", str(calib_npy), "--sensitivity",
                                      "-o", str(tmp_path / "x.onnx")])
    assert result.exit_code == 1
    assert "Error: sensitivity analysis: received a model without" in result.output
