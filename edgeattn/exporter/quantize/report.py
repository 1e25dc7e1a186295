"""The precision report: which node runs in which precision, and why.

For INT8 the precision of a node is read back from the quantized graph (not from what was asked):
a node is INT8 when every non-constant input comes from a ``DequantizeLinear``, which is the
pattern ORT's QDQ selectors and TensorRT's Q/DQ fusion turn into integer kernels.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

import onnx

from ...graph import block_of, is_attention_call
from ._graph import constant_outputs, consumers, initializer_names, producers

_QDQ_OPS = frozenset({"QuantizeLinear", "DequantizeLinear"})
_PLUMBING = frozenset({"Constant", "Cast", "CastLike"})


@dataclass(frozen=True)
class NodePrecision:
    """One compute node of the output graph."""

    name: str
    op_type: str
    precision: str  # "int8" | "fp16" | "fp32"
    reason: str = ""
    block: str | None = None


@dataclass
class QuantizeResult:
    """What :func:`edgeattn.exporter.quantize.quantize` produced; ``to_dict`` is the ``--json`` output."""

    precision: str
    source: str
    output: str
    target: str | None
    policy: dict[str, Any]
    nodes: list[NodePrecision]
    calibration: dict[str, Any] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return dict(Counter(n.precision for n in self.nodes))

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "source": self.source,
            "output": self.output,
            "target": self.target,
            "policy": self.policy,
            "settings": self.settings,
            "calibration": self.calibration,
            "counts": self.counts(),
            "warnings": self.warnings,
            "seconds": round(self.seconds, 3),
            "nodes": [asdict(n) for n in self.nodes],
        }

    def render(self, console: Any = None, max_rows: int = 60) -> None:
        """Print a summary per op type and the nodes kept in high precision, with reasons."""
        from rich.console import Console
        from rich.markup import escape
        from rich.table import Table

        # Names, reasons and paths are escaped: a regex such as /[a-z]+/ is not a rich style tag.
        console = console or Console()
        low = self.precision
        per_op: dict[str, Counter[str]] = {}
        for node in self.nodes:
            per_op.setdefault(node.op_type, Counter())[node.precision] += 1
        summary = Table(title=f"{escape(self.output)}: {low.upper()} node placement", show_lines=False)
        summary.add_column("op type")
        summary.add_column(low.upper(), justify="right")
        summary.add_column("FP32", justify="right")
        for op, count in sorted(per_op.items(), key=lambda kv: -sum(kv[1].values())):
            summary.add_row(op, str(count.get(low, 0)), str(count.get("fp32", 0)))
        console.print(summary)
        kept = [n for n in self.nodes if n.precision != low]
        if kept:
            table = Table(title=f"kept in FP32 ({len(kept)} nodes)")
            table.add_column("node")
            table.add_column("op")
            table.add_column("why")
            for node in kept[:max_rows]:
                table.add_row(escape(node.name), node.op_type, escape(node.reason))
            if len(kept) > max_rows:
                table.add_row(f"... {len(kept) - max_rows} more (see --json)", "", "")
            console.print(table)
        counts = self.counts()
        console.print(
            f"{counts.get(low, 0)} nodes {low.upper()}, {counts.get('fp32', 0)} FP32; "
            f"attention policy: {self.policy.get('attention')}; wrote {escape(self.output)}"
        )
        for warning in self.warnings:
            console.print(f"[bold yellow]Warning:[/] {escape(warning)}")


def int8_node_report(
    model: onnx.ModelProto, reasons: dict[str, str], block_names: list[str]
) -> list[NodePrecision]:
    """Classify the compute nodes of a Q/DQ graph as INT8 or FP32 (with the policy's reasons)."""
    graph = model.graph
    made_by = producers(graph)
    constants = initializer_names(graph) | constant_outputs(graph)
    users = consumers(graph)
    result: list[NodePrecision] = []
    for node in graph.node:
        if node.op_type in _QDQ_OPS or node.op_type in _PLUMBING:
            continue
        block = node.name if is_attention_call(node) else block_of(node.name, block_names)
        data_inputs = [name for name in node.input if name and name not in constants]
        from_dq = [name for name in data_inputs if getattr(made_by.get(name), "op_type", "") == "DequantizeLinear"]
        if is_attention_call(node):
            reason = reasons.get(node.name, "folded attention block (its body is not quantized)")
            result.append(NodePrecision(node.name, f"edgeattn::{node.op_type}", "fp32", reason, block))
        elif data_inputs and len(from_dq) == len(data_inputs) and _integer_kernel(node, made_by, users):
            result.append(NodePrecision(node.name, node.op_type, "int8", "", block))
        else:
            reason = reasons.get(node.name) or _base_reason(node, reasons, block)
            if not reason:
                reason = "inputs partly quantized" if from_dq else "not quantized for this target"
            result.append(NodePrecision(node.name, node.op_type, "fp32", reason, block))
    return result


def _integer_kernel(
    node: onnx.NodeProto, made_by: dict[str, onnx.NodeProto], users: dict[str, list[onnx.NodeProto]]
) -> bool:
    """DQ on every input, and either a weighted op with a quantized weight (its float output is
    the accumulator rescaled) or every output re-quantized: the Q/DQ bracket a backend fuses."""
    if node.op_type in ("Conv", "ConvTranspose", "Gemm", "MatMul"):
        producer = made_by.get(node.input[1]) if len(node.input) > 1 else None
        return producer is not None and producer.op_type == "DequantizeLinear"
    outputs = [o for o in node.output if o]
    return bool(outputs) and all(users.get(o) and all(u.op_type == "QuantizeLinear" for u in users[o]) for o in outputs)


def _base_reason(node: onnx.NodeProto, reasons: dict[str, str], block: str | None) -> str:
    if block is not None and block in reasons:
        return reasons[block]
    return ""


def fp16_node_report(
    model: onnx.ModelProto, fp32_reasons: dict[str, str], block_names: list[str]
) -> list[NodePrecision]:
    """Classify the compute nodes of an FP16-converted graph (before Cast clean-up names shift)."""
    result: list[NodePrecision] = []
    for node in model.graph.node:
        if node.op_type in _PLUMBING:
            continue
        block = node.name if is_attention_call(node) else block_of(node.name, block_names)
        op = f"edgeattn::{node.op_type}" if is_attention_call(node) else node.op_type
        if node.name in fp32_reasons:
            result.append(NodePrecision(node.name, op, "fp32", fp32_reasons[node.name], block))
        elif is_attention_call(node):
            result.append(
                NodePrecision(node.name, op, "fp16", "body: reductions and gate computed in FP32", block)
            )
        else:
            result.append(NodePrecision(node.name, op, "fp16", "", block))
    return result
