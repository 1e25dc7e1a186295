"""TensorRT engine builds from ONNX, for TensorRT 8.5 (JetPack 5.1) through 11.x.

``build(onnx_path, output, **options)`` writes a serialized engine and a JSON sidecar
(``<engine>.json``) describing what the engine is tied to. See docs/tensorrt.md.
"""

from __future__ import annotations

from .features import Features, detect_features, import_tensorrt
from .builder import BuildResult, PrecisionPlan, build, plan_precision
from .options import BuildOptions
from .profiles import Profile, compute_profiles, parse_shape_spec
from .sidecar import MachineInfo, check_compatible, compatibility_problems, read_sidecar, sidecar_path

__all__ = [
    "BuildOptions",
    "BuildResult",
    "Features",
    "MachineInfo",
    "PrecisionPlan",
    "Profile",
    "build",
    "check_compatible",
    "compatibility_problems",
    "compute_profiles",
    "detect_features",
    "import_tensorrt",
    "parse_shape_spec",
    "plan_precision",
    "read_sidecar",
    "sidecar_path",
]
