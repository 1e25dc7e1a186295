from __future__ import annotations

import time
import json

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from edgeattn.bench import Variant, benchmark, latency_stats
from edgeattn.bench.profile import node_flops, profile_blocks
from edgeattn.graph import inline_functions
from edgeattn.errors import InputError
from edgeattn.runtime.base import Runner, TensorSpec
from edgeattn.runtime.selection import BACKENDS, BackendStatus, register_backend


def test_latency_stats_by_hand():
    st = latency_stats([0.005, 0.001, 0.003, 0.002, 0.004], batch_size=4)
    assert (st.min_ms, st.p50_ms, st.max_ms, st.count) == pytest.approx((1.0, 3.0, 5.0, 5))
    assert st.mean_ms == pytest.approx(3.0)
    assert st.p90_ms == pytest.approx(4.6)  # linear interpolation between 4 and 5
    assert st.throughput == pytest.approx(4 * 1000 / 3.0)


CALLS: list[str] = []


class FakeRunner(Runner):
    backend = "fake"

    def __init__(self, target, batch=None, **_):
        super().__init__()
        self.target = target
        self.batch = batch

    def _load_impl(self):
        pass

    @property
    def inputs(self):
        return [TensorSpec("x", np.dtype(np.float32), (self.batch or "batch", 2, 3, 3))]

    @property
    def outputs(self):
        return [TensorSpec("y", np.dtype(np.float32), ("batch",))]

    def _run_impl(self, feed):
        CALLS.append(self.target)
        return {"y": feed["x"].sum(axis=(1, 2, 3))}


@pytest.fixture()
def fake_backend():
    CALLS.clear()
    register_backend("fake", lambda t, **o: FakeRunner(t, **o), lambda: BackendStatus("fake", True, "test double"))
    yield
    BACKENDS.pop("fake", None)


def test_rounds_are_interleaved_and_counted(fake_backend):
    report = benchmark(
        [Variant("A", "fake", "A"), Variant("B", "fake", "B")], iterations=12, warmup=2, rounds=4, batch_sizes=[1, 3]
    )
    for batch in (1, 3):
        assert report.result("A", batch).stats.count == 12 and report.result("B", batch).stats.count == 12
    timed = CALLS[4:28]  # after the 2+2 warm-up runs of batch 1
    # Each round runs 3 of A then 3 of B (or B then A): never all of A first.
    assert timed[:3] == ["A"] * 3 and timed[3:6] == ["B"] * 3 and timed[6:9] == ["B"] * 3
    first_b = timed.index("B")
    last_a = len(timed) - 1 - timed[::-1].index("A")
    assert first_b < last_a
    assert report.settings["interleaved"] is True
    assert report.ratio("A", "B") is not None


def test_duration_mode_and_fixed_batch_skip(fake_backend):
    report = benchmark(
        [Variant("A", "fake", "A", {"batch": 1})], duration=0.05, warmup=0, rounds=5, batch_sizes=[1, 2]
    )
    assert report.result("A", 1).stats.count >= 5
    skipped = report.result("A", 2)
    assert skipped.stats is None and "fixed at 1" in skipped.skipped


def test_argument_errors(fake_backend):
    with pytest.raises(InputError):
        benchmark([Variant("A", "fake")], iterations=5, duration=1.0)
    with pytest.raises(InputError):
        benchmark([Variant("A", "fake")], batch_sizes=[0])
    with pytest.raises(InputError, match="backend"):
        benchmark(["m.onnx"], backend="tvm")


def test_runners_loaded_before_a_failing_one_are_closed(fake_backend):
    closed: list[str] = []

    class Closing(FakeRunner):
        def _load_impl(self):
            if self.target == "bad":
                raise InputError("cannot load bad")

        def _close_impl(self):
            closed.append(self.target)

    register_backend("fake", lambda t, **o: Closing(t, **o), lambda: BackendStatus("fake", True, "test double"))
    with pytest.raises(InputError, match="cannot load bad"):
        benchmark([Variant("A", "fake", "A"), Variant("bad", "fake", "bad")], iterations=1)
    assert closed == ["A"]


def _se_function():
    return helper.make_function(
        "edgeattn", "SqueezeExcite", ["X", "W"], ["Y"],
        [
            helper.make_node("GlobalAveragePool", ["X"], ["p"]),
            helper.make_node("Conv", ["p", "W"], ["c"]),
            helper.make_node("Sigmoid", ["c"], ["s"]),
            helper.make_node("Mul", ["X", "s"], ["Y"]),
        ],
        [helper.make_opsetid("", 18)],
    )


@pytest.fixture()
def folded_model(tmp_path):
    rng = np.random.default_rng(0)
    w_se = helper.make_tensor("w_se", TensorProto.FLOAT, [8, 8, 1, 1], rng.normal(size=64).astype(np.float32).tolist())
    w_conv = helper.make_tensor("w_conv", TensorProto.FLOAT, [8, 8, 3, 3], rng.normal(size=576).astype(np.float32).tolist())
    graph = helper.make_graph(
        [
            helper.make_node("Conv", ["x", "w_conv"], ["a"], name="conv1", pads=[1, 1, 1, 1]),
            helper.make_node("SqueezeExcite", ["a", "w_se"], ["b"], name="layer1.0.se", domain="edgeattn"),
            helper.make_node("SqueezeExcite", ["b", "w_se"], ["b2"], name="layer2.0.se", domain="edgeattn"),
            helper.make_node("Relu", ["b2"], ["y"], name="relu"),
        ],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 8, 16, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 8, 16, 16])],
        [w_se, w_conv],
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("edgeattn", 1)], functions=[_se_function()]
    )
    onnx.checker.check_model(model, full_check=True)
    path = tmp_path / "folded.onnx"
    onnx.save(model, path)
    return path


