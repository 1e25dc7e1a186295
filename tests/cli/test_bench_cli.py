import json

import pytest
import torch
from typer.testing import CliRunner

from edgeattn.cli import app


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    folder = tmp_path_factory.mktemp("benchcli")
    path = folder / "small.onnx"
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU()).eval()
    torch.onnx.export(model, (torch.randn(1, 3, 8, 8),), str(path), dynamo=False, input_names=["input"],
                      dynamic_axes={"input": {0: "batch"}}, opset_version=17)
    return path


def test_bench_json_md_chart(small_onnx, tmp_path):
    result = CliRunner().invoke(
        app,
        ["bench", str(small_onnx), "--batch-sizes", "1,2", "--iterations", "4", "--warmup", "1", "--rounds", "2", "--threads", "1",
         "--json", "--report-md", str(tmp_path / "b.md"), "--report-json", str(tmp_path / "b.json"), "--chart", str(tmp_path / "b.png")],
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert [r["batch_size"] for r in data["results"]] == [1, 2]
    stats = data["results"][0]["stats"]
    assert stats["count"] == 4 and stats["min_ms"] <= stats["p50_ms"] <= stats["p99_ms"] <= stats["max_ms"]
    assert data["settings"]["threads"] == 1 and data["environment"]["cpu"]
    assert json.loads((tmp_path / "b.json").read_text())["settings"]["interleaved"] is True
    assert "| small.onnx | onnxruntime | 2 |" in (tmp_path / "b.md").read_text()
    assert (tmp_path / "b.png").read_bytes()[:4] == b"\x89PNG"


def test_bench_table_and_per_block_on_unfolded(small_onnx):
    result = CliRunner().invoke(app, ["bench", str(small_onnx), "--iterations", "2", "--warmup", "0", "--per-block"])
    assert result.exit_code == 0, result.output
    assert "small.onnx" in result.stdout and "no folded attention blocks" in result.stdout


@pytest.mark.parametrize(
    "args,code,message",
    [
        (["--batch-sizes", "0"], 2, "--batch-sizes"),  # a value that does not parse: Click's usage error
        (["--input-size", "3,8"], 2, "--input-size"),
        (["--chart", "x.jpg"], 1, ".png"),
        (["--iterations", "2", "--duration", "1"], 1, "expected one"),
    ],
)
def test_bench_usage_errors(small_onnx, args, code, message):
    result = CliRunner().invoke(app, ["bench", str(small_onnx), *args])
    assert result.exit_code == code and "Error:" in result.output and message in result.output


def test_bench_checkpoint_goes_to_the_pytorch_model(tmp_path):
    from edgeattn.models import create_model

    good, wrong = tmp_path / "se.pt", tmp_path / "cbam.pt"
    torch.save(create_model("se_resnet_tiny", num_classes=10).state_dict(), good)
    torch.save(create_model("cbam_resnet_tiny", num_classes=10).state_dict(), wrong)
    args = ["bench", "se_resnet_tiny", "--input-size", "3,32,32", "--iterations", "2", "--warmup", "0", "--rounds", "1", "--json"]
    result = CliRunner().invoke(app, [*args, "--checkpoint", str(good)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["results"][0]["backend"] == "torch"
    # The wrong architecture's weights are refused, so the checkpoint really reached the model.
    result = CliRunner().invoke(app, [*args, "--checkpoint", str(wrong)])
    assert result.exit_code == 1 and "Error:" in result.output
