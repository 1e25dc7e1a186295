"""Opset 18 -> 17 for TensorRT 8.x keeps each reduction's axes, whatever onnx release converts it.

onnx's converter (AxesInputToAttribute) read only typed-field initializers before onnx/onnx#7910:
with onnx 1.17, the last release for Python 3.8 (JetPack 5.1, TensorRT 8.5), a ReduceMean whose
axes come from a raw_data initializer (what numpy_helper and PyTorch's exporter write) came out with
``axes=[]``, a reduction over every axis: F11's silent error, made by the fix for F11. Torch-free,
so it runs in the Python 3.8 subset (scripts/test-py38.sh) with that onnx.
"""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeattn.tensorrt.prepare import prepare_model

ort = pytest.importorskip("onnxruntime")


def _pooled_head(axes_from: str) -> onnx.ModelProto:
    """x[N,4,5,5] -> ReduceMean over (2, 3) (opset 18: axes as an input) -> Gemm -> y[N,3]."""
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 4, 5, 5])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 3])
    rng = np.random.default_rng(0)
    inits = [
        numpy_helper.from_array(rng.standard_normal((3, 4)).astype(np.float32), "w"),
        numpy_helper.from_array(np.zeros(3, np.float32), "b"),
    ]
    nodes = []
    axes = np.array([2, 3], dtype=np.int64)
    if axes_from == "initializer":
        inits.append(numpy_helper.from_array(axes, "axes"))  # raw_data, as exporters write it
    else:
        nodes.append(helper.make_node("Constant", [], ["axes"], value=numpy_helper.from_array(axes, "axes")))
    nodes += [
        helper.make_node("ReduceMean", ["x", "axes"], ["pooled"], name="pool", keepdims=0),
        helper.make_node("ReduceMax", ["x", "axes"], ["peak"], name="", keepdims=0),  # unnamed
        helper.make_node("Add", ["pooled", "peak"], ["feat"], name="add"),
        helper.make_node("Gemm", ["feat", "w", "b"], ["y"], name="head", transB=1),
    ]
    graph = helper.make_graph(nodes, "pooled_head", [x], [y], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=9)


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]


@pytest.mark.parametrize("axes_from", ["initializer", "constant"])
@pytest.mark.parametrize("target", [(8, 5), (8, 6)])
def test_reductions_keep_their_axes_in_the_opset_17_graph(axes_from, target):
    model = _pooled_head(axes_from)
    prepared = prepare_model(model, target).model
    assert prepared.opset_import[0].version == 17
    reduces = [n for n in prepared.graph.node if n.op_type in ("ReduceMean", "ReduceMax")]
    assert len(reduces) == 2
    for node in reduces:
        assert list(node.input) == ["x"]
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        assert attrs["axes"] == [2, 3] and attrs["keepdims"] == 0
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 5)).astype(np.float32)
    np.testing.assert_allclose(_run(prepared, x), _run(model, x), rtol=1e-5, atol=1e-5)
