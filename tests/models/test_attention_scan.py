"""find_attention_blocks on our models, timm, torchvision and the official codes' class names."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeattn.models import create_model
from edgeattn.models.attention_scan import attention_type, count_by_kind, find_attention_blocks


def test_se_resnet50_blocks_in_execution_order() -> None:
    blocks = find_attention_blocks(create_model("se_resnet50"))
    assert len(blocks) == 16 and {b.kind for b in blocks} == {"SqueezeExcite"}
    assert blocks[0].path == "layer1.0.se" and blocks[-1].path == "layer4.2.se"
    assert all(b.cbam_parent is None for b in blocks)


def test_cbam_halves_with_parent() -> None:
    blocks = find_attention_blocks(create_model("cbam_resnet18"))
    assert count_by_kind(blocks) == {"ChannelAttention": 8, "SpatialAttention": 8}
    assert (blocks[0].path, blocks[0].cbam_parent) == ("layer1.0.se.channel", "layer1.0.se")
    assert attention_type(blocks) == "cbam"


def test_plain_model_has_none() -> None:
    blocks = find_attention_blocks(create_model("resnet18"))
    assert blocks == [] and attention_type(blocks) == "none"


def test_timm_cbam_and_torchvision_se() -> None:
    timm = pytest.importorskip("timm")
    model = timm.create_model("resnet18", block_args={"attn_layer": "cbam"})
    assert count_by_kind(find_attention_blocks(model)) == {"ChannelAttention": 8, "SpatialAttention": 8}
    tv = pytest.importorskip("torchvision")
    blocks = find_attention_blocks(tv.models.efficientnet_b0())
    assert len(blocks) == 16 and blocks[0].module_class == "SqueezeExcitation"


def test_official_class_names_and_nesting() -> None:
    class SELayer(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Sequential(nn.Linear(4, 2), nn.ReLU(), nn.Linear(2, 4), nn.Sigmoid())

    class ChannelGate(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inner = SELayer()  # nested: part of the gate, not a block of its own

    class SpatialGate(nn.Module):
        pass

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = SELayer()
            self.cbam = nn.Module()
            self.cbam.ChannelGate = ChannelGate()
            self.cbam.SpatialGate = SpatialGate()

    blocks = find_attention_blocks(Net())
    assert [(b.path, b.kind) for b in blocks] == [
        ("a", "SqueezeExcite"),
        ("cbam.ChannelGate", "ChannelAttention"),
        ("cbam.SpatialGate", "SpatialAttention"),
    ]
    assert attention_type(blocks) == "se+cbam"


def test_torchscript_keeps_class_names() -> None:
    import warnings

    model = create_model("se_resnet_tiny", num_classes=2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.trace(model, torch.randn(1, 3, 32, 32))
    assert [b.path for b in find_attention_blocks(scripted)] == [b.path for b in find_attention_blocks(model)]


def test_timm_light_cbam_is_named_for_what_it_is_and_not_folded(tmp_path) -> None:
    # timm's LightCbamModule averages the two descriptors before one MLP / conv: not CBAM.
    timm = pytest.importorskip("timm")
    from edgeattn.exporter import export

    torch.manual_seed(0)
    model = timm.create_model("resnet10t", block_args={"attn_layer": "lcbam"}, num_classes=4).eval()
    blocks = find_attention_blocks(model)
    assert count_by_kind(blocks) == {"LightChannelAttention": 4, "LightSpatialAttention": 4}
    assert attention_type(blocks) == "light-cbam"
    result = export(model, tmp_path / "m.onnx", input_shape=(1, 3, 64, 64), max_batch=2)
    assert result.fold.counts == {} and result.fold.expected == 0 and result.fold.complete
    assert not any("not folded" in w for w in result.warnings)
