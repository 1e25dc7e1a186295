"""SqueezeExcite rule: every spelling folds to one node with equal numbers; near misses refuse."""

from __future__ import annotations

import numpy as np
import pytest

from edgeattn.exporter.fold import BodyOptions
from foldkit import fold, fold_and_compare, make_model, op_types, rng_weights

X = np.random.default_rng(0).standard_normal((2, 8, 5, 5)).astype(np.float32)

SE_CONV_OPSET18 = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) {
  axes = Constant <value = int64[2] {2, 3}> ()
  s = ReduceMean <keepdims = 1> (x, axes)
  h = Conv (s, w1, b1)
  r = Relu (h)
  e = Conv (r, w2, b2)
  gt = Sigmoid (e)
  y = Mul (x, gt)
}
"""

# Linear FCs as the legacy exporter writes nn.Linear: ReduceMean keepdims=0, Gemm, gate, then
# the [:, :, None, None] of the scale as Unsqueeze; gate operand first in the Mul.
SE_GEMM_OPSET17 = """
<ir_version: 8, opset_import: ["" : 17]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) {
  s = ReduceMean <axes = [2, 3], keepdims = 0> (x)
  h = Gemm <transB = 1> (s, w1, b1)
  r = Relu (h)
  e = Gemm <transB = 1> (r, w2, b2)
  gt = HardSigmoid <alpha = 0.16666667, beta = 0.5> (e)
  ax = Constant <value = int64[2] {2, 3}> ()
  gu = Unsqueeze (gt, ax)
  y = Mul (gu, x)
}
"""

# No bias, MatMul FCs, GlobalAveragePool + Flatten, SiLU inside, relu6(z + 3) / 6 gate, Reshape.
SE_MATMUL_HARDSIG = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) {
  p = GlobalAveragePool (x)
  f = Flatten <axis = 1> (p)
  h = MatMul (f, w1t)
  hs = Sigmoid (h)
  r = Mul (h, hs)
  e = MatMul (r, w2t)
  three = Constant <value = float {3.0}> ()
  zero = Constant <value = float {0.0}> ()
  six = Constant <value = float {6.0}> ()
  a = Add (e, three)
  c = Clip (a, zero, six)
  gt = Div (c, six)
  shp = Constant <value = int64[4] {0, 8, 1, 1}> ()
  gr = Reshape (gt, shp)
  y = Mul (x, gr)
}
"""


@pytest.mark.parametrize("mode", ["functions", "inline"])
def test_conv_form_folds(mode: str) -> None:
    model = make_model(SE_CONV_OPSET18, rng_weights(1, w1=(2, 8, 1, 1), b1=(2,), w2=(8, 2, 1, 1), b2=(8,)))
    folded, report = fold_and_compare(model, X, mode)
    assert report.counts == {"SqueezeExcite": 1}
    assert report.blocks[0].variant == "relu_sigmoid"
    if mode == "functions":
        assert op_types(folded) == ["edgeattn::SqueezeExcite"]
        assert [(f.domain, f.name, f.overload) for f in folded.functions] == [("edgeattn", "SqueezeExcite", "")]
        # weights stay initializers of the main graph, inputs of the node
        assert list(folded.graph.node[0].input[1:]) == ["w1", "b1", "w2", "b2"]
    else:
        assert not folded.functions
        assert "edgeattn::SqueezeExcite" not in op_types(folded)
        assert "GlobalAveragePool" in op_types(folded)


def test_gemm_hardsigmoid_opset17_folds() -> None:
    model = make_model(SE_GEMM_OPSET17, rng_weights(2, w1=(2, 8), b1=(2,), w2=(8, 2), b2=(8,)))
    folded, report = fold_and_compare(model, X)
    assert report.counts == {"SqueezeExcite": 1}
    assert report.blocks[0].variant == "relu_hardsigmoid"
    # a non-default variant is a function overload, which needs IR version 10
    assert folded.ir_version >= 10
    assert folded.functions[0].overload == "relu_hardsigmoid"
    # the body follows the model's opset (17)
    assert [(o.domain, o.version) for o in folded.functions[0].opset_import] == [("", 17)]


def test_matmul_silu_relu6_gate_without_bias_folds() -> None:
    model = make_model(SE_MATMUL_HARDSIG, rng_weights(3, w1t=(8, 2), w2t=(2, 8)))
    folded, report = fold_and_compare(model, X)
    assert report.counts == {"SqueezeExcite": 1}
    assert report.blocks[0].variant == "silu_hardsigmoid"
    assert op_types(folded) == ["edgeattn::SqueezeExcite"]


GATED_CONV = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) {
  c = Conv <pads = [1, 1, 1, 1]> (x, w)
  gt = Sigmoid (c)
  y = Mul (x, gt)
}
"""

SILU = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) {
  gt = Sigmoid (x)
  y = Mul (x, gt)
}
"""

