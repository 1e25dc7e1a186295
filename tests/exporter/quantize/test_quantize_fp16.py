"""FP16: runs on ORT CPU, FP32 I/O by default, reductions and gates in FP32 (also inside functions)."""

from __future__ import annotations

import json

import numpy as np
import onnx
from _qgraphs import run

from edgeattn.exporter.quantize import quantize

FLOAT, FLOAT16 = onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16


def _x(n: int = 4) -> np.ndarray:
    return np.random.default_rng(3).standard_normal((n, 3, 16, 16)).astype(np.float32)


def test_fp16_folded_runs_and_matches(folded_onnx, tmp_path):
    out = tmp_path / "fp16.onnx"
    result = quantize(folded_onnx, out, "fp16")
    model = onnx.load(out)
    assert model.graph.input[0].type.tensor_type.elem_type == FLOAT
    assert model.graph.output[0].type.tensor_type.elem_type == FLOAT
    weights = {t.name: t.data_type for t in model.graph.initializer}
    assert weights["c1w"] == FLOAT16 and weights["sw1"] == FLOAT16  # the block's weights too
    # The folded nodes survive; inside, each reduction/gate sits between Cast(to FLOAT) and CastLike.
    assert [n.op_type for n in model.graph.node if n.domain == "edgeattn"] == ["SqueezeExcite", "SpatialAttention"]
    body = {f.name: [n.op_type for n in f.node] for f in model.functions}
    se = body["SqueezeExcite"]
    for op in ("ReduceMean", "Sigmoid"):
        i = se.index(op)
        assert se[i - 1] == "Cast" and se[i + 1] == "CastLike"
    assert se[se.index("Conv") - 1] == "CastLike"  # the excitation MLP itself runs in FP16
    x = _x()
    np.testing.assert_allclose(run(out, x), run(folded_onnx, x), rtol=2e-2, atol=2e-2)
    assert {n.name: n.precision for n in result.nodes}["pool"] == "fp32"
    assert {n.name: n.precision for n in result.nodes}["layer1.conv"] == "fp16"
    meta = {p.key: p.value for p in model.metadata_props}
    assert meta["edgeattn.precision"] == "fp16"
    assert json.loads(meta["edgeattn.provenance"])["source"] == "tests:tiny"  # carried over


def test_fp16_no_keep_io_types_gives_fp16_io(folded_onnx, tmp_path):
    out = tmp_path / "fp16io.onnx"
    quantize(folded_onnx, out, "fp16", keep_io_types=False)
    model = onnx.load(out)
    assert model.graph.input[0].type.tensor_type.elem_type == FLOAT16
    y = run(out, _x().astype(np.float16))
    assert y.dtype == np.float16 and np.isfinite(y).all()


def test_fp16_user_excluded_block_runs_fp32_with_the_same_body(folded_onnx, tmp_path):
    # One body serves an FP16 call and an FP32 call because it casts *like its input*.
    out = tmp_path / "fp16ex.onnx"
    result = quantize(folded_onnx, out, "fp16", exclude_nodes=[r"^layer1\.se$"])
    assert {n.name: n.precision for n in result.nodes}["layer1.se"] == "fp32"
    x = _x()
    np.testing.assert_allclose(run(out, x), run(folded_onnx, x), rtol=2e-2, atol=2e-2)


def test_fp16_plain_graph_blocks_reductions_and_sigmoids(plain_onnx, tmp_path):
    out = tmp_path / "plain16.onnx"
    result = quantize(plain_onnx, out, "fp16")
    precision = {n.op_type: n.precision for n in result.nodes}
    assert precision["ReduceMean"] == precision["ReduceMax"] == precision["Sigmoid"] == "fp32"
    assert precision["Conv"] == "fp16"
    x = _x()
    np.testing.assert_allclose(run(out, x), run(plain_onnx, x), rtol=2e-2, atol=2e-2)
    # --quantize-attention lets the gates go to FP16 as well
    loose = quantize(plain_onnx, tmp_path / "plain16q.onnx", "fp16", quantize_attention=True)
    assert {n.op_type: n.precision for n in loose.nodes}["Sigmoid"] == "fp16"
