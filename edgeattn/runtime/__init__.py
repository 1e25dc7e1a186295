"""One runner interface over PyTorch, ONNX Runtime and TensorRT.

``load(artifact_or_model, backend="auto", **opts) -> Runner``; ``available_backends()`` lists every
backend with whether it can run here and why not.
"""

from __future__ import annotations

from .._lazy import lazy_attributes
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
# Runner classes import their backends' libraries: imported on first use.
__getattr__, __dir__ = lazy_attributes(
    __name__, {"TorchRunner": ".torch_runner", "OnnxRuntimeRunner": ".onnxruntime_runner"}
)
