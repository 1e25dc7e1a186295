"""edgeattn doctor against the stand-ins of each target platform (and a wrong combination)."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from edgeattn import doctor
from edgeattn.cli import app
from edgeattn.doctor import diagnose
from edgeattn.platform import jetson

PLATFORMS = {
    # name: (L4T release line or None, TensorRT stand-in, libcudart, driver, compute capability, DLA cores)
    "jetpack-5.1": ("# R35 (release), REVISION: 3.1, GCID: 32827747", "8.5", "11", 11040, (7, 2), 2),
    "jetpack-6.0": ("# R36 (release), REVISION: 3.0, GCID: 36191598", "8.6", "12", 12020, (8, 7), 2),  # CUDA 12.2
    "jetpack-6.2": ("# R36 (release), REVISION: 4.3, GCID: 38968081", "10.3", "12", 12060, (8, 7), 2),
    "x86-10.x": (None, "10.16", "13", 13000, (8, 9), 0),
    "x86-11.x": (None, "11.1", "13", 13000, (12, 0), 0),
}


@pytest.fixture
def on_platform(make_world, tmp_path, monkeypatch):
    def _make(name: str, trt: str | None = None, **knobs):
        release, gen, cuda, driver, cc, dla = PLATFORMS[name]
        path = tmp_path / "nv_tegra_release"
        if release:
            path.write_text(release + ", BOARD: generic, EABI: aarch64\n")
        monkeypatch.setattr(jetson, "NV_TEGRA_RELEASE", path)
        monkeypatch.setattr(jetson, "NVPMODEL", str(tmp_path / "no-nvpmodel"))
        monkeypatch.setattr(jetson, "CPUFREQ_ROOT", tmp_path / "no-cpufreq")
        monkeypatch.setattr(jetson, "DEVFREQ_ROOT", tmp_path / "no-devfreq")
        real_dist = doctor._dist
        monkeypatch.setattr(doctor, "_dist", lambda n: None if n.startswith("cuda") else real_dist(n))  # no cuda-python
        knobs = {"driver_version": driver, "runtime_version": driver, "compute_capability": cc, "num_dla_cores": dla, **knobs}
        return make_world(trt or gen, cuda, **knobs)

    return _make


@pytest.mark.parametrize("name", list(PLATFORMS))
def test_doctor_describes_each_target(on_platform, name):
    release, gen, cuda, driver, cc, dla = PLATFORMS[name]
    on_platform(name)
    report = diagnose()
    assert report.tensorrt["version"].startswith(gen)
    assert report.cuda["cuda_driver"] == f"{driver // 1000}.{driver % 1000 // 10}"
    assert report.cuda["compute_capability"] == f"{cc[0]}.{cc[1]}"
    assert report.tensorrt["dla_cores"] == dla
    if release:
        assert report.jetson["jetpack"] == {"jetpack-5.1": "5.1.1", "jetpack-6.0": "6.0", "jetpack-6.2": "6.1/6.2"}[name]
    else:
        assert report.jetson is None
    build = next(c for c in report.commands if c.command == "build")
    assert build.works and build.install is None
    assert not [p for p in report.problems if "TensorRT" in p or "cuda-python" in p]


def test_doctor_names_a_pip_tensorrt_on_jetpack_5(on_platform):
    on_platform("jetpack-5.1", trt="10.16")
    problems = diagnose().problems
    assert any("TensorRT 10.16" in p and "JetPack 5.1.1" in p and "python3-libnvinfer" in p for p in problems)


def test_doctor_names_cuda_python_newer_than_the_driver(on_platform, monkeypatch):
    on_platform("jetpack-6.2")
    monkeypatch.setattr(doctor, "_dist", lambda n: "13.0.1" if n == "cuda-bindings" else None)
    assert any("cuda-python 13.0.1 needs a CUDA 13 driver, this one is CUDA 12.6" in p for p in diagnose().problems)


def test_doctor_without_a_gpu_says_what_build_needs(on_platform):
    on_platform("jetpack-6.2", device_count=0)
    build = next(c for c in diagnose().commands if c.command == "build")
    assert not build.works and "no usable GPU" in build.detail and "nvidia-jetpack" in build.install


def test_doctor_json_cli(on_platform):
    on_platform("x86-10.x")
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)  # the JSON alone on stdout
    assert data["tensorrt"]["version"].startswith("10.16") and {c["command"] for c in data["commands"]} >= {"build", "export"}
    text = CliRunner().invoke(app, ["doctor"])
    assert text.exit_code == 0 and "build" in text.output and "Standin GPU" in text.output
