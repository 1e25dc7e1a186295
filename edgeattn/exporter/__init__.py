"""PyTorch -> ONNX export with SE/CBAM attention folded into ``edgeattn::`` function nodes.

``export(model_or_source, output, ...) -> ExportResult`` (see :mod:`.onnx_export`); the folding
pass is :func:`edgeattn.exporter.fold.fold_attention`. Quantization lives in ``.quantize``; TensorRT
engine builds in :mod:`edgeattn.tensorrt`. Nothing heavy is imported until used.

The package is named ``exporter`` (not ``export``) so that the public function
``edgeattn.export`` is never shadowed by the package of the same name once it is imported.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .._lazy import lazy_attributes

if TYPE_CHECKING:
    from .onnx_export import ExportResult, export

__all__ = ["ExportResult", "export"]
# torch is imported by onnx_export: only when export is used.
__getattr__, __dir__ = lazy_attributes(__name__, {"export": ".onnx_export", "ExportResult": ".onnx_export"})
