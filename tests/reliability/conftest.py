"""Small files the reliability tests feed to commands (built here, nothing downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper


def tiny_onnx(path: Path, *, channels: int = 3, size: int = 8, classes: int = 4) -> Path:
    """Conv -> GlobalAveragePool -> Flatten, with a provenance naming a registry model."""
    rng = np.random.default_rng(0)
    weight = helper.make_tensor(
        "w", TensorProto.FLOAT, [classes, channels, 3, 3], rng.standard_normal(classes * channels * 9).astype(np.float32)
    )
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["input", "w"], ["c"], pads=[1, 1, 1, 1]),
            helper.make_node("GlobalAveragePool", ["c"], ["p"]),
            helper.make_node("Flatten", ["p"], ["logits"]),
        ],
        "g",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", channels, size, size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", classes])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    helper.set_model_props(model, {"edgeattn.provenance": json.dumps({"source": "se_resnet_tiny"})})
    onnx.save(model, path)
    return path


@pytest.fixture()
def tiny_model(tmp_path: Path) -> Path:
    return tiny_onnx(tmp_path / "m.onnx")
