"""Small artifacts for the Triton tests, built with onnx.helper (no torch): a 1-layer classifier
whose ``edgeattn.provenance`` is written here the way ``edgeattn export`` records it, and a
stand-in engine with the sidecar ``edgeattn build`` writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def make_onnx(path: Path, *, batch: int | str = "batch", precision: str | None = None, provenance: bool = True,
              max_batch: int = 16, input_name: str = "input", output_name: str = "logits") -> Path:
    """``[N,1,8,8] -> flatten -> Gemm(64x10) -> [N,10]``; ``batch`` an int fixes the batch axis."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    weight = numpy_helper.from_array(rng.standard_normal((64, 10)).astype(np.float32), "w")
    nodes = [
        helper.make_node("Flatten", [input_name], ["flat"], axis=1),
        helper.make_node("Gemm", ["flat", "w"], [output_name]),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info(input_name, TensorProto.FLOAT, [batch, 1, 8, 8])],
        [helper.make_tensor_value_info(output_name, TensorProto.FLOAT, [batch, 10])],
        initializer=[weight],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 9
    props = {}
    if provenance:
        dynamic = isinstance(batch, str)
        props["edgeattn.provenance"] = json.dumps(
            {
                "source": "tests",
                "input": {"names": [input_name], "shape": [1, 1, 8, 8], "dynamic_batch": dynamic,
                          "max_batch": max_batch if dynamic else batch, "dtype": "float32"},
                "outputs": [output_name],
                "preprocessing": {"input_size": [1, 8, 8], "mean": [0.5], "std": [0.25], "interpolation": "bilinear",
                                  "crop_pct": 1.0, "channel_order": "RGB"},
            }
        )
    if precision:
        props["edgeattn.precision"] = precision
    onnx.helper.set_model_props(model, props)
    onnx.checker.check_model(model)
    onnx.save(model, path)
    return path


def write_engine_with_sidecar(folder: Path, *, max_batch: int = 8, sidecar: bool = True) -> Path:
    """A stand-in engine file (bytes TensorRT would reject) with the sidecar ``edgeattn build`` writes:
    only the sidecar is read when a repository is written."""
    engine = folder / "tiny.engine"
    engine.write_bytes(b"not a real plan")
    if sidecar:
        data = {
            "format": "edgeattn.tensorrt-engine/1",
            "engine": {"file": engine.name},
            "precision": {"precision": "fp16"},
            "profiles": [{"name": "input", "min": [1, 1, 8, 8], "opt": [1, 1, 8, 8], "max": [max_batch, 1, 8, 8]}],
            "io": [
                {"name": "input", "mode": "input", "dtype": "float32", "shape": [-1, 1, 8, 8]},
                {"name": "logits", "mode": "output", "dtype": "float32", "shape": [-1, 10]},
            ],
            "provenance": None,
        }
        (folder / "tiny.engine.json").write_text(json.dumps(data))
    return engine
