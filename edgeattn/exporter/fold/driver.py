"""The folding pass: run the three rules, add the canonical functions, name and report the blocks."""

from __future__ import annotations

import collections
from collections.abc import Sequence
from typing import TYPE_CHECKING

import onnx_ir as ir
from onnx_ir.passes.common import RemoveUnusedFunctionsPass, RemoveUnusedNodesPass
from onnxscript.rewriter import pattern

from ...errors import InputError
from ...graph import DOMAIN, OP_TYPES
from . import functions
from ._base import FOLDED_TAG, FoldContext, Folded
from .channel_attention import ChannelAttentionRule
from .report import FoldedBlock, FoldReport, RuleRefusal
from .se import SqueezeExciteRule
from .spatial_attention import SpatialAttentionRule

if TYPE_CHECKING:
    from ...models.attention_scan import AttentionBlock

FOLD_MODES = ("functions", "inline", "none")
RULES = (SqueezeExciteRule, ChannelAttentionRule, SpatialAttentionRule)


def op_counts(model: ir.Model) -> dict[str, int]:
    counter = collections.Counter(
        f"{n.domain}::{n.op_type}" if n.domain not in ("", "ai.onnx") else n.op_type for n in model.graph
    )
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def fold_attention(
    model: ir.Model,
    mode: str = "functions",
    expected: Sequence[AttentionBlock] | None = None,
    options: functions.BodyOptions = functions.DEFAULT_OPTIONS,
) -> FoldReport:
    """Fold every SE / CBAM block of ``model`` in place and return the report.

    ``mode``: ``functions`` (one ``edgeattn::`` node per block, defined by a local function),
    ``inline`` (the same canonical bodies as plain standard ops) or ``none`` (graph untouched;
    the blocks are still located, on a copy, for the report and the recorded blocks).
    ``expected``: the PyTorch model's blocks (``find_attention_blocks``), used to confirm the
    node names and to warn about blocks that were not folded.
    """
    if mode not in FOLD_MODES:
        raise InputError(f"fold mode {mode!r} is not one of {', '.join(FOLD_MODES)}")
    if mode == "none":
        copy = ir.from_proto(ir.to_proto(model))
        report = fold_attention(copy, "functions", expected, options)
        report.mode = "none"
        report.ops_after = report.ops_before
        return report

    opset = model.opset_imports.get("", model.opset_imports.get("ai.onnx", 18))
    report = FoldReport(mode=mode, ops_before=op_counts(model))
    existing = {v.name for v in model.graph.initializers.values() if v.name} | {
        n.name for n in model.graph if n.name
    }
    ctx = FoldContext(mode=mode, opset=opset, options=options, existing_names=existing)
    rules = pattern.RewriteRuleSet([rule.rule(ctx) for rule in RULES])
    rules.apply_to_model(model)
    RemoveUnusedNodesPass()(model)

    if mode == "functions" and ctx.folded:
        for op_type, variant in sorted(ctx.variants):
            fn = functions.make_function(op_type, variant, opset, options)
            model.functions[fn.identifier()] = fn
        model.opset_imports[DOMAIN] = functions.DOMAIN_VERSION
        if any(functions.overload_for(o, v) for o, v in ctx.variants):
            # Function overloads need IR version 10 (ONNX 1.15).
            model.ir_version = max(model.ir_version or 0, 10)
    RemoveUnusedFunctionsPass()(model)

    _name_blocks(ctx.folded, expected, report, existing)
    _collect_refusals(ctx, report, model)
    report.ops_after = op_counts(model)
    return report


def _claim_modules(
    folded: list[Folded], expected: Sequence[AttentionBlock] | None, remaining: dict[str, list[str]]
) -> list[tuple[str | None, str]]:
    """(module path or None, how it was found) per folded block; a claimed path leaves ``remaining``.

    First pass: exact scope matches claim their module; then prefix matches; then graph order.
    """
    names: list[tuple[str | None, str]] = [(None, "none")] * len(folded)
    for i, f in enumerate(folded):
        if f.scope_name is not None and f.scope_name in remaining[f.op_type]:
            remaining[f.op_type].remove(f.scope_name)
            names[i] = (f.scope_name, "scope+model")
    for i, f in enumerate(folded):
        if names[i][0] is not None:
            continue
        pool = remaining[f.op_type]
        hit = None
        if f.scope_name is not None:
            near = [p for p in pool if p.startswith(f.scope_name + ".") or f.scope_name.startswith(p + ".")]
            hit = near[0] if len(near) == 1 else None
        if hit is None and expected is not None and f.scope_name is None and pool:
            hit = pool[0]
            names[i] = (hit, "order")
        elif hit is not None:
            names[i] = (hit, "scope+model")
        elif f.scope_name is not None:
            names[i] = (f.scope_name, "scope")
        elif expected is None and "/" in f.anchor.strip("/"):
            # No exporter scopes and no model (``edgeattn fold`` of a third-party file): the scaling
            # Mul's own path names the block (``model/se3/mul`` -> ``model/se3``), as Netron shows it.
            names[i] = (f.anchor.strip("/").rsplit("/", 1)[0], "anchor")
        if hit is not None:
            pool.remove(hit)
    return names


def _name_blocks(
    folded: list[Folded],
    expected: Sequence[AttentionBlock] | None,
    report: FoldReport,
    existing: set[str],
) -> None:
    remaining = {k: [b.path for b in (expected or []) if b.kind == k] for k in OP_TYPES}
    names = _claim_modules(folded, expected, remaining)
    used: set[str] = set()
    for i, (f, (name, source)) in enumerate(zip(folded, names)):
        base = name or f"{f.op_type}_{i}"
        final = base
        k = 1
        while final in used or (final in existing and final != base):
            final = f"{base}_{k}"
            k += 1
        used.add(final)
        if f.node is not None:
            f.node.name = final
            f.node.metadata_props["edgeattn.module"] = name or ""
        for j, node in enumerate(f.inline_nodes):
            node.name = f"{final}/{node.op_type}_{j}"
            node.metadata_props["edgeattn.module"] = name or ""
        report.blocks.append(
            FoldedBlock(final, f.op_type, f.variant, f.input.name or "", f.output.name or "", source, f.notes)
        )
        if expected is not None and source in ("scope", "none"):
            report.warnings.append(
                f"folded {f.op_type} {final!r} does not correspond to an attention module of the model"
            )
    if expected is not None:
        report.expected = sum(1 for b in expected if b.kind in OP_TYPES)
        for kind, paths in remaining.items():
            for path in paths:
                report.missing.append({"name": path, "op_type": kind})
                report.warnings.append(f"{kind} block {path!r} of the model was not folded")


def _collect_refusals(ctx: FoldContext, report: FoldReport, model: ir.Model) -> None:
    # A refused Mul inside a block that was folded (an SE's SiLU) is gone from the graph.
    alive = {n.name for n in model.graph if FOLDED_TAG not in n.metadata_props}
    by_node: dict[str, RuleRefusal] = {}
    for r in ctx.refused:
        if r.node not in alive:
            continue
        entry = by_node.setdefault(r.node, RuleRefusal(r.node, r.scope_name, {}))
        entry.reasons[r.rule] = r.reason
    report.refusals = list(by_node.values())
