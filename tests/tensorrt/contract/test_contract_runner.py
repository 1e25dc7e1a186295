"""Contract tests: the TensorRT runner's call sequence against every generation x CUDA runtime 11/12/13.

The stand-ins verify API usage, not TensorRT's behaviour: their "kernel" writes
output[b, j] = mean(input[b]) + j and runs only when the stream is synchronized.
"""

from __future__ import annotations

import json
import threading
import warnings

import numpy as np
import pytest

from edgeattn.errors import BackendUnavailableError, EngineCompatibilityError, InputError
from edgeattn.tensorrt import build, sidecar_path
from edgeattn.bench.layer_groups import block_times
from edgeattn.tensorrt.runner import TensorRTRunner

GENERATIONS = ("8.5", "8.6", "10.3", "10.16", "11.0", "11.1")
CUDA = ("12", "13")


def expected(x: np.ndarray) -> np.ndarray:
    return x.reshape(x.shape[0], -1).astype(np.float64).mean(axis=1)[:, None] + np.arange(4)


@pytest.fixture
def engine(make_world, tiny_onnx, tmp_path, request):
    gen, cuda = request.param

    def _make(contexts=1, **world_knobs):
        world = make_world(gen, cuda, **world_knobs)
        path = tmp_path / "tiny.engine"
        build(tiny_onnx, path, max_batch=8, contexts=contexts)
        world.calls.clear()
        return world, path

    return _make


ALL = [(g, c) for g in GENERATIONS for c in CUDA] + [("8.5", "11")]  # JetPack 5.1: CUDA 11.4


@pytest.mark.parametrize("engine", ALL, indirect=True, ids=[f"trt{g}-cuda{c}" for g, c in ALL])
def test_contract_runner_sequence(engine):
    world, path = engine()
    x = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
    with TensorRTRunner(path) as runner:
        out = runner.run({"input": x})
        names = world.names()
        # order within one run (docs/tensorrt.md F3)
        setup_end = len(names) - 1 - names[::-1].index("cudart.cudaEventCreate")  # the slot's last setup call
        run_start = names.index("IExecutionContext.set_input_shape", setup_end)
        seq = [
            names.index("IExecutionContext.set_input_shape", run_start),
            names.index("IExecutionContext.set_tensor_address", run_start),
            names.index("cudart.cudaMemcpyAsync", run_start),
            names.index("IExecutionContext.execute_async_v3", run_start),
            names.index("cudart.cudaStreamSynchronize", run_start),
        ]
        assert seq == sorted(seq)
        assert names.index("cudart.cudaMallocHost") < run_start  # pinned host buffers, allocated once
        # the stream handle passed to TensorRT is the int cudaStreamCreate wrote
        ex = next(c for c in world.calls if c[0] == "IExecutionContext.execute_async_v3")
        assert isinstance(ex[1][0], int) and ex[1][0] in world.streams
        # the CUDA runtime library through ctypes, never cuda-python
        assert not [m for m in world.import_attempts if m.split(".")[0] == "cuda"]
        np.testing.assert_allclose(out["logits"], expected(x), rtol=1e-5)
        assert set(runner.last_timing) >= {"h2d_ms", "compute_ms", "d2h_ms", "total_ms"}
        assert runner.last_timing["compute_ms"] > 0
        # a second run at the same shape does not re-set shapes or addresses
        n_shape = world.count("IExecutionContext.set_input_shape")
        x2 = x[:3] * 2
        np.testing.assert_allclose(runner.run(x2)["logits"], expected(x2), rtol=1e-5)
        assert world.count("IExecutionContext.set_input_shape") == n_shape
        # dynamic batch inside the profile: new shape set, output sliced to the batch
        x5 = np.ones((5, 3, 8, 8), np.float32)
        assert runner.run(x5)["logits"].shape == (5, 4)
        info = runner.info()
        assert info.backend == "tensorrt" and "Standin GPU" in info.device
    # everything allocated was freed
    assert world.memory == {}
    # cuda-python 13 removed cuda.cudart: never imported
    assert "cuda.cudart" not in world.import_attempts


