"""Is the PyTorch reference holding the weights the artifact was exported from?

A cheap check before comparing outputs, robust to what exporters do to tensors: the initializers
of an ONNX artifact are matched to the model's ``state_dict`` by name and shape, and each pair is

- ``equal``: the same numbers (FP16 storage compared at FP16 rounding);
- ``folded``: equal up to one factor per output channel, which is what folding a BatchNorm into
  the preceding conv does to its weight (``w * gamma / sqrt(var + eps)``, the exporters keep the
  conv's name; onnxscript ``rewriter/fuse_batchnorm.py``, torch's ``_jit_pass_onnx_eval_peephole``);
- ``differing``: neither. A differing tensor with one value per output channel (a bias) is not
  held against the model: a folded conv's bias becomes ``(b - mean) * s + beta`` and cannot be
  checked without the BatchNorm.

The verdict is advisory. ``validate`` always runs the numeric comparison, which decides; a
``different`` verdict only explains a failure (a reference re-created with random weights, a
wrong checkpoint) or is reported beside a pass.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

FLOAT_TYPES = (1, 10, 11)  # onnx.TensorProto FLOAT, FLOAT16, DOUBLE; integer types are quantized weights


@dataclass
class WeightIdentity:
    """How an artifact's initializers relate to the model's tensors of the same name and shape."""

    compared: int = 0
    equal: int = 0
    folded: int = 0
    differing: list[str] = field(default_factory=list)

    @property
    def verdict(self) -> str:
        """``same`` (something matched), ``different`` (only mismatches), ``unknown`` (nothing comparable)."""
        if self.equal or self.folded:
            return "same"
        return "different" if self.differing else "unknown"

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.verdict,
            "compared": self.compared,
            "equal": self.equal,
            "folded": self.folded,
            "differing": self.differing[:5],
        }

    def summary(self) -> str:
        return (
            f"{self.compared} same-named tensors compared: {self.equal} equal, {self.folded} equal up to a "
            f"folded BatchNorm, {len(self.differing)} different"
            + (f" (e.g. {self.differing[0]})" if self.differing else "")
        )


def check_weights(artifact: str | os.PathLike[str], module: Any) -> WeightIdentity:
    """Compare every float initializer of an ONNX ``artifact`` with ``module``'s tensor of that name."""
    result = WeightIdentity()
    if Path(artifact).suffix.lower() != ".onnx" or not hasattr(module, "state_dict"):
        return result
    import onnx
    from onnx import numpy_helper

    state = {k: v for k, v in module.state_dict().items() if hasattr(v, "shape")}
    proto = onnx.load(os.fspath(artifact), load_external_data=False)
    for init in proto.graph.initializer:
        tensor = state.get(init.name)
        if tensor is None or tuple(tensor.shape) != tuple(init.dims) or init.data_type not in FLOAT_TYPES:
            continue
        if init.data_location == onnx.TensorProto.EXTERNAL:
            continue
        ours = tensor.detach().cpu().double().numpy()
        theirs = numpy_helper.to_array(init).astype(np.float64)
        half = init.data_type == onnx.TensorProto.FLOAT16
        if _close(ours, theirs, half):
            result.equal += 1
        elif ours.ndim < 2 or ours[0].size < 2:
            continue  # a bias, or one value per channel: any BatchNorm could explain the change
        elif _equal_up_to_channel_scale(ours, theirs, half):
            result.folded += 1
        else:
            result.differing.append(init.name)
        result.compared += 1
    return result


def _close(a: np.ndarray, b: np.ndarray, half: bool) -> bool:
    # FP16 storage rounds to ~5e-4 relative and flushes tiny values.
    rtol, atol = (2e-3, 1e-4) if half else (1e-5, 1e-7)
    return bool(np.allclose(a, b, rtol=rtol, atol=atol))


def _equal_up_to_channel_scale(ours: np.ndarray, theirs: np.ndarray, half: bool) -> bool:
    """``theirs[c] == s[c] * ours[c]`` for one finite, non-zero ``s[c]`` per output channel."""
    a = ours.reshape(ours.shape[0], -1)
    b = theirs.reshape(theirs.shape[0], -1)
    rows = np.arange(a.shape[0])
    pivot = np.argmax(np.abs(a), axis=1)
    denom = a[rows, pivot]
    if np.any(denom == 0):
        return False  # an all-zero channel: no scale to recover
    scale = b[rows, pivot] / denom
    if not np.all(np.isfinite(scale)) or np.any(scale == 0):
        return False
    return _close(a * scale[:, None], b, half)
