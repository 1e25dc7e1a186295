"""The environment every benchmark figure is recorded with.

CPU model, logical/physical cores, threads used, library versions; the GPU, its clocks and the
driver when ``nvidia-smi`` is present; the Jetson power mode and clock lock state on a Jetson
(edgeattn.platform.jetson, optional). Latency means nothing without these.
"""

from __future__ import annotations

import os
import platform
import shutil
import subprocess
from importlib import metadata
from typing import Any

LIBRARIES = ("edgeattn", "numpy", "torch", "torchvision", "timm", "onnx", "onnxruntime", "onnxruntime-gpu", "tensorrt", "openvino")


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def cpu_isa(flags: set[str] | None = None) -> str:
    """The widest SIMD extension the CPU reports (``AVX-512 + VNNI``, ``AVX2``, ...): the same
    model on an AVX2 and an AVX-512 machine gives different figures and even different winners."""
    if flags is None:
        flags = set()
        try:
            with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
                for line in handle:
                    if line.lower().startswith(("flags", "features")):
                        flags = set(line.split(":", 1)[1].split())
                        break
        except OSError:
            return "unknown"
    if "avx512f" in flags:
        extras = [name for flag, name in (("avx512_vnni", "VNNI"), ("avx512_bf16", "BF16"), ("amx_tile", "AMX")) if flag in flags]
        return "AVX-512" + (" + " + ", ".join(extras) if extras else "")
    if "avx2" in flags:
        return "AVX2" + (" + AVX-VNNI" if "avx_vnni" in flags else "")
    if "asimd" in flags:
        return "NEON" + (" + dot product" if "asimddp" in flags else "")
    return "AVX" if "avx" in flags else ("SSE4.2" if "sse4_2" in flags else "unknown")


def physical_cores() -> int | None:
    """Distinct (physical id, core id) pairs from /proc/cpuinfo; None when unknown."""
    pairs: set[tuple[str, str]] = set()
    physical = core = None
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                key, _, value = line.partition(":")
                key = key.strip().lower()
                if key == "physical id":
                    physical = value.strip()
                elif key == "core id":
                    core = value.strip()
                elif not line.strip() and core is not None:
                    pairs.add((physical or "0", core))
                    physical = core = None
    except OSError:
        return None
    if core is not None:
        pairs.add((physical or "0", core))
    return len(pairs) or None


def library_versions() -> dict[str, str]:
    versions = {}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def gpu_info() -> list[dict[str, str]] | None:
    """Name, driver, memory and current/max clocks per GPU from nvidia-smi; None without one."""
    if shutil.which("nvidia-smi") is None:
        return None
    fields = "name,driver_version,memory.total,clocks.sm,clocks.max.sm,clocks.mem,power.limit,persistence_mode"
    try:
        out = subprocess.run(
            ["nvidia-smi", f"--query-gpu={fields}", "--format=csv,noheader"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    gpus = []
    for line in out.strip().splitlines():
        values = [v.strip() for v in line.split(",")]
        gpus.append(dict(zip(fields.split(","), values)))
    return gpus or None


def jetson_info() -> dict[str, Any] | None:
    try:
        from ..platform import jetson
    except ImportError:  # part of the TensorRT extra; absent on plain CPU installs
        return None
    try:
        if not jetson.is_jetson():
            return None
        state = jetson.jetson_state()
        return state.to_dict() if state is not None else None
    except Exception as exc:  # noqa: BLE001 - the environment is informative, never fatal
        return {"error": str(exc)}


def collect_environment(threads: int | None = None) -> dict[str, Any]:
    """A JSON-ready description of this machine and the software stack."""
    env: dict[str, Any] = {
        "cpu": cpu_model(),
        "cpu_isa": cpu_isa(),
        "logical_cores": os.cpu_count(),
        "physical_cores": physical_cores(),
        "affinity_cores": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "threads": threads,
        # Other processes competing for the cores make every figure (and ratio) suspect.
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "libraries": library_versions(),
    }
    gpus = gpu_info()
    if gpus:
        env["gpus"] = gpus
    jetson = jetson_info()
    if jetson:
        env["jetson"] = jetson
    return env