def test_inline_functions_prefixes_nodes_and_tensors(folded_model):
    inlined, blocks = inline_functions(onnx.load(folded_model))
    assert blocks == {"layer1.0.se": "SqueezeExcite", "layer2.0.se": "SqueezeExcite"}
    names = [n.name for n in inlined.graph.node]
    assert names[0] == "conv1" and names[-1] == "relu"
    assert sum(n.startswith("layer1.0.se/") for n in names) == 4
    assert all(n.domain != "edgeattn" for n in inlined.graph.node) and not inlined.functions
    internal = [t for n in inlined.graph.node if n.name.startswith("layer2.0.se/") for t in n.output]
    assert internal[:3] == ["layer2.0.se/p", "layer2.0.se/c", "layer2.0.se/s"] and internal[3] == "b2"
    # Same numbers as the original (ORT inlines the function itself there).
    import onnxruntime as ort

    x = np.random.default_rng(1).normal(size=(2, 8, 16, 16)).astype(np.float32)
    a = ort.InferenceSession(str(folded_model)).run(None, {"x": x})[0]
    b = ort.InferenceSession(inlined.SerializeToString()).run(None, {"x": x})[0]
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_flops_by_hand(folded_model):
    inlined, _ = inline_functions(onnx.load(folded_model))
    flops = node_flops(inlined, batch_size=1)
    conv = 2 * (8 * 16 * 16) * (8 * 3 * 3)
    se = 2048 + 2 * 8 * 8 + 8 + 2048  # pool, 1x1 conv, sigmoid, multiply
    assert sum(flops.values()) == conv + 2 * se + 2048


def test_profile_attributes_time_to_named_blocks(folded_model):
    prof = profile_blocks(folded_model, iterations=5, warmup=1, threads=1)
    names = [b["name"] for b in prof.blocks]
    assert names == ["layer1.0.se", "layer2.0.se"]
    assert all(b["time_ms"] > 0 for b in prof.blocks)
    assert 0 < prof.attention_time_share <= 1.0
    se = 2048 + 2 * 8 * 8 + 8 + 2048
    total = 2 * (8 * 16 * 16) * (8 * 3 * 3) + 2 * se + 2048
    assert prof.attention_flop_share == pytest.approx(2 * se / total)
    assert prof.by_type["SqueezeExcite"]["count"] == 2
    json.dumps(prof.to_dict())


def test_profile_refuses_unfolded_model(tmp_path):
    graph = helper.make_graph(
        [helper.make_node("Relu", ["x"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])],
    )
    onnx.save(helper.make_model(graph), tmp_path / "plain.onnx")
    with pytest.raises(InputError, match="no folded attention blocks"):
        profile_blocks(tmp_path / "plain.onnx")


def test_real_onnx_and_torch_side_by_side(folded_model, tmp_path):
    torch = pytest.importorskip("torch")  # the runtime-only run (scripts/test-py38.sh) has none

    class Net(torch.nn.Module):
        def forward(self, x):
            return torch.relu(x)

    report = benchmark([folded_model, Net()], iterations=4, warmup=1, rounds=2, threads=1, input_size=(8, 16, 16), per_block=True)
    assert [r.backend for r in report.results] == ["onnxruntime", "torch"]
    assert report.results[0].runner["intra_op_threads"] == 1 and report.results[1].runner["threads"] == 1
    assert report.environment["threads"] == 1 and report.environment["libraries"]["onnxruntime"]
    assert report.per_block and report.per_block[0]["blocks"][0]["name"] == "layer1.0.se"
    md = report.to_markdown()
    assert "| folded.onnx | onnxruntime | 1 |" in md and "Attention blocks" in md
    from edgeattn.bench.report import write_chart

    write_chart(report, tmp_path / "c.png")
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


class _CpuOrSleep(FakeRunner):
    def _run_impl(self, feed):
        if self.target == "burn":
            end = time.process_time() + 0.003
            while time.process_time() < end:
                pass
        else:
            time.sleep(0.003)
        return {"y": feed["x"].sum(axis=(1, 2, 3))}


def test_cpu_time_per_run_is_recorded_beside_wall_time():
    register_backend("cpuorsleep", lambda t, **o: _CpuOrSleep(t, **o), lambda: BackendStatus("cpuorsleep", True, "test double"))
    try:
        report = benchmark([Variant("burn", "cpuorsleep", "burn"), Variant("sleep", "cpuorsleep", "sleep")], iterations=6, warmup=0, rounds=2)
    finally:
        BACKENDS.pop("cpuorsleep", None)
    burn, sleep = report.results
    assert burn.cpu_ms >= 3.0 and sleep.cpu_ms < 1.5  # a sleeping backend waits without using a core
    assert sleep.stats.p50_ms >= 3.0 and burn.to_dict()["cpu_ms"] == burn.cpu_ms
