"""What the three folding rules share: the anchor pattern, the check/rewrite protocol, records.

Every SE/CBAM block ends in ``Y = X * gate(...)``. Each rule's onnxscript pattern is that
anchor, ``Mul(a, b)``; the rule's ``analyze`` walks back from the gate with the matchers of
``_match`` and either returns a :class:`BlockMatch` or raises ``Refusal`` with the reason. A
refusal is recorded for the rule report only when the gate itself was recognised: a Mul with no
sigmoid-like factor (residual scaling, say) is not a candidate.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import onnx_ir as ir
from onnxscript.rewriter import pattern
from onnxscript.rewriter.pattern import MatchResult

from . import functions
from ._match import FC, Gate, Refusal, match_gate, module_path, only_used_inside, producer, skip_expand


FOLDED_TAG = "edgeattn.folded"


@dataclass
class Weight:
    """A weight input of a folded op: an existing graph value, or a new array to add."""

    role: str
    array: np.ndarray
    value: ir.Value | None = None


@dataclass
class BlockMatch:
    op_type: str
    variant: str
    x: ir.Value
    weights: list[Weight]
    nodes: list[ir.Node]
    notes: list[str] = field(default_factory=list)
    anchor: str = ""


@dataclass
class Folded:
    """One folded block as the pass saw it (before the driver settles its final name)."""

    op_type: str
    variant: str
    scope_name: str | None
    input: ir.Value
    output: ir.Value
    node: ir.Node | None
    inline_nodes: list[ir.Node]
    notes: list[str]
    anchor: str = ""


@dataclass
class Refused:
    rule: str
    node: str
    scope_name: str | None
    reason: str


@dataclass
class FoldContext:
    """Shared by the rules of one pass: mode, opset, body options, and what happened."""

    mode: str  # "functions" | "inline"
    opset: int
    options: functions.BodyOptions
    existing_names: set[str]
    folded: list[Folded] = field(default_factory=list)
    refused: list[Refused] = field(default_factory=list)
    variants: set[tuple[str, str]] = field(default_factory=set)
    _counter: itertools.count = field(default_factory=itertools.count)

    def fresh_name(self, stem: str) -> str:
        while True:
            name = f"{stem}_{next(self._counter)}"
            if name not in self.existing_names:
                self.existing_names.add(name)
                return name


class AttentionRule(pattern.RewriteRuleClassBase):
    """Anchor ``Mul(a, b)``; subclasses implement :meth:`analyze` for one block type."""

    op_type: str = ""

    def __init__(self, ctx: FoldContext) -> None:
        super().__init__(name=type(self).__name__)
        self.ctx = ctx
        self._pending: BlockMatch | None = None

    def pattern(self, op: Any, a: ir.Value, b: ir.Value) -> ir.Value:
        return op.Mul(a, b)

    def analyze(self, x: ir.Value, gate: Gate, gate_nodes: list[ir.Node], anchor: ir.Node) -> BlockMatch:
        raise NotImplementedError

    # onnxscript calls check(context, *the pattern's values); its base class declares it with
    # (op, *args, **kwargs), which a rule's named values narrow.
    def check(self, context: Any, a: ir.Value, b: ir.Value, **_: Any) -> MatchResult:  # type: ignore[override]
        result = MatchResult()
        anchor = context.root
        if FOLDED_TAG in anchor.metadata_props:
            return result.fail("already the output of a folded block")  # inline mode's own Mul
        reason: str | None = None
        for x, g in ((a, b), (b, a)):
            noise: list[ir.Node] = []
            g_inner = skip_expand(g, x, noise)
            try:
                gate = match_gate(g_inner)
            except Refusal as exc:
                # A HardSigmoid that cannot be a gate (alpha <= 0) is still reported with its reason;
                # anything else is not a gated product in this orientation.
                if producer(g_inner, "HardSigmoid") is not None:
                    reason = reason or str(exc)
                continue
            try:
                if gate.input is x:
                    raise Refusal("x * sigmoid(x) is SiLU/Swish, not an attention gate")
                _check_gate_shape(g, x)
                block = self.analyze(x, gate, [*noise, *gate.nodes], anchor)
                _check_private(block, anchor)
            except Refusal as exc:
                reason = reason or str(exc)
                continue
            block.anchor = anchor.name or ""
            self._pending = block
            return result
        if reason is None:
            return result.fail("no sigmoid-like gate on either Mul input")
        self.ctx.refused.append(
            Refused(type(self).__name__, anchor.name or "", module_path([anchor]), reason)
        )
        return result.fail(reason)

    def rewrite(self, op: Any, a: ir.Value, b: ir.Value, **_: Any) -> ir.Value:
        block, self._pending = self._pending, None
        assert block is not None  # check() always runs first and sets it
        scope = module_path(block.nodes)
        inputs = [block.x]
        for w in block.weights:
            if w.value is not None:
                inputs.append(w.value)
            else:
                name = self.ctx.fresh_name(f"{scope or self.op_type}.{w.role}")
                inputs.append(op.initializer(ir.tensor(np.ascontiguousarray(w.array), name=name), name=name))
        if self.ctx.mode == "inline":
            out = functions.emit_body(op, self.op_type, inputs, block.variant, self.ctx.opset, self.ctx.options)
            made = list(op.nodes)
            for node in made:
                node.metadata_props[FOLDED_TAG] = self.op_type
            self.ctx.folded.append(Folded(self.op_type, block.variant, scope, block.x, out, None, made, block.notes, block.anchor))
            return out
        out = op.op(self.op_type, *inputs, _domain=functions.DOMAIN)
        node = out.producer()
        node.overload = functions.overload_for(self.op_type, block.variant)
        self.ctx.variants.add((self.op_type, block.variant))
        self.ctx.folded.append(Folded(self.op_type, block.variant, scope, block.x, out, node, [], block.notes, block.anchor))
        return out


def _check_gate_shape(g: ir.Value, x: ir.Value) -> None:
    """The gate must broadcast over ``x`` without growing it (per-channel or per-pixel)."""
    if g.shape is None or x.shape is None:
        return
    if len(g.shape) != len(x.shape):
        raise Refusal(f"gate rank {len(g.shape)} differs from the feature map's {len(x.shape)}")


def _check_private(block: BlockMatch, anchor: ir.Node) -> None:
    """Refuse when an intermediate of the block feeds anything outside it (folding would hide it)."""
    inside = set(block.nodes) | {anchor}
    for node in block.nodes:
        for out in node.outputs:
            if not only_used_inside(out, inside):
                raise Refusal(f"intermediate {out.name!r} of the block is used outside it")


def conv_weight(fc_weight: np.ndarray, value: ir.Value | None, role: str) -> Weight:
    """An FC weight [Cout, Cin] as a 1x1-conv weight, reusing the original tensor when it fits."""
    if value is not None and value.const_value is not None and len(value.const_value.shape) == 4:
        return Weight(role, fc_weight.reshape(*fc_weight.shape, 1, 1), value)
    return Weight(role, fc_weight.reshape(*fc_weight.shape, 1, 1))


def bias(b: np.ndarray | None, value: ir.Value | None, channels: int, dtype: np.dtype, role: str) -> Weight:
    if b is None:
        return Weight(role, np.zeros((channels,), dtype=dtype))
    if value is not None and value.const_value is not None and len(value.const_value.shape) == 1:
        return Weight(role, b, value)
    return Weight(role, np.ascontiguousarray(b.reshape(-1)))


def mlp_weights(fc1: FC, fc2: FC) -> list[Weight]:
    """The excitation MLP as the four 1x1-conv weights the attention functions take."""
    cr, dtype = fc1.weight.shape[0], fc1.weight.dtype
    return [
        conv_weight(fc1.weight, fc1.weight_value, "fc1.weight"),
        bias(fc1.bias, fc1.bias_value, cr, dtype, "fc1.bias"),
        conv_weight(fc2.weight, fc2.weight_value, "fc2.weight"),
        bias(fc2.bias, fc2.bias_value, fc2.weight.shape[0], dtype, "fc2.bias"),
    ]
