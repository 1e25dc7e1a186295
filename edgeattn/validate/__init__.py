"""Parity validation of exported artifacts against the PyTorch model (``edgeattn validate``)."""

from __future__ import annotations

from .compare import DEFAULT_TOLERANCES, OutputComparison, Tolerance, compare_output, tolerance_for
from .core import infer_precision, localize_divergence, validate
from .._callable_module import make_package_callable
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

# ``edgeattn.validate(...)`` keeps working after this package has been imported.
make_package_callable(__name__, f"{__name__}.core", "validate")
