"""Import TensorRT and detect what its Python API offers, by feature rather than version.

TensorRT's Python surface changed across the generations we target (docs/tensorrt.md F8):
8.5 (JetPack 5.1) has no ``STRONGLY_TYPED``, ``builder_optimization_level`` or
``hardware_compatibility_level`` and needs ``EXPLICIT_BATCH``; 10.x deprecates ``EXPLICIT_BATCH``
and offers ``STRONGLY_TYPED`` as opt-in; 11.x removed ``BuilderFlag.FP16/INT8``, the calibrators
and ``EXPLICIT_BATCH`` (and ``STRONGLY_TYPED`` is 0 there, not 1). Every decision below is a
``hasattr`` on the live module, never a comparison of version strings.
"""

from __future__ import annotations

import importlib
from dataclasses import asdict, dataclass
from types import ModuleType
from typing import Any

from ..errors import BackendUnavailableError

TRT_MISSING_HINT = (
    "TensorRT needs an NVIDIA GPU: on x86 `pip install tensorrt` (CUDA 13) or `tensorrt-cu12`; "
    "on Jetson it comes with JetPack (`sudo apt-get install nvidia-jetpack`). "
    "Without a GPU use the ONNX Runtime backend."
)


def import_tensorrt() -> ModuleType:
    """Return the ``tensorrt`` module or raise ``BackendUnavailableError("TensorRT is not installed")``."""
    try:
        trt = importlib.import_module("tensorrt")
    except ImportError as exc:
        raise BackendUnavailableError(
            f"TensorRT is not installed (import tensorrt failed: {exc})", hint=TRT_MISSING_HINT
        ) from None
    except Exception as exc:  # the pip stubs raise at import when their libraries are missing
        raise BackendUnavailableError(
            f"TensorRT is not installed correctly (import tensorrt raised {type(exc).__name__}: {exc})",
            hint=TRT_MISSING_HINT,
        ) from None
    if not hasattr(trt, "Builder") and not hasattr(trt, "Runtime"):
        raise BackendUnavailableError(
            "TensorRT is not installed (the `tensorrt` module found has no Builder/Runtime)", hint=TRT_MISSING_HINT
        )
    return trt


def _has_member(enum: Any, name: str) -> bool:
    return enum is not None and hasattr(enum, name)


@dataclass(frozen=True)
class Features:
    """What the loaded TensorRT Python module offers (all detected with ``hasattr``)."""

    version: str
    explicit_batch_flag: bool  # NetworkDefinitionCreationFlag.EXPLICIT_BATCH (8.x-10.x)
    implicit_batch_api: bool  # Builder.max_batch_size exists: networks default to implicit batch (8.x)
    strongly_typed: bool  # NetworkDefinitionCreationFlag.STRONGLY_TYPED (10.x+)
    fp16_flag: bool  # BuilderFlag.FP16 (<= 10.x)
    int8_flag: bool  # BuilderFlag.INT8 (<= 10.x)
    entropy_calibrator: bool  # IInt8EntropyCalibrator2 (<= 10.x)
    version_compatible_flag: bool  # 8.6+
    exclude_lean_runtime_flag: bool
    optimization_level: bool  # IBuilderConfig.builder_optimization_level, 8.6+
    hardware_compatibility: tuple[str, ...]  # HardwareCompatibilityLevel members, 8.6+
    memory_pool_limit: bool  # set_memory_pool_limit (8.4+); else max_workspace_size
    max_workspace_size: bool
    engine_host_code_allowed: bool  # Runtime.engine_host_code_allowed, 8.6+
    # Execution contexts and optimization profiles (docs/tensorrt.md F14): from 9.0 every context
    # uses profile 0; 8.6 shares a profile only with PreviewFeature.PROFILE_SHARING_0806 set at
    # build; 8.5 needs one profile per concurrent context.
    contexts_share_profiles: bool = True
    profile_sharing_preview: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _class_has(trt: ModuleType, cls: str, member: str) -> bool:
    obj = getattr(trt, cls, None)
    return obj is not None and hasattr(obj, member)


def detect_features(trt: ModuleType) -> Features:
    ncf = getattr(trt, "NetworkDefinitionCreationFlag", None)
    bf = getattr(trt, "BuilderFlag", None)
    hcl = getattr(trt, "HardwareCompatibilityLevel", None)
    hw_levels = tuple(
        name for name in ("NONE", "AMPERE_PLUS", "SAME_COMPUTE_CAPABILITY") if _has_member(hcl, name)
    )
    return Features(
        version=str(getattr(trt, "__version__", "unknown")),
        explicit_batch_flag=_has_member(ncf, "EXPLICIT_BATCH"),
        implicit_batch_api=_class_has(trt, "Builder", "max_batch_size"),
        strongly_typed=_has_member(ncf, "STRONGLY_TYPED"),
        fp16_flag=_has_member(bf, "FP16"),
        int8_flag=_has_member(bf, "INT8"),
        entropy_calibrator=hasattr(trt, "IInt8EntropyCalibrator2") and _class_has(trt, "IBuilderConfig", "int8_calibrator"),
        version_compatible_flag=_has_member(bf, "VERSION_COMPATIBLE"),
        exclude_lean_runtime_flag=_has_member(bf, "EXCLUDE_LEAN_RUNTIME"),
        optimization_level=_class_has(trt, "IBuilderConfig", "builder_optimization_level"),
        hardware_compatibility=hw_levels if _class_has(trt, "IBuilderConfig", "hardware_compatibility_level") else (),
        memory_pool_limit=_class_has(trt, "IBuilderConfig", "set_memory_pool_limit")
        and hasattr(trt, "MemoryPoolType"),
        max_workspace_size=_class_has(trt, "IBuilderConfig", "max_workspace_size"),
        engine_host_code_allowed=_class_has(trt, "Runtime", "engine_host_code_allowed"),
        contexts_share_profiles=not _class_has(trt, "Builder", "max_batch_size"),
        profile_sharing_preview=_has_member(getattr(trt, "PreviewFeature", None), "PROFILE_SHARING_0806"),
    )


def network_flags(trt: ModuleType, features: Features, *, strongly_typed: bool) -> int:
    """Bit mask for ``Builder.create_network``.

    Enum values differ by generation (``STRONGLY_TYPED`` is 1 on 10.x, 0 on 11.x), so the bit is
    computed from the live enum. ``EXPLICIT_BATCH`` is needed where the implicit-batch API still
    exists (8.x, whose default is implicit batch); on 10.x it is deprecated and ignored, so it is
    not passed, and on 11.x it does not exist.
    """
    ncf = trt.NetworkDefinitionCreationFlag
    flags = 0
    if features.implicit_batch_api and features.explicit_batch_flag:
        flags |= 1 << int(ncf.EXPLICIT_BATCH)
    if strongly_typed and features.strongly_typed:
        flags |= 1 << int(ncf.STRONGLY_TYPED)
    return flags
