"""The one graph toolkit: the inliner's nesting, errors and bookkeeping, and the one precision detector.

Models are built by hand with onnx.helper so the expected names come from the test, not the code.
"""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

from edgeattn.errors import InputError
from edgeattn.graph import DOMAIN, PRECISIONS, detect_precision, inline_functions

OPSET = 18


def _model(nodes, functions, *, inits=(), metadata=None, in_type=TensorProto.FLOAT, opsets=None):
    graph = h.make_graph(
        nodes, "g", [h.make_tensor_value_info("x", in_type, [1, 4, 2, 2])],
        [h.make_tensor_value_info("y", in_type, [1, 4, 2, 2])], list(inits),
    )
    model = h.make_model(
        graph, opset_imports=opsets or [h.make_opsetid("", OPSET), h.make_opsetid(DOMAIN, 1)],
        functions=functions, ir_version=10,
    )
    for key, value in (metadata or {}).items():
        prop = model.metadata_props.add()
        prop.key, prop.value = key, json.dumps(value)
    return model


def _gate(name="Gate", body_opset=OPSET):
    """Gate(x) = x * sigmoid(x)."""
    return h.make_function(
        DOMAIN, name, ["x"], ["y"],
        [h.make_node("Sigmoid", ["x"], ["s"]), h.make_node("Mul", ["x", "s"], ["y"])],
        [h.make_opsetid("", body_opset)],
    )


def _outer():
    """Outer(x) = Gate(x) + x: a body that itself calls an edgeattn function."""
    return h.make_function(
        DOMAIN, "Outer", ["x"], ["y"],
        [h.make_node("Gate", ["x"], ["g"], domain=DOMAIN, name="inner"), h.make_node("Add", ["g", "x"], ["y"])],
        [h.make_opsetid("", OPSET), h.make_opsetid(DOMAIN, 1)],
    )


