"""The small ONNX classifier several test suites feed to commands (built here, nothing downloaded).

Conv 3x3 -> GlobalAveragePool -> Flatten, dynamic batch, opset 17: quantizable, runnable by ONNX
Runtime, small enough to mutate thousands of times (tests/fuzz) or interrupt mid-calibration.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto, helper


def tiny_classifier(
    *, channels: int = 3, size: int = 8, classes: int = 4, metadata: Mapping[str, Any] | None = None
) -> onnx.ModelProto:
    """The model, with ``metadata`` as ONNX metadata_props (values that are not strings as JSON)."""
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
    if metadata:
        helper.set_model_props(model, {k: v if isinstance(v, str) else json.dumps(v) for k, v in metadata.items()})
    return model


def save_tiny_classifier(path: Path, *, channels: int = 3, size: int = 8, classes: int = 4) -> Path:
    """The model saved at ``path``, with a provenance naming the registry model se_resnet_tiny."""
    model = tiny_classifier(
        channels=channels, size=size, classes=classes, metadata={"edgeattn.provenance": {"source": "se_resnet_tiny"}}
    )
    onnx.save(model, path)
    return path
