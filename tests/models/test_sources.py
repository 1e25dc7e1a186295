"""Every model source: registry, timm:, torchvision:, file.py:factory, module:factory, TorchScript."""

from __future__ import annotations

import sys
import textwrap
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from edgeattn.errors import InputError, ModelSourceError
from edgeattn.models import create_model, input_config, load_model
from edgeattn.models.attention_scan import find_attention_blocks

FACTORY_SOURCE = textwrap.dedent(
    """
    import torch
    from torch import nn
    from edgeattn.layers import SqueezeExcite

    class Net(nn.Module):
        def __init__(self, num_classes=1000, width=8):
            super().__init__()
            self.stem = nn.Conv2d(3, width, 3, padding=1)
            self.se = SqueezeExcite(width, rd_channels=2)
            self.fc = nn.Linear(width, num_classes)

        def forward(self, x):
            return self.fc(self.se(self.stem(x)).mean((2, 3)))

    def build(num_classes=1000, width=8):
        return Net(num_classes, width)

    def no_classes():
        return Net(3)

    def not_a_module():
        return 42

    def broken():
        raise RuntimeError("boom")

    NOT_CALLABLE = 1
    """
)


@pytest.fixture()
def factory_file(tmp_path: Path) -> Path:
    path = tmp_path / "user_models.py"
    path.write_text(FACTORY_SOURCE)
    return path


def test_registry_name() -> None:
    loaded = load_model("se_mobilenet_small", num_classes=3)
    model = loaded.module
    assert model.fc.out_features == 3 and not model.training
    assert loaded.source == "se_mobilenet_small" and loaded.checkpoint_report is None
    assert loaded.input.source == "edgeattn" and loaded.input.input_size == (3, 224, 224)
    # Nothing travels as a hidden attribute on the module any more.
    assert not [name for name in vars(model) if name.startswith("edgeattn_")]


def test_module_passes_through(small_se_model: nn.Module) -> None:
    loaded = load_model(small_se_model)
    assert loaded.module is small_se_model and loaded.source is None
    assert load_model(loaded).module is small_se_model


def test_timm_source() -> None:
    pytest.importorskip("timm")
    model = load_model("timm:seresnet18", num_classes=5).module
    assert model.fc.out_features == 5 and not model.training
    assert len(find_attention_blocks(model)) == 8
    assert input_config(model).source == "timm"


def test_timm_unknown_name() -> None:
    pytest.importorskip("timm")
    with pytest.raises(ModelSourceError, match="timm has no model 'seresnet5'") as info:
        load_model("timm:seresnet5")
    assert "seresnet50" in (info.value.hint or "")


def test_torchvision_source_with_input_config() -> None:
    pytest.importorskip("torchvision")
    loaded = load_model("torchvision:mobilenet_v3_small", num_classes=4)
    model = loaded.module
    assert model.classifier[-1].out_features == 4
    assert {b.kind for b in find_attention_blocks(model)} == {"SqueezeExcite"}
    config = input_config(loaded)
    assert config.source == "torchvision" and config.input_size == (3, 224, 224)
    assert config.crop_pct == pytest.approx(224 / 256)
    with pytest.raises(ModelSourceError, match="torchvision has no"):
        load_model("torchvision:resnet5000")


def test_missing_package_gives_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "timm", None)  # makes `import timm` raise ImportError
    with pytest.raises(ModelSourceError, match="needs the timm package") as info:
        load_model("timm:seresnet50")
    assert "thirdparty" in (info.value.hint or "")
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ModelSourceError, match="needs the torchvision package"):
        load_model("torchvision:resnet18")


def test_file_factory(factory_file: Path) -> None:
    model = load_model(f"{factory_file}:build", num_classes=6, width=12).module
    assert model.fc.out_features == 6 and model.stem.out_channels == 12
    assert [b.path for b in find_attention_blocks(model)] == ["se"]
    out = model(torch.randn(1, 3, 8, 8))
    assert out.shape == (1, 6)


def test_file_factory_checkpoint_round_trip(factory_file: Path, tmp_path: Path) -> None:
    trained = load_model(f"{factory_file}:build", num_classes=6).module
    path = tmp_path / "net.pth"
    torch.save({"model": trained.state_dict()}, path)
    model = load_model(f"{factory_file}:build", path).module
    assert model.fc.out_features == 6  # taken from the checkpoint's classifier
    torch.testing.assert_close(model.fc.weight, trained.fc.weight)


