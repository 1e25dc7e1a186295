"""ResNet zoo: timm key compatibility, block layout, published parameter and FLOP figures."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeattn.layers import CBAM, SqueezeExcite
from edgeattn.models import create_model, model_profile
from edgeattn.models.profile import count_macs_by_hooks, count_params

BOTTLENECK_WIDTHS = [256] * 3 + [512] * 4 + [1024] * 6 + [2048] * 3  # C entering each block's attention


@pytest.mark.parametrize(("ours", "theirs"), [("se_resnet50", "seresnet50"), ("resnet18", "resnet18"), ("se_resnet34", "seresnet34")])
def test_timm_state_dict_loads_strictly_with_identical_outputs(ours: str, theirs: str) -> None:
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    reference = timm.create_model(theirs, pretrained=False).eval()
    # Non-trivial BN statistics so that a wrong BN wiring would show in the outputs.
    with torch.no_grad():
        for m in reference.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-0.1, 0.1)
                m.running_var.uniform_(0.5, 1.5)
                m.weight.uniform_(0.5, 1.5)
    model = create_model(ours)
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


def test_published_parameter_counts_50_layer() -> None:
    resnet50 = count_params(create_model("resnet50"))
    se50 = count_params(create_model("se_resnet50"))
    cbam50 = count_params(create_model("cbam_resnet50"))
    # ResNet-50 25.6M (He et al.), SE-ResNet-50 28.1M (Hu et al. Table 2), ResNet50+CBAM 28.09M (Woo et al. Table 4).
    assert resnet50 == 25_557_032
    # SE adds per block 2*C*C/16 weights + C/16 + C biases.
    se_extra = sum(2 * c * (c // 16) + c // 16 + c for c in BOTTLENECK_WIDTHS)
    assert se50 == resnet50 + se_extra == 28_088_024
    # CBAM adds the same MLP plus a 2->1 7x7 conv without bias and a 1-channel BN (2 params).
    assert cbam50 == se50 + len(BOTTLENECK_WIDTHS) * (2 * 7 * 7 + 2)
    assert round(se50 / 1e6, 1) == 28.1 and round(cbam50 / 1e6, 2) == 28.09 and round(resnet50 / 1e6, 1) == 25.6


def test_se_resnet50_param_count_equals_timm() -> None:
    timm = pytest.importorskip("timm")
    assert count_params(create_model("se_resnet50")) == count_params(timm.create_model("seresnet50"))


def test_published_gflops_with_papers_stride_layout() -> None:
    # The papers count multiply-adds on the original layout (stride on the first 1x1 conv):
    # ResNet-50 3.858, +SE 3.860, +CBAM 3.864 GFLOPs (CBAM paper Table 4); SENet paper 3.86 / 3.87.
    expect = {"resnet50": 3.858, "se_resnet50": 3.860, "cbam_resnet50": 3.864}
    for name, gflops in expect.items():
        with torch.device("meta"):
            model = create_model(name, stride_in_1x1=True)
        macs = count_macs_by_hooks(model, torch.zeros(1, 3, 224, 224, device="meta"))
        assert macs / 1e9 == pytest.approx(gflops, abs=0.0006), name


def test_gflops_default_layout_and_counters_agree() -> None:
    # v1.5 layout (stride on the 3x3 conv, as timm/torchvision): 4.09 GMACs for ResNet-50.
    # Two independent counters (dispatch-level flop counter, module hooks) must agree exactly.
    gflops = {}
    for name in ("resnet50", "se_resnet50", "cbam_resnet50"):
        with torch.device("meta"):
            model = create_model(name)
        profile = model_profile(model, (3, 224, 224))
        hooks = count_macs_by_hooks(model, torch.zeros(1, 3, 224, 224, device="meta"))
        assert profile["macs"] == hooks, name
        gflops[name] = profile["gflops"]
    assert gflops["resnet50"] == pytest.approx(4.089, abs=0.001)
    # Attention costs < 0.3% extra multiply-adds (SENet: "0.26% relative increase").
    for name in ("se_resnet50", "cbam_resnet50"):
        assert 0 < gflops[name] / gflops["resnet50"] - 1 < 0.003, name


def test_model_profile_runs_real_model_and_leaves_it_intact() -> None:
    model = create_model("se_mobilenet_small", num_classes=10)
    before = model.fc.weight.clone()
    profile = model_profile(model, (3, 64, 64))
    assert profile["params"] == count_params(model) and profile["macs"] > 0
    assert profile["gflops"] == profile["macs"] / 1e9 and profile["flops_x2"] == 2 * profile["macs"]
    assert model.fc.weight.device.type == "cpu" and torch.equal(model.fc.weight, before)


def test_stride_on_3x3_and_attention_before_add() -> None:
    model = create_model("se_resnet50")
    first = model.layer2[0]
    assert first.conv1.stride == (1, 1) and first.conv2.stride == (2, 2)
    assert isinstance(first.se, SqueezeExcite)
    seen: dict[str, torch.Tensor] = {}
    first.bn3.register_forward_hook(lambda m, i, o: seen.__setitem__("bn3", o.clone()))
    def se_hook(_m: nn.Module, inputs: tuple[torch.Tensor, ...], output: torch.Tensor) -> None:
        seen["se_in"], seen["se_out"] = inputs[0].clone(), output.clone()

    first.se.register_forward_hook(se_hook)
    first.downsample.register_forward_hook(lambda m, i, o: seen.__setitem__("shortcut", o.clone()))
    first.register_forward_hook(lambda m, i, o: seen.__setitem__("out", o.clone()))
    with torch.no_grad():
        model(torch.randn(1, 3, 64, 64))
    torch.testing.assert_close(seen["se_in"], seen["bn3"])  # after the last BN of the branch
    torch.testing.assert_close(seen["out"], torch.relu(seen["se_out"] + seen["shortcut"]))  # before the add


def test_cbam_in_se_slot_with_official_hidden_width_and_bn() -> None:
    model = create_model("cbam_resnet18")
    block = model.layer1[0].se
    assert isinstance(block, CBAM)
    assert block.channel.rd_channels == 64 // 16
    assert isinstance(block.spatial.bn, nn.BatchNorm2d) and block.spatial.conv.bias is None
    keys = set(model.state_dict())
    assert {"layer1.0.se.channel.fc1.weight", "layer1.0.se.spatial.conv.weight", "layer1.0.se.spatial.bn.running_var"} <= keys


def test_se_hidden_width_follows_timm() -> None:
    # timm: make_divisible(C / 16, 8, round_limit=0) -> 64 channels give 8, not 4.
    assert create_model("se_resnet18").layer1[0].se.rd_channels == 8
    assert create_model("se_resnet50").layer4[0].se.rd_channels == 128


def test_stride_in_1x1_only_for_bottlenecks() -> None:
    from edgeattn.errors import InputError

    with pytest.raises(InputError, match="stride_in_1x1 applies to bottleneck ResNets .*received BasicBlock"):
        create_model("resnet18", stride_in_1x1=True)
    model = create_model("resnet50", stride_in_1x1=True)
    assert model.layer3[0].conv1.stride == (2, 2) and model.layer3[0].conv2.stride == (1, 1)
