"""Attention-aware policy: which nodes are gate paths, which the user excluded."""

from __future__ import annotations

import pytest
from _qgraphs import build_folded, build_plain

from edgeattn.errors import InputError
from edgeattn.exporter.quantize.policy import PrecisionPolicy, find_gate_paths, high_precision_nodes


def test_plain_graph_gate_paths_are_found_with_their_kind():
    paths = find_gate_paths(build_plain())
    by_kind = {p.kind: p for p in paths}
    assert set(by_kind) == {"SqueezeExcite", "SpatialAttention"}
    se = by_kind["SqueezeExcite"]
    # pool -> fc1 -> relu -> fc2 -> sigmoid -> scale multiply: the whole gate path, nothing else
    assert [n.split("/")[1].rsplit("_", 1)[0] for n in se.nodes] == ["ReduceMean", "Conv", "Relu", "Conv", "Sigmoid", "Mul"]
    spatial = by_kind["SpatialAttention"]
    assert sorted(n.split("/")[1].rsplit("_", 1)[0] for n in spatial.nodes) == sorted(
        ["ReduceMean", "ReduceMax", "Concat", "Conv", "Sigmoid", "Mul"]
    )
    assert not any(p.folded for p in paths)


def test_silu_is_not_taken_for_a_gate():
    names = {n for p in find_gate_paths(build_plain()) for n in p.nodes}
    assert "stem.silu.mul" not in names and "stem.silu.sigmoid" not in names
    assert "stem.conv" not in names and "layer1.conv" not in names


def test_folded_calls_are_gate_paths():
    paths = find_gate_paths(build_folded())
    assert [(p.kind, p.nodes, p.folded) for p in paths] == [
        ("SqueezeExcite", ("layer1.se",), True),
        ("SpatialAttention", ("layer1.cbam.spatial",), True),
    ]


def test_default_policy_keeps_gates_and_quantize_attention_lifts_them():
    model = build_plain()
    kept = high_precision_nodes(model, PrecisionPolicy())
    assert len(kept) == 12 and all("attention-aware policy" in r for r in kept.values())
    assert high_precision_nodes(model, PrecisionPolicy(quantize_attention=True)) == {}


def test_user_exclusions_apply_with_or_without_attention():
    policy = PrecisionPolicy(quantize_attention=True, exclude_nodes=[r"^fc$"], exclude_op_types=["GlobalAveragePool"])
    kept = high_precision_nodes(build_plain(), policy)
    assert set(kept) == {"fc", "pool"}
    assert "--exclude-nodes" in kept["fc"] and "--exclude-op-types" in kept["pool"]


def test_bad_regex_is_an_input_error():
    with pytest.raises(InputError, match="exclude-nodes"):
        PrecisionPolicy(exclude_nodes=["layer1.(se"])


def _written_out_gates_model():  # type: ignore[no-untyped-def]
    """An SE block gated by relu6(z + 3) * (1/6) written as Min(Max(.)) (Keras' MobileNetV3 via
    tf2onnx), and a hard-swish x * relu6(x + 3) / 6 written out, which is not a gate."""
    import numpy as np
    from onnx import TensorProto
    from onnx import helper as h
    from onnx import numpy_helper as nh

    rng = np.random.default_rng(0)
    inits = {"w1": rng.standard_normal((2, 4, 1, 1)), "w2": rng.standard_normal((4, 2, 1, 1)),
             "three": np.array(3.0), "six": np.array(6.0), "zero": np.array(0.0), "sixth": np.array(1 / 6)}
    nodes = [
        h.make_node("Add", ["x", "three"], ["hs_a"], name="hs/add"),
        h.make_node("Clip", ["hs_a", "zero", "six"], ["hs_c"], name="hs/clip"),
        h.make_node("Div", ["hs_c", "six"], ["hs_g"], name="hs/div"),
        h.make_node("Mul", ["x", "hs_g"], ["a"], name="hs/mul"),
        h.make_node("GlobalAveragePool", ["a"], ["p"], name="se/pool"),
        h.make_node("Conv", ["p", "w1"], ["z1"], name="se/fc1"),
        h.make_node("Relu", ["z1"], ["r"], name="se/relu"),
        h.make_node("Conv", ["r", "w2"], ["z"], name="se/fc2"),
        h.make_node("Add", ["z", "three"], ["z3"], name="se/add3"),
        h.make_node("Max", ["z3", "zero"], ["lo"], name="se/max"),
        h.make_node("Min", ["lo", "six"], ["hi"], name="se/min"),
        h.make_node("Mul", ["hi", "sixth"], ["g"], name="se/scale"),
        h.make_node("Mul", ["a", "g"], ["y"], name="se/mul"),
    ]
    graph = h.make_graph(nodes, "g", [h.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 8, 8])],
                         [h.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 8, 8])],
                         [nh.from_array(v.astype(np.float32), k) for k, v in inits.items()])
    return h.make_model(graph, opset_imports=[h.make_opsetid("", 13)])


def test_a_written_out_hard_sigmoid_gate_is_a_gate_path_and_hard_swish_is_not():
    from edgeattn.exporter.quantize.policy import unprotected_gates

    model = _written_out_gates_model()
    paths = find_gate_paths(model)
    assert [(p.kind, p.scale_node) for p in paths] == [("SqueezeExcite", "se/mul")]
    assert set(paths[0].nodes) == {"se/pool", "se/fc1", "se/relu", "se/fc2", "se/add3", "se/max", "se/min",
                                   "se/scale", "se/mul"}
    assert unprotected_gates(model, paths) == []  # the hard-swish x * relu6(x + 3) / 6 is not a gate
