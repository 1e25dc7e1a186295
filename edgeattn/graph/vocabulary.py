"""The names a folded edgeattn graph is written in, defined once.

The export folds each attention block into one node of the ``edgeattn`` domain backed by an ONNX
local function (ONNX IR spec, "Functions"); every pass that reads such a graph (quantize, the
TensorRT preparation, the per-block profile, inspect) recognises it by these names.
"""

from __future__ import annotations

# The custom-op domain of the folded blocks (its opset_import entry and the node/function domain).
DOMAIN = "edgeattn"
# SE (Hu et al. 2018, Eq. 2-4) and CBAM's two halves (Woo et al. 2018, Eq. 2 and 3).
OP_TYPES: tuple[str, ...] = ("SqueezeExcite", "ChannelAttention", "SpatialAttention")
# What an artifact computes in, widest first: quantize makes the two lower ones. (An FP32 engine
# built with --tf32 is validated as "tf32": a tolerance, edgeattn.compare, not a graph.)
PRECISIONS: tuple[str, ...] = ("fp32", "fp16", "int8")
