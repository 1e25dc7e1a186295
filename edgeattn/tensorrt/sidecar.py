"""The engine's JSON sidecar (``<engine>.json``) and the compatibility check made before loading.

TensorRT has no compatibility pre-flight API: a mismatched plan makes
``deserialize_cuda_engine`` return ``None`` with a cryptic logger line ("Version tag does not
match", "incompatible device"). We keep what the engine is tied to (TensorRT version, GPU compute
capability, OS/arch; docs/tensorrt.md F7) in a sidecar beside it -- never as a header inside the
engine file, which would break trtexec, Triton and DeepStream -- and compare it with the machine
before deserializing, honouring hardware- and version-compatible builds.
"""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from .._io import sidecar_path as sidecar_path  # re-exported: edgeattn.tensorrt.sidecar_path
from ..artifact import ENGINE_SIDECAR_FORMAT as SIDECAR_FORMAT
from ..artifact import ArtifactInfo, read_engine_sidecar
from ..errors import EngineCompatibilityError


@dataclass
class MachineInfo:
    """What an engine depends on, read from the machine that builds or loads it."""

    tensorrt_version: str | None
    gpu_name: str | None = None
    compute_capability: str | None = None
    cuda_runtime: str | None = None
    cuda_driver: str | None = None
    cuda_library: str | None = None  # the libcudart loaded
    system: str = field(default_factory=platform.system)
    machine: str = field(default_factory=platform.machine)
    jetson: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "tensorrt": {"version": self.tensorrt_version},
            "cuda": {"runtime": self.cuda_runtime, "driver": self.cuda_driver, "library": self.cuda_library},
            "gpu": {"name": self.gpu_name, "compute_capability": self.compute_capability},
            "platform": {"system": self.system, "machine": self.machine, "jetson": self.jetson},
        }


def probe_machine(trt: ModuleType | None, rt: Any, device: int = 0) -> MachineInfo:
    """Read TensorRT/CUDA versions, GPU and Jetson state; tolerate whatever is missing.

    ``rt`` is a :class:`edgeattn.platform.cuda.CudaRuntime` or ``None``.
    """
    from ..platform import jetson

    info = MachineInfo(tensorrt_version=str(getattr(trt, "__version__", None)) if trt is not None else None)
    if rt is not None:
        versions = rt.versions()
        info.cuda_runtime, info.cuda_driver = versions["cuda_runtime"], versions["cuda_driver"]
        info.cuda_library = getattr(rt, "path", None)
        try:
            props = rt.device_properties(device)
            info.gpu_name, info.compute_capability = props["gpu_name"], props["compute_capability"]
        except Exception:  # noqa: BLE001 - no device: the fields stay empty
            pass
    state = jetson.jetson_state()
    info.jetson = state.to_dict() if state is not None else None
    return info


def _dist_version(name: str) -> str | None:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def make_sidecar(
    *,
    engine_path: str | os.PathLike[str],
    engine_sha256: str,
    engine_bytes: int,
    onnx_path: str | os.PathLike[str],
    onnx_sha256: str,
    machine: MachineInfo,
    precision: str,
    precision_plan: dict[str, Any],
    profiles: list[dict[str, Any]],
    io: list[dict[str, Any]],
    build_options: dict[str, Any],
    features: dict[str, Any],
    rebuild_command: str,
    blocks: list[dict[str, Any]] | None = None,
    functions: dict[str, Any] | None = None,
    provenance: dict[str, Any] | None = None,
    layers: Any = None,
    prepared: dict[str, Any] | None = None,
    contexts: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The engine's record: the artifact record (:mod:`edgeattn.artifact`: provenance, blocks,
    precision as the same string ONNX metadata holds) plus what the engine is tied to."""
    from .. import __version__

    record = ArtifactInfo(provenance=provenance, blocks=list(blocks or []), precision=precision).sidecar()
    return {
        "format": SIDECAR_FORMAT,
        "edgeattn_version": __version__,
        "engine": {"file": Path(engine_path).name, "sha256": engine_sha256, "bytes": engine_bytes},
        **machine.to_dict(),
        "precision": record["precision"],
        "precision_plan": precision_plan,
        "profiles": profiles,
        "io": io,
        "source_onnx": {"path": str(onnx_path), "sha256": onnx_sha256},
        "build_options": build_options,
        "compatibility": {
            "hardware": build_options.get("hardware_compatibility", "none"),
            "version_compatible": bool(build_options.get("version_compatible", False)),
            "exclude_lean_runtime": bool(build_options.get("exclude_lean_runtime", False)),
        },
        "tensorrt_features": features,
        "rebuild_command": rebuild_command,
        "blocks": record["blocks"],
        "functions": functions or {},
        "prepared_graph": prepared,
        "contexts": contexts,
        "provenance": record["provenance"],
        "layers": layers,
    }


def read_sidecar(engine_path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The sidecar of ``engine_path`` (earlier formats upgraded), ``None`` when there is none;
    InputError when unreadable (:func:`edgeattn.artifact.read_engine_sidecar`)."""
    return read_engine_sidecar(engine_path)


