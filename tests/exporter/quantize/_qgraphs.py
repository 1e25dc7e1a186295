"""Tiny ONNX models for the precision tests, built by hand so they do not depend on the exporter.

``folded``: Conv -> Relu -> edgeattn::SqueezeExcite -> Conv -> edgeattn::SpatialAttention -> Add
-> Relu -> GAP -> Gemm, the attention blocks as ONNX local functions with their weights passed in
as inputs (the layout of edgeattn's folding pass). ``plain``: the same network with the blocks
written out as standard ops, as a third-party exporter would emit them, plus a SiLU
(``x * sigmoid(x)``) that the attention policy must NOT take for a gate.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto
from onnx import helper as h
from onnx import numpy_helper as nh

OPSET = 18


def _se_body(prefix: str = "") -> list[onnx.NodeProto]:
    p = prefix
    return [
        h.make_node("Constant", [], [f"{p}axes"], value=nh.from_array(np.array([2, 3], np.int64))),
        h.make_node("ReduceMean", [f"{p}x", f"{p}axes"], [f"{p}s"], keepdims=1),
        h.make_node("Conv", [f"{p}s", f"{p}w1", f"{p}b1"], [f"{p}h"]),
        h.make_node("Relu", [f"{p}h"], [f"{p}hr"]),
        h.make_node("Conv", [f"{p}hr", f"{p}w2", f"{p}b2"], [f"{p}e"]),
        h.make_node("Sigmoid", [f"{p}e"], [f"{p}g"]),
        h.make_node("Mul", [f"{p}x", f"{p}g"], [f"{p}y"]),
    ]


def _spatial_body(prefix: str = "") -> list[onnx.NodeProto]:
    p = prefix
    return [
        h.make_node("Constant", [], [f"{p}axes"], value=nh.from_array(np.array([1], np.int64))),
        h.make_node("ReduceMean", [f"{p}x", f"{p}axes"], [f"{p}m"], keepdims=1),
        h.make_node("ReduceMax", [f"{p}x", f"{p}axes"], [f"{p}M"], keepdims=1),
        h.make_node("Concat", [f"{p}m", f"{p}M"], [f"{p}c"], axis=1),
        h.make_node("Conv", [f"{p}c", f"{p}w"], [f"{p}e"], pads=[3, 3, 3, 3]),
        h.make_node("Sigmoid", [f"{p}e"], [f"{p}g"]),
        h.make_node("Mul", [f"{p}x", f"{p}g"], [f"{p}y"]),
    ]


def _weights(seed: int) -> list[onnx.TensorProto]:
    rng = np.random.default_rng(seed)

    def f(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) * 0.3).astype(np.float32)

    named = {
        "c1w": f(8, 3, 3, 3), "c1b": f(8), "sw1": f(2, 8, 1, 1), "sb1": f(2), "sw2": f(8, 2, 1, 1),
        "sb2": f(8), "c2w": f(8, 8, 3, 3), "c2b": f(8), "spw": f(1, 2, 7, 7), "fcw": f(10, 8), "fcb": f(10),
    }
    return [nh.from_array(v, k) for k, v in named.items()]


def _io() -> tuple[list[onnx.ValueInfoProto], list[onnx.ValueInfoProto]]:
    return (
        [h.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 3, 16, 16])],
        [h.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 10])],
    )


_HEAD = [
    h.make_node("Add", ["a5", "a2"], ["a6"], name="layer1.add"),
    h.make_node("Relu", ["a6"], ["a7"], name="layer1.relu"),
    h.make_node("GlobalAveragePool", ["a7"], ["p"], name="pool"),
    h.make_node("Flatten", ["p"], ["pf"], name="flatten"),
    h.make_node("Gemm", ["pf", "fcw", "fcb"], ["logits"], transB=1, name="fc"),
]

PROVENANCE = {
    "source": "tests:tiny",
    "preprocessing": {"input_size": [3, 16, 16], "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25],
                      "interpolation": "bilinear", "crop_pct": 1.0, "channel_order": "RGB"},
}
BLOCKS = [
    {"name": "layer1.se", "op_type": "SqueezeExcite", "input": "a2", "output": "a3"},
    {"name": "layer1.cbam.spatial", "op_type": "SpatialAttention", "input": "a4", "output": "a5"},
]


def build_folded(seed: int = 0) -> onnx.ModelProto:
    se = h.make_function("edgeattn", "SqueezeExcite", ["x", "w1", "b1", "w2", "b2"], ["y"], _se_body(),
                         [h.make_opsetid("", OPSET)])
    spatial = h.make_function("edgeattn", "SpatialAttention", ["x", "w"], ["y"], _spatial_body(),
                              [h.make_opsetid("", OPSET)])
    nodes = [
        h.make_node("Conv", ["x", "c1w", "c1b"], ["a1"], pads=[1, 1, 1, 1], name="stem.conv"),
        h.make_node("Relu", ["a1"], ["a2"], name="stem.relu"),
        h.make_node("SqueezeExcite", ["a2", "sw1", "sb1", "sw2", "sb2"], ["a3"], domain="edgeattn", name="layer1.se"),
        h.make_node("Conv", ["a3", "c2w", "c2b"], ["a4"], pads=[1, 1, 1, 1], name="layer1.conv"),
        h.make_node("SpatialAttention", ["a4", "spw"], ["a5"], domain="edgeattn", name="layer1.cbam.spatial"),
        *_HEAD,
    ]
    inputs, outputs = _io()
    graph = h.make_graph(nodes, "tiny_folded", inputs, outputs, _weights(seed))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET), h.make_opsetid("edgeattn", 1)],
                         functions=[se, spatial], ir_version=10)
    for key, value in (("edgeattn.provenance", PROVENANCE), ("edgeattn.blocks", BLOCKS)):
        prop = model.metadata_props.add()
        prop.key, prop.value = key, json.dumps(value)
    onnx.checker.check_model(model, full_check=True)
    return model


def _rename(nodes: list[onnx.NodeProto], mapping: dict[str, str], prefix: str) -> list[onnx.NodeProto]:
    for index, node in enumerate(nodes):
        node.name = f"{prefix}{node.op_type}_{index}"
        node.input[:] = [mapping.get(v, v) for v in node.input]
        node.output[:] = [mapping.get(v, v) for v in node.output]
    return nodes


def build_plain(seed: int = 0) -> onnx.ModelProto:
    se = _rename(_se_body("se_"), {"se_x": "a2", "se_y": "a3", "se_w1": "sw1", "se_b1": "sb1",
                                   "se_w2": "sw2", "se_b2": "sb2"}, "se/")
    sp = _rename(_spatial_body("sp_"), {"sp_x": "a4", "sp_y": "a5", "sp_w": "spw"}, "sp/")
    nodes = [
        h.make_node("Conv", ["x", "c1w", "c1b"], ["a1"], pads=[1, 1, 1, 1], name="stem.conv"),
        # SiLU: x * sigmoid(x), a gated product with no pooling: not an attention gate.
        h.make_node("Sigmoid", ["a1"], ["a1s"], name="stem.silu.sigmoid"),
        h.make_node("Mul", ["a1", "a1s"], ["a2"], name="stem.silu.mul"),
        *se,
        h.make_node("Conv", ["a3", "c2w", "c2b"], ["a4"], pads=[1, 1, 1, 1], name="layer1.conv"),
        *sp,
        *_HEAD,
    ]
    inputs, outputs = _io()
    graph = h.make_graph(nodes, "tiny_plain", inputs, outputs, _weights(seed))
    model = h.make_model(graph, opset_imports=[h.make_opsetid("", OPSET)], ir_version=10)
    onnx.checker.check_model(model, full_check=True)
    return model


def run(path: Path | str, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]
