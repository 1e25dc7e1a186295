"""Real-hardware tests: build and run engines with the installed TensorRT on an NVIDIA GPU.

Marked ``gpu``; they skip (never pass) where TensorRT or a CUDA device is absent, and run as-is on
a machine with both: ``python -m pytest tests/tensorrt/gpu -m gpu -v``.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest


def _why_not() -> str | None:
    spec = importlib.util.find_spec("tensorrt")
    if spec is None or spec.origin is None:  # origin None: the tests/tensorrt namespace folder
        return "TensorRT is not installed"
    from edgeattn.tensorrt.runner import backend_status

    ok, reason = backend_status()
    return None if ok else reason


_REASON = _why_not()
pytestmark = [pytest.mark.gpu, pytest.mark.skipif(_REASON is not None, reason=str(_REASON))]


def _ort(onnx_path, x):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    return sess.run(None, {sess.get_inputs()[0].name: x})[0]


def test_gpu_build_and_run_matches_onnxruntime(tiny_onnx, tmp_path):
    from edgeattn.tensorrt import build, read_sidecar
    from edgeattn.tensorrt.runner import TensorRTRunner

    engine = tmp_path / "tiny.engine"
    cache = tmp_path / "timing.cache"
    result = build(tiny_onnx, engine, max_batch=8, timing_cache=str(cache))
    assert engine.is_file() and cache.is_file()
    side = read_sidecar(engine)
    assert side["gpu"]["compute_capability"] and side["tensorrt"]["version"]
    x = np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)
    with TensorRTRunner(engine) as runner:
        out = runner.run(x)["logits"]
        np.testing.assert_allclose(out, _ort(tiny_onnx, x), rtol=1e-3, atol=1e-4)
        t = runner.last_timing
        assert t["compute_ms"] >= 0 and t["h2d_ms"] >= 0 and t["d2h_ms"] >= 0
        assert runner.run(x[:1])["logits"].shape == (1, 4)
        from edgeattn.errors import InputError

        with pytest.raises(InputError, match="optimization profile"):
            runner.run(np.zeros((9, 3, 8, 8), np.float32))
    assert result.precision == "fp32"
    assert build(tiny_onnx, tmp_path / "again.engine", max_batch=8, timing_cache=str(cache)).timing_cache_status == "reused"


def test_gpu_cuda_graph_and_context_pool(tiny_onnx, tmp_path):
    import threading

    from edgeattn.tensorrt import build
    from edgeattn.tensorrt.runner import TensorRTRunner

    engine = tmp_path / "tiny.engine"
    build(tiny_onnx, engine, max_batch=8)
    xs = [np.random.default_rng(i).standard_normal((2, 3, 8, 8)).astype(np.float32) for i in range(8)]
    with TensorRTRunner(engine, cuda_graph=True, contexts=2) as runner:
        plain = [_ort(tiny_onnx, x) for x in xs]
        got: dict[int, np.ndarray] = {}
        threads = [threading.Thread(target=lambda i=i: got.__setitem__(i, runner.run(xs[i])["logits"])) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for i in range(8):
            np.testing.assert_allclose(got[i], plain[i], rtol=1e-3, atol=1e-4)


def test_gpu_layer_profile(tiny_onnx, tmp_path):
    from edgeattn.bench.layer_groups import block_times
    from edgeattn.tensorrt import build
    from edgeattn.tensorrt.runner import TensorRTRunner

    engine = tmp_path / "tiny.engine"
    build(tiny_onnx, engine, max_batch=2)
    with TensorRTRunner(engine, profile_layers=True) as runner:
        for _ in range(3):
            runner.run(np.ones((1, 3, 8, 8), np.float32))
        layers = runner.layer_times()
        assert layers and all(v >= 0 for v in layers.values())
        assert sum(block_times(runner).values()) == pytest.approx(sum(layers.values()))


@pytest.mark.slow
def test_gpu_se_model_fp32_and_fp16(small_se_model, tmp_path):
    from edgeattn.exporter import export
    from edgeattn.tensorrt import build
    from edgeattn.tensorrt.runner import TensorRTRunner

    onnx_path = tmp_path / "se.onnx"
    export(small_se_model, onnx_path, input_shape=(3, 64, 64), max_batch=4)
    x = np.random.default_rng(0).standard_normal((2, 3, 64, 64)).astype(np.float32)
    ref = _ort(onnx_path, x)
    engine = tmp_path / "se.engine"
    build(onnx_path, engine, max_batch=4)
    with TensorRTRunner(engine) as runner:
        np.testing.assert_allclose(runner.run(x)[runner.outputs[0].name], ref, rtol=1e-2, atol=1e-3)
    try:
        fp16 = build(onnx_path, tmp_path / "se16.engine", max_batch=4, classic_fp16=True)
    except Exception as exc:  # TensorRT 11: no FP16 flag -> clean InputError
        from edgeattn.errors import InputError

        assert isinstance(exc, InputError)
        return
    with TensorRTRunner(fp16.engine_path) as runner:
        out = runner.run(x)[runner.outputs[0].name]
        assert np.abs(out - ref).max() < 0.1 * (np.abs(ref).max() + 1)