@pytest.mark.parametrize(
    ("factory", "match"),
    [
        ("missing_name", "has no 'missing_name'"),
        ("not_a_module", "returned a int"),
        ("broken", "RuntimeError: boom"),
        ("NOT_CALLABLE", "not a callable"),
    ],
)
def test_file_factory_errors(factory_file: Path, factory: str, match: str) -> None:
    with pytest.raises(ModelSourceError, match=match):
        load_model(f"{factory_file}:{factory}")


def test_factory_without_num_classes(factory_file: Path) -> None:
    assert load_model(f"{factory_file}:no_classes").module.fc.out_features == 3
    with pytest.raises(ModelSourceError, match="does not accept num_classes"):
        load_model(f"{factory_file}:no_classes", num_classes=4)


def test_missing_factory_file(tmp_path: Path) -> None:
    with pytest.raises(ModelSourceError, match="model file not found"):
        load_model(f"{tmp_path}/nothing.py:build")


def test_file_with_syntax_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.py"
    path.write_text("def build(:\n")
    with pytest.raises(ModelSourceError, match="importing .*bad.py failed: SyntaxError"):
        load_model(f"{path}:build")


def test_module_factory(factory_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pkg = factory_file.parent / "userpkg_edgeattn_test"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "nets.py").write_text(FACTORY_SOURCE)
    monkeypatch.chdir(factory_file.parent)  # importable from the working directory, as with `python -m`
    model = load_model("userpkg_edgeattn_test.nets:build", num_classes=2).module
    assert model.fc.out_features == 2
    with pytest.raises(ModelSourceError, match="cannot import module"):
        load_model("no_such_pkg_xyz.nets:build")


def test_torchscript_archive(tmp_path: Path, tiny_se_model: nn.Module) -> None:
    path = tmp_path / "scripted.pt"
    x = torch.randn(1, 3, 32, 32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.save(torch.jit.trace(tiny_se_model, x), str(path))
    model = load_model(str(path)).module
    assert isinstance(model, torch.jit.ScriptModule)
    with torch.no_grad():
        torch.testing.assert_close(model(x), tiny_se_model(x))
    with pytest.raises(InputError, match="num_classes cannot change"):
        load_model(str(path), num_classes=3)


def test_weights_file_as_model_source_explains(tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    torch.save(create_model("resnet18", num_classes=2).state_dict(), path)
    with pytest.raises(ModelSourceError, match="weights only, not a model") as info:
        load_model(str(path))
    assert "--checkpoint" in (info.value.hint or "")


@pytest.mark.parametrize("spec", ["", "   "])
def test_empty_source(spec: str) -> None:
    with pytest.raises(ModelSourceError):
        load_model(spec)


def test_unknown_and_missing_paths() -> None:
    with pytest.raises(ModelSourceError, match="unknown model"):
        load_model("definitely_not_a_model")
    with pytest.raises(ModelSourceError, match="unknown model 'se_resnt50'") as info:
        load_model("se_resnt50")
    assert "did you mean se_resnet50" in (info.value.hint or "")
    with pytest.raises(ModelSourceError, match="model file not found"):
        load_model("no/such/model.pt")
    with pytest.raises(InputError):
        load_model(42)  # type: ignore[arg-type]


def test_exported_artifact_is_not_a_model_source(tmp_path: Path) -> None:
    path = tmp_path / "model.onnx"
    path.write_bytes(b"\x08\x07")
    with pytest.raises(ModelSourceError, match="exported artifact"):
        load_model(str(path))


def test_file_factory_importing_a_sibling_inside_the_factory(tmp_path: Path) -> None:
    # Research code imports its helpers inside the factory, after the file itself was imported.
    (tmp_path / "rw_sibling_helper.py").write_text(
        "import torch.nn as nn\n\ndef head(n):\n    return nn.Linear(4, n)\n"
    )
    (tmp_path / "net.py").write_text(
        "def build(num_classes=3):\n"
        "    import torch.nn as nn\n"
        "    from rw_sibling_helper import head\n"
        "    return nn.Sequential(nn.Flatten(), head(num_classes))\n"
    )
    model = load_model(f"{tmp_path / 'net.py'}:build", num_classes=5).module
    assert model[1].out_features == 5
    assert str(tmp_path) not in sys.path  # the folder is importable only while the factory runs