def _version_tuple(version: str | None) -> tuple[int, ...]:
    out = []
    for part in str(version or "").split("."):
        if not part.isdigit():
            break
        out.append(int(part))
    return tuple(out)


def _cc_tuple(cc: str | None) -> tuple[int, int] | None:
    t = _version_tuple(cc)
    return (t[0], t[1] if len(t) > 1 else 0) if t else None


# Version-compatible engines load across these major versions only (docs/tensorrt.md F4).
_VC_MAJOR_STEPS = {(8, 8), (8, 10), (10, 10), (10, 11), (11, 11)}


def compatibility_problems(sidecar: dict[str, Any], machine: MachineInfo) -> list[str]:
    """What stops this engine from loading here (empty when nothing does)."""
    problems: list[str] = []
    compat = sidecar.get("compatibility") or {}
    built_trt = (sidecar.get("tensorrt") or {}).get("version")
    built = _version_tuple(built_trt)
    here = _version_tuple(machine.tensorrt_version)
    if built and here:
        if compat.get("version_compatible"):
            if (built[0], here[0]) not in _VC_MAJOR_STEPS or here[:3] < built[:3]:
                problems.append(
                    f"TensorRT {built_trt} built this version-compatible engine, this machine has "
                    f"{machine.tensorrt_version} (version-compatible engines load only on the same or a newer "
                    "TensorRT, across 8->10 and 10->11 at most)"
                )
        elif built[:3] != here[:3]:
            problems.append(f"TensorRT version: engine built with {built_trt}, this machine has {machine.tensorrt_version}")
    built_cc = _cc_tuple((sidecar.get("gpu") or {}).get("compute_capability"))
    here_cc = _cc_tuple(machine.compute_capability)
    if built_cc and here_cc:
        hw = compat.get("hardware", "none")
        if hw == "ampere_plus":
            if here_cc < (8, 0):
                problems.append(
                    f"GPU compute capability {machine.compute_capability}: this ampere_plus engine needs 8.0 or newer"
                )
        elif built_cc != here_cc:
            problems.append(
                f"GPU compute capability: engine built for {built_cc[0]}.{built_cc[1]} "
                f"({(sidecar.get('gpu') or {}).get('name')}), this GPU is {machine.compute_capability} ({machine.gpu_name})"
            )
    plat = sidecar.get("platform") or {}
    for key in ("system", "machine"):
        if plat.get(key) and plat.get(key) != getattr(machine, key):
            problems.append(f"platform {key}: engine built on {plat.get(key)}, this machine is {getattr(machine, key)}")
    return problems


def check_compatible(engine_path: str | os.PathLike[str], sidecar: dict[str, Any], machine: MachineInfo) -> None:
    """Raise :class:`EngineCompatibilityError` naming every difference and the rebuild command."""
    problems = compatibility_problems(sidecar, machine)
    if not problems:
        return
    command = sidecar.get("rebuild_command") or f"edgeattn build MODEL.onnx -o {engine_path}"
    raise EngineCompatibilityError(
        f"engine {engine_path} does not match this machine: " + "; ".join(problems),
        hint=f"rebuild it here from its ONNX: {command}",
    )
