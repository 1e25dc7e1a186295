"""backend="auto" for an .onnx: ONNX Runtime or OpenVINO by measurement (edgeattn/runtime/auto_backend.py).

The choice logic runs on stand-in runners and a stubbed per-call timer (no wall clock is asserted);
one test loads a real tiny ONNX on both libraries when OpenVINO is installed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import platform
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from edgeattn.bench import benchmark
from edgeattn.errors import ExportError, InputError
from edgeattn.runtime import auto_backend, load, selection
from edgeattn.runtime.base import Runner, TensorSpec

pytest.importorskip("onnx")
from tests.tiny_onnx import save_tiny_classifier  # noqa: E402 - needs onnx


class StandIn(Runner):
    """An ONNX reader that computes nothing: the tiny classifier's I/O, zeros out."""

    def __init__(self, backend: str, fail_load: bool) -> None:
        super().__init__()
        self.backend = backend
        self._fail_load = fail_load
        self.closed = False

    def _load_impl(self) -> None:
        if self._fail_load:
            raise ExportError("OpenVINO cannot compile tiny.onnx: no conversion rule for op FancyOp")
        self._inputs = [TensorSpec("input", np.dtype(np.float32), ("batch", 3, 8, 8))]
        self._outputs = [TensorSpec("logits", np.dtype(np.float32), ("batch", 4))]

    def _run_impl(self, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {"logits": np.zeros((feed["input"].shape[0], 4), np.float32)}

    def _close_impl(self) -> None:
        self.closed = True


class Stub:
    """Stand-in factories for both ONNX readers, a per-call timer, and counts of what ran."""

    def __init__(self) -> None:
        self.ms = {"onnxruntime": 2.0, "openvino": 1.0}
        self.fail_openvino = False
        self.made: list[tuple[str, dict[str, Any], StandIn]] = []
        self.measurements = 0

    def factory(self, backend: str) -> Any:
        def make(artifact: Any, **opts: Any) -> StandIn:
            runner = StandIn(backend, fail_load=backend == "openvino" and self.fail_openvino)
            self.made.append((backend, opts, runner))
            return runner

        return make

    def timer(self, runner: Runner, feed: dict[str, np.ndarray]) -> float:
        runner.run(feed)
        return self.ms[runner.backend] / 1e3

    def made_for(self, backend: str) -> list[tuple[dict[str, Any], StandIn]]:
        return [(opts, r) for b, opts, r in self.made if b == backend]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return save_tiny_classifier(tmp_path / "tiny.onnx")


@pytest.fixture
def measuring(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """auto measures here: the suite's switch cleared, an empty cache, an x86-64 CPU."""
    monkeypatch.delenv(auto_backend.ENV, raising=False)
    monkeypatch.setenv("EDGEATTN_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(platform, "machine", lambda: "x86_64")


@pytest.fixture
def stub(measuring: None, monkeypatch: pytest.MonkeyPatch) -> Stub:
    stub = Stub()
    for name in ("onnxruntime", "openvino"):
        monkeypatch.setitem(selection.BACKENDS, name, (stub.factory(name), selection.BACKENDS[name][1]))
    monkeypatch.setattr(selection, "_installed", lambda module: True)
    monkeypatch.setattr(auto_backend, "call_seconds", stub.timer)
    real_measure = auto_backend.measure

    def counted(*args: Any, **kwargs: Any) -> Any:
        stub.measurements += 1
        return real_measure(*args, **kwargs)

    monkeypatch.setattr(auto_backend, "measure", counted)
    return stub


def test_the_faster_openvino_is_picked_and_onnxruntime_closed(stub: Stub, model: Path) -> None:
    runner = load(model, threads=1)
    assert runner.backend == "openvino" and runner.is_loaded
    sel = runner.selection
    assert (sel.backend, sel.how, sel.onnxruntime_ms, sel.openvino_ms) == ("openvino", "measured", 2.0, 1.0)
    assert "1.00 ms vs 2.00 ms on onnxruntime" in sel.reason
    [(_, ort)] = stub.made_for("onnxruntime")
    [(ov_opts, ov)] = stub.made_for("openvino")
    assert ort.closed and not ov.closed and ov is runner
    assert ov_opts == {"threads": 1}  # the options both take, nothing of ONNX Runtime's


def test_the_faster_onnxruntime_is_picked_and_openvino_closed(stub: Stub, model: Path) -> None:
    stub.ms = {"onnxruntime": 1.0, "openvino": 3.0}
    runner = load(model, threads=1)
    assert runner.backend == "onnxruntime" and runner.selection.backend == "onnxruntime"
    assert runner.selection.how == "measured"
    [(_, ov)] = stub.made_for("openvino")
    assert ov.closed and not runner.closed


def test_a_tie_keeps_onnxruntime(stub: Stub, model: Path) -> None:
    stub.ms = {"onnxruntime": 1.5, "openvino": 1.5}
    assert load(model).backend == "onnxruntime"


def test_openvino_that_cannot_load_means_onnxruntime_with_the_reason(stub: Stub, model: Path) -> None:
    stub.fail_openvino = True
    runner = load(model, threads=1)
    assert runner.backend == "onnxruntime"
    assert runner.selection.reason == "OpenVINO failed to load: OpenVINO cannot compile tiny.onnx: no conversion rule for op FancyOp"
    assert runner.selection.openvino_ms is None
    again = load(model, threads=1)  # the failure is cached: not compiled again at the next start
    assert again.selection.how == "cached" and again.selection.reason == runner.selection.reason
    assert stub.measurements == 1 and len(stub.made_for("openvino")) == 1


def test_a_cached_decision_measures_nothing_and_loads_only_the_winner(stub: Stub, model: Path) -> None:
    first = load(model, threads=1)
    made = len(stub.made)
    second = load(model, threads=1)
    assert stub.measurements == 1
    assert second.backend == "openvino" and second.selection.how == "cached"
    assert (second.selection.onnxruntime_ms, second.selection.openvino_ms) == (2.0, 1.0)
    assert [b for b, _, _ in stub.made[made:]] == ["openvino"]
    assert second.selection.cache_file == first.selection.cache_file
    record = json.loads(Path(first.selection.cache_file).read_text(encoding="utf-8"))
    assert record["key"]["artifact_sha256"] == hashlib.sha256(model.read_bytes()).hexdigest()
    assert record["key"]["threads"] == 1 and record["backend"] == "openvino"


@pytest.mark.parametrize("content", [b'{"key": {', b"[1, 2]", b"\xff\xfe\x00", b'{"key": {}, "backend": "openvino"}'])
def test_an_unreadable_cache_file_is_measured_again(stub: Stub, model: Path, content: bytes) -> None:
    file = Path(load(model, threads=1).selection.cache_file)
    file.write_bytes(content)
    stub.ms = {"onnxruntime": 1.0, "openvino": 3.0}
    runner = load(model, threads=1)
    assert stub.measurements == 2 and runner.selection.how == "measured" and runner.backend == "onnxruntime"
    assert json.loads(file.read_text(encoding="utf-8"))["backend"] == "onnxruntime"  # rewritten


def test_the_key_changes_with_threads_and_the_artifact(stub: Stub, model: Path, tmp_path: Path) -> None:
    one = auto_backend.cache_path(auto_backend.cache_key_fields(model, 1))
    two = auto_backend.cache_path(auto_backend.cache_key_fields(model, 2))
    other = save_tiny_classifier(tmp_path / "other.onnx", classes=5)
    assert len({one, two, auto_backend.cache_path(auto_backend.cache_key_fields(other, 1))}) == 3
    load(model, threads=1)
    load(model, threads=2)
    assert stub.measurements == 2


def test_no_measurement_on_a_cpu_that_is_not_x86(stub: Stub, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(platform, "machine", lambda: "aarch64")
    runner = load(model)
    assert runner.backend == "onnxruntime" and stub.measurements == 0 and not stub.made_for("openvino")
    assert (runner.selection.how, runner.selection.reason) == ("rule", "not an x86-64 CPU (aarch64)")


def test_no_measurement_without_openvino(measuring: None, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "openvino" else real(name, *a))
    measured: list[Any] = []
    monkeypatch.setattr(auto_backend, "measure", lambda *a, **k: measured.append(a))
    runner = load(model)
    assert runner.backend == "onnxruntime" and not measured
    assert runner.selection.reason == "OpenVINO is not installed"


@pytest.mark.parametrize("opts", [{"providers": ["cpu"]}, {"spinning": True}, {"optimization_level": "basic"}])
def test_onnxruntime_only_options_mean_onnxruntime(stub: Stub, model: Path, opts: dict[str, Any]) -> None:
    runner = load(model, threads=1, **opts)
    assert runner.backend == "onnxruntime" and stub.measurements == 0
    assert runner.selection.how == "rule" and next(iter(opts)) in runner.selection.reason


def test_an_option_left_at_none_does_not_rule_out_openvino(stub: Stub, model: Path) -> None:
    assert load(model, threads=1, providers=None).backend == "openvino"
    assert stub.made_for("openvino")[0][0] == {"threads": 1}


def test_bytes_mean_onnxruntime(stub: Stub, model: Path) -> None:
    runner = load(model.read_bytes())
    assert runner.backend == "onnxruntime" and stub.measurements == 0 and runner.selection.how == "rule"


def test_the_switch_restores_onnxruntime(stub: Stub, model: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(auto_backend.ENV, "onnxruntime")
    runner = load(model)
    assert runner.backend == "onnxruntime" and stub.measurements == 0
    assert runner.selection.reason == "EDGEATTN_AUTO_BACKEND=onnxruntime"
    monkeypatch.setenv(auto_backend.ENV, "Measure")
    assert load(model).backend == "openvino"
    monkeypatch.setenv(auto_backend.ENV, "fastest")
    with pytest.raises(InputError, match=r"EDGEATTN_AUTO_BACKEND: received 'fastest', expected one of \['measure', 'onnxruntime'\]"):
        load(model)


def test_an_explicit_backend_is_never_measured(stub: Stub, model: Path) -> None:
    runner = load(model, backend="onnxruntime")
    assert runner.backend == "onnxruntime" and runner.selection is None and stub.measurements == 0


def test_bench_reports_the_decision(stub: Stub, model: Path) -> None:
    report = benchmark([model], iterations=2, warmup=0, rounds=1, threads=1)
    [result] = report.results
    assert result.backend == "openvino"
    assert result.runner["selection"]["backend"] == "openvino" and result.runner["selection"]["how"] == "measured"
    assert stub.made_for("openvino")[0][0] == {"threads": 1}


def test_real_tiny_onnx_on_both_readers(measuring: None, model: Path) -> None:
    if importlib.util.find_spec("openvino") is None:
        pytest.skip("OpenVINO is not installed: auto has nothing to measure against (pip install 'edgeattn[bench]')")
    pytest.importorskip("onnxruntime")
    x = np.random.default_rng(0).standard_normal((2, 3, 8, 8)).astype(np.float32)
    with load(model, backend="onnxruntime", threads=1) as ort:
        expected = ort.run(x)["logits"]
    with load(model, threads=1) as runner:
        sel = runner.selection
        assert sel.how == "measured" and runner.backend == sel.backend
        assert sel.onnxruntime_ms > 0 and sel.openvino_ms > 0
        np.testing.assert_allclose(runner.run(x)["logits"], expected, rtol=1e-4, atol=1e-5)
    with load(model, threads=1) as again:
        assert again.selection.how == "cached" and again.backend == sel.backend
