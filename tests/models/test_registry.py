"""Registry: names, forward pass of every model, num_classes, input config, errors."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeattn.errors import InputError, ModelSourceError
from edgeattn.artifact import Preprocessing
from edgeattn.models import create_model, input_config, list_models, model_entry, register_model
from edgeattn.models.sources import LoadedModel
from edgeattn.models.attention_scan import attention_type, find_attention_blocks

EXPECTED = {
    f"{prefix}{family}"
    for prefix in ("", "se_", "cbam_")
    for family in ("resnet18", "resnet34", "resnet50", "resnet101", "mobilenet_small", "resnet_tiny")
}


def test_list_models_has_the_zoo() -> None:
    assert EXPECTED <= set(list_models())
    assert set(list_models(attention="se")) >= {"se_resnet50", "se_mobilenet_small"}
    assert "resnet50" not in list_models(attention="cbam")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_each_name_is_a_module_level_factory(name: str) -> None:
    # Written out as timm/torchvision do: importable by its name from its family module.
    import importlib

    entry = model_entry(name)
    module = importlib.import_module(f"edgeattn.models.{entry.family}")
    assert getattr(module, name) is entry.factory
    assert entry.factory.__qualname__ == name and entry.description == entry.factory.__doc__.strip()


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_forward_small_input_and_attention_found(name: str) -> None:
    torch.manual_seed(0)
    model = create_model(name, num_classes=7)
    assert not model.training
    with torch.no_grad():
        out = model(torch.randn(1, 3, 32, 32))
    assert out.shape == (1, 7) and torch.isfinite(out).all()
    blocks = find_attention_blocks(model)
    expected_kind = model_entry(name).attention
    assert attention_type(blocks) == expected_kind
    if expected_kind == "cbam":
        assert {b.kind for b in blocks} == {"ChannelAttention", "SpatialAttention"}
        assert all(b.cbam_parent and b.path.startswith(b.cbam_parent) for b in blocks)


@pytest.mark.parametrize("name", ["se_resnet50", "cbam_mobilenet_small", "resnet18"])
def test_input_config(name: str) -> None:
    config = input_config(create_model(name))
    assert config.input_size == (3, 224, 224)
    assert config.mean == pytest.approx((0.485, 0.456, 0.406))
    assert config.std == pytest.approx((0.229, 0.224, 0.225))
    assert (config.interpolation, config.crop_pct, config.channel_order) == ("bilinear", 0.875, "RGB")
    assert config.to_dict()["input_size"] == [3, 224, 224]


def test_input_config_fallback_for_plain_module() -> None:
    config = input_config(nn.Conv2d(3, 4, 3))
    assert config.input_size == (3, 224, 224) and config.source == "default"


def test_input_config_of_a_loaded_model_without_a_recipe_reads_its_module() -> None:
    module = nn.Conv2d(3, 4, 3)
    module.pretrained_cfg = {"input_size": (3, 160, 160), "mean": (0.5, 0.5, 0.5), "std": (0.25, 0.25, 0.25)}
    config = input_config(LoadedModel(module))
    assert config.input_size == (3, 160, 160) and config.mean == pytest.approx((0.5, 0.5, 0.5))
    own = input_config(LoadedModel(module, input=Preprocessing(input_size=(3, 96, 96))))
    assert own.input_size == (3, 96, 96)


def test_tiny_resnet_has_every_stage_with_attention() -> None:
    model = create_model("cbam_resnet_tiny", num_classes=3)
    assert [len(getattr(model, f"layer{i}")) for i in range(1, 5)] == [1, 1, 1, 1]
    assert sum(p.numel() for p in model.parameters()) < 600_000
    paths = [b.path for b in find_attention_blocks(model)]
    assert paths[:2] == ["layer1.0.se.channel", "layer1.0.se.spatial"] and len(paths) == 8


def test_unknown_name_suggests_close_matches() -> None:
    with pytest.raises(ModelSourceError, match="se_resnt50") as info:
        create_model("se_resnt50")
    assert "se_resnet50" in (info.value.hint or "")


def test_bad_num_classes_and_options() -> None:
    with pytest.raises(InputError):
        create_model("resnet18", num_classes=0)
    with pytest.raises(ModelSourceError, match="does not accept"):
        create_model("resnet18", colour="blue")


def test_model_options_reach_the_blocks() -> None:
    model = create_model("cbam_resnet18", attn_kwargs={"arrangement": "parallel"}, reduction=8)
    assert model.layer1[0].se.arrangement == "parallel"
    assert model.layer1[0].se.channel.rd_channels == 64 // 8


def test_register_model_decorator() -> None:
    @register_model
    def se_test_only_net(num_classes: int = 1000) -> nn.Module:
        """A test network."""
        return nn.Sequential(nn.Flatten(), nn.LazyLinear(num_classes))

    assert "se_test_only_net" in list_models()
    assert model_entry("se_test_only_net").attention == "se"
    assert model_entry("se_test_only_net").description == "A test network."
    with pytest.raises(ValueError):
        register_model(se_test_only_net)