@pytest.mark.parametrize("engine", [("10.16", "13"), ("8.5", "12")], indirect=True)
def test_contract_runner_profile_range_error(engine):
    world, path = engine()
    with TensorRTRunner(path) as runner:
        specs = runner.inputs
        assert specs[0].shape == ("batch", 3, 8, 8)
        with pytest.raises(InputError, match=r"outside the engine's optimization profile \(min 1x3x8x8, max 8x3x8x8\)"):
            runner.run(np.zeros((9, 3, 8, 8), np.float32))
        assert "IExecutionContext.execute_async_v3" not in world.names()


@pytest.mark.parametrize("engine", [("10.16", "13"), ("11.1", "12"), ("8.6", "12")], indirect=True)
def test_contract_runner_cuda_graph_capture_and_replay(engine):
    world, path = engine()
    x = np.random.default_rng(2).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with TensorRTRunner(path, cuda_graph=True) as runner:
        runner.run(x)  # plain run first (TensorRT needs one before capture)
        assert "cudart.cudaStreamBeginCapture" not in world.names()
        out = runner.run(x + 1)
        names = world.names()
        begin = names.index("cudart.cudaStreamBeginCapture")
        assert names.index("IExecutionContext.execute_async_v3", begin) < names.index("cudart.cudaStreamEndCapture")
        assert names.index("cudart.cudaGraphInstantiateWithFlags") < names.index("cudart.cudaGraphLaunch")
        begin_call = next(c for c in world.calls if c[0] == "cudart.cudaStreamBeginCapture")
        assert begin_call[1][1] == 1  # cudaStreamCaptureModeThreadLocal: pool threads keep running
        np.testing.assert_allclose(out["logits"], expected(x + 1), rtol=1e-5)
        n_exec = world.count("IExecutionContext.execute_async_v3")
        out3 = runner.run(x * 3)
        assert world.count("IExecutionContext.execute_async_v3") == n_exec  # replayed, not enqueued
        np.testing.assert_allclose(out3["logits"], expected(x * 3), rtol=1e-5)
        assert runner.last_timing["cuda_graph"] == 1.0
        runner.run(np.ones((4, 3, 8, 8), np.float32))  # new shape: graph dropped
        assert world.count("cudart.cudaGraphExecDestroy") == 1


@pytest.mark.parametrize("engine", [("10.16", "13")], indirect=True)
def test_contract_runner_cuda_graph_fallback(engine):
    world, path = engine(capture_unsupported=True)
    x = np.ones((1, 3, 8, 8), np.float32)
    with TensorRTRunner(path, cuda_graph=True) as runner:
        runner.run(x)
        out = runner.run(x)
        assert runner.graph_fallback_reason
        assert "cudart.cudaGraphLaunch" not in world.names()
        names = world.names()
        # the failed capture's error is cleared, so it does not surface in a later call
        assert names.index("cudart.cudaGetLastError", names.index("cudart.cudaStreamEndCapture"))
        np.testing.assert_allclose(out["logits"], expected(x), rtol=1e-5)
        runner.run(x)
        assert world.count("cudart.cudaStreamBeginCapture") == 1  # not retried
        assert runner.info().details["cuda_graph"] is False


@pytest.mark.parametrize("engine", [("10.16", "13"), ("8.6", "13"), ("8.5", "12")], indirect=True)
def test_contract_runner_context_pool_threads(engine):
    world, path = engine(contexts=3)  # 8.5: three profiles, one per context (F14)
    rng = np.random.default_rng(3)
    batches = [rng.standard_normal((1 + i % 4, 3, 8, 8)).astype(np.float32) for i in range(16)]
    results: dict[int, np.ndarray] = {}
    with TensorRTRunner(path, contexts=3) as runner:
        assert world.count("ICudaEngine.create_execution_context") == 3

        def work(i: int) -> None:
            results[i] = runner.run(batches[i])["logits"]

        threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    for i, x in enumerate(batches):
        np.testing.assert_allclose(results[i], expected(x), rtol=1e-5)


