"""The papers' own block code (re-implemented in ``research_blocks``) folds at opset 18 and 17.

senet.pytorch writes ``x * y.expand_as(x)`` with bias-free Linear FCs; the official CBAM code
pools with ``F.avg_pool2d(x, x.size()[2:])``, runs a Flatten + Linear MLP once per pooling, and
builds the spatial descriptor as ``[max, mean]`` with ``torch.max(x, 1)[0].unsqueeze(1)``, then a
7x7 conv + BatchNorm. Each must fold to one ``edgeattn::`` node per module, named after it, with
ONNX Runtime matching PyTorch.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch

import research_blocks as rb
from edgeattn.errors import ExportError
from edgeattn.exporter import export

EXPECTED = {
    "se_layer_net": {("att1", "SqueezeExcite"), ("att2", "SqueezeExcite")},
    "se_module_net": {("att1", "SqueezeExcite"), ("att2", "SqueezeExcite")},
    "cbam_net": {
        ("att1.ChannelGate", "ChannelAttention"),
        ("att1.SpatialGate", "SpatialAttention"),
        ("att2.ChannelGate", "ChannelAttention"),
        ("att2.SpatialGate", "SpatialAttention"),
    },
}


def _export_and_compare(name: str, tmp_path, opset: int, dynamic_batch: bool = True) -> None:
    model = getattr(rb, name)()
    out = tmp_path / f"{name}.onnx"
    result = export(model, out, input_shape=(1, 3, 32, 32), opset=opset, dynamic_batch=dynamic_batch, max_batch=4)
    proto = onnx.load(str(out))
    folded = {(n.name, n.op_type) for n in proto.graph.node if n.domain == "edgeattn"}
    assert folded == EXPECTED[name], result.fold.to_dict()
    assert result.fold.complete and not result.fold.refusals
    # nothing of the blocks is left behind as standard ops (the one Gemm is the classifier)
    ops = [n.op_type for n in proto.graph.node]
    assert not set(ops) & {"Sigmoid", "Expand", "AveragePool", "MaxPool", "MatMul"} and ops.count("Gemm") == 1
    batch = 2 if dynamic_batch else 1
    x = np.random.default_rng(1).standard_normal((batch, 3, 32, 32)).astype(np.float32)
    with torch.no_grad():
        ref = model(torch.from_numpy(x)).numpy()
    got = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"]).run(None, {"input": x})[0]
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_dynamo_opset18_folds_every_block(name: str, tmp_path) -> None:
    _export_and_compare(name, tmp_path, 18)


@pytest.mark.parametrize("name", ["se_layer_net", "se_module_net"])
def test_legacy_opset17_folds_every_block(name: str, tmp_path) -> None:
    _export_and_compare(name, tmp_path, 17)


def test_official_cbam_opset17_folds_with_a_fixed_batch(tmp_path) -> None:
    _export_and_compare("cbam_net", tmp_path, 17, dynamic_batch=False)


def test_official_cbam_opset17_dynamic_batch_error_names_the_flag_that_works(tmp_path) -> None:
    with pytest.raises(ExportError) as info:
        export(rb.cbam_net(), tmp_path / "m.onnx", input_shape=(1, 3, 32, 32), opset=17)
    assert "fixed batch works" in info.value.message
    assert "--static-batch" in (info.value.hint or "")
    assert not (tmp_path / "m.onnx").exists()
