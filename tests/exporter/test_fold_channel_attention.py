"""ChannelAttention rule: one shared MLP over avg and max descriptors, in any spelling."""

from __future__ import annotations

import numpy as np
import pytest

from edgeattn.exporter.fold import BodyOptions
from foldkit import fold, fold_and_compare, make_model, op_types, rng_weights

X = np.random.default_rng(0).standard_normal((2, 8, 5, 5)).astype(np.float32)

CA_OPSET18 = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) {
  axes = Constant <value = int64[2] {2, 3}> ()
  a = ReduceMean <keepdims = 1> (x, axes)
  m = ReduceMax <keepdims = 1> (x, axes)
  ha = Conv (a, w1)
  ra = Relu (ha)
  ea = Conv (ra, w2)
  hm = Conv (m, w1)
  rm = Relu (hm)
  em = Conv (rm, w2)
  s = Add (ea, em)
  gt = Sigmoid (s)
  y = Mul (x, gt)
}
"""

# Linear MLP with bias, legacy opset 17 (axes attributes), max branch first in the Add.
CA_GEMM_OPSET17 = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) {
  m = ReduceMax <axes = [2, 3], keepdims = 0> (x)
  a = ReduceMean <axes = [-2, -1], keepdims = 0> (x)
  hm = Gemm <transB = 1> (m, w1, b1)
  rm = Relu (hm)
  em = Gemm <transB = 1> (rm, w2, b2)
  ha = Gemm <transB = 1> (a, w1, b1)
  ra = Relu (ha)
  ea = Gemm <transB = 1> (ra, w2, b2)
  s = Add (em, ea)
  gt = Sigmoid (s)
  shp = Constant <value = int64[4] {-1, 8, 1, 1}> ()
  gr = Reshape (gt, shp)
  y = Mul (x, gr)
}
"""

CA_TWO_MLPS = CA_OPSET18.replace("hm = Conv (m, w1)", "hm = Conv (m, v1)")


@pytest.mark.parametrize("mode", ["functions", "inline"])
def test_conv_mlp_folds(mode: str) -> None:
    model = make_model(CA_OPSET18, rng_weights(1, w1=(2, 8, 1, 1), w2=(8, 2, 1, 1)))
    folded, report = fold_and_compare(model, X, mode)
    assert report.counts == {"ChannelAttention": 1}
    if mode == "functions":
        assert op_types(folded) == ["edgeattn::ChannelAttention"]
        body = [n.op_type for n in folded.functions[0].node]
        # the canonical body evaluates the shared MLP once over the stacked descriptors
        assert body.count("Conv") == 2 and "GlobalMaxPool" in body and "Concat" in body
    else:
        assert op_types(folded).count("Conv") == 2


def test_gemm_mlp_max_first_opset17_folds() -> None:
    model = make_model(CA_GEMM_OPSET17, rng_weights(2, w1=(2, 8), b1=(2,), w2=(8, 2), b2=(8,)))
    folded, report = fold_and_compare(model, X)
    assert report.counts == {"ChannelAttention": 1}
    assert op_types(folded) == ["edgeattn::ChannelAttention"]


def test_two_different_mlps_do_not_fold() -> None:
    model = make_model(CA_TWO_MLPS, rng_weights(3, w1=(2, 8, 1, 1), v1=(2, 8, 1, 1), w2=(8, 2, 1, 1)))
    folded, report = fold(model)
    assert report.counts == {}
    assert "share one MLP" in report.refusals[0].reasons["ChannelAttentionRule"]
    assert "edgeattn::ChannelAttention" not in op_types(folded)


def test_two_avg_branches_do_not_fold() -> None:
    text = CA_OPSET18.replace("m = ReduceMax <keepdims = 1> (x, axes)", "m = ReduceMean <keepdims = 1> (x, axes)")
    folded, report = fold(make_model(text, rng_weights(4, w1=(2, 8, 1, 1), w2=(8, 2, 1, 1))))
    assert report.counts == {}
    assert "expected one avg and one max" in report.refusals[0].reasons["ChannelAttentionRule"]


def test_twice_body_form_is_equivalent() -> None:
    """The benchmark's 'twice' body runs the shared MLP once per descriptor: four Convs, no stack."""
    model = make_model(CA_OPSET18, rng_weights(5, w1=(2, 8, 1, 1), w2=(8, 2, 1, 1)))
    folded, report = fold_and_compare(model, X, options=BodyOptions(channel_form="twice"))
    assert report.counts == {"ChannelAttention": 1}
    assert op_types(folded) == ["edgeattn::ChannelAttention"]
    body = [n.op_type for n in folded.functions[0].node]
    assert body.count("Conv") == 4 and "Concat" not in body and "ReduceSum" not in body



@pytest.mark.parametrize("channel_form", ["stacked", "twice"])
def test_full_gate_layout_is_equivalent(channel_form) -> None:
    import onnx_ir as ir

    from edgeattn.exporter.fold import BodyOptions, fold_attention
    from foldkit import run

    model = make_model(CA_OPSET18, rng_weights(9, w1=(2, 8, 1, 1), w2=(8, 2, 1, 1)))
    ref = run(model, {"x": X})[0]
    m = ir.from_proto(model)
    fold_attention(m, "functions", options=BodyOptions(channel_form=channel_form, gate_layout="full"))
    proto = ir.to_proto(m)
    assert "Resize" in {n.op_type for f in proto.functions for n in f.node}
    np.testing.assert_allclose(run(proto, {"x": X})[0], ref, rtol=1e-5, atol=1e-6)
