"""SpatialAttention rule: channel mean/max, concat (either order), odd-kernel conv, optional BN."""

from __future__ import annotations

import numpy as np
import pytest

from edgeattn.exporter.fold import BodyOptions
from foldkit import fold, fold_and_compare, make_model, op_types, rng_weights

X = np.random.default_rng(0).standard_normal((2, 8, 6, 6)).astype(np.float32)

SA_OPSET18 = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,6,6] x) => (float[N,8,6,6] y) {
  ax = Constant <value = int64[1] {1}> ()
  a = ReduceMean <keepdims = 1> (x, ax)
  m = ReduceMax <keepdims = 1> (x, ax)
  c = Concat <axis = 1> (a, m)
  z = Conv <pads = [3, 3, 3, 3], kernel_shape = [7, 7]> (c, w, b)
  gt = Sigmoid (z)
  y = Mul (x, gt)
}
"""

# The official CBAM code: [max, mean], 3x3 here, conv without bias then BatchNorm; legacy opset.
SA_MAX_MEAN_BN_OPSET17 = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[N,8,6,6] x) => (float[N,8,6,6] y) {
  m = ReduceMax <axes = [1], keepdims = 1> (x)
  a = ReduceMean <axes = [1], keepdims = 1> (x)
  c = Concat <axis = 1> (m, a)
  z = Conv <pads = [1, 1, 1, 1], kernel_shape = [3, 3]> (c, w)
  n = BatchNormalization <epsilon = 0.00001> (z, gamma, beta, mean, var)
  gt = Sigmoid (n)
  y = Mul (gt, x)
}
"""


@pytest.mark.parametrize("mode", ["functions", "inline"])
def test_mean_max_7x7_folds(mode: str) -> None:
    model = make_model(SA_OPSET18, rng_weights(1, w=(1, 2, 7, 7), b=(1,)))
    folded, report = fold_and_compare(model, X, mode)
    assert report.counts == {"SpatialAttention": 1}
    if mode == "functions":
        assert op_types(folded) == ["edgeattn::SpatialAttention"]
        assert list(folded.graph.node[0].input) == ["x", "w", "b"]  # original weights reused


def test_max_mean_with_batchnorm_opset17_folds() -> None:
    weights = rng_weights(2, w=(1, 2, 3, 3), gamma=(1,), beta=(1,), mean=(1,))
    weights["var"] = np.array([0.7], np.float32)
    folded, report = fold_and_compare(make_model(SA_MAX_MEAN_BN_OPSET17, weights), X)
    assert report.counts == {"SpatialAttention": 1}
    assert op_types(folded) == ["edgeattn::SpatialAttention"]
    notes = " ".join(report.blocks[0].notes)
    assert "swapped" in notes and "BatchNormalization folded" in notes


def test_concat_into_1x1_conv_does_not_fold() -> None:
    text = SA_OPSET18.replace("pads = [3, 3, 3, 3], kernel_shape = [7, 7]", "kernel_shape = [1, 1]")
    folded, report = fold(make_model(text, rng_weights(3, w=(1, 2, 1, 1), b=(1,))))
    assert report.counts == {}
    assert "odd k >= 3" in report.refusals[0].reasons["SpatialAttentionRule"]


def test_concat_into_multichannel_conv_does_not_fold() -> None:
    text = SA_OPSET18.replace("float[N,8,6,6] y", "float[N,8,6,6] y")
    text = text.replace("gt = Sigmoid (z)", "zs = ReduceSum <keepdims = 1> (z, ax)\n  gt = Sigmoid (zs)")
    folded, report = fold(make_model(text, rng_weights(4, w=(4, 2, 7, 7), b=(4,))))
    assert report.counts == {}
    assert "SpatialAttention" not in " ".join(op_types(folded))


def test_two_means_do_not_fold() -> None:
    text = SA_OPSET18.replace("m = ReduceMax <keepdims = 1> (x, ax)", "m = ReduceMean <keepdims = 1> (x, ax)")
    folded, report = fold(make_model(text, rng_weights(5, w=(1, 2, 7, 7), b=(1,))))
    assert report.counts == {}
    assert "expected mean and max" in report.refusals[0].reasons["SpatialAttentionRule"]


# The official CBAM ChannelPool: torch.max(x, 1)[0].unsqueeze(1), torch.mean(x, 1).unsqueeze(1).
SA_UNSQUEEZED = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,6,6] x) => (float[N,8,6,6] y) {
  ax = Constant <value = int64[1] {1}> ()
  m0 = ReduceMax <keepdims = 0> (x, ax)
  m = Unsqueeze (m0, ax)
  a0 = ReduceMean <keepdims = 0> (x, ax)
  a = Unsqueeze (a0, ax)
  c = Concat <axis = 1> (m, a)
  z = Conv <pads = [3, 3, 3, 3], kernel_shape = [7, 7]> (c, w, b)
  gt = Sigmoid (z)
  y = Mul (x, gt)
}
"""


def test_reduce_then_unsqueeze_descriptors_fold() -> None:
    folded, report = fold_and_compare(make_model(SA_UNSQUEEZED, rng_weights(7, w=(1, 2, 7, 7), b=(1,))), X)
    assert report.counts == {"SpatialAttention": 1}
    assert op_types(folded) == ["edgeattn::SpatialAttention"]
    assert "swapped" in " ".join(report.blocks[0].notes)


def test_unsqueeze_at_negative_channel_axis_folds() -> None:
    text = SA_UNSQUEEZED.replace("m = Unsqueeze (m0, ax)", "neg = Constant <value = int64[1] {-3}> ()\n  m = Unsqueeze (m0, neg)")
    folded, report = fold_and_compare(make_model(text, rng_weights(8, w=(1, 2, 7, 7), b=(1,))), X)
    assert report.counts == {"SpatialAttention": 1}



@pytest.mark.parametrize(("text", "shapes"), [
    (SA_OPSET18, {"w": (1, 2, 7, 7), "b": (1,)}),
    (SA_MAX_MEAN_BN_OPSET17, {"w": (1, 2, 3, 3), "gamma": (1,), "beta": (1,), "mean": (1,), "var": (1,)}),
])
def test_full_gate_layout_is_equivalent(text, shapes) -> None:
    """gate_layout='full': the [N, 1, H, W] gate repeated over C by a 1x1 Conv of ones."""
    import onnx_ir as ir

    from edgeattn.exporter.fold import fold_attention
    from foldkit import run

    weights = rng_weights(10, **shapes)
    if "var" in weights:
        weights["var"] = np.abs(weights["var"]) + 0.5
    model = make_model(text, weights)
    ref = run(model, {"x": X})[0]
    m = ir.from_proto(model)
    fold_attention(m, "functions", options=BodyOptions(gate_layout="full"))
    proto = ir.to_proto(m)
    assert [n.op_type for f in proto.functions for n in f.node].count("Conv") == 2
    np.testing.assert_allclose(run(proto, {"x": X})[0], ref, rtol=1e-5, atol=1e-6)