@pytest.mark.parametrize("engine", [("10.16", "13"), ("8.5", "12")], indirect=True)
def test_contract_runner_layer_profiler_grouped_by_block(engine):
    world, path = engine()
    with TensorRTRunner(path, profile_layers=True, cuda_graph=True) as runner:
        assert runner.cuda_graph is False  # graphs are off while profiling
        runner.run(np.ones((1, 3, 8, 8), np.float32))
        runner.run(np.ones((1, 3, 8, 8), np.float32))
        layers = runner.layer_times()
        assert layers["layer1.0.se.channel/Sigmoid"] == pytest.approx(0.5)  # mean per run
        blocks = block_times(runner)
        assert blocks["layer1.0.se.channel"] == pytest.approx(1.5)
        assert blocks["(other)"] == pytest.approx(1.5)
    assert "IExecutionContext.profiler=" in world.names()


@pytest.mark.parametrize("engine", [("10.16", "13")], indirect=True)
def test_contract_runner_refuses_mismatched_engine_before_deserializing(engine):
    world, path = engine()
    side = json.loads(sidecar_path(path).read_text())
    side["tensorrt"]["version"] = "10.3.0.26"
    side["gpu"]["compute_capability"] = "7.2"
    sidecar_path(path).write_text(json.dumps(side))
    with pytest.raises(EngineCompatibilityError) as info:
        TensorRTRunner(path).load()
    msg = str(info.value)
    assert "engine built with 10.3.0.26" in msg and "10.16.0.72" in msg and "7.2" in msg
    assert info.value.hint.startswith("rebuild it here from its ONNX: edgeattn build ")
    assert "Runtime.deserialize_cuda_engine" not in world.names()


@pytest.mark.parametrize("engine", [("10.16", "13")], indirect=True)
def test_contract_runner_plan_from_other_version_without_sidecar(engine, make_world, tmp_path):
    world, path = engine()
    sidecar_path(path).unlink()
    make_world("11.1", "13")  # now the machine has TensorRT 11.1; the plan is a 10.16 one
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        with pytest.raises(EngineCompatibilityError, match="Version tag does not match"):
            TensorRTRunner(path).load()


@pytest.mark.parametrize("engine", [("8.6", "12"), ("11.1", "13"), ("8.5", "13")], indirect=True)
def test_contract_runner_version_compatible_host_code(engine, make_world, tiny_onnx, tmp_path):
    world, _ = engine()
    gen = world.trt_generation
    path = tmp_path / "vc.engine"
    if gen == "8.5":
        with pytest.raises(InputError):
            build(tiny_onnx, path, version_compatible=True)
        return
    build(tiny_onnx, path, version_compatible=True)
    world.calls.clear()
    with TensorRTRunner(path) as runner:
        runner.run(np.ones((1, 3, 8, 8), np.float32))
    names = world.names()
    assert names.index("Runtime.engine_host_code_allowed=") < names.index("Runtime.deserialize_cuda_engine")


@pytest.mark.parametrize("cuda", ["11", "12", "13"])
def test_contract_runner_no_cuda_device(make_world, tiny_onnx, tmp_path, cuda):
    make_world("10.16", cuda, device_count=0)
    path = tmp_path / "x.engine"
    path.write_bytes(b"plan")
    with pytest.raises(BackendUnavailableError, match="no CUDA device"):
        TensorRTRunner(path).load()


def test_contract_cuda_runtime_library_not_cuda_python(make_world):
    from edgeattn.platform import cuda as _cuda

    for gen, soname in (("11", "libcudart.so.11.0"), ("12", "libcudart.so.12"), ("13", "libcudart.so.13")):
        world = make_world("10.16", gen)
        rt = _cuda.load_runtime()
        assert rt.path == soname and rt.versions()["cuda_runtime"] == {"11": "11.4", "12": "12.6", "13": "13.0"}[gen]
        assert not [m for m in world.import_attempts if m.split(".")[0] == "cuda"]
    make_world("10.16", None)
    with pytest.raises(BackendUnavailableError, match=r"CUDA runtime library \(libcudart\) was not found"):
        _cuda.load_runtime()


