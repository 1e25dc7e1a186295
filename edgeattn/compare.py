"""Compare one output of a backend against the PyTorch reference (Polygraphy-style).

Both sides are upcast to float64 before subtracting. An element passes when
``|out - ref| <= atol + rtol * |ref|`` (``numpy.allclose``); an output passes when every element
does, its cosine similarity reaches ``min_cosine`` and it holds no NaN/Inf (always a failure).
The report also gives the tolerances that *would* have passed: ``atol`` with the configured rtol,
pure ``atol`` (rtol = 0) and pure ``rtol`` (atol = 0).

One comparison for the whole package: ``edgeattn validate`` and the parity check at the end of
``edgeattn export`` both call :func:`compare_output`. It sits at the base layer (numpy only) so
that the exporter uses it without importing the validation package above it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .errors import InputError


@dataclass(frozen=True)
class Tolerance:
    atol: float
    rtol: float
    min_cosine: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


# Defaults by precision. INT8 is checked loosely elementwise: its real test is accuracy on labelled
# data and the cosine similarity of the logits.
DEFAULT_TOLERANCES: dict[str, Tolerance] = {
    "fp32": Tolerance(atol=1e-4, rtol=1e-3, min_cosine=0.99999),
    # A TensorRT FP32 engine built with --tf32: convolutions and matrix products round their inputs
    # to a 10-bit mantissa (unit roundoff 2^-11, about 5e-4), so FP32's 1e-4 would fail it.
    "tf32": Tolerance(atol=1e-2, rtol=1e-2, min_cosine=0.9999),
    "fp16": Tolerance(atol=2e-2, rtol=2e-2, min_cosine=0.999),
    "int8": Tolerance(atol=1.0, rtol=0.25, min_cosine=0.98),
}
PRECISIONS = tuple(DEFAULT_TOLERANCES)


def tolerance_for(
    output: str,
    precision: str,
    atol: float | Mapping[str, float] | None = None,
    rtol: float | Mapping[str, float] | None = None,
    min_cosine: float | Mapping[str, float] | None = None,
) -> Tolerance:
    """The tolerance of ``output``: per-output value, else scalar, else the precision default."""
    if precision not in DEFAULT_TOLERANCES:
        raise InputError(f"precision: received {precision!r}, expected one of {list(PRECISIONS)}")
    base = DEFAULT_TOLERANCES[precision]

    def pick(value: float | Mapping[str, float] | None, default: float) -> float:
        if value is None:
            return default
        if isinstance(value, Mapping):
            if output in value:
                return float(value[output])
            return float(value["*"]) if "*" in value else default
        return float(value)

    return Tolerance(pick(atol, base.atol), pick(rtol, base.rtol), pick(min_cosine, base.min_cosine))


@dataclass
class OutputComparison:
    """Statistics of one output over every compared sample."""

    name: str
    shape: list[int]
    tolerance: Tolerance
    max_abs: float = 0.0
    mean_abs: float = 0.0
    median_abs: float = 0.0
    max_rel: float = 0.0
    mean_rel: float = 0.0
    median_rel: float = 0.0
    cosine: float = 1.0  # over the whole output
    min_sample_cosine: float = 1.0
    nonfinite: int = 0  # NaN/Inf elements in the backend's output
    reference_nonfinite: int = 0
    mismatched: int = 0  # elements outside atol + rtol*|ref|
    elements: int = 0
    required_atol: float = 0.0  # with the configured rtol
    required_atol_only: float = 0.0  # with rtol = 0
    required_rtol_only: float = 0.0  # with atol = 0
    top1_agreement: float | None = None
    top5_agreement: float | None = None
    worst_sample: int = 0
    passed: bool = False
    reasons: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tolerance"] = self.tolerance.to_dict()
        return {k: (_json_float(v) if isinstance(v, float) else v) for k, v in data.items()}


def _json_float(value: float) -> float | str:
    return value if math.isfinite(value) else str(value)


def is_classifier_output(shape: Sequence[int]) -> bool:
    """``[N, K]`` with K >= 2: logits or probabilities of a classifier."""
    return len(shape) == 2 and shape[1] >= 2


def compare_output(name: str, reference: np.ndarray, candidate: np.ndarray, tolerance: Tolerance) -> OutputComparison:
    """Compare ``candidate`` with ``reference`` (first axis = samples)."""
    ref = np.asarray(reference, dtype=np.float64)
    out = np.asarray(candidate, dtype=np.float64)
    if ref.shape != out.shape:
        if ref.size == out.size:
            out = out.reshape(ref.shape)  # e.g. [N, K, 1, 1] vs [N, K]: same values, another view
        else:
            result = OutputComparison(name, list(ref.shape), tolerance)
            result.reasons.append(f"shape differs: reference {list(ref.shape)}, backend {list(candidate.shape)}")
            return result
    result = OutputComparison(name, list(ref.shape), tolerance, elements=int(ref.size))
    finite = np.isfinite(out)
    result.nonfinite = int(out.size - np.count_nonzero(finite))
    result.reference_nonfinite = int(ref.size - np.count_nonzero(np.isfinite(ref)))
    diff = np.abs(out - ref)
    absref = np.abs(ref)
    # Relative error only where the reference is non-zero (an exact 0 after ReLU would make it
    # infinite); errors at zeros still count in the absolute statistics and the tolerance check.
    nonzero = absref > 0
    rel = diff[nonzero] / absref[nonzero]
    if rel.size == 0:
        rel = np.zeros(1)
    if ref.size:
        result.max_abs = float(np.max(diff))
        result.mean_abs = float(np.mean(diff))
        result.median_abs = float(np.median(diff))
        result.max_rel = float(np.max(rel))
        result.mean_rel = float(np.mean(rel))
        result.median_rel = float(np.median(rel))
        over = diff - (tolerance.atol + tolerance.rtol * absref)
        result.mismatched = int(np.count_nonzero(~(over <= 0)))  # NaN counts as mismatched
        result.required_atol = float(max(0.0, np.max(diff - tolerance.rtol * absref)))
        result.required_atol_only = result.max_abs
        result.required_rtol_only = result.max_rel
        result.cosine = _cosine(ref.reshape(-1), out.reshape(-1))
        per_sample = ref.reshape(ref.shape[0], -1) if ref.ndim > 1 else ref.reshape(1, -1)
        per_sample_out = out.reshape(per_sample.shape)
        cosines = [_cosine(a, b) for a, b in zip(per_sample, per_sample_out)]
        result.min_sample_cosine = float(np.nanmin(cosines)) if not all(math.isnan(c) for c in cosines) else math.nan
        sample_err = np.max(diff.reshape(per_sample.shape), axis=1)
        result.worst_sample = int(np.nanargmax(sample_err)) if np.any(np.isfinite(sample_err)) else 0
    if is_classifier_output(ref.shape):
        ref_top1 = np.argmax(ref, axis=1)
        result.top1_agreement = float(np.mean(ref_top1 == np.argmax(out, axis=1)))
        if ref.shape[1] >= 5:
            top5 = np.argsort(-out, axis=1, kind="stable")[:, :5]
            result.top5_agreement = float(np.mean([r in row for r, row in zip(ref_top1, top5)]))
    if result.nonfinite:
        result.reasons.append(f"{result.nonfinite} NaN/Inf value(s) in the backend output")
    if result.reference_nonfinite:
        result.reasons.append(f"{result.reference_nonfinite} NaN/Inf value(s) in the PyTorch reference")
    if result.mismatched:
        result.reasons.append(
            f"{result.mismatched}/{result.elements} elements outside atol={tolerance.atol:g} + rtol={tolerance.rtol:g}*|ref| "
            f"(max abs {result.max_abs:.3g}; would pass with atol={result.required_atol:.3g})"
        )
    if not (result.cosine >= tolerance.min_cosine):
        result.reasons.append(f"cosine similarity {result.cosine:.6f} < {tolerance.min_cosine}")
    result.passed = not result.reasons
    return result


def _cosine(a: np.ndarray, b: np.ndarray) -> float:
    na = float(np.linalg.norm(a))
    nb = float(np.linalg.norm(b))
    if not (math.isfinite(na) and math.isfinite(nb)):
        return math.nan
    if na == 0.0 and nb == 0.0:
        return 1.0
    if na == 0.0 or nb == 0.0:
        return 0.0
    return float(np.dot(a, b) / (na * nb))
