"""``edgeattn doctor``: what this machine is, and which commands will work here (and what to install).

It reads, never installs: the platform (OS, CPU architecture, Python; on Jetson the L4T release,
the JetPack it belongs to, power mode and clocks), TensorRT (version, DLA cores), the CUDA runtime
library and driver, the GPU and its compute capability, ONNX Runtime and the execution providers
that really load (a provider listed by ``get_available_providers`` may still fall back to the CPU),
PyTorch. Known wrong combinations are named (both ONNX Runtime wheels; a TensorRT that is not the
one of this JetPack; cuda-python newer than the driver).
"""

from __future__ import annotations

import importlib.util
import platform
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from typing import Any

from .errors import BackendUnavailableError

# L4T release -> (JetPack, the TensorRT major.minor it ships) (docs/tensorrt.md, "Targeted versions")
JETPACK_BY_L4T = {
    "35.2": ("5.1", "8.5"),
    "35.3": ("5.1.1", "8.5"),
    "35.4": ("5.1.2", "8.5"),
    "35.5": ("5.1.3", "8.5"),
    "35.6": ("5.1.4", "8.5"),
    "36.2": ("6.0 DP", "8.6"),
    "36.3": ("6.0", "8.6"),
    "36.4": ("6.1/6.2", "10.3"),
}


@dataclass
class Check:
    """One command: whether it works here, and what to do if not."""

    command: str
    works: bool
    detail: str
    install: str | None = None


@dataclass
class Report:
    platform: dict[str, Any] = field(default_factory=dict)
    jetson: dict[str, Any] | None = None
    tensorrt: dict[str, Any] = field(default_factory=dict)
    cuda: dict[str, Any] = field(default_factory=dict)
    onnxruntime: dict[str, Any] = field(default_factory=dict)
    torch: dict[str, Any] = field(default_factory=dict)
    commands: list[Check] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["commands"] = [asdict(c) for c in self.commands]
        return data


def _dist(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _major_minor(version: str | None) -> str | None:
    parts = str(version or "").split(".")
    return ".".join(parts[:2]) if len(parts) >= 2 and all(p.isdigit() for p in parts[:2]) else None


def _jetson(report: Report) -> None:
    from .platform import jetson

    if not jetson.is_jetson():
        return
    state = jetson.jetson_state()
    info = state.to_dict() if state is not None else {}
    release = info.get("l4t_release")
    jetpack = JETPACK_BY_L4T.get(_major_minor(release) or "")
    info["jetpack"], info["jetpack_tensorrt"] = (jetpack or (None, None))
    report.jetson = info


def _tensorrt(report: Report) -> Any:
    from .tensorrt.features import import_tensorrt

    try:
        trt = import_tensorrt()
    except BackendUnavailableError as exc:
        report.tensorrt = {"installed": False, "reason": exc.message}
        return None
    report.tensorrt = {"installed": True, "version": str(getattr(trt, "__version__", "?"))}
    return trt


def _cuda(report: Report, trt: Any) -> bool:
    from .platform import cuda

    rt = cuda.try_load_runtime()
    if rt is None:
        report.cuda = {"library": None, "devices": 0}
        return False
    code, count = rt.device_count_status()
    report.cuda = {"library": rt.path, **rt.versions(), "devices": count}
    if count == 0:
        report.cuda["reason"] = rt.error_name(code)
        return False
    report.cuda.update(rt.device_properties(0))
    if trt is not None:
        try:
            from .tensorrt.diagnostics import make_logger

            report.tensorrt["dla_cores"] = int(getattr(trt.Builder(make_logger(trt)), "num_DLA_cores", 0) or 0)
        except Exception:  # noqa: BLE001 - informative only
            report.tensorrt["dla_cores"] = None
    return True


def _onnxruntime(report: Report) -> bool:
    if importlib.util.find_spec("onnxruntime") is None:
        report.onnxruntime = {"installed": False}
        return False
    from .runtime.onnxruntime_runner import conflicting_install_message

    info: dict[str, Any] = {"installed": True, "distributions": [d for d in ("onnxruntime", "onnxruntime-gpu") if _dist(d)]}
    conflict = conflicting_install_message()
    if conflict:
        report.problems.append(conflict)
    try:
        import onnxruntime as ort

        info["version"] = ort.__version__
        info["available_providers"] = list(ort.get_available_providers())
        info["loading_providers"] = _providers_that_load(ort, info["available_providers"])
    except Exception as exc:  # noqa: BLE001 - a broken install is what doctor reports
        info["error"] = f"{type(exc).__name__}: {exc}"
        report.onnxruntime = info
        return False
    report.onnxruntime = info
    return True


def _providers_that_load(ort: Any, providers: list[str]) -> list[str]:
    """Providers a session really keeps (ORT drops one that fails to initialise, with a log line)."""
    from onnx import TensorProto, helper

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])
    model = helper.make_model(
        helper.make_graph([helper.make_node("Relu", ["x"], ["y"])], "g", [x], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])]),
        opset_imports=[helper.make_opsetid("", 17)],
    )
    model.ir_version = 8
    data = model.SerializeToString()
    loaded = []
    for provider in providers:
        try:
            options = ort.SessionOptions()
            options.log_severity_level = 4  # doctor reports; the provider's own error would be noise
            session = ort.InferenceSession(data, options, providers=[provider])
            if provider in session.get_providers():
                loaded.append(provider)
        except Exception:  # noqa: BLE001 - a provider that cannot start is simply not listed
            continue
    return loaded


