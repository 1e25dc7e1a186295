"""Jetson helpers against fake /etc/nv_tegra_release, sysfs trees and nvpmodel/tegrastats programs."""

from __future__ import annotations

import os
import stat
import warnings

import pytest

from edgeattn.platform import jetson

RELEASE = "# R36 (release), REVISION: 4.3, GCID: 38968081, BOARD: generic, EABI: aarch64, DATE: Wed Jan  8 01:49:37 UTC 2025\n"


def _script(path, body: str):
    path.write_text("#!/bin/sh\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IEXEC)
    return path


@pytest.fixture
def fake_jetson(tmp_path, monkeypatch):
    release = tmp_path / "nv_tegra_release"
    release.write_text(RELEASE)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    _script(bindir / "nvpmodel", 'if [ "$1" = "-q" ]; then echo "NV Fan Mode:quiet"; echo "NV Power Mode: MAXN"; echo 0; fi\n')
    _script(
        bindir / "tegrastats",
        'i=0; while [ $i -lt 50 ]; do echo "RAM 2000/7000MB CPU [1%@729] VDD_IN 5000mW/5000mW VDD_CPU_GPU_CV 80${i}mW/800mW"; i=$((i+1)); done\n',
    )
    cpu = tmp_path / "cpu"
    for n in range(2):
        d = cpu / f"cpu{n}" / "cpufreq"
        d.mkdir(parents=True)
        (d / "scaling_min_freq").write_text("729600\n")
        (d / "scaling_max_freq").write_text("2201600\n")
    devfreq = tmp_path / "devfreq" / "17000000.ga10b"
    devfreq.mkdir(parents=True)
    (devfreq / "min_freq").write_text("306000000\n")
    (devfreq / "max_freq").write_text("1300500000\n")
    monkeypatch.setattr(jetson, "NV_TEGRA_RELEASE", release)
    monkeypatch.setattr(jetson, "CPUFREQ_ROOT", cpu)
    monkeypatch.setattr(jetson, "DEVFREQ_ROOT", tmp_path / "devfreq")
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    return tmp_path


def _lock(root):
    for d in (root / "cpu").glob("cpu*/cpufreq"):
        (d / "scaling_min_freq").write_text((d / "scaling_max_freq").read_text())
    g = root / "devfreq" / "17000000.ga10b"
    (g / "min_freq").write_text((g / "max_freq").read_text())


def test_not_a_jetson(tmp_path, monkeypatch):
    monkeypatch.setattr(jetson, "NV_TEGRA_RELEASE", tmp_path / "absent")
    assert jetson.is_jetson() is False
    assert jetson.jetson_state() is None
    assert jetson.warn_if_unlocked() is None


def test_state_with_unlocked_clocks_warns(fake_jetson):
    state = jetson.jetson_state()
    assert state.l4t_release == "36.4.3"
    assert (state.nvpmodel_mode, state.nvpmodel_id) == ("MAXN", 0)
    assert state.clocks_locked is False
    with pytest.warns(RuntimeWarning, match="sudo jetson_clocks"):
        message = jetson.warn_if_unlocked(state)
    assert "MAXN" in message


def test_locked_clocks_do_not_warn(fake_jetson):
    _lock(fake_jetson)
    state = jetson.jetson_state()
    assert state.clocks_locked is True
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert jetson.warn_if_unlocked(state) is None


def test_gpu_floating_alone_counts_as_unlocked(fake_jetson):
    _lock(fake_jetson)
    (fake_jetson / "devfreq" / "17000000.ga10b" / "min_freq").write_text("306000000\n")
    assert jetson.clocks_locked() is False


def test_unknown_clocks_and_missing_nvpmodel(fake_jetson, monkeypatch):
    monkeypatch.setattr(jetson, "CPUFREQ_ROOT", fake_jetson / "nothing")
    monkeypatch.setattr(jetson, "DEVFREQ_ROOT", fake_jetson / "nothing")
    monkeypatch.setattr(jetson, "NVPMODEL", "nvpmodel-not-installed")
    state = jetson.jetson_state()
    assert state.clocks_locked is None and state.nvpmodel_mode is None
    assert jetson.warn_if_unlocked(state) is None  # cannot tell: no false alarm


def test_tegrastats_power(fake_jetson):
    power = jetson.read_power(interval_ms=10, samples=3)
    assert power["VDD_IN"] == pytest.approx(5000)
    assert power["VDD_CPU_GPU_CV"] == pytest.approx((800 + 801 + 802) / 3)


def test_tegrastats_absent(monkeypatch):
    monkeypatch.setattr(jetson, "TEGRASTATS", "tegrastats-not-installed")
    assert jetson.read_power() is None


@pytest.mark.parametrize(
    "line,expected",
    [
        ("RAM 2000/7000MB VDD_IN 5120mW/5120mW VDD_SOC 1200mW/1190mW", {"VDD_IN": 5120, "VDD_SOC": 1200}),
        ("RAM 1000/3964MB (lfb 1x4MB) POM_5V_IN 3000/2990 POM_5V_GPU 120/118", {"POM_5V_IN": 3000, "POM_5V_GPU": 120}),
        ("RAM 1000/3964MB CPU [2%@102]", {}),
    ],
)
def test_parse_tegrastats_lines(line, expected):
    assert jetson.parse_tegrastats_power(line) == expected
