"""PyTorch -> ONNX export with SE/CBAM attention folded into ``edgeattn::`` function nodes.

``export(model_or_source, output, ...) -> ExportResult`` (see :mod:`.onnx_export`); the folding
pass is :func:`edgeattn.export.fold.fold_attention`. Quantization (``.quantize``) and TensorRT
(``.tensorrt``) live in their own subpackages. Nothing heavy is imported until used.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .onnx_export import ExportResult, export

__all__ = ["ExportResult", "export"]


def __getattr__(name: str) -> Any:
    if name in ("export", "ExportResult"):
        from . import onnx_export

        return getattr(onnx_export, name)
    raise AttributeError(f"module 'edgeattn.export' has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """``edgeattn.export`` is both this package and the public ``export`` function: once the
    package is imported Python binds the attribute to the package, so the package forwards calls
    (``edgeattn.export("timm:seresnet50", "m.onnx")`` works however it was reached)."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from .onnx_export import export as _export

        return _export(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