def test_contract_jetpack_5_1_device_runs_on_its_cuda_11_4(make_world, tiny_onnx, tmp_path):
    """JetPack 5.1 reports a CUDA 11.4 driver: its own libcudart works, a CUDA 12/13 runtime does not (F15)."""
    from edgeattn.platform import cuda as _cuda

    make_world("8.5", "11", driver_version=11040)
    engine = tmp_path / "m.engine"
    build(tiny_onnx, engine, max_batch=2)
    with TensorRTRunner(engine) as runner:
        np.testing.assert_allclose(runner.run(np.ones((1, 3, 8, 8), np.float32))["logits"], expected(np.ones((1, 3, 8, 8))))
        assert runner.info().details["cuda_driver"] == "11.4"
    make_world("8.5", "13", driver_version=11040)  # what cuda-python 13 would bring along
    with pytest.raises(BackendUnavailableError, match=r"no CUDA device \(cudaErrorInsufficientDriver\)"):
        _cuda.load_runtime().require_device(0)


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_backend_status(make_world, gen):
    from edgeattn.tensorrt.runner import backend_status

    make_world(gen, "13")
    ok, reason = backend_status()
    assert ok and reason.startswith("TensorRT ") and "Standin GPU (compute 8.7)" in reason
    make_world(gen, "12", device_count=0)
    assert backend_status() == (False, backend_status()[1]) and "no CUDA device" in backend_status()[1]


@pytest.mark.parametrize("engine", [("10.16", "13")], indirect=True)
def test_contract_runner_failed_load_frees_memory(engine, monkeypatch):
    world, path = engine(fail_stream_create_at=2)  # the second context's stream fails
    from edgeattn.platform.cuda import CudaError

    runner = TensorRTRunner(path, contexts=2)
    with pytest.raises(CudaError, match="cudaStreamCreate failed: cudaErrorMemoryAllocation"):
        runner.load()
    assert world.memory == {}  # every buffer of both contexts freed
    assert not runner.is_loaded


def _folded_onnx(path):
    """Two call sites of an edgeattn::Gate local function (as `edgeattn export --fold functions`)."""
    import onnx
    from onnx import TensorProto, helper

    body = [helper.make_node("GlobalAveragePool", ["x"], ["p"], name="Gate_0_GlobalAveragePool"),
            helper.make_node("Sigmoid", ["p"], ["s"], name="Gate_1_Sigmoid"),
            helper.make_node("Mul", ["x", "s"], ["y"], name="Gate_2_Mul")]
    fn = helper.make_function("edgeattn", "Gate", ["x"], ["y"], body, [helper.make_opsetid("", 17)])
    nodes = [helper.make_node("Gate", ["input"], ["a"], name="layer1.0.se", domain="edgeattn"),
             helper.make_node("Relu", ["a"], ["r"], name="node_relu"),
             helper.make_node("Gate", ["r"], ["b"], name="layer2.0.se", domain="edgeattn"),
             helper.make_node("GlobalAveragePool", ["b"], ["g"], name="head_pool"),
             helper.make_node("Flatten", ["g"], ["logits"], name="head_flatten")]
    x = helper.make_tensor_value_info("input", TensorProto.FLOAT, ["batch", 4, 8, 8])
    y = helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 4])
    model = helper.make_model(helper.make_graph(nodes, "g", [x], [y]), functions=[fn],
                              opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("edgeattn", 1)])
    meta = model.metadata_props.add()
    meta.key, meta.value = "edgeattn.blocks", json.dumps(
        [{"name": "layer1.0.se", "op_type": "SqueezeExcite"}, {"name": "layer2.0.se", "op_type": "SqueezeExcite"}])
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize("gen", GENERATIONS)
def test_contract_block_times_for_inlined_local_functions(make_world, tmp_path, gen):
    make_world(gen, "13")  # installs the stand-ins for this generation
    engine = tmp_path / "folded.engine"
    build(_folded_onnx(tmp_path / "folded.onnx"), engine, max_batch=2)
    with TensorRTRunner(engine, profile_layers=True) as runner:
        runner.run(np.ones((1, 4, 8, 8), np.float32))
        # build inlined the calls itself: the second call site's layer carries its block path
        assert "layer2.0.se/Gate_1_Sigmoid" in runner.layer_times()
        blocks = block_times(runner)
    # 3 inlined layers per call site at 0.5 ms each; relu + pool + flatten elsewhere
    assert blocks == {"layer1.0.se": 1.5, "layer2.0.se": 1.5, "(other)": 1.5}


