"""Parity validation of exported artifacts against the PyTorch model (``edgeattn validate``).

Named ``validation`` so that the public function ``edgeattn.validate`` is never shadowed by a
package of the same name.
"""

from __future__ import annotations

from ..compare import DEFAULT_TOLERANCES, OutputComparison, Tolerance, compare_output, tolerance_for
from .core import infer_precision, localize_divergence, validate
from .report import LOCALIZE_CAVEAT, ArtifactResult, Localization, ValidationReport

__all__ = [
    "DEFAULT_TOLERANCES",
    "LOCALIZE_CAVEAT",
    "ArtifactResult",
    "Localization",
    "OutputComparison",
    "Tolerance",
    "ValidationReport",
    "compare_output",
    "infer_precision",
    "localize_divergence",
    "tolerance_for",
    "validate",
]

