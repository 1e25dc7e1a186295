"""Idle worker threads do not busy-wait unless asked (issue 15): ORT session option, OpenMP env."""

from __future__ import annotations

import os
import subprocess
import sys

import onnx
import pytest
from onnx import TensorProto, helper

from edgeattn.bench import benchmark
from edgeattn.runtime.onnxruntime_runner import OnnxRuntimeRunner


@pytest.fixture(scope="module")
def relu_onnx(tmp_path_factory):
    node = helper.make_node("Relu", ["x"], ["y"])
    graph = helper.make_graph(
        [node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 2, 3, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 2, 3, 3])],
    )
    path = tmp_path_factory.mktemp("spin") / "relu.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def _session_entry(runner: OnnxRuntimeRunner, key: str) -> str:
    return runner.session.get_session_options().get_session_config_entry(key)


def test_ort_runner_spinning_off_by_default_and_switchable(relu_onnx):
    with OnnxRuntimeRunner(relu_onnx) as quiet:
        assert _session_entry(quiet, "session.intra_op.allow_spinning") == "0"
        assert _session_entry(quiet, "session.inter_op.allow_spinning") == "0"
        assert quiet.info().details["spinning"] is False
    with OnnxRuntimeRunner(relu_onnx, spinning=True) as busy:
        assert _session_entry(busy, "session.intra_op.allow_spinning") == "1"
        assert busy.info().details["spinning"] is True
    # An explicit session_config entry wins over the argument, and info() reports it.
    with OnnxRuntimeRunner(relu_onnx, session_config={"session.intra_op.allow_spinning": "1"}) as explicit:
        assert _session_entry(explicit, "session.intra_op.allow_spinning") == "1"
        assert explicit.info().details["spinning"] is True


def test_benchmark_turns_spinning_off_and_records_it(relu_onnx):
    quiet = benchmark([relu_onnx], iterations=2, warmup=0, rounds=1, input_size=(2, 3, 3))
    assert quiet.settings["spinning"]["onnxruntime"] is False
    assert quiet.results[0].runner["spinning"] is False
    assert "ORT thread spinning off" in quiet.to_markdown()
    busy = benchmark([relu_onnx], iterations=2, warmup=0, rounds=1, input_size=(2, 3, 3), spinning=True)
    assert busy.results[0].runner["spinning"] is True
    assert "ORT thread spinning on" in busy.to_markdown()


def _fresh_python(code: str, env_extra: dict[str, str] | None = None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"}
    env.update(env_extra or {})
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300, check=True)
    return done.stdout.strip()


PROBE = "import os; from edgeattn.runtime.spinning import passive_openmp; r = passive_openmp(); print(r['omp_wait_policy'], r['applies'], os.environ.get('OMP_WAIT_POLICY'))"


def test_passive_openmp_before_torch_is_set_and_applies():
    assert _fresh_python(PROBE) == "PASSIVE True PASSIVE"


def test_passive_openmp_after_torch_import_says_it_does_not_apply():
    pytest.importorskip("torch")  # the runtime-only run (scripts/test-py38.sh) has none
    assert _fresh_python("import torch; " + PROBE) == "None False None"


def test_passive_openmp_keeps_the_users_value():
    pytest.importorskip("torch")
    assert _fresh_python("import torch; " + PROBE, {"OMP_WAIT_POLICY": "ACTIVE"}) == "ACTIVE True ACTIVE"
