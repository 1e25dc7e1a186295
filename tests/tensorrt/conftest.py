"""Fixtures for the TensorRT tests: stand-in modules (API usage, not behaviour) and tiny ONNX files."""

from __future__ import annotations

import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(__file__))

from standins.install import install  # noqa: E402
from standins.trt_standin import GENERATIONS  # noqa: E402
from standins.world import World  # noqa: E402

CUDA_GENERATIONS = ("12", "13")


@pytest.fixture
def make_world(monkeypatch):
    """Install stand-ins: ``make_world(trt="10.16", cuda="13", **knobs) -> World``."""

    def _make(trt: str | None = "10.16", cuda: str | None = "13", **knobs) -> World:
        world = World(trt_generation=trt, cuda_generation=cuda, **knobs)
        install(monkeypatch, world)
        return world

    return _make


def _tiny_onnx(path, *, dtype: str = "float32", qdq: bool = False, dynamic: bool = True, precision_meta: str | None = None):
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    elem = TensorProto.FLOAT16 if dtype == "float16" else TensorProto.FLOAT
    npdt = np.float16 if dtype == "float16" else np.float32
    batch = "batch" if dynamic else 1
    x = helper.make_tensor_value_info("input", elem, [batch, 3, 8, 8])
    y = helper.make_tensor_value_info("logits", elem, [batch, 4])
    nodes = []
    src = "input"
    if qdq:
        inits = [
            numpy_helper.from_array(np.array(0.05, dtype=np.float32), "scale"),
            numpy_helper.from_array(np.array(0, dtype=np.int8), "zp"),
        ]
        nodes += [
            helper.make_node("QuantizeLinear", ["input", "scale", "zp"], ["xq"], name="quant_in"),
            helper.make_node("DequantizeLinear", ["xq", "scale", "zp"], ["xdq"], name="dequant_in"),
        ]
        src = "xdq"
    else:
        inits = []
    w = numpy_helper.from_array(np.ones((3, 4), dtype=npdt), "fc_w")
    inits.append(w)
    nodes += [
        helper.make_node("GlobalAveragePool", [src], ["pooled"], name="layer1.0.se.channel/ReduceMean"),
        helper.make_node("Sigmoid", ["pooled"], ["gate"], name="layer1.0.se.channel/Sigmoid"),
        helper.make_node("Mul", [src, "gate"], ["scaled"], name="layer1.0.se.channel/Mul"),
        helper.make_node("GlobalAveragePool", ["scaled"], ["feat"], name="head/pool"),
        helper.make_node("Flatten", ["feat"], ["flat"], name="head/flatten"),
        helper.make_node("MatMul", ["flat", "fc_w"], ["logits"], name="head/fc"),
    ]
    graph = helper.make_graph(nodes, "tiny", [x], [y], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "edgeattn.blocks": '[{"name": "layer1.0.se.channel", "op_type": "ChannelAttention", "input": "input", "output": "scaled"}]',
    }
    if precision_meta:
        meta["edgeattn.precision"] = precision_meta
    for k, v in meta.items():
        entry = model.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture
def tiny_onnx(tmp_path):
    """FP32 ONNX, input [batch,3,8,8] -> logits [batch,4], with one attention block's node names."""
    return _tiny_onnx(tmp_path / "tiny.onnx")


@pytest.fixture
def make_onnx(tmp_path):
    def _make(name: str = "m.onnx", **kw):
        return _tiny_onnx(tmp_path / name, **kw)

    return _make


__all__ = ["GENERATIONS", "CUDA_GENERATIONS"]
