"""Validation result objects and their JSON / Markdown renderings."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from ..compare import OutputComparison

LOCALIZE_CAVEAT = (
    "Marking intermediate tensors as extra outputs keeps the runtime from fusing across them, "
    "which can itself change the results (TensorRT#2571, #3258): treat the first diverging block as a lead."
)


@dataclass
class ProbeComparison:
    module: str
    tensor: str
    kind: str
    max_abs: float
    max_rel: float
    cosine: float
    passed: bool
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {k: (v if not isinstance(v, float) or math.isfinite(v) else str(v)) for k, v in self.__dict__.items()}


@dataclass
class Localization:
    """Block-by-block comparison on the worst sample; ``first_divergence`` is a module path."""

    sample: int
    probes: list[ProbeComparison] = field(default_factory=list)
    first_divergence: str | None = None
    message: str = ""
    caveat: str = LOCALIZE_CAVEAT

    def to_dict(self) -> dict[str, Any]:
        return {
            "sample": self.sample,
            "first_divergence": self.first_divergence,
            "message": self.message,
            "caveat": self.caveat,
            "probes": [p.to_dict() for p in self.probes],
        }


@dataclass
class ArtifactResult:
    """One artifact (e.g. model.fp16.onnx) against the PyTorch reference."""

    artifact: str
    backend: str
    precision: str
    runner: dict[str, Any] = field(default_factory=dict)
    outputs: list[OutputComparison] = field(default_factory=list)
    accuracy: dict[str, float] | None = None
    localization: Localization | None = None
    error: str | None = None
    weights: dict[str, Any] | None = None  # identity.WeightIdentity.to_dict(): advisory, outputs decide
    notes: list[str] = field(default_factory=list)
    unjudged: str | None = None  # why tolerances were not applied (INT8 on random inputs); NaN/Inf still fail
    advice: str | None = None  # a failed INT8 artifact: what to keep in FP32 (int8_advice.py)

    @property
    def passed(self) -> bool:
        if self.error is not None or not self.outputs:
            return False
        if self.unjudged:
            return all(o.nonfinite == 0 for o in self.outputs)
        return all(o.passed for o in self.outputs)

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "artifact": self.artifact,
            "backend": self.backend,
            "precision": self.precision,
            "passed": self.passed,
            "runner": self.runner,
            "outputs": [o.to_dict() for o in self.outputs],
            "accuracy": self.accuracy,
            "localization": self.localization.to_dict() if self.localization else None,
            "error": self.error,
            "weights": self.weights,
            "notes": self.notes,
            "unjudged": self.unjudged,
            "advice": self.advice,
        }


@dataclass
class ValidationReport:
    """Everything one ``validate`` call compared; truthy when every artifact passed."""

    reference: dict[str, Any]
    inputs: dict[str, Any]
    artifacts: list[ArtifactResult] = field(default_factory=list)
    reference_accuracy: dict[str, float] | None = None
    environment: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return bool(self.artifacts) and all(a.passed for a in self.artifacts)

    def __bool__(self) -> bool:
        return self.passed

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "reference": self.reference,
            "inputs": self.inputs,
            "reference_accuracy": self.reference_accuracy,
            "artifacts": [a.to_dict() for a in self.artifacts],
            "environment": self.environment,
        }

    def reference_name(self) -> str:
        """``PyTorch `model``` or ``artifact `path``` (validate --reference)."""
        if self.reference.get("recorded"):
            return f"recorded outputs `{self.reference['recorded']}` ({self.reference.get('producer')})"
        if self.reference.get("artifact"):
            return f"artifact `{self.reference['artifact']}` ({self.reference.get('precision')}, {self.reference.get('backend')})"
        return f"PyTorch `{self.reference.get('model')}`" + (
            f" with checkpoint `{self.reference['checkpoint']}`" if self.reference.get("checkpoint") else ""
        )

    def to_markdown(self) -> str:
        lines = [
            f"# Parity validation: {'PASS' if self.passed else 'FAIL'}",
            "",
            f"Reference: {self.reference_name()}",
            f"Inputs: {self.inputs.get('source')} ({self.inputs.get('count')} samples, batch {self.inputs.get('batch_size')})",
            "",
            "| artifact | backend | precision | output | max abs | mean abs | median abs | max rel | cosine | top-1 agr. | top-5 agr. | NaN/Inf | atol / rtol | would pass atol | result |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for art in self.artifacts:
            if art.error:
                lines.append(f"| `{art.artifact}` | {art.backend} | {art.precision} | - | - | - | - | - | - | - | - | - | - | - | ERROR: {art.error} |")
                continue
            for out in art.outputs:
                lines.append(
                    f"| `{art.artifact}` | {art.backend} | {art.precision} | {out.name} | {out.max_abs:.3g} | {out.mean_abs:.3g} | "
                    f"{out.median_abs:.3g} | {out.max_rel:.3g} | {out.cosine:.6f} | {_pct(out.top1_agreement)} | "
                    f"{_pct(out.top5_agreement)} | {out.nonfinite} | {out.tolerance.atol:g} / {out.tolerance.rtol:g} | "
                    f"{out.required_atol:.3g} | {_verdict(art, out)} |"
                )
        if self.reference_accuracy is not None:
            lines += ["", "## Accuracy on the labelled inputs", "", "| model | top-1 | top-5 |", "|---|---|---|"]
            lines.append(f"| {'reference artifact' if self.reference.get('artifact') else 'PyTorch'} (reference) | {_pct(self.reference_accuracy.get('top1'))} | {_pct(self.reference_accuracy.get('top5'))} |")
            for art in self.artifacts:
                if art.accuracy:
                    lines.append(f"| `{art.artifact}` ({art.precision}) | {_pct(art.accuracy.get('top1'))} | {_pct(art.accuracy.get('top5'))} |")
        for art in self.artifacts:
            lines += _artifact_markdown(art)
        return "\n".join(lines) + "\n"


def _artifact_markdown(art: ArtifactResult) -> list[str]:
    """The sections on one artifact below the table: why it failed, advice, notes, localization."""
    if art.unjudged:
        return ["", f"## `{art.artifact}`: not judged", "", f"- {art.unjudged}"]
    lines: list[str] = []
    failing = [o for o in art.outputs if not o.passed]
    if failing:
        lines += ["", f"## Why `{art.artifact}` failed", ""]
        lines += [f"- {o.name}: {r}" for o in failing for r in o.reasons]
    if art.advice:
        lines += ["", f"Advice: {art.advice}"]
    if art.notes:
        lines += ["", f"## Notes on `{art.artifact}`", ""] + [f"- {n}" for n in art.notes]
    loc = art.localization
    if loc is not None:
        lines += ["", f"### Block-by-block comparison (sample {loc.sample})", "", loc.message, "", f"> {loc.caveat}", ""]
        if loc.probes:
            lines += ["| module | kind | tensor | max abs | max rel | cosine | result |", "|---|---|---|---|---|---|---|"]
            for p in loc.probes:
                mark = "pass" if p.passed else "DIVERGES"
                if p.module == loc.first_divergence:
                    mark = "**first divergence**"
                lines.append(f"| {p.module} | {p.kind} | `{p.tensor}` | {p.max_abs:.3g} | {p.max_rel:.3g} | {p.cosine:.6f} | {mark} |")
    return lines


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100.0 * value:.1f}%"


def _verdict(art: ArtifactResult, out: Any) -> str:
    """pass / FAIL, or 'not judged' when tolerances were not applied (NaN/Inf still FAIL)."""
    if art.unjudged:
        return "FAIL" if out.nonfinite else "not judged"
    return "pass" if out.passed else "FAIL"
