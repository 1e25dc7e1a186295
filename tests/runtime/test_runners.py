import threading
import warnings

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgeattn.errors import BackendUnavailableError, InputError
from edgeattn.runtime import available_backends, backend_for, load
from edgeattn.runtime.onnxruntime_runner import OnnxRuntimeRunner, conflicting_install_message, resolve_providers

try:
    import torch
except ModuleNotFoundError:  # the runtime-only install (scripts/test-py38.sh): the ONNX Runtime tests still run
    torch = None
needs_torch = pytest.mark.skipif(torch is None, reason="needs PyTorch (not in the runtime-only install)")


def _small():
    """Conv 3x3 (3 -> 4) -> ReLU -> spatial mean -> Linear (4 -> 5), seeded."""

    class Small(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            torch.manual_seed(0)
            self.conv = torch.nn.Conv2d(3, 4, 3, padding=1)
            self.fc = torch.nn.Linear(4, 5)

        def forward(self, x):
            return self.fc(torch.relu(self.conv(x)).mean((2, 3)))

    return Small()


def _small_graph() -> onnx.ModelProto:
    """The same network written with onnx.helper (random weights), where there is no torch to export it."""
    rng = np.random.default_rng(0)
    weights = {"conv.weight": (4, 3, 3, 3), "conv.bias": (4,), "fc.weight": (5, 4), "fc.bias": (5,)}
    inits = [
        helper.make_tensor(name, TensorProto.FLOAT, shape, rng.standard_normal(shape).astype(np.float32).ravel())
        for name, shape in weights.items()
    ]
    inits.append(helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3]))
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["image", "conv.weight", "conv.bias"], ["conv"], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["conv"], ["relu"]),
            helper.make_node("ReduceMean", ["relu", "axes"], ["pooled"], keepdims=0),
            helper.make_node("Gemm", ["pooled", "fc.weight", "fc.bias"], ["logits"], transB=1),
        ],
        "small",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["batch", 3, 8, 8])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["batch", 5])],
        inits,
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)], ir_version=8)


@pytest.fixture(scope="module")
def small_onnx(tmp_path_factory):
    path = tmp_path_factory.mktemp("rt") / "small.onnx"
    if torch is None:
        onnx.save(_small_graph(), str(path))
        return path
    torch.onnx.export(
        _small().eval(), (torch.randn(1, 3, 8, 8),), str(path), dynamo=False, input_names=["image"],
        output_names=["logits"], dynamic_axes={"image": {0: "batch"}, "logits": {0: "batch"}}, opset_version=17,
    )
    return path


def test_ort_metadata_keeps_symbolic_dims(small_onnx):
    with load(small_onnx) as runner:
        assert isinstance(runner, OnnxRuntimeRunner)
        (spec,) = runner.inputs
        assert spec.name == "image" and spec.shape == ("batch", 3, 8, 8) and spec.dtype == np.float32
        assert runner.outputs[0].name == "logits"
        info = runner.info()
        assert info.details["providers"] == ["CPUExecutionProvider"] and info.details["fallback"] == []


@needs_torch
def test_ort_matches_torch(small_onnx):
    x = np.random.default_rng(0).normal(size=(3, 3, 8, 8)).astype(np.float32)
    ort_out = load(small_onnx, threads=1).run(x)["logits"]
    torch_out = load(_small()).run(x)["output"]
    np.testing.assert_allclose(ort_out, torch_out, atol=1e-5)


def test_input_checks_name_rank_dtype_shape(small_onnx):
    runner = load(small_onnx)
    with pytest.raises(InputError, match="names do not match"):
        runner.run({"x": np.zeros((1, 3, 8, 8), np.float32)})
    with pytest.raises(InputError, match="rank"):
        runner.run(np.zeros((3, 8, 8), np.float32))
    with pytest.raises(InputError, match="axis 2 must be 8"):
        runner.run(np.zeros((1, 3, 9, 8), np.float32))
    with pytest.raises(InputError, match="dtype complex64"):
        runner.run(np.zeros((1, 3, 8, 8), np.complex64))


def test_integer_pixels_are_refused_for_a_float_input(small_onnx):
    runner = load(small_onnx)
    for dtype in (np.uint8, np.int64, np.bool_):
        with pytest.raises(InputError, match=rf"received dtype {np.dtype(dtype).name}, expected float32 .*scaled and normalised"):
            runner.run(np.zeros((1, 3, 8, 8), dtype))


