"""ONNX Runtime TensorRT/CUDA execution provider option mapping (names from ORT's provider info)."""

from __future__ import annotations

import pytest

from edgeattn.errors import BackendUnavailableError, InputError
from edgeattn.runtime import ort_providers as ot


def test_tensorrt_options_with_caches_and_profiles(tmp_path):
    opts = ot.tensorrt_provider_options(
        fp16=True, cache_dir=tmp_path / "cache", min_shapes={"input": (1, 3, 224, 224)},
        opt_shapes={"input": (1, 3, 224, 224)}, max_shapes={"input": (8, 3, 224, 224)},
        builder_optimization_level=5, max_workspace_size=1 << 30, dla_core=0,
    )
    assert opts["trt_fp16_enable"] == "True"
    assert opts["trt_engine_cache_enable"] == "True"
    assert opts["trt_engine_cache_path"] == str(tmp_path / "cache") == opts["trt_timing_cache_path"]
    assert (tmp_path / "cache").is_dir()
    assert opts["trt_timing_cache_enable"] == "True"
    assert opts["trt_profile_max_shapes"] == "input:8x3x224x224"
    assert opts["trt_builder_optimization_level"] == "5"
    assert opts["trt_max_workspace_size"] == str(1 << 30)
    assert (opts["trt_dla_enable"], opts["trt_dla_core"]) == ("True", "0")
    assert "trt_int8_enable" not in opts
    assert all(isinstance(v, str) for v in opts.values())


def test_tensorrt_options_int8_and_no_cache():
    opts = ot.tensorrt_provider_options(int8=True, int8_calibration_table="calib.flatbuffers", cache_dir=None)
    assert opts["trt_int8_enable"] == "True"
    assert opts["trt_int8_calibration_table_name"] == "calib.flatbuffers"
    assert not any(k.startswith("trt_engine_cache") or k.startswith("trt_timing_cache") for k in opts)


def test_tensorrt_profile_shapes_need_all_three():
    with pytest.raises(InputError, match="min_shapes, opt_shapes and max_shapes"):
        ot.tensorrt_provider_options(cache_dir=None, max_shapes={"input": (8, 3, 224, 224)})
    with pytest.raises(InputError, match="0..5"):
        ot.tensorrt_provider_options(cache_dir=None, builder_optimization_level=7)


def test_cuda_options():
    opts = ot.cuda_provider_options(gpu_mem_limit=2 << 30, cudnn_conv_algo_search="HEURISTIC", cuda_graph=True)
    assert opts["cudnn_conv_algo_search"] == "HEURISTIC"
    assert opts["enable_cuda_graph"] == "True"
    assert opts["gpu_mem_limit"] == str(2 << 30)
    with pytest.raises(InputError):
        ot.cuda_provider_options(arena_extend_strategy="grow")


def test_provider_lists_end_with_cpu():
    trt = ot.providers("tensorrt", tensorrt_options={"device_id": "0"})
    assert [p[0] if isinstance(p, tuple) else p for p in trt] == [ot.TRT_EP, ot.CUDA_EP, ot.CPU_EP]
    assert ot.providers("cuda")[-1] == ot.CPU_EP and ot.providers("cuda")[0][0] == ot.CUDA_EP
    with pytest.raises(InputError):
        ot.providers("rocm")


def test_check_providers_detects_silent_cpu_fallback(tiny_onnx):
    import onnxruntime as ort

    sess = ort.InferenceSession(str(tiny_onnx), providers=["CPUExecutionProvider"])
    with pytest.raises(BackendUnavailableError, match="did not activate TensorrtExecutionProvider"):
        ot.check_providers(sess, ot.TRT_EP)
    assert ot.check_providers(sess, ot.CPU_EP) == ["CPUExecutionProvider"]


def test_options_plug_into_the_onnxruntime_runner(tiny_onnx, tmp_path):
    """The documented use: edgeattn's ORT runner with these options (falls back to CPU here)."""
    import numpy as np

    import edgeattn.runtime as rt

    with pytest.warns(RuntimeWarning, match="no TensorrtExecutionProvider"):
        runner = rt.load(
            str(tiny_onnx), backend="onnxruntime", providers="tensorrt,cuda",
            provider_options={"tensorrt": ot.tensorrt_provider_options(cache_dir=tmp_path / "c"),
                              "cuda": ot.cuda_provider_options()},
        )
    with runner:
        assert runner.run(np.ones((2, 3, 8, 8), np.float32))["logits"].shape == (2, 4)
        with pytest.raises(BackendUnavailableError):
            ot.check_providers(runner.session, ot.TRT_EP)
