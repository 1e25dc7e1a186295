"""The OpenVINO runner: folded exports (functions inlined) and Q/DQ INT8 artifacts run and agree with ORT."""

import sys

import numpy as np
import pytest

from edgeattn.bench import benchmark
from edgeattn.errors import BackendUnavailableError, InputError
from edgeattn.runtime import load

pytest.importorskip("openvino")


@pytest.fixture(scope="module")
def folded_se(tiny_se_model, tmp_path_factory):
    from edgeattn.exporter import export

    path = tmp_path_factory.mktemp("ov") / "se_tiny.onnx"
    export(tiny_se_model, path, input_shape=(1, 3, 32, 32), dynamic_batch=False)
    return path


def _x(shape=(1, 3, 32, 32)):
    return np.random.default_rng(0).standard_normal(shape).astype(np.float32)


def test_openvino_matches_onnxruntime_on_a_folded_export(folded_se):
    import onnx

    assert any(f.domain == "edgeattn" for f in onnx.load(str(folded_se)).functions)  # needs inlining
    with load(folded_se, backend="ov", threads=1) as ov, load(folded_se, threads=1) as ort:
        assert ov.backend == "openvino"
        assert [s.name for s in ov.inputs] == [s.name for s in ort.inputs]
        assert [s.name for s in ov.outputs] == [s.name for s in ort.outputs]
        x = _x()
        got, ref = ov.run(x)["logits"], ort.run(x)["logits"]
        np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4)
        second = ov.run(-x)["logits"]  # outputs are copies, not the request's reused buffer
        assert not np.allclose(got, second)
        details = ov.info().details
        assert details["inference_precision"] == "f32" and details["inference_threads"] == "1"


def test_openvino_runs_a_qdq_int8_artifact(folded_se, tmp_path):
    from edgeattn.exporter.quantize import quantize

    int8 = tmp_path / "se_tiny_int8.onnx"
    quantize(folded_se, int8, "int8", calibration=_x((8, 3, 32, 32)), progress=False, use_cache=False)
    x = _x()
    with load(int8, backend="openvino", threads=1) as ov, load(int8, threads=1) as ort, load(folded_se, threads=1) as fp32:
        got, ref, full = ov.run(x)["logits"], ort.run(x)["logits"], fp32.run(x)["logits"]
    # Both INT8 runtimes land near the FP32 result; neither is exact.
    scale = np.abs(full).max()
    assert np.abs(got - full).max() < 0.25 * scale and np.abs(ref - full).max() < 0.25 * scale
    assert not np.array_equal(got, full)


def test_openvino_takes_only_onnx(tmp_path):
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"x")
    with pytest.raises(InputError, match="TensorRT engine"):
        load(engine, backend="openvino")
    with pytest.raises(InputError, match="expected an .onnx file"):
        load(object(), backend="openvino")
    with pytest.raises(InputError, match="inference precision"):
        from edgeattn.runtime.openvino_runner import OpenVINORunner

        OpenVINORunner(engine, inference_precision="int4")


def test_missing_openvino_is_a_one_line_error_naming_the_extra(folded_se, monkeypatch):
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino -> ImportError
    with pytest.raises(BackendUnavailableError) as info:
        load(folded_se, backend="openvino")
    assert "OpenVINO is not installed" in info.value.message and "edgeattn[bench]" in str(info.value.hint)


def test_bench_times_an_onnx_on_both_cpu_backends(folded_se):
    report = benchmark([folded_se], backend=["onnxruntime", "openvino"], iterations=2, warmup=1, rounds=1, threads=1)
    assert [(r.variant, r.backend) for r in report.results] == [
        ("se_tiny.onnx [onnxruntime]", "onnxruntime"), ("se_tiny.onnx [openvino]", "openvino"),
    ]
    assert all(r.stats and r.stats.count == 2 for r in report.results)
    # --threads reaches both backends (the report reads OpenVINO's compiled setting back).
    assert report.results[0].runner["intra_op_threads"] == 1
    assert report.results[1].runner["threads"] == 1 and report.results[1].runner["inference_threads"] == "1"


def test_validate_runs_an_artifact_on_openvino(folded_se, tiny_se_model):
    from edgeattn.validation import validate

    report = validate([folded_se], model=tiny_se_model, backend="openvino", num_samples=2, localize=False)
    assert bool(report) and report.artifacts[0].backend == "openvino"
    assert report.artifacts[0].runner["inference_precision"] == "f32"
