"""Real third-party SE/CBAM models (random weights, no downloads): every attention module the
PyTorch model has is folded, and ONNX Runtime matches PyTorch at fp32 tolerance."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

from edgeattn.exporter import export
from edgeattn.models.attention_scan import count_by_kind, find_attention_blocks

timm = pytest.importorskip("timm")
torchvision = pytest.importorskip("torchvision")


def _build(name: str) -> torch.nn.Module:
    torch.manual_seed(0)
    if name == "torchvision:mobilenet_v3_large":
        return torchvision.models.mobilenet_v3_large().eval()
    if name == "timm:resnet18+cbam":
        return timm.create_model("resnet18", block_args=dict(attn_layer="cbam")).eval()
    return timm.create_model(name.removeprefix("timm:")).eval()


def _check(name: str, tmp_path, opset: int, size: int = 160) -> None:
    model = _build(name)
    blocks = find_attention_blocks(model)
    assert blocks, f"{name} has no attention blocks by module type"
    out = tmp_path / "m.onnx"
    result = export(model, out, input_shape=(1, 3, size, size), opset=opset, max_batch=8)
    proto = onnx.load(str(out))
    folded = {(n.name, n.op_type) for n in proto.graph.node if n.domain == "edgeattn"}
    assert folded == {(b.path, b.kind) for b in blocks}, result.fold.warnings
    assert result.fold.counts == count_by_kind(blocks)
    x = np.random.default_rng(0).standard_normal((2, 3, size, size)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-3, atol=1e-4)


@pytest.mark.parametrize(
    "name",
    ["timm:mobilenetv3_large_100", "timm:efficientnet_b0", "timm:resnet18+cbam", "torchvision:mobilenet_v3_large"],
)
def test_dynamo_opset18(name: str, tmp_path) -> None:
    _check(name, tmp_path, 18)


@pytest.mark.parametrize("name", ["timm:mobilenetv3_large_100", "timm:resnet18+cbam"])
def test_legacy_opset17(name: str, tmp_path) -> None:
    _check(name, tmp_path, 17)


@pytest.mark.slow
@pytest.mark.parametrize("opset", [18, 17])
def test_seresnet50(opset: int, tmp_path) -> None:
    _check("timm:seresnet50", tmp_path, opset, size=224)


@pytest.mark.parametrize(
    "name",
    [
        "se_resnet_tiny",
        "cbam_resnet_tiny",
        pytest.param("se_resnet50", marks=pytest.mark.slow),
        pytest.param("cbam_resnet50", marks=pytest.mark.slow),
    ],
)
def test_zoo_models(name: str, tmp_path) -> None:
    from edgeattn.models import create_model

    torch.manual_seed(0)
    model = create_model(name).eval()
    blocks = find_attention_blocks(model)
    result = export(model, tmp_path / "z.onnx", input_shape=(1, 3, 128, 128), max_batch=4)
    assert {(b["name"], b["op_type"]) for b in result.blocks} == {(b.path, b.kind) for b in blocks}
    assert result.max_abs_diff is not None and result.fold.complete
