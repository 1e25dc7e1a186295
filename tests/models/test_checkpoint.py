"""Checkpoint reading and loading: every container and format, and each bad input."""

from __future__ import annotations

import os
import pickle
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from edgeattn.errors import CheckpointError, EdgeattnError, EdgeattnWarning
from edgeattn.models import create_model, load_checkpoint, load_model


@pytest.fixture(scope="module")
def trained() -> nn.Module:
    """se_resnet_tiny (10 classes) with non-default weights, the 'trained' model of these tests."""
    torch.manual_seed(1)
    model = create_model("se_resnet_tiny", num_classes=10)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.01)
    return model


def _same_weights(a: nn.Module, b: nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def _fresh() -> nn.Module:
    return create_model("se_resnet_tiny", num_classes=10)


# --------------------------------------------------------------------------------- containers
@pytest.mark.parametrize("container", [None, "state_dict", "model", "model_state_dict"])
@pytest.mark.parametrize("prefix", ["", "module.", "_orig_mod.", "_orig_mod.module."])
def test_containers_and_prefixes(tmp_path: Path, trained: nn.Module, container: str | None, prefix: str) -> None:
    state = {prefix + k: v for k, v in trained.state_dict().items()}
    obj = state if container is None else {"epoch": 5, "arch": "se_resnet_tiny", container: state, "best_prec1": 0.7}
    path = tmp_path / "ckpt.pth"
    torch.save(obj, path)
    model = _fresh()
    report = load_checkpoint(model, path)
    assert _same_weights(model, trained)
    assert report.exact and report.loaded == len(trained.state_dict())
    assert report.container == ("state_dict" if container is None else f"['{container}']")


@pytest.mark.parametrize("ema_key", ["state_dict_ema", "model_ema"])
def test_ema_preferred_and_switchable(tmp_path: Path, trained: nn.Module, ema_key: str) -> None:
    raw = _fresh().state_dict()
    path = tmp_path / "train.pth.tar"
    torch.save({"state_dict": raw, ema_key: {"module." + k: v for k, v in trained.state_dict().items()}}, path)
    ema_model = _fresh()
    load_checkpoint(ema_model, path)
    assert _same_weights(ema_model, trained)
    raw_model = create_model("se_resnet_tiny", num_classes=10)
    report = load_checkpoint(raw_model, path, prefer_ema=False)
    assert report.container == "['state_dict']"
    assert all(torch.equal(raw_model.state_dict()[k], raw[k]) for k in raw)


def test_safetensors(tmp_path: Path, trained: nn.Module) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(path))
    model = _fresh()
    load_checkpoint(model, path)
    assert _same_weights(model, trained)
    # Recognised by its header even under another suffix.
    other = tmp_path / "model.bin"
    other.write_bytes(path.read_bytes())
    model2 = _fresh()
    load_checkpoint(model2, other)
    assert _same_weights(model2, trained)


def test_legacy_non_zip_format(tmp_path: Path, trained: nn.Module) -> None:
    path = tmp_path / "legacy.pth"
    torch.save(trained.state_dict(), path, _use_new_zipfile_serialization=False)
    model = _fresh()
    load_checkpoint(model, path)
    assert _same_weights(model, trained)


def test_old_checkpoint_without_num_batches_tracked(tmp_path: Path, trained: nn.Module) -> None:
    state = {k: v for k, v in trained.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    model = _fresh()
    report = load_checkpoint(model, path)
    assert report.exact and report.filled_num_batches_tracked > 0
    assert torch.equal(model.layer1[0].bn1.running_var, trained.layer1[0].bn1.running_var)


def test_torchscript_archive_as_checkpoint(tmp_path: Path, trained: nn.Module) -> None:
    path = tmp_path / "scripted.pt"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(trained, torch.randn(1, 3, 32, 32)), str(path))
    model = _fresh()
    load_checkpoint(model, path)
    assert _same_weights(model, trained)


def test_in_memory_state_dict(trained: nn.Module) -> None:
    model = _fresh()
    load_checkpoint(model, {"module." + k: v for k, v in trained.state_dict().items()})
    assert _same_weights(model, trained)