GAP_CLASSIFIER = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,4] y) {
  p = GlobalAveragePool (x)
  f = Flatten <axis = 1> (p)
  y = Gemm <transB = 1> (f, w, b)
}
"""

# An SE-like chain whose squeeze also feeds a second output: folding would hide that tensor.
SE_SHARED_SQUEEZE = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y, float[N,8,1,1] s) {
  s = GlobalAveragePool (x)
  h = Conv (s, w1, b1)
  r = Relu (h)
  e = Conv (r, w2, b2)
  gt = Sigmoid (e)
  y = Mul (x, gt)
}
"""


def test_gated_conv_does_not_fold() -> None:
    model = make_model(GATED_CONV, rng_weights(4, w=(8, 8, 3, 3)))
    folded, report = fold(model)
    assert report.counts == {}
    assert op_types(folded) == ["Conv", "Sigmoid", "Mul"]
    assert "SqueezeExciteRule" in report.refusals[0].reasons
    assert "not a 1x1 conv" in report.refusals[0].reasons["SqueezeExciteRule"]


def test_silu_does_not_fold_and_says_why() -> None:
    folded, report = fold(make_model(SILU, {}))
    assert report.counts == {}
    assert "SiLU" in report.refusals[0].reasons["SqueezeExciteRule"]


def test_gap_classifier_is_not_a_candidate() -> None:
    model = make_model(GAP_CLASSIFIER, rng_weights(5, w=(4, 8), b=(4,)))
    folded, report = fold(model)
    assert report.counts == {} and report.refusals == []
    assert op_types(folded) == ["GlobalAveragePool", "Flatten", "Gemm"]


def test_squeeze_used_elsewhere_does_not_fold() -> None:
    model = make_model(SE_SHARED_SQUEEZE, rng_weights(6, w1=(2, 8, 1, 1), b1=(2,), w2=(8, 2, 1, 1), b2=(8,)))
    folded, report = fold(model)
    assert report.counts == {}
    assert "used outside" in report.refusals[0].reasons["SqueezeExciteRule"]


# senet.pytorch: bias-free Linear FCs, then view(b, c, 1, 1) and x * y.expand_as(x).
SE_EXPAND = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) {
  p = GlobalAveragePool (x)
  f = Flatten <axis = 1> (p)
  h = Gemm <transB = 1> (f, w1)
  r = Relu (h)
  e = Gemm <transB = 1> (r, w2)
  gt = Sigmoid (e)
  shp = Constant <value = int64[4] {-1, 8, 1, 1}> ()
  gr = Reshape (gt, shp)
  xs = Shape (x)
  ge = Expand (gr, xs)
  y = Mul (x, ge)
}
"""


def test_expand_as_x_folds() -> None:
    model = make_model(SE_EXPAND, rng_weights(8, w1=(2, 8), w2=(8, 2)))
    folded, report = fold_and_compare(model, X)
    assert report.counts == {"SqueezeExcite": 1}
    assert op_types(folded) == ["edgeattn::SqueezeExcite"]


def test_expand_to_another_shape_is_not_skipped() -> None:
    # Expanding the gate to [2, 8, 5, 5] grows a batch-1 product: not x * gate any more.
    text = SE_EXPAND.replace("xs = Shape (x)", "xs = Constant <value = int64[4] {2, 8, 5, 5}> ()")
    folded, report = fold(make_model(text, rng_weights(9, w1=(2, 8), w2=(8, 2))))
    assert report.counts == {}
    assert "Expand" in op_types(folded)


# The official CBAM code's squeeze: F.avg_pool2d(x, (x.size(2), x.size(3))) -> AveragePool.
SE_WHOLE_MAP_AVGPOOL = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) {
  p = AveragePool <kernel_shape = [5, 5], strides = [5, 5]> (x)
  h = Conv (p, w1, b1)
  r = Relu (h)
  e = Conv (r, w2, b2)
  gt = Sigmoid (e)
  y = Mul (x, gt)
}
"""


def test_whole_map_average_pool_folds() -> None:
    model = make_model(SE_WHOLE_MAP_AVGPOOL, rng_weights(10, w1=(2, 8, 1, 1), b1=(2,), w2=(8, 2, 1, 1), b2=(8,)))
    folded, report = fold_and_compare(model, X)
    assert report.counts == {"SqueezeExcite": 1}
    assert op_types(folded) == ["edgeattn::SqueezeExcite"]