def test_nested_calls_are_inlined_with_the_path_of_each_level():
    model = _model([h.make_node("Outer", ["x"], ["y"], domain=DOMAIN, name="layer1.att")], [_outer(), _gate()])
    inlined, blocks = inline_functions(model)
    assert [n.name for n in inlined.graph.node] == ["layer1.att/inner/Sigmoid_0", "layer1.att/inner/Mul_1", "layer1.att/Add_1"]
    assert [list(n.output) for n in inlined.graph.node] == [["layer1.att/inner/s"], ["layer1.att/g"], ["y"]]
    assert blocks == {"layer1.att": "Outer", "layer1.att/inner": "Gate"}
    assert not inlined.functions and len(model.functions) == 2  # the input model is left alone
    onnx.checker.check_model(inlined, full_check=True)
    x = np.random.default_rng(0).standard_normal((1, 4, 2, 2)).astype(np.float32)
    import onnxruntime as ort

    got = ort.InferenceSession(inlined.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(got, x / (1 + np.exp(-x)) + x, rtol=1e-6, atol=1e-6)


def test_a_function_that_calls_itself_is_refused():
    loop = h.make_function(
        DOMAIN, "Loop", ["x"], ["y"], [h.make_node("Loop", ["x"], ["y"], domain=DOMAIN, name="again")],
        [h.make_opsetid("", OPSET), h.make_opsetid(DOMAIN, 1)],
    )
    model = _model([h.make_node("Loop", ["x"], ["y"], domain=DOMAIN, name="b")], [loop])
    with pytest.raises(InputError, match="calls itself"):
        inline_functions(model)


def test_a_control_flow_subgraph_in_a_body_is_refused():
    branch = h.make_graph([h.make_node("Identity", ["x"], ["o"])], "then", [], [h.make_tensor_value_info("o", TensorProto.FLOAT, None)])
    body = h.make_function(
        DOMAIN, "Branchy", ["x", "c"], ["y"],
        [h.make_node("If", ["c"], ["y"], then_branch=branch, else_branch=branch)], [h.make_opsetid("", OPSET)],
    )
    model = _model([h.make_node("Branchy", ["x", "c"], ["y"], domain=DOMAIN, name="blk")], [body],
                   inits=[nh.from_array(np.array(True), "c")])
    with pytest.raises(InputError, match="'blk' holds a control-flow subgraph"):
        inline_functions(model)


def test_a_body_in_another_opset_version_is_refused():
    model = _model([h.make_node("Gate", ["x"], ["y"], domain=DOMAIN, name="g")], [_gate(body_opset=17)])
    with pytest.raises(InputError, match="uses opset ai.onnx:17, the model 18"):
        inline_functions(model)


def test_an_omitted_optional_input_stays_omitted():
    body = h.make_function(
        DOMAIN, "Clipper", ["x", "lo", "hi"], ["y"], [h.make_node("Clip", ["x", "lo", "hi"], ["y"])],
        [h.make_opsetid("", OPSET)],
    )
    model = _model([h.make_node("Clipper", ["x", "lo"], ["y"], domain=DOMAIN, name="c")], [body],
                   inits=[nh.from_array(np.array(0.0, np.float32), "lo")])
    inlined, _ = inline_functions(model)
    assert list(inlined.graph.node[0].input) == ["x", "lo", ""]
    onnx.checker.check_model(inlined, full_check=True)


def test_kept_and_unselected_calls_stay_with_their_functions():
    nodes = [
        h.make_node("Gate", ["x"], ["a"], domain=DOMAIN, name="first"),
        h.make_node("Outer", ["a"], ["y"], domain=DOMAIN, name="second"),
    ]
    blocks_meta = [{"name": "first", "op_type": "Gate", "output": "a"}, {"name": "second", "op_type": "Outer", "output": "y"}]
    model = _model(nodes, [_gate(), _outer()], metadata={"edgeattn.blocks": blocks_meta})
    # keep by op type (a TensorRT plugin): Outer stays, and so does Gate, which its body calls
    kept, blocks = inline_functions(model, keep={"Outer"})
    assert [(n.op_type, n.name) for n in kept.graph.node] == [("Sigmoid", "first/Sigmoid_0"), ("Mul", "first/Mul_1"), ("Outer", "second")]
    assert sorted(f.name for f in kept.functions) == ["Gate", "Outer"]
    assert blocks == {"first": "Gate"}  # the kept call is not reported as inlined
    # only by call name
    chosen, blocks = inline_functions(model, only=["second"])
    assert [n.name for n in chosen.graph.node][0] == "first"
    assert blocks == {"second": "Outer", "second/inner": "Gate"}


def test_blocks_the_exporter_inlined_get_their_tensors_prefixed():
    nodes = [
        h.make_node("Sigmoid", ["x"], ["s"], name="blk/Sigmoid"),
        h.make_node("Mul", ["x", "s"], ["y"], name="blk/Mul"),
    ]
    model = _model(nodes, [], metadata={"edgeattn.blocks": [{"name": "blk", "op_type": "Gate", "output": "y"}]})
    inlined, blocks = inline_functions(model)
    assert blocks == {"blk": "Gate"}
    assert [list(n.output) for n in inlined.graph.node] == [["blk/s"], ["y"]]
    assert list(inlined.graph.node[1].input) == ["x", "blk/s"]


def _qdq_function():
    scale, zero = nh.from_array(np.array(0.1, np.float32)), nh.from_array(np.array(0, np.int8))
    return h.make_function(
        DOMAIN, "QGate", ["x"], ["y"],
        [
            h.make_node("Constant", [], ["sc"], value=scale),
            h.make_node("Constant", [], ["zp"], value=zero),
            h.make_node("QuantizeLinear", ["x", "sc", "zp"], ["q"]),
            h.make_node("DequantizeLinear", ["q", "sc", "zp"], ["y"]),
        ],
        [h.make_opsetid("", OPSET)],
    )


def test_precision_from_ops_and_tensors():
    call = [h.make_node("QGate", ["x"], ["y"], domain=DOMAIN, name="q")]
    assert detect_precision(_model(call, [_qdq_function()])) == "int8"  # QDQ inside a function body
    qlinear = _model([h.make_node("QLinearConv", ["x"] * 8, ["y"])], [])
    assert detect_precision(qlinear) == "int8"  # ORT's operator-oriented form
    half_weights = _model([h.make_node("Identity", ["x"], ["y"])], [], inits=[nh.from_array(np.ones(2, np.float16), "w")])
    assert detect_precision(half_weights) == "fp16"  # keep_io_types: float32 I/O, float16 weights
    half_io = _model([h.make_node("Identity", ["x"], ["y"])], [], in_type=TensorProto.FLOAT16)
    assert detect_precision(half_io) == "fp16"
    assert detect_precision(_model([h.make_node("Identity", ["x"], ["y"])], [])) == "fp32"


def test_validate_and_the_tensorrt_build_read_precision_the_same_way(tmp_path):
    """Both once had their own detector: validate missed QDQ in function bodies, the build QLinear ops."""
    from edgeattn.tensorrt.onnx_info import read_onnx
    from edgeattn.validation import infer_precision

    cases = {
        "qdq_in_body": _model([h.make_node("QGate", ["x"], ["y"], domain=DOMAIN, name="q")], [_qdq_function()]),
        "qlinear": _model([h.make_node("QLinearConv", ["x"] * 8, ["y"])], []),
    }
    for name, model in cases.items():
        path = tmp_path / f"{name}.onnx"
        onnx.save(model, path)
        info = read_onnx(path)
        assert (info.precision, info.precision_source) == ("int8", "graph")
        assert infer_precision(path) == "int8"


def test_every_precision_has_a_validation_tolerance_and_a_build_choice():
    from edgeattn.exporter.quantize import PRECISIONS as QUANTIZE_TO
    from edgeattn.tensorrt.options import BuildOptions
    from edgeattn.compare import tolerance_for

    for precision in PRECISIONS:
        assert tolerance_for("logits", precision).atol > 0
        assert BuildOptions(precision=precision).validate().precision == precision
    assert QUANTIZE_TO == ("fp16", "int8")
    with pytest.raises(InputError, match="'bf16' is not one of fp32, fp16, int8"):
        BuildOptions(precision="bf16").validate()
