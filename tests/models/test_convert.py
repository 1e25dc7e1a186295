"""Checkpoints of other SE/CBAM implementations load through the key converters."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from edgeattn.layers import CBAM
from edgeattn.models import create_model, load_checkpoint


def _randomized(name: str, seed: int = 0, **kw) -> nn.Module:
    torch.manual_seed(seed)
    model = create_model(name, num_classes=10, **kw)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.1)
        for n, b in model.named_buffers():
            if n.endswith("running_mean"):
                b.uniform_(-0.1, 0.1)
            elif n.endswith("running_var"):
                b.uniform_(0.5, 1.5)
    return model


# --- the official CBAM code's modules, transcribed from Jongchan/attention-module (cbam.py) ---
class _BasicConv(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(2, 1, 7, padding=3, bias=False)
        self.bn = nn.BatchNorm2d(1, eps=1e-5, momentum=0.01, affine=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class _ChannelGate(nn.Module):
    def __init__(self, c: int, r: int = 16) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Flatten(), nn.Linear(c, c // r), nn.ReLU(), nn.Linear(c // r, c))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(F.avg_pool2d(x, (x.size(2), x.size(3))))
        mx = self.mlp(F.max_pool2d(x, (x.size(2), x.size(3))))
        return x * torch.sigmoid(avg + mx)[:, :, None, None]


class _SpatialGate(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.spatial = _BasicConv()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat((torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1)), dim=1)  # [max, mean]
        return x * torch.sigmoid(self.spatial(pooled))


class _OfficialCBAM(nn.Module):
    def __init__(self, c: int) -> None:
        super().__init__()
        self.ChannelGate = _ChannelGate(c)
        self.SpatialGate = _SpatialGate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.SpatialGate(self.ChannelGate(x))


def test_official_cbam_block_checkpoint_gives_same_outputs() -> None:
    torch.manual_seed(0)
    official = _OfficialCBAM(64).eval()
    with torch.no_grad():
        official.SpatialGate.spatial.bn.running_mean.fill_(0.2)
        official.SpatialGate.spatial.bn.running_var.fill_(2.0)
        official.SpatialGate.spatial.conv.weight[:, 0] *= 3  # make the two pooled maps matter differently
    holder = nn.Module()
    holder.layer = nn.Module()
    holder.layer.cbam = official
    ours_holder = nn.Module()
    ours_holder.layer = nn.Module()
    ours_holder.layer.se = CBAM(64, rd_channels=4, spatial_batch_norm=True).eval()
    state = {"module." + k: v for k, v in holder.state_dict().items()}
    report = load_checkpoint(ours_holder, state)
    assert report.converter == "official-cbam" and report.exact
    x = torch.randn(2, 64, 9, 9)
    torch.testing.assert_close(ours_holder.layer.se(x), official(x))


def test_official_cbam_resnet_checkpoint_file(tmp_path: Path) -> None:
    source = _randomized("cbam_resnet18")
    # Write the model in the official code's layout (keys, Linear shapes, [max, mean] order).
    official = {}
    for key, value in source.state_dict().items():
        new = key
        if ".se.channel.fc1." in key:
            new = key.replace(".se.channel.fc1.", ".cbam.ChannelGate.mlp.1.")
        elif ".se.channel.fc2." in key:
            new = key.replace(".se.channel.fc2.", ".cbam.ChannelGate.mlp.3.")
        elif ".se.spatial.conv." in key:
            new = key.replace(".se.spatial.conv.", ".cbam.SpatialGate.spatial.conv.")
            value = value[:, [1, 0]]
        elif ".se.spatial.bn." in key:
            new = key.replace(".se.spatial.bn.", ".cbam.SpatialGate.spatial.bn.")
        if new.endswith("weight") and "ChannelGate" in new:
            value = value.flatten(1)
        official["module." + new] = value
    path = tmp_path / "RESNET18_CBAM_best.pth.tar"
    torch.save({"epoch": 90, "arch": "resnet", "state_dict": official, "best_prec1": 70.0, "optimizer": {}}, path)
    model = create_model("cbam_resnet18", num_classes=10)
    report = load_checkpoint(model, path)
    assert report.converter == "official-cbam" and report.exact
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))


def test_senet_pytorch_layout_without_bias(tmp_path: Path) -> None:
    source = _randomized("se_resnet18")
    with torch.no_grad():
        for m in source.modules():
            if hasattr(m, "fc1") and hasattr(m, "rd_channels"):
                m.fc1.bias.zero_()
                m.fc2.bias.zero_()
    state = {}
    for key, value in source.state_dict().items():
        if ".se.fc1.bias" in key or ".se.fc2.bias" in key:
            continue  # senet.pytorch's FCs have no bias since Dec 2018
        key = key.replace(".se.fc1.", ".se.fc.0.").replace(".se.fc2.", ".se.fc.2.")
        state[key] = value.flatten(1) if ".se.fc." in key else value
    path = tmp_path / "seresnet18.pth"
    torch.save(state, path)
    model = create_model("se_resnet18", num_classes=10)
    report = load_checkpoint(model, path)
    assert report.converter == "senet.pytorch" and report.exact
    x = torch.randn(1, 3, 48, 48)
    with torch.no_grad():
        torch.testing.assert_close(model(x), source(x))


def test_timm_cbam_resnet_checkpoint() -> None:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reference = timm.create_model("resnet18", num_classes=10, block_args={"attn_layer": "cbam"}).eval()
    with torch.no_grad():
        for p in reference.parameters():
            p.add_(torch.randn_like(p) * 0.1)
    model = create_model("cbam_resnet18", num_classes=10)
    report = load_checkpoint(model, reference.state_dict())
    assert report.converter == "timm-cbam" and report.exact
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x))


def test_converter_does_not_fire_on_plain_mismatch() -> None:
    model = create_model("se_resnet18", num_classes=10)
    state = {k: v for k, v in model.state_dict().items() if k != "fc.bias"}
    from edgeattn.errors import CheckpointError

    with pytest.raises(CheckpointError, match="1 missing \\(fc.bias\\)"):
        load_checkpoint(create_model("se_resnet18", num_classes=10), state)


# --- senet.pytorch SE-ResNet-18: hidden width C // 16 (4 in layer1), not timm's multiple of 8 ---
def _senet_pytorch_resnet18(num_classes: int = 10) -> nn.Module:
    """moskomule/senet.pytorch ``senet/se_resnet.py:se_resnet18``, trained-looking random weights."""
    from tests.exporter.research_blocks import randomise_batchnorm, senet_pytorch_se_resnet18

    pytest.importorskip("torchvision")
    torch.manual_seed(0)
    model = senet_pytorch_se_resnet18(num_classes)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return randomise_batchnorm(model, seed=1)


def test_senet_pytorch_resnet18_layout_is_upstream() -> None:
    state = _senet_pytorch_resnet18().state_dict()
    # Upstream key names and shapes (SELayer(64, 16): Linear 64 -> 4 -> 64, bias-free).
    assert tuple(state["layer1.0.se.fc.0.weight"].shape) == (4, 64)
    assert tuple(state["layer1.0.se.fc.2.weight"].shape) == (64, 4)
    assert tuple(state["layer4.1.se.fc.0.weight"].shape) == (32, 512)
    assert "layer1.0.se.fc.0.bias" not in state and "layer2.0.downsample.1.running_var" in state


def test_senet_pytorch_resnet18_checkpoint_loads_strictly_and_matches(tmp_path: Path) -> None:
    from edgeattn.models import load_model

    upstream = _senet_pytorch_resnet18().eval()
    path = tmp_path / "se_resnet18.pth"
    torch.save({"state_dict": upstream.state_dict()}, path)
    loaded = load_model("se_resnet18", path)  # strict; 10 classes read from the checkpoint
    model, report = loaded.module, loaded.checkpoint_report
    assert report.converter == "senet.pytorch" and report.exact
    assert model.layer1[0].se.rd_channels == 4 and model.layer4[0].se.rd_channels == 32
    # float64: random weights give logits in the hundreds, where float32 summation order alone
    # (Linear vs 1x1 conv FCs) moves the last digits; the two networks must be the same function.
    x = torch.randn(2, 3, 64, 64, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(model.double()(x), upstream.double()(x), rtol=1e-10, atol=1e-9)


def test_se_width_rule_read_from_the_checkpoint() -> None:
    from edgeattn.models.convert import se_width_options

    timm_rule = create_model("se_resnet18", num_classes=10)
    state = _senet_pytorch_resnet18().state_dict()
    assert se_width_options(timm_rule, state) == {"se_width": "floor"}
    assert se_width_options(create_model("se_resnet18", num_classes=10, se_width="floor"), state) == {}
    # A checkpoint trained with r = 32 under the floor rule (64 -> 2): r is read too.
    r32 = create_model("se_resnet18", num_classes=10, se_width="floor", reduction=32).state_dict()
    assert se_width_options(timm_rule, r32) == {"se_width": "floor", "reduction": 32}
    # ResNet-50 widths (256/16 = 16 ...) agree under both rules: nothing to change.
    assert se_width_options(create_model("se_resnet50"), create_model("se_resnet50", se_width="floor").state_dict()) == {}


def test_senet_pytorch_resnet18_into_a_built_model_names_the_rule() -> None:
    from edgeattn.errors import CheckpointError

    state = _senet_pytorch_resnet18().state_dict()
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(create_model("se_resnet18", num_classes=10), state)
    assert "se_width='floor'" in (err.value.hint or "")
    model = create_model("se_resnet18", num_classes=10, se_width="floor")
    assert load_checkpoint(model, state).exact


def test_se_width_rule_is_checked() -> None:
    from edgeattn.errors import InputError

    with pytest.raises(InputError, match="se_width must be one of \\['timm', 'floor'\\], received 'round'"):
        create_model("se_resnet18", se_width="round")
    with pytest.raises(InputError, match="se_width applies to SE models"):
        create_model("cbam_resnet18", se_width="floor")