@pytest.mark.parametrize(
    ("attrs", "reason"),
    [
        ("kernel_shape = [3, 3], strides = [3, 3]", "not the whole 5x5 feature map"),
        ("kernel_shape = [5, 5], pads = [1, 1, 1, 1]", "padded"),
    ],
)
def test_partial_or_padded_average_pool_does_not_fold(attrs: str, reason: str) -> None:
    text = SE_WHOLE_MAP_AVGPOOL.replace("kernel_shape = [5, 5], strides = [5, 5]", attrs)
    text = text.replace("float[N,8,5,5] y", "float[N,8,5,5] y")
    weights = rng_weights(11, w1=(2, 8, 1, 1), b1=(2,), w2=(8, 2, 1, 1), b2=(8,))
    folded, report = fold(make_model(text, weights))
    assert report.counts == {}
    assert reason in report.refusals[0].reasons["SqueezeExciteRule"]


# dynamo writes expand_as(x)'s target as a Concat of sizes: the Expand is dropped only when its
# output shape is known to be x's own.
SE_EXPAND_CONCAT = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) <float[OUT_SHAPE] ge> {
  p = GlobalAveragePool (x)
  h = Conv (p, w1)
  r = Relu (h)
  e = Conv (r, w2)
  gt = Sigmoid (e)
  xs = Shape <start = 0, end = 1> (x)
  rest = Constant <value = int64[3] {8, 5, 5}> ()
  target = Concat <axis = 0> (xs, rest)
  ge = Expand (gt, target)
  y = Mul (x, ge)
}
"""


def test_expand_whose_output_is_x_shaped_folds() -> None:
    model = make_model(SE_EXPAND_CONCAT.replace("OUT_SHAPE", "N,8,5,5"), rng_weights(12, w1=(2, 8, 1, 1), w2=(8, 2, 1, 1)))
    folded, report = fold_and_compare(model, X)
    assert report.counts == {"SqueezeExcite": 1}
    assert op_types(folded) == ["edgeattn::SqueezeExcite"]


@pytest.mark.parametrize("out_shape", ["2,8,5,5", "N,8,5", "N,8,5,1"])
def test_expand_whose_output_is_not_x_shaped_is_kept(out_shape: str) -> None:
    text = SE_EXPAND_CONCAT.replace("OUT_SHAPE", out_shape)
    folded, report = fold(make_model(text, rng_weights(13, w1=(2, 8, 1, 1), w2=(8, 2, 1, 1))))
    assert report.counts == {}
    assert "Expand" in op_types(folded)


@pytest.mark.parametrize(
    "attrs", ["kernel_shape = [5, 5], ceil_mode = 1", "kernel_shape = [5, 5], auto_pad = \"SAME_UPPER\""]
)
def test_whole_map_pool_in_ceil_mode_or_auto_padded_does_not_fold(attrs: str) -> None:
    text = SE_WHOLE_MAP_AVGPOOL.replace("kernel_shape = [5, 5], strides = [5, 5]", attrs)
    weights = rng_weights(14, w1=(2, 8, 1, 1), b1=(2,), w2=(8, 2, 1, 1), b2=(8,))
    folded, report = fold(make_model(text, weights))
    assert report.counts == {}
    assert "ceil mode" in report.refusals[0].reasons["SqueezeExciteRule"]


def test_whole_map_max_pool_is_the_max_branch_of_channel_attention() -> None:
    text = """
<ir_version: 10, opset_import: ["" : 18]>
g (float[N,8,5,5] x) => (float[N,8,5,5] y) {
  a = AveragePool <kernel_shape = [5, 5], strides = [5, 5]> (x)
  m = MaxPool <kernel_shape = [5, 5], strides = [5, 5]> (x)
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
    folded, report = fold_and_compare(make_model(text, rng_weights(15, w1=(2, 8, 1, 1), w2=(8, 2, 1, 1))), X)
    assert report.counts == {"ChannelAttention": 1}
    assert op_types(folded) == ["edgeattn::ChannelAttention"]



@pytest.mark.parametrize(("text", "shapes"), [
    (SE_CONV_OPSET18, {"w1": (2, 8, 1, 1), "b1": (2,), "w2": (8, 2, 1, 1), "b2": (8,)}),
    (SE_GEMM_OPSET17, {"w1": (2, 8), "b1": (2,), "w2": (8, 2), "b2": (8,)}),
])
def test_full_gate_layout_is_equivalent(text, shapes) -> None:
    """gate_layout='full' (gate repeated to X's shape by a nearest Resize) computes the same Y."""
    import onnx_ir as ir

    from edgeattn.exporter.fold import fold_attention
    from foldkit import run

    model = make_model(text, rng_weights(8, **shapes))
    ref = run(model, {"x": X})[0]
    m = ir.from_proto(model)
    report = fold_attention(m, "functions", options=BodyOptions(gate_layout="full"))
    assert report.counts == {"SqueezeExcite": 1}
    proto = ir.to_proto(m)
    assert "Resize" in {n.op_type for f in proto.functions for n in f.node}
    np.testing.assert_allclose(run(proto, {"x": X})[0], ref, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(run(proto, {"x": X[:1]})[0], ref[:1], rtol=1e-5, atol=1e-6)  # batch stays dynamic
