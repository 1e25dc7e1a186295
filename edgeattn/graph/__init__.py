"""The ONNX graph toolkit (pure ONNX, no torch): the ``edgeattn::`` vocabulary and what reads it.

One place for what every pass needs to recognise a folded graph:

* :data:`DOMAIN`, :data:`OP_TYPES` (:mod:`.vocabulary`): the custom-op domain and the op types the export folds
  each attention block into (one ONNX local function per type, ONNX IR spec "Functions");
* :data:`PRECISIONS`: the numeric precisions an artifact can hold;
* :func:`inline_functions` / :func:`block_of` (:mod:`.functions`): inline the calls, naming every
  node and tensor after its block, for the INT8 pass, the per-block profile and TensorRT;
* :func:`detect_precision` (:mod:`.precision`): an artifact's precision from its tensors and ops.

``onnx`` is imported by the functions that need it, so importing this package stays cheap.
"""

from __future__ import annotations

from .functions import Inlined, attention_calls, block_of, function_key, inline_functions, is_attention_call
from .precision import detect_precision
from .vocabulary import DOMAIN, OP_TYPES, PRECISIONS

__all__ = [
    "DOMAIN",
    "OP_TYPES",
    "PRECISIONS",
    "Inlined",
    "attention_calls",
    "block_of",
    "detect_precision",
    "function_key",
    "inline_functions",
    "is_attention_call",
]
