"""TF32: off unless asked for, recorded in the sidecar, and validated with TF32-aware tolerances.

TensorRT enables ``BuilderFlag.TF32`` by default (docs/tensorrt.md F2); the stand-in models it as
tensor cores do on compute capability >= 8.0: inputs rounded to a 10-bit mantissa.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from standins.trt_standin import _round_to_tf32

from edgeattn.tensorrt import build, read_sidecar
from edgeattn.tensorrt.runner import TensorRTRunner
from edgeattn.validation import DEFAULT_TOLERANCES, infer_precision
from edgeattn.compare import compare_output

GENERATIONS = ("8.5", "8.6", "10.3", "10.16", "11.0", "11.1")


def _exact(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1).astype(np.float64).mean(axis=1)[:, None] + np.arange(4)


def _run(path, x):
    with TensorRTRunner(path) as runner:
        return runner.run({"input": x})["logits"]


# Values with mantissa bits below TF32's 10: rounding them shows up in the output.
X = (1.0 + np.random.default_rng(3).random((2, 3, 8, 8)) * 2.0**-9).astype(np.float32) * np.float32(1.7)


@pytest.mark.parametrize("gen", GENERATIONS)
def test_fp32_build_clears_tf32_and_matches_fp32(make_world, tiny_onnx, tmp_path, gen):
    world = make_world(gen, "13", compute_capability=(8, 7))  # Orin
    engine = tmp_path / "m.engine"
    build(tiny_onnx, engine, max_batch=2)
    cleared = [c for c in world.calls if c[0] == "IBuilderConfig.clear_flag"]
    assert [c[1][0].name for c in cleared] == ["TF32"]
    side = read_sidecar(engine)
    assert side["precision_plan"]["tf32"] is False
    assert "--tf32" not in side["rebuild_command"]
    np.testing.assert_allclose(_run(engine, X), _exact(X), rtol=1e-6)


@pytest.mark.parametrize("gen", ("8.5", "10.16"))
def test_tf32_opt_in_is_recorded_and_changes_fp32_results(make_world, tiny_onnx, tmp_path, gen):
    make_world(gen, "13", compute_capability=(8, 6))
    engine = tmp_path / "m.engine"
    build(tiny_onnx, engine, max_batch=2, tf32=True)
    side = read_sidecar(engine)
    assert side["precision_plan"]["tf32"] is True
    assert side["rebuild_command"].endswith("--tf32")
    out = _run(engine, X)
    err = np.max(np.abs(out - _exact(X)) / np.abs(_exact(X)))
    # Larger than FP32 rounding, within TF32's unit roundoff 2^-11.
    assert 1e-6 < err <= 2.0**-11


def test_validate_reads_tf32_from_the_sidecar_and_loosens_fp32_tolerances(make_world, tiny_onnx, tmp_path):
    make_world("10.16", "13")
    on, off = tmp_path / "tf32.engine", tmp_path / "fp32.engine"
    build(tiny_onnx, on, max_batch=2, tf32=True)
    build(tiny_onnx, off, max_batch=2)
    assert infer_precision(off) == "fp32"
    assert infer_precision(on) == "tf32"
    # One TF32 inner product the size of ResNet-50's classifier (2048 post-ReLU features -> 1000
    # logits) already fails FP32 tolerances and passes TF32's.
    rng = np.random.default_rng(0)
    feats = np.maximum(rng.standard_normal((16, 2048)), 0).astype(np.float32)
    weight = (rng.standard_normal((2048, 1000)) * 0.05).astype(np.float32)
    ref = (feats.astype(np.float64) @ weight).astype(np.float32)
    cand = (_round_to_tf32(feats).astype(np.float64) @ _round_to_tf32(weight)).astype(np.float32)
    assert not compare_output("logits", ref, cand, DEFAULT_TOLERANCES["fp32"]).passed
    assert compare_output("logits", ref, cand, DEFAULT_TOLERANCES["tf32"]).passed
    assert json.loads(json.dumps(read_sidecar(on)["precision_plan"]))["path"]  # the sidecar stays JSON
