"""Smaller runtime facts: numpy-less TensorRT types, a bounded logger, buffers freed without close(),
and engines built with --exclude-lean-runtime (docs/tensorrt.md F17)."""

from __future__ import annotations

import gc

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgeattn.errors import EngineCompatibilityError, InputError
from edgeattn.tensorrt import build
from edgeattn.tensorrt.runner import TensorRTRunner


def _bf16_output_onnx(path):
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 3, 8, 8])
    y = helper.make_tensor_value_info("logits", TensorProto.BFLOAT16, ["batch", 3, 1, 1])
    nodes = [helper.make_node("GlobalAveragePool", ["input"], ["p"], name="pool"),
             helper.make_node("Cast", ["p"], ["logits"], to=TensorProto.BFLOAT16, name="cast")]
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_bf16_io_is_a_clean_error_at_load(make_world, tmp_path):
    make_world("10.16", "13")
    engine = tmp_path / "bf16.engine"
    build(_bf16_output_onnx(tmp_path / "bf16.onnx"), engine, max_batch=2)
    with pytest.raises(InputError, match=r"'logits' has TensorRT type BF16, which numpy cannot hold"):
        TensorRTRunner(engine).load()


def test_logger_is_bounded_and_keeps_errors(make_world):
    make_world("10.16", "13")
    import tensorrt as trt

    from edgeattn.tensorrt import diagnostics

    logger = diagnostics.make_logger(trt, verbose=True)
    logger.log(trt.ILogger.Severity.ERROR, "first error")
    for i in range(3 * diagnostics.MAX_MESSAGES):
        logger.log(trt.ILogger.Severity.VERBOSE, f"tactic {i}")
    logger.log(trt.ILogger.Severity.ERROR, "last error")
    assert len(logger.messages) == diagnostics.MAX_MESSAGES
    assert logger.errors() == ["first error", "last error"]


def test_runner_never_closed_frees_device_memory(make_world, tiny_onnx, tmp_path):
    world = make_world("10.16", "13")
    engine = tmp_path / "m.engine"
    build(tiny_onnx, engine, max_batch=4)
    runner = TensorRTRunner(engine, contexts=2).load()
    runner.run(np.ones((1, 3, 8, 8), np.float32))
    assert world.memory  # device and pinned buffers live
    del runner
    gc.collect()
    assert world.memory == {}


def test_exclude_lean_runtime_engine_loads_the_lean_runtime(make_world, tiny_onnx, tmp_path):
    world = make_world("10.16", "13")
    engine = tmp_path / "vc.engine"
    build(tiny_onnx, engine, max_batch=2, version_compatible=True, exclude_lean_runtime=True)
    with TensorRTRunner(engine) as runner:
        out = runner.run(np.ones((1, 3, 8, 8), np.float32))["logits"]
    np.testing.assert_allclose(out, 1 + np.arange(4)[None])
    assert [c[1][0] for c in world.calls if c[0] == "Runtime.load_runtime"] == ["libnvinfer_lean.so.10"]
    make_world("10.16", "13", lean_runtime_available=False)
    with pytest.raises(EngineCompatibilityError, match="needs the lean runtime of TensorRT 10.16"):
        TensorRTRunner(engine).load()
