"""Attention folding: SE / CBAM subgraphs -> one ``edgeattn::`` node each (ONNX local functions).

One rule per file (``se``, ``channel_attention``, ``spatial_attention``), written as onnxscript
rewrite rules whose ``check`` says why a candidate was refused; canonical bodies in
``functions``; the pass in ``driver``; the report in ``report``; folding an ONNX file from another
exporter (``edgeattn fold``) in ``onnx_file``.
"""

from .driver import FOLD_MODES, fold_attention, op_counts
from .functions import DOMAIN, BodyOptions
from .onnx_file import FoldOnnxResult, fold_onnx
from .report import FoldedBlock, FoldReport

__all__ = [
    "DOMAIN", "FOLD_MODES", "BodyOptions", "FoldOnnxResult", "FoldReport", "FoldedBlock", "fold_attention", "fold_onnx",
    "op_counts",
]
