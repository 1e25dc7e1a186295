"""FP16 and INT8 (explicit Q/DQ) versions of an exported ONNX model, under an attention-aware policy.

``quantize(model.onnx, out.onnx, precision="fp16" | "int8", calibration=...)``. The output keeps
the source's artifact record (:mod:`edgeattn.artifact`) and adds its precision (``fp16``/``int8``,
what validation reads to pick its default tolerances) and the quantization record (target,
policy, ORT settings, calibration source/method/fingerprint/preprocessing), in the metadata and
the JSON sidecar ``<out>.json`` alike. See docs/precision.md.
"""

from __future__ import annotations

from .calibration import METHODS, CalibrationData
from .core import PRECISIONS, quantize
from .int8 import TARGETS
from .policy import PrecisionPolicy
from .report import NodePrecision, QuantizeResult

__all__ = [
    "METHODS",
    "PRECISIONS",
    "TARGETS",
    "CalibrationData",
    "NodePrecision",
    "PrecisionPolicy",
    "QuantizeResult",
    "quantize",
]