def test_contract_benchmark_script_runs(make_world, tiny_onnx, monkeypatch, capsys):
    import importlib.util
    import pathlib

    make_world("10.16", "13")
    script = pathlib.Path(__file__).parents[3] / "benchmarks" / "tensorrt_runner_modes.py"
    spec = importlib.util.spec_from_file_location("tensorrt_runner_modes", script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr("sys.argv", ["x", str(tiny_onnx), "--rounds", "1", "--iters", "4"])
    assert module.main() == 0
    out = capsys.readouterr().out
    assert "cuda_graph" in out and "pool2_threads2" in out and "Standin GPU" in out


@pytest.mark.parametrize("engine", [("10.16", "13")], indirect=True)
def test_contract_runner_ignores_stale_sidecar(engine, make_world, tiny_onnx, tmp_path):
    world, path = engine()
    side = json.loads(sidecar_path(path).read_text())
    side["gpu"]["compute_capability"] = "7.2"  # would refuse the engine if trusted
    side["engine"]["sha256"] = "0" * 64  # ... but it describes another file
    sidecar_path(path).write_text(json.dumps(side))
    with pytest.warns(RuntimeWarning, match="describes another engine"):
        runner = TensorRTRunner(path).load()
    assert runner.sidecar is None
    runner.close()


@pytest.mark.parametrize("engine", [("10.16", "13")], indirect=True)
def test_contract_runner_missing_engine(engine, tmp_path):
    with pytest.raises(InputError, match="engine file not found"):
        TensorRTRunner(tmp_path / "nope.engine").load()


@pytest.mark.parametrize("engine", [("8.5", "13")], indirect=True)
def test_contract_8_5_engine_with_one_profile_runs_one_context(engine):
    world, path = engine()
    with pytest.warns(RuntimeWarning, match=r"its own optimization profile .* running 1 context\(s\), not 3 \(rebuild with --contexts 3\)"):
        runner = TensorRTRunner(path, contexts=3).load()
    with runner:
        assert runner.num_contexts == 1 and world.count("ICudaEngine.create_execution_context") == 1
        np.testing.assert_allclose(runner.run(np.ones((2, 3, 8, 8), np.float32))["logits"], 1 + np.arange(4)[None].repeat(2, 0))


@pytest.mark.parametrize("engine", [("8.5", "13")], indirect=True)
def test_contract_8_5_contexts_select_their_own_profile(engine):
    world, path = engine(contexts=3)
    side = json.loads(sidecar_path(path).read_text())
    assert side["contexts"] == {"shared_profile": False, "profiles": 3}
    with TensorRTRunner(path, contexts=3):
        chosen = [c[1][0] for c in world.calls if c[0] == "IExecutionContext.set_optimization_profile_async"]
        assert chosen == [1, 2]


@pytest.mark.parametrize("engine", [("8.6", "13")], indirect=True)
def test_contract_8_6_sets_profile_sharing_alone(engine):
    world, path = engine()
    # built: only PROFILE_SHARING_0806 was touched, the 0805 features (default on) stay on
    side = json.loads(sidecar_path(path).read_text())
    assert side["contexts"] == {"shared_profile": True, "profiles": 1, "preview_feature": "PROFILE_SHARING_0806"}
    with TensorRTRunner(path, contexts=2) as runner:
        assert runner.num_contexts == 2


def test_contract_8_6_build_keeps_default_preview_features(make_world, tiny_onnx, tmp_path):
    world = make_world("8.6", "13")
    import tensorrt as trt

    build(tiny_onnx, tmp_path / "m.engine", max_batch=4)
    touched = [(c[1][0], c[1][1]) for c in world.calls if c[0] == "IBuilderConfig.set_preview_feature"]
    assert touched == [(trt.PreviewFeature.PROFILE_SHARING_0806, True)]
    plan = json.loads((tmp_path / "m.engine").read_bytes())
    assert set(plan["preview"]) == {"PROFILE_SHARING_0806", "FASTER_DYNAMIC_SHAPES_0805",
                                    "DISABLE_EXTERNAL_TACTIC_SOURCES_FOR_CORE_0805"}
