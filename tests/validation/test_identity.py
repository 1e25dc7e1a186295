"""Weight identity: robust to BatchNorm folding, advisory only (the outputs decide)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from onnx import helper, numpy_helper
from torch import nn

from edgeattn.validation import validate
from edgeattn.validation.identity import check_weights


def _artifact(tmp_path, tensors: dict[str, np.ndarray], half: bool = False):
    """An ONNX file whose initializers are ``tensors`` (the graph only has to be loadable)."""
    inits = [numpy_helper.from_array(a.astype(np.float16 if half else np.float32), n) for n, a in tensors.items()]
    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1])], inits,
    )
    path = tmp_path / "a.onnx"
    onnx.save(helper.make_model(graph), path)
    return path


class ConvBN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 2)


def test_batchnorm_folded_conv_counts_as_the_same_weights(tmp_path) -> None:
    torch.manual_seed(0)
    m = ConvBN()
    w = m.conv.weight.detach().numpy()
    scale = np.array([0.5, -2.0, 3.0, 1.5], np.float32)  # gamma / sqrt(var + eps), any sign
    path = _artifact(tmp_path, {"conv.weight": w * scale[:, None, None, None], "conv.bias": np.ones(4)})
    identity = check_weights(path, m)
    assert (identity.compared, identity.equal, identity.folded, identity.differing) == (1, 0, 1, [])
    assert identity.verdict == "same"


def test_other_weights_are_different_and_biases_are_not_held_against_the_model(tmp_path) -> None:
    torch.manual_seed(0)
    m = ConvBN()
    rng = np.random.default_rng(0)
    path = _artifact(tmp_path, {
        "conv.weight": rng.standard_normal((4, 3, 3, 3)),
        "fc.weight": rng.standard_normal((2, 4)),
        "conv.bias": rng.standard_normal(4),  # a folded bias cannot be checked: skipped
    })
    identity = check_weights(path, m)
    assert identity.verdict == "different"
    assert (identity.compared, identity.equal, identity.folded) == (2, 0, 0)
    assert identity.differing == ["conv.weight", "fc.weight"]


def test_one_scaled_row_is_not_enough(tmp_path) -> None:
    # Rows scaled by different factors *within* a row is not BatchNorm folding.
    torch.manual_seed(0)
    m = ConvBN()
    w = m.fc.weight.detach().numpy().copy()
    w[0, 0] *= 2.0
    identity = check_weights(_artifact(tmp_path, {"fc.weight": w}), m)
    assert identity.differing == ["fc.weight"] and identity.verdict == "different"


def test_fp16_storage_is_equal_at_fp16_rounding(tmp_path) -> None:
    torch.manual_seed(0)
    m = ConvBN()
    identity = check_weights(_artifact(tmp_path, {"fc.weight": m.fc.weight.detach().numpy()}, half=True), m)
    assert (identity.equal, identity.verdict) == (1, "same")


def test_nothing_comparable_is_unknown(tmp_path) -> None:
    identity = check_weights(_artifact(tmp_path, {"other.weight": np.ones((2, 2))}), ConvBN())
    assert (identity.compared, identity.verdict) == (0, "unknown")


class AllBN(nn.Module):
    """Every weight is a conv followed by a BatchNorm: after folding, no tensor is unchanged (the
    case the old check refused: "none equal")."""

    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(*[
            nn.Sequential(nn.Conv2d(3 if i == 0 else 4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4), nn.ReLU())
            for i in range(4)
        ])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x).mean((2, 3))


@pytest.mark.parametrize("opset", [18, 17])
def test_model_with_trained_batchnorm_statistics_validates(tmp_path, opset: int) -> None:
    from edgeattn.exporter import export

    torch.manual_seed(0)
    model = AllBN().eval()
    g = torch.Generator().manual_seed(1)
    for bn in (m for m in model.modules() if isinstance(m, nn.BatchNorm2d)):
        bn.running_mean.copy_(torch.randn(4, generator=g) * 0.1)
        bn.running_var.copy_(torch.rand(4, generator=g) + 0.5)
        bn.weight.data.copy_(torch.rand(4, generator=g) + 0.5)
    out = tmp_path / "allbn.onnx"
    export(model, out, input_shape=(1, 3, 8, 8), opset=opset, max_batch=2)
    report = validate(out, model=model, num_samples=2)
    result = report.artifacts[0]
    assert report, result.to_dict()
    assert not result.notes
    # dynamo keeps the conv names on the folded weights; the legacy exporter renames them
    assert result.weights["verdict"] == ("same" if opset == 18 else "unknown")
    if opset == 18:
        assert result.weights["folded"] == 4 and result.weights["equal"] == 0
