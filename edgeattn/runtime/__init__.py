"""One runner interface over PyTorch, ONNX Runtime and TensorRT.

``load(artifact_or_model, backend="auto", **opts) -> Runner``; ``available_backends()`` lists every
backend with whether it can run here and why not.
"""

from __future__ import annotations

from typing import Any

from .base import Dim, Runner, RunnerInfo, TensorSpec
from .selection import BackendStatus, available_backends, backend_for, load, register_backend

__all__ = [
    "BackendStatus",
    "Dim",
    "OnnxRuntimeRunner",
    "Runner",
    "RunnerInfo",
    "TensorSpec",
    "TorchRunner",
    "available_backends",
    "backend_for",
    "load",
    "register_backend",
]


def __getattr__(name: str) -> Any:
    # Runner classes import their backends' libraries lazily.
    if name == "TorchRunner":
        from .torch_runner import TorchRunner

        return TorchRunner
    if name == "OnnxRuntimeRunner":
        from .onnxruntime_runner import OnnxRuntimeRunner

        return OnnxRuntimeRunner
    raise AttributeError(f"module 'edgeattn.runtime' has no attribute {name!r}")
