"""The fold report: what was folded (per type, with names), what was refused and why, and which
attention modules of the PyTorch model have no folded node (each one a warning)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class FoldedBlock:
    """One folded block: node name (= PyTorch module path), op type, variant, tensor names."""

    name: str
    op_type: str
    variant: str
    input: str
    output: str
    name_source: str  # "scope+model" | "scope" | "order" | "anchor" (the Mul's path) | "none"
    notes: list[str] = field(default_factory=list)

    def metadata_entry(self) -> dict[str, str]:
        """The recorded block entry (:mod:`edgeattn.artifact`) (the interface other parts read)."""
        return {"name": self.name, "op_type": self.op_type, "input": self.input, "output": self.output}


@dataclass
class RuleRefusal:
    node: str
    module: str | None
    reasons: dict[str, str]


@dataclass
class FoldReport:
    mode: str
    blocks: list[FoldedBlock] = field(default_factory=list)
    refusals: list[RuleRefusal] = field(default_factory=list)
    missing: list[dict[str, str]] = field(default_factory=list)  # in the model, not folded
    warnings: list[str] = field(default_factory=list)
    expected: int | None = None  # attention blocks in the PyTorch model, when it was given
    ops_before: dict[str, int] = field(default_factory=dict)
    ops_after: dict[str, int] = field(default_factory=dict)

    @property
    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for block in self.blocks:
            out[block.op_type] = out.get(block.op_type, 0) + 1
        return out

    @property
    def complete(self) -> bool:
        """Every attention module of the PyTorch model was folded (unknown without a model)."""
        return not self.missing

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "counts": self.counts,
            "expected": self.expected,
            "complete": self.complete,
            "blocks": [asdict(b) for b in self.blocks],
            "missing": self.missing,
            "refusals": [asdict(r) for r in self.refusals],
            "warnings": self.warnings,
            "ops_before": self.ops_before,
            "ops_after": self.ops_after,
        }

    def summary(self) -> str:
        counts = ", ".join(f"{n} {k}" for k, n in sorted(self.counts.items())) or "no attention blocks"
        expected = "" if self.expected is None else f" of {self.expected} in the model"
        return f"folded {counts}{expected} ({self.mode})"
