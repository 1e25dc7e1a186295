"""`edgeattn models` and `edgeattn inspect` through Typer's CliRunner: exit codes and output."""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from edgeattn.cli import app
from edgeattn.models import create_model

runner = CliRunner()


@pytest.fixture(scope="module")
def zoo_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A private cache dir holding the computed zoo table (computed once for this module)."""
    path = tmp_path_factory.mktemp("zoo-cache")
    old = os.environ.get("EDGEATTN_CACHE_DIR")
    os.environ["EDGEATTN_CACHE_DIR"] = str(path)
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    yield path
    if old is None:
        os.environ.pop("EDGEATTN_CACHE_DIR", None)
    else:
        os.environ["EDGEATTN_CACHE_DIR"] = old


def test_models_json(zoo_cache: Path) -> None:
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    by_name = {r["name"]: r for r in rows}
    assert {"se_resnet50", "cbam_resnet50", "resnet50", "se_mobilenet_small", "cbam_mobilenet_small"} <= set(by_name)
    for row in rows:
        assert {"name", "params", "gflops", "attention"} <= set(row)
    assert by_name["se_resnet50"]["params"] == 28_088_024
    assert by_name["se_resnet50"]["attention"] == "se" and by_name["cbam_resnet50"]["attention"] == "cbam"
    assert by_name["resnet50"]["gflops"] == pytest.approx(4.0892, abs=1e-3)
    assert by_name["se_mobilenet_small"]["gflops"] < 0.1


def test_models_table_and_filter(zoo_cache: Path) -> None:
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0
    assert "se_resnet50" in result.stdout and "28.09M" in result.stdout and "GFLOPs" in result.stdout
    filtered = runner.invoke(app, ["models", "--attention", "cbam", "--json"])
    assert filtered.exit_code == 0
    assert {r["attention"] for r in json.loads(filtered.stdout)} == {"cbam"}


def test_models_bad_filter(zoo_cache: Path) -> None:
    result = runner.invoke(app, ["models", "--attention", "eca"])
    assert result.exit_code == 2  # an unknown choice is a usage error
    assert "Error: Invalid value for '--attention'" in result.stderr and "'se', 'cbam', 'none'" in result.stderr


def test_models_cache_hit_does_not_recompute(zoo_cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from edgeattn.models import zoo

    def fail() -> None:
        raise AssertionError("recomputed despite a cache hit")

    monkeypatch.setattr(zoo, "compute_table", fail)
    assert runner.invoke(app, ["models", "--json"]).exit_code == 0
    # A damaged cache is recomputed, not trusted.
    monkeypatch.undo()
    zoo.cache_file().write_text("{not json")
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0 and json.loads(result.stdout)


def test_inspect_json_cbam() -> None:
    result = runner.invoke(app, ["inspect", "cbam_mobilenet_small", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["params"] == sum(p.numel() for p in create_model("cbam_mobilenet_small").parameters())
    assert data["attention"] == "cbam"
    assert data["input_size"] == [3, 224, 224] and data["input_config"]["crop_pct"] == 0.875
    kinds = {b["kind"] for b in data["attention_blocks"]}
    assert kinds == {"ChannelAttention", "SpatialAttention"}
    assert "layer3.0.se.channel" in {b["path"] for b in data["attention_blocks"]}
    assert data["checkpoint"] is None


def test_inspect_human_with_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "se.pth"
    torch.save({"state_dict": create_model("se_mobilenet_small", num_classes=4).state_dict()}, path)
    result = runner.invoke(app, ["inspect", "se_mobilenet_small", "--checkpoint", str(path), "--input-size", "3,96,96"])
    assert result.exit_code == 0, result.output
    assert "parameters" in result.stdout and "GFLOPs" in result.stdout and "3x96x96" in result.stdout
    assert "layer1.0.se" in result.stdout and "SqueezeExcite" in result.stdout
    assert "exact fit" in result.stdout


def test_inspect_malicious_checkpoint_refused(tmp_path: Path) -> None:
    marker = tmp_path / "PWNED"

    class Evil:
        def __reduce__(self):  # type: ignore[no-untyped-def]
            return (open, (str(marker), "w"))

    path = tmp_path / "evil.pth"
    torch.save({"state_dict": Evil()}, path)
    result = runner.invoke(app, ["inspect", "se_resnet18", "-c", str(path)])
    assert result.exit_code == 1
    assert result.stderr.startswith("Error:") and "--unsafe-pickle" in result.stderr
    assert not marker.exists()


def test_inspect_unsafe_pickle_warns(tmp_path: Path) -> None:
    path = tmp_path / "whole.pth"
    torch.save(create_model("se_mobilenet_small", num_classes=4), path)
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 1 and "pickled Python objects" in result.stderr
    result = runner.invoke(app, ["inspect", str(path), "--json", "--unsafe-pickle"])
    assert result.exit_code == 0, result.output
    assert "Warning:" in result.stderr and json.loads(result.stdout)["attention"] == "se"


def test_inspect_non_strict(tmp_path: Path) -> None:
    state = create_model("se_mobilenet_small").state_dict()
    state.pop("fc.bias")
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    strict = runner.invoke(app, ["inspect", "se_mobilenet_small", "-c", str(path)])
    assert strict.exit_code == 1 and "1 missing (fc.bias)" in strict.stderr and "--non-strict" in strict.stderr
    loose = runner.invoke(app, ["inspect", "se_mobilenet_small", "-c", str(path), "--non-strict", "--json"])
    assert loose.exit_code == 0 and "Warning: non-strict" in loose.stderr
    assert json.loads(loose.stdout)["checkpoint"]["missing"] == ["fc.bias"]


def test_inspect_timm_source() -> None:
    pytest.importorskip("timm")
    result = runner.invoke(app, ["inspect", "timm:seresnet18", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["attention_counts"] == {"SqueezeExcite": 8} and data["params"] == 11_779_624


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["inspect", "se_resnt50"], "unknown model"),
        (["inspect", "resnet18", "-c", "/nonexistent/ckpt.pth"], "not found"),
        (["inspect", "resnet18", "--input-size", "224"], "C,H,W"),
    ],
)
def test_inspect_errors(args: list[str], message: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == (2 if "--input-size" in args else 1)  # a malformed value: usage error
    assert "Error:" in result.stderr and message in result.stderr
    assert "Traceback" not in result.output


def test_inspect_brackets_in_paths_are_printed(tmp_path: Path) -> None:
    # Paths and keys are plain text in Error:/Warning: lines, not rich markup that eats "[best]".
    missing = runner.invoke(app, ["inspect", "resnet18", "-c", "/nonexistent/ckpt[best].pth"])
    assert missing.exit_code == 1 and "ckpt[best].pth" in missing.stderr
    state = create_model("se_mobilenet_small").state_dict()
    state.pop("fc.bias")
    path = tmp_path / "partial[ema].pth"
    torch.save(state, path)
    loose = runner.invoke(app, ["inspect", "se_mobilenet_small", "-c", str(path), "--non-strict", "--json"])
    assert loose.exit_code == 0 and "partial[ema].pth" in loose.stderr
    human = runner.invoke(app, ["inspect", "se_mobilenet_small", "-c", str(path), "--non-strict"])
    assert human.exit_code == 0 and f"checkpoint   {path} " in human.stdout


def test_inspect_usage_error_exit_2() -> None:
    assert runner.invoke(app, ["inspect"]).exit_code == 2


def test_inspect_torchscript(tmp_path: Path) -> None:
    path = tmp_path / "m.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(create_model("se_resnet_tiny", num_classes=3), torch.randn(1, 3, 32, 32)), str(path))
    result = runner.invoke(app, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["params"] == sum(p.numel() for p in create_model("se_resnet_tiny", num_classes=3).parameters())
    # Blocks are found in TorchScript archives by their original class names.
    assert data["attention"] == "se" and data["attention_counts"]["SqueezeExcite"] == 4


def test_json_stdout_stays_json_when_a_library_prints(monkeypatch) -> None:
    # ONNX Runtime prints its provider-fallback banner with print(): with --json it goes to stderr.
    import json as json_module

    from typer.testing import CliRunner

    from edgeattn.cli import app
    from edgeattn.models import zoo

    real = zoo.zoo_table

    def noisy_table():
        print("EP Error: ... Falling back to ['CPUExecutionProvider'] and retrying.")
        return real()

    monkeypatch.setattr(zoo, "zoo_table", noisy_table)
    result = CliRunner().invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    rows = json_module.loads(result.stdout)
    assert rows and "name" in rows[0]
    assert "Falling back" in result.stderr


def test_json_stdout_stays_json_when_native_code_writes_to_fd_1() -> None:
    # Native libraries write to file descriptor 1 directly, below Python's sys.stdout.
    import subprocess
    import sys

    code = (
        "import os, sys\n"
        "from edgeattn.models import zoo\n"
        "real = zoo.zoo_table\n"
        "zoo.zoo_table = lambda: (os.write(1, b'native banner\\n'), print('python banner'), real())[2]\n"
        "from edgeattn.cli import main\n"
        "sys.argv = ['edgeattn', 'models', '--json']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)[0]["name"]
    assert "native banner" in done.stderr and "python banner" in done.stderr