def _combinations(report: Report) -> None:
    jet, trt_version = report.jetson, report.tensorrt.get("version")
    if jet and jet.get("jetpack_tensorrt") and trt_version and _major_minor(trt_version) != jet["jetpack_tensorrt"]:
        report.problems.append(
            f"TensorRT {trt_version} on JetPack {jet['jetpack']} (L4T {jet['l4t_release']}), which ships TensorRT "
            f"{jet['jetpack_tensorrt']}: use JetPack's own (sudo apt-get install python3-libnvinfer), not a pip wheel"
        )
    if jet and "onnxruntime-gpu" in (report.onnxruntime.get("distributions") or []):
        report.problems.append("onnxruntime-gpu from PyPI has no Jetson (aarch64) CUDA build: install edgeattn[cpu] on Jetson")
    bindings = _dist("cuda-bindings") or _dist("cuda-python")
    driver = _major_minor(report.cuda.get("cuda_driver"))
    if bindings and driver and int(bindings.split(".")[0]) > int(driver.split(".")[0]):
        report.problems.append(
            f"cuda-python {bindings} needs a CUDA {bindings.split('.')[0]} driver, this one is CUDA {driver} "
            "(edgeattn does not need cuda-python: it may be removed)"
        )


def diagnose() -> Report:
    """Everything ``edgeattn doctor`` prints."""
    report = Report(
        platform={"system": platform.system(), "machine": platform.machine(), "python": platform.python_version()}
    )
    _jetson(report)
    trt = _tensorrt(report)
    gpu = _cuda(report, trt)
    ort_ok = _onnxruntime(report)
    torch_ok = importlib.util.find_spec("torch") is not None
    report.torch = {"installed": torch_ok, "version": _dist("torch")}
    _combinations(report)

    py310 = sys.version_info >= (3, 10)
    workstation = "pip install 'edgeattn[cpu,export]'" + ("" if py310 else " (needs Python >= 3.10)")
    export_ok = torch_ok and py310
    export_detail = "PyTorch present" if export_ok else ("needs Python >= 3.10" if not py310 else "PyTorch is not installed")
    ort_detail = ("ONNX Runtime " + str(report.onnxruntime.get("version"))) if ort_ok else "ONNX Runtime is not installed"
    if trt is None:
        trt_detail, trt_ok = str(report.tensorrt.get("reason")), False
    elif not gpu:
        trt_detail, trt_ok = f"TensorRT {report.tensorrt['version']} but no usable GPU ({report.cuda.get('reason') or 'libcudart not found'})", False
    else:
        trt_detail, trt_ok = f"TensorRT {report.tensorrt['version']} on {report.cuda.get('gpu_name')} (compute {report.cuda.get('compute_capability')})", True
    trt_install = None if trt_ok else (
        "on Jetson: sudo apt-get install nvidia-jetpack (TensorRT comes with JetPack)"
        if report.jetson
        else "pip install tensorrt (CUDA 13 driver) or tensorrt-cu12; needs an NVIDIA GPU"
    )
    ort_install = None if ort_ok else "pip install 'edgeattn[cpu]'" + ("" if report.jetson else "  (or [gpu] on x86 with a GPU)")
    report.commands = [
        Check("inspect", True, "ONNX files and sidecars (a PyTorch model needs PyTorch)"),
        Check("export", export_ok, export_detail, None if export_ok else workstation),
        Check("quantize", export_ok and ort_ok, export_detail if not export_ok else ort_detail, None if export_ok and ort_ok else workstation),
        Check("build", trt_ok, trt_detail, trt_install),
        Check("validate", ort_ok or trt_ok, "against recorded outputs or a reference artifact" + ("" if ort_ok else "; ONNX files need ONNX Runtime"), ort_install),
        Check("bench", ort_ok or trt_ok, ort_detail + ("; TensorRT engines too" if trt_ok else ""), ort_install),
    ]
    return report
