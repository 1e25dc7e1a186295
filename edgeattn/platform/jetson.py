"""Jetson awareness: L4T release, nvpmodel power mode, clock locking and tegrastats power.

Latency on Jetson depends on the power mode and on whether ``sudo jetson_clocks`` pinned the
clocks (first runs can be 100x slower with dynamic clocks: jetson-inference#388), so every figure
taken on a Jetson records both, and we warn when clocks float. Paths and commands are module
attributes so tests can point them at fake files and programs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

NV_TEGRA_RELEASE = Path("/etc/nv_tegra_release")
CPUFREQ_ROOT = Path("/sys/devices/system/cpu")
# GPU devfreq node names differ by module (Orin: 17000000.ga10b / gpu-gpc-0, Xavier: 17000000.gv11b).
DEVFREQ_ROOT = Path("/sys/class/devfreq")
NVPMODEL = "nvpmodel"
TEGRASTATS = "tegrastats"
COMMAND_TIMEOUT_S = 5.0

_RELEASE = re.compile(r"#\s*R(\d+)\s*\(release\),\s*REVISION:\s*([\d.]+)", re.IGNORECASE)
# Power rails are VDD_* (Orin, Xavier) or POM_* (Nano, TX2); "RAM 2000/7000MB" must not match.
_POWER = re.compile(r"\b((?:VDD|POM|VIN)_[A-Z0-9_]+)\s+(\d+)(?:mW)?/(\d+)(?:mW)?")


@dataclass
class JetsonState:
    """What a Jetson figure needs next to it."""

    l4t_release: str | None
    nvpmodel_mode: str | None
    nvpmodel_id: int | None
    clocks_locked: bool | None  # None: could not tell

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def is_jetson() -> bool:
    return NV_TEGRA_RELEASE.is_file()


def l4t_release() -> str | None:
    """``"35.3.1"`` from ``# R35 (release), REVISION: 3.1, ...`` in /etc/nv_tegra_release."""
    try:
        text = NV_TEGRA_RELEASE.read_text(errors="replace")
    except OSError:
        return None
    m = _RELEASE.search(text)
    return f"{m.group(1)}.{m.group(2)}" if m else None


def _run(cmd: list[str]) -> str | None:
    if shutil.which(cmd[0]) is None:
        return None
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return proc.stdout if proc.returncode == 0 else None


def nvpmodel_mode() -> tuple[str | None, int | None]:
    """(mode name, mode id) from ``nvpmodel -q``: ``NV Power Mode: MAXN`` then the id line."""
    out = _run([NVPMODEL, "-q"])
    if not out:
        return None, None
    name = None
    mode_id = None
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("NV Power Mode:"):
            name = line.split(":", 1)[1].strip() or None
        elif line.isdigit() and mode_id is None:
            mode_id = int(line)
    return name, mode_id


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def clocks_locked() -> bool | None:
    """True when every CPU and GPU frequency floor equals its ceiling (what ``jetson_clocks`` sets).

    Read from sysfs so it needs no root; ``None`` when nothing could be read.
    """
    pairs: list[tuple[int | None, int | None]] = []
    for cpu in sorted(CPUFREQ_ROOT.glob("cpu[0-9]*/cpufreq")):
        pairs.append((_read_int(cpu / "scaling_min_freq"), _read_int(cpu / "scaling_max_freq")))
    if DEVFREQ_ROOT.is_dir():
        for dev in sorted(DEVFREQ_ROOT.iterdir()):
            if any(tag in dev.name for tag in ("gpu", "ga10b", "gv11b", "gp10b")):
                pairs.append((_read_int(dev / "min_freq"), _read_int(dev / "max_freq")))
    known = [(lo, hi) for lo, hi in pairs if lo is not None and hi is not None]
    if not known:
        return None
    return all(lo == hi for lo, hi in known)


def jetson_state() -> JetsonState | None:
    """The state to record, or ``None`` on anything that is not a Jetson."""
    if not is_jetson():
        return None
    name, mode_id = nvpmodel_mode()
    return JetsonState(l4t_release(), name, mode_id, clocks_locked())


def warn_if_unlocked(state: JetsonState | None = None) -> str | None:
    """Warn (and return the message) when a Jetson's clocks are not locked."""
    state = state if state is not None else jetson_state()
    if state is None or state.clocks_locked is not False:
        return None
    message = (
        f"Jetson clocks are not locked (power mode {state.nvpmodel_mode or 'unknown'}): latency will vary; "
        "run `sudo jetson_clocks` before benchmarking"
    )
    warnings.warn(message, RuntimeWarning, stacklevel=2)
    return message


def parse_tegrastats_power(line: str) -> dict[str, int]:
    """Rail -> current mW from one tegrastats line (``VDD_IN 5120mW/5120mW`` or ``POM_5V_IN 3000/3000``)."""
    return {m.group(1): int(m.group(2)) for m in _POWER.finditer(line)}


def read_power(interval_ms: int = 100, samples: int = 5) -> dict[str, float] | None:
    """Mean mW per rail over a few tegrastats samples; ``None`` where tegrastats is unavailable."""
    if shutil.which(TEGRASTATS) is None:
        return None
    try:
        proc = subprocess.Popen(
            [TEGRASTATS, "--interval", str(int(interval_ms))],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
    except OSError:
        return None
    readings: list[dict[str, int]] = []
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            parsed = parse_tegrastats_power(line)
            if parsed:
                readings.append(parsed)
            if len(readings) >= samples:
                break
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=COMMAND_TIMEOUT_S)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
    if not readings:
        return None
    rails = sorted({k for r in readings for k in r})
    return {k: sum(r.get(k, 0) for r in readings) / sum(1 for r in readings if k in r) for k in rails}