# ---------------------------------------------------------------------------- unsafe pickles
class _Marker:
    """Unpickling this writes a file: the proof that code from a checkpoint ran."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (open, (self.path, "w"))


def test_malicious_pickle_does_not_run(tmp_path: Path, trained: nn.Module) -> None:
    marker = tmp_path / "PWNED"
    path = tmp_path / "evil.pth"
    torch.save({"state_dict": trained.state_dict(), "payload": _Marker(str(marker))}, path)
    with pytest.raises(CheckpointError, match="pickled Python objects") as info:
        load_checkpoint(_fresh(), path)
    assert "--unsafe-pickle" in (info.value.hint or "")
    with pytest.raises(CheckpointError):
        load_model("se_resnet_tiny", path)
    with pytest.raises(EdgeattnError):  # refused (which refusal depends on the loader), never run
        load_model(str(path))
    assert not marker.exists()
    # The control: with the flag the payload does run, so the test above is meaningful.
    with pytest.warns(EdgeattnWarning, match="runs any code"):
        load_checkpoint(_fresh(), path, unsafe_pickle=True)
    assert marker.exists()


def test_whole_pickled_model_needs_unsafe_pickle(tmp_path: Path, trained: nn.Module) -> None:
    path = tmp_path / "whole.pth"
    torch.save(trained, path)
    with pytest.raises(Exception, match="pickled Python objects"):
        load_model(str(path))
    with pytest.warns(EdgeattnWarning):
        model = load_model(str(path), unsafe_pickle=True).module
    assert _same_weights(model, trained)
    # ...and as a checkpoint for a named architecture.
    with pytest.warns(EdgeattnWarning):
        model2 = load_model("se_resnet_tiny", path, unsafe_pickle=True).module
    assert _same_weights(model2, trained)


# -------------------------------------------------------------------------------- bad inputs
def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not found"):
        load_checkpoint(_fresh(), tmp_path / "nope.pth")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.pth"
    path.write_bytes(b"")
    with pytest.raises(CheckpointError, match="empty"):
        load_checkpoint(_fresh(), path)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="directory"):
        load_checkpoint(_fresh(), tmp_path)


@pytest.mark.parametrize("zip_format", [True, False])
def test_truncated_file(tmp_path: Path, trained: nn.Module, zip_format: bool) -> None:
    path = tmp_path / "full.pth"
    torch.save(trained.state_dict(), path, _use_new_zipfile_serialization=zip_format)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="corrupt or truncated|truncated") as info:
        load_checkpoint(_fresh(), cut)
    assert "\n" not in info.value.message


def test_truncated_safetensors(tmp_path: Path, trained: nn.Module) -> None:
    from safetensors.torch import save_file

    path = tmp_path / "m.safetensors"
    save_file({k: v.contiguous() for k, v in trained.state_dict().items()}, str(path))
    path.write_bytes(path.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="safetensors"):
        load_checkpoint(_fresh(), path)


@pytest.mark.parametrize("content", [b"hello, this is not a checkpoint\n", b"\x89PNG\r\n\x1a\n" + bytes(64)])
def test_not_a_checkpoint(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "thing.pth"
    path.write_bytes(content)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(_fresh(), path)
    assert "\n" not in info.value.message


@pytest.mark.parametrize("name,kind", [("model.onnx", "ONNX model"), ("model.engine", "TensorRT engine")])
def test_deployment_artifact_given_as_checkpoint(tmp_path: Path, name: str, kind: str) -> None:
    path = tmp_path / name
    path.write_bytes(b"\x08\x08\x12\x07pytorch" + bytes(32))  # an ONNX ModelProto header
    with pytest.raises(CheckpointError, match=f"is an? {kind}, not a PyTorch checkpoint"):
        load_checkpoint(_fresh(), path)


def test_optimizer_only_dict(tmp_path: Path) -> None:
    path = tmp_path / "opt.pth"
    torch.save({"epoch": 3, "optimizer": {"state": {}, "param_groups": [{"lr": 0.1}]}}, path)
    with pytest.raises(CheckpointError, match="without weights"):
        load_checkpoint(_fresh(), path)


def test_wrong_architecture_short_diff(tmp_path: Path) -> None:
    path = tmp_path / "r50.pth"
    torch.save(create_model("se_resnet50", num_classes=10).state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(_fresh(), path)
    message = info.value.message
    assert "\n" not in message and len(message) < 1200
    assert "missing" not in message or "more" in message
    assert "unexpected" in message and "shape mismatch" in message
    # Both shapes of a mismatch are shown.
    assert "conv1.weight: checkpoint [64, 3, 7, 7] vs model [16, 3, 7, 7]" in message


def test_unrelated_weights_fail_even_non_strict(tmp_path: Path) -> None:
    path = tmp_path / "other.pth"
    torch.save(nn.Sequential(nn.Linear(3, 4)).state_dict(), path)
    with pytest.raises(CheckpointError, match="no weight"):
        load_checkpoint(_fresh(), path, strict=False)


def test_classifier_mismatch_hints_num_classes(tmp_path: Path, trained: nn.Module) -> None:
    path = tmp_path / "ten.pth"
    torch.save(trained.state_dict(), path)
    with pytest.raises(CheckpointError, match=r"fc.weight: checkpoint \[10, 128\] vs model \[1000, 128\]") as info:
        load_checkpoint(create_model("se_resnet_tiny"), path)
    assert "num_classes=10" in (info.value.hint or "")
    # load_model takes the class count from the checkpoint when num_classes is not given.
    loaded = load_model("se_resnet_tiny", path)
    model = loaded.module
    assert model.fc.out_features == 10 and _same_weights(model, trained)
    # The rebuild for 10 classes keeps the recipe, and the load report says what was loaded.
    assert loaded.input.source == "edgeattn" and loaded.checkpoint_report.path == str(path)
    with pytest.raises(CheckpointError):
        load_model("se_resnet_tiny", path, num_classes=5)


def test_non_strict_warns_and_loads_the_rest(tmp_path: Path, trained: nn.Module) -> None:
    state = {k: v for k, v in trained.state_dict().items() if not k.startswith("layer4.0.")}
    state["extra.weight"] = torch.zeros(3)
    path = tmp_path / "partial.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="missing.*unexpected"):
        load_checkpoint(_fresh(), path)
    model = _fresh()
    with pytest.warns(EdgeattnWarning, match="non-strict"):
        report = load_checkpoint(model, path, strict=False)
    assert "extra.weight" in report.unexpected and "layer4.0.conv1.weight" in report.missing
    assert torch.equal(model.layer1[0].conv1.weight, trained.layer1[0].conv1.weight)


def test_nonfinite_weights_are_an_error_by_default(tmp_path: Path, trained: nn.Module) -> None:
    state = {k: v.clone() for k, v in trained.state_dict().items()}
    state["layer2.0.se.fc1.weight"][0, 0] = float("nan")
    state["fc.bias"][3] = float("inf")
    path = tmp_path / "nan.pth"
    torch.save(state, path)
    with pytest.raises(CheckpointError, match="NaN/Inf") as info:
        load_checkpoint(_fresh(), path)
    assert "layer2.0.se.fc1.weight" in info.value.message and "fc.bias" in info.value.message
    model = _fresh()
    with pytest.warns(EdgeattnWarning, match="NaN/Inf"):
        report = load_checkpoint(model, path, allow_nonfinite=True)
    assert dict(report.nonfinite) == {"layer2.0.se.fc1.weight": 1, "fc.bias": 1}


def test_pickle_protocol_garbage(tmp_path: Path) -> None:
    path = tmp_path / "garbage.pkl"
    path.write_bytes(pickle.dumps([1, 2, 3])[:-3])
    with pytest.raises(CheckpointError):
        load_checkpoint(_fresh(), path)
    assert os.path.exists(path)


def test_create_model_with_checkpoint(tmp_path: Path, trained: nn.Module) -> None:
    path = tmp_path / "c.pth"
    torch.save({"model": trained.state_dict()}, path)
    model = create_model("se_resnet_tiny", num_classes=10, checkpoint=path)
    assert _same_weights(model, trained) and not model.training
    with pytest.raises(CheckpointError):
        create_model("se_resnet_tiny", checkpoint=path)  # 1000 classes: does not fit


@pytest.mark.parametrize(("timm_name", "ours"), [("legacy_seresnet18", "se_resnet18"), ("legacy_seresnet50", "se_resnet50")])
def test_cadene_layout_points_to_timm_legacy_not_non_strict(tmp_path: Path, timm_name: str, ours: str) -> None:
    # The Cadene pretrainedmodels / timm legacy SENet layout (layer0 stem, se_module, last_linear):
    # --non-strict would load only the backbone convs, so the hint names the model that loads it.
    timm = pytest.importorskip("timm")
    path = tmp_path / "cadene.pth"
    torch.save(timm.create_model(timm_name, num_classes=10).state_dict(), path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(create_model(ours, num_classes=10), path)
    assert f"timm:{timm_name}" in (info.value.hint or "")
    assert "--non-strict would leave" in info.value.hint
    # and that model does load it
    report = load_checkpoint(timm.create_model(timm_name, num_classes=10), path)
    assert not report.missing and not report.unexpected
