"""PyTorch -> ONNX export with SE/CBAM attention folded into ``edgeattn::`` function nodes.

``export(model_or_source, output, ...) -> ExportResult`` (see :mod:`.onnx_export`); the folding
pass is :func:`edgeattn.export.fold.fold_attention`. Quantization lives in ``.quantize``; TensorRT
engine builds in :mod:`edgeattn.tensorrt`. Nothing heavy is imported until used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .._callable_module import make_package_callable

if TYPE_CHECKING:
    from .onnx_export import ExportResult, export

__all__ = ["ExportResult", "export"]


def __getattr__(name: str) -> Any:
    if name in ("export", "ExportResult"):
        from . import onnx_export

        return getattr(onnx_export, name)
    raise AttributeError(f"module 'edgeattn.export' has no attribute {name!r}")


make_package_callable(__name__, f"{__name__}.onnx_export", "export")
