"""Sidecar contents and the compatibility check (plain unit tests, no TensorRT)."""

from __future__ import annotations

import json

import pytest

from edgeattn._io import write_json_atomic
from edgeattn.errors import EngineCompatibilityError, InputError
from edgeattn.tensorrt.options import BuildOptions, rebuild_command
from edgeattn.tensorrt.sidecar import (
    MachineInfo,
    check_compatible,
    compatibility_problems,
    make_sidecar,
    read_sidecar,
    sidecar_path,
)


def _machine(**kw):
    base = dict(tensorrt_version="10.3.0.26", gpu_name="Orin", compute_capability="8.7", system="Linux", machine="aarch64")
    base.update(kw)
    return MachineInfo(**base)


def _sidecar(tmp_path, machine=None, **opts):
    options = BuildOptions(**opts).validate()
    return make_sidecar(
        engine_path=tmp_path / "m.engine", engine_sha256="ab", engine_bytes=3, onnx_path="m.onnx", onnx_sha256="cd",
        machine=machine or _machine(), precision="fp16", precision_plan={}, profiles=[], io=[],
        build_options=options.to_dict(), features={}, rebuild_command=rebuild_command("m.onnx", "m.engine", options),
    )


def test_same_machine_is_compatible(tmp_path):
    assert compatibility_problems(_sidecar(tmp_path), _machine()) == []


def test_trt_version_patch_difference_is_a_problem_but_build_number_is_not(tmp_path):
    side = _sidecar(tmp_path)
    assert compatibility_problems(side, _machine(tensorrt_version="10.3.0.99")) == []
    (problem,) = compatibility_problems(side, _machine(tensorrt_version="10.3.1.2"))
    assert "engine built with 10.3.0.26, this machine has 10.3.1.2" in problem


def test_compute_capability_and_platform(tmp_path):
    side = _sidecar(tmp_path)
    problems = compatibility_problems(side, _machine(compute_capability="8.6", gpu_name="RTX 3090", machine="x86_64"))
    assert any("built for 8.7 (Orin), this GPU is 8.6 (RTX 3090)" in p for p in problems)
    assert any("platform machine: engine built on aarch64, this machine is x86_64" in p for p in problems)


def test_ampere_plus_accepts_newer_gpus_only(tmp_path):
    side = _sidecar(tmp_path, hardware_compatibility="ampere_plus")
    assert compatibility_problems(side, _machine(compute_capability="9.0")) == []
    assert compatibility_problems(side, _machine(compute_capability="8.0")) == []
    (problem,) = compatibility_problems(side, _machine(compute_capability="7.5"))
    assert "needs 8.0 or newer" in problem


def test_same_compute_capability_level_still_requires_equal_cc(tmp_path):
    side = _sidecar(tmp_path, hardware_compatibility="same_compute_capability")
    assert compatibility_problems(side, _machine(gpu_name="Other 8.7 GPU")) == []
    assert compatibility_problems(side, _machine(compute_capability="8.9"))


@pytest.mark.parametrize(
    "built,here,ok",
    [("8.6.2.3", "10.3.0.26", True), ("10.3.0.26", "11.1.0.106", True), ("8.6.2.3", "11.1.0.106", False),
     ("10.16.0.72", "10.3.0.26", False), ("10.3.0.26", "10.16.0.72", True)],
)
def test_version_compatible_engines(tmp_path, built, here, ok):
    side = _sidecar(tmp_path, machine=_machine(tensorrt_version=built), version_compatible=True)
    assert (compatibility_problems(side, _machine(tensorrt_version=here)) == []) is ok


def test_check_compatible_message_names_differences_and_rebuild_command(tmp_path):
    side = _sidecar(tmp_path, max_batch=8, workspace="1G")
    with pytest.raises(EngineCompatibilityError) as info:
        check_compatible("m.engine", side, _machine(tensorrt_version="11.1.0.106", compute_capability="9.0"))
    assert "TensorRT version" in info.value.message and "compute capability" in info.value.message
    assert "\n" not in info.value.message
    assert info.value.hint == "rebuild it here from its ONNX: edgeattn build m.onnx -o m.engine --max-batch 8 --workspace 1073741824"


def test_sidecar_written_beside_engine_and_read_back(tmp_path):
    engine = tmp_path / "m.engine"
    side = _sidecar(tmp_path)
    write_json_atomic(sidecar_path(engine), side)
    assert sidecar_path(engine).name == "m.engine.json"
    assert read_sidecar(engine) == json.loads(json.dumps(side, default=str))
    assert read_sidecar(tmp_path / "other.engine") is None
    sidecar_path(engine).write_text("{not json")
    with pytest.raises(InputError, match="not valid JSON"):
        read_sidecar(engine)
    sidecar_path(engine).write_text('{"format": "something-else"}')
    with pytest.raises(InputError, match="not an edgeattn engine sidecar"):
        read_sidecar(engine)


def test_sidecar_records_required_fields(tmp_path):
    side = _sidecar(tmp_path, machine=_machine(jetson={"l4t_release": "36.4.3", "nvpmodel_mode": "MAXN"}))
    for key in ("tensorrt", "cuda", "gpu", "platform", "precision", "profiles", "io", "source_onnx",
                "edgeattn_version", "build_options", "compatibility", "rebuild_command"):
        assert key in side
    assert side["platform"]["jetson"]["nvpmodel_mode"] == "MAXN"
