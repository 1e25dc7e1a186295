"""An ONNX graph's precision, read from its ops and tensors (not from metadata).

Used when an artifact records no precision (a graph quantized elsewhere, or one whose
metadata was stripped): by validate, to pick the tolerance, and by the TensorRT build, to pick the
builder flags. What is recorded, when it is, takes precedence and is read by the callers.

* INT8: a quantize/dequantize pair or an integer kernel anywhere, in the graph or in a function
  body. QDQ is the tensor-oriented form (TensorRT's "explicit quantization"), QLinear* and
  ``*Integer`` the operator-oriented one (ONNX Runtime docs, "Quantize ONNX models", section
  "ONNX quantization representation format").
* FP16: a float16 graph input or initializer (``onnxconverter_common.float16`` converts the
  weights; ``keep_io_types`` leaves the inputs float32, so the initializers count on their own).
* FP32 otherwise.
"""

from __future__ import annotations

from typing import Any

INT8_OPS = frozenset(
    {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger", "MatMulInteger"}
)
_FLOAT16 = 10  # onnx.TensorProto.FLOAT16 (onnx/onnx.proto), without importing onnx


def detect_precision(model: Any) -> str:
    """``"int8"``, ``"fp16"`` or ``"fp32"`` for an ``onnx.ModelProto`` (see the module docstring)."""
    op_types = {n.op_type for n in model.graph.node}
    for function in model.functions:
        op_types.update(n.op_type for n in function.node)
    if op_types & INT8_OPS:
        return "int8"
    graph = model.graph
    if any(t.data_type == _FLOAT16 for t in graph.initializer) or any(
        i.type.tensor_type.elem_type == _FLOAT16 for i in graph.input
    ):
        return "fp16"
    return "fp32"