def test_float64_and_float16_batches_are_cast_to_the_model_dtype(small_onnx):
    runner = load(small_onnx)
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8))
    expected = runner.run(x.astype(np.float32))["logits"]
    np.testing.assert_allclose(runner.run(x)["logits"], expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(runner.run(x.astype(np.float16))["logits"], expected, rtol=1e-2, atol=1e-2)


def test_an_nhwc_batch_is_named_as_such(small_onnx):
    runner = load(small_onnx)
    with pytest.raises(InputError, match=r"axis 1 must be 3\); the batch looks like NHWC .*transpose\(0, 3, 1, 2\)"):
        runner.run(np.zeros((1, 8, 8, 3), np.float32))
    with pytest.raises(InputError, match=r"axis 2 must be 8\)$"):  # no layout hint when it is not NHWC
        runner.run(np.zeros((1, 3, 9, 8), np.float32))


def test_concurrent_runs_equal_sequential(small_onnx):
    rng = np.random.default_rng(1)
    batches = [rng.normal(size=(2, 3, 8, 8)).astype(np.float32) for _ in range(16)]
    for runner in [load(small_onnx, threads=1)] + ([load(_small())] if torch is not None else []):
        name = runner.outputs[0].name
        sequential = [runner.run(b)[name] for b in batches]
        results: list = [None] * len(batches)
        barrier = threading.Barrier(8)

        def work(worker: int, runner=runner, name: str = name, results: list = results, barrier=barrier) -> None:
            barrier.wait()  # start together so the calls really overlap
            for i in range(worker, len(batches), 8):
                results[i] = runner.run(batches[i])[name]

        threads = [threading.Thread(target=work, args=(w,)) for w in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for seq, par in zip(sequential, results):
            np.testing.assert_array_equal(seq, par)


def test_requested_cuda_falls_back_with_a_warning(small_onnx):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        runner = load(small_onnx, providers=["cuda"], provider_options={"cuda": {"device_id": 0}})
    info = runner.info().details
    assert info["requested_providers"] == ["CUDAExecutionProvider", "CPUExecutionProvider"]
    assert info["providers"] == ["CPUExecutionProvider"]
    assert "CUDAExecutionProvider" in info["fallback"]
    assert any("CUDAExecutionProvider" in str(w.message) for w in caught)


def test_provider_names_and_threads_recorded(small_onnx):
    assert resolve_providers("tensorrt,cuda") == ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]
    with pytest.raises(InputError):
        resolve_providers(["gpu-please"])
    assert load(small_onnx, threads=2).info().details["intra_op_threads"] == 2


def test_extra_outputs_copy(small_onnx):
    proto = onnx.load(small_onnx)
    relu = next(n.output[0] for n in proto.graph.node if n.op_type == "Relu")
    runner = OnnxRuntimeRunner(small_onnx, extra_outputs=[relu]).load()
    assert [o.name for o in runner.outputs] == ["logits", relu]
    out = runner.run(np.ones((1, 3, 8, 8), np.float32))
    assert out[relu].shape == (1, 4, 8, 8) and (out[relu] >= 0).all()
    # The file on disk is untouched.
    assert [o.name for o in onnx.load(small_onnx).graph.output] == ["logits"]


@needs_torch
def test_backend_selection():
    assert backend_for("m.onnx") == "onnxruntime"
    assert backend_for("m.engine") == "tensorrt" and backend_for("x.plan") == "tensorrt"
    assert backend_for(_small()) == "torch" and backend_for("se_resnet50") == "torch"
    status = {s.name: s for s in available_backends()}
    assert status["onnxruntime"].available and status["torch"].available
    assert set(status) >= {"torch", "onnxruntime", "tensorrt"}
    assert status["tensorrt"].reason  # always says why


def test_tensorrt_unavailable_is_a_clear_error(tmp_path):
    from edgeattn.runtime.selection import _installed

    if _installed("tensorrt"):
        pytest.skip("TensorRT is installed here")
    engine = tmp_path / "m.engine"
    engine.write_bytes(b"\0")
    with pytest.raises(BackendUnavailableError, match="TensorRT is not installed"):
        load(engine)


def test_unknown_backend_and_engine_on_ort(tmp_path):
    with pytest.raises(InputError, match="backend"):
        load("m.onnx", backend="tvm")
    with pytest.raises(InputError, match="TensorRT engine"):
        load(tmp_path / "m.engine", backend="onnxruntime")


def test_custom_domain_without_function_fails_at_load(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("SqueezeExcite", ["x"], ["y"], domain="edgeattn")], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 2])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("edgeattn", 1)])
    onnx.save(model, tmp_path / "nofunc.onnx")
    from edgeattn.errors import ExportError

    with pytest.raises(ExportError, match="cannot load"):
        load(tmp_path / "nofunc.onnx")


def test_conflicting_install_detection(monkeypatch):
    from edgeattn.runtime import onnxruntime_runner as mod

    monkeypatch.setattr(mod, "ort_distributions", lambda: ["onnxruntime", "onnxruntime-gpu"])
    message = conflicting_install_message()
    assert message and "onnxruntime-gpu" in message
    monkeypatch.setattr(mod, "ort_distributions", lambda: ["onnxruntime"])
    assert conflicting_install_message() is None


@needs_torch
def test_torch_runner_outputs_and_hooks():
    from edgeattn.runtime.torch_runner import TorchRunner

    runner = TorchRunner(_small(), input_shape=("batch", 3, 8, 8)).load()
    assert TorchRunner(_small()).load().inputs[0].shape == ("batch", 3, "height", "width")
    assert runner.outputs[0].shape == ("batch", 5)
    outs, captured = runner.run_with_hooks(np.ones((1, 3, 8, 8), np.float32), ["conv"])
    assert captured["conv"].shape == (1, 4, 8, 8)
    with pytest.raises(InputError, match="not in the model"):
        runner.run_with_hooks(np.ones((1, 3, 8, 8), np.float32), ["nope"])


@needs_torch
def test_ort_only_options_do_not_reach_other_backends():
    from edgeattn.runtime.torch_runner import TorchRunner

    runner = load(_small(), providers=["cuda"], optimization_level="basic", threads=1)
    assert isinstance(runner, TorchRunner) and runner.run(np.ones((1, 3, 8, 8), np.float32))["output"].shape == (1, 5)
