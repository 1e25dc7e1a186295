"""Per-attention-block cost on ONNX Runtime, next to the blocks' share of the FLOPs.

ORT inlines ONNX local functions before optimising, and names the inlined nodes after the
*function* (``_inlfunc_SqueezeExcite_token_3_...``, checked on ORT 1.32), not after the calling
node, so its profile cannot tell ``layer1.0.se`` from ``layer3.5.se``. We therefore inline the
``edgeattn::`` nodes ourselves first, naming every body node *and* every intermediate tensor
``<block>/<name>``: ORT's fused and NCHWc-converted nodes keep a node name or are named after
their output tensor, so both carry the block prefix into the profile. Layout reorders that ORT
inserts (``ReorderInput``/``ReorderOutput``, named by a counter) are attributed through the
optimised graph (``SessionOptions.optimized_model_filepath``) to the block they feed or drain:
they exist because of that block's NCHW-only ops. Kernel times are ORT's ``*_kernel_time``
events (``SessionOptions.enable_profiling``), averaged over the timed runs.

FLOPs come from the inlined graph with shapes inferred at the profiled batch size: Conv and
Gemm/MatMul 2 x MACs, element-wise ops one per output element, pooling/reductions one per input
element.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError
from ..graph import block_of, inline_functions

_REORDER = ("ReorderInput", "ReorderOutput")


# -- FLOPs ------------------------------------------------------------------------------------
_POOLING = ("GlobalAveragePool", "GlobalMaxPool", "ReduceMean", "ReduceMax", "ReduceSum", "AveragePool", "MaxPool")
_FREE = ("Reshape", "Flatten", "Squeeze", "Unsqueeze", "Shape", "Constant", "Identity", "Concat", "Transpose", "Gather", "Slice", "Cast")


def node_flops(model: Any, batch_size: int = 1) -> dict[int, int]:
    """FLOPs per node index (see the module docstring); unknown shapes count 0."""
    graph, shapes = _static_shapes(model, batch_size)
    return {index: _flops(node, shapes) for index, node in enumerate(graph.node)}


def _static_shapes(model: Any, batch_size: int) -> tuple[Any, dict[str, list[int]]]:
    """The graph with shapes inferred at ``batch_size``, and every fully known tensor shape."""
    import onnx

    proto = onnx.ModelProto()
    proto.CopyFrom(model)
    for inp in proto.graph.input:
        dims = inp.type.tensor_type.shape.dim
        if dims and not dims[0].HasField("dim_value"):
            dims[0].Clear()
            dims[0].dim_value = batch_size
    try:
        proto = onnx.shape_inference.infer_shapes(proto, data_prop=True)
    except Exception:  # noqa: BLE001 - partial shapes still count what they can
        pass
    shapes: dict[str, list[int]] = {}
    for info in list(proto.graph.value_info) + list(proto.graph.input) + list(proto.graph.output):
        dims = info.type.tensor_type.shape.dim
        if dims and all(d.HasField("dim_value") for d in dims):
            shapes[info.name] = [d.dim_value for d in dims]
    for init in proto.graph.initializer:
        shapes[init.name] = list(init.dims)
    return proto.graph, shapes


def _flops(node: Any, shapes: dict[str, list[int]]) -> int:
    out = shapes.get(node.output[0]) if node.output else None
    inp = shapes.get(node.input[0]) if node.input else None
    op = node.op_type
    if op == "Conv":
        if out and len(node.input) > 1 and node.input[1] in shapes:
            return int(2 * math.prod(out) * math.prod(shapes[node.input[1]][1:]))
    elif op in ("Gemm", "MatMul"):
        if out and inp:
            return int(2 * math.prod(out) * inp[-1])
    elif op in _POOLING:
        if inp:
            return int(math.prod(inp))
    elif op in _FREE:
        return 0
    return int(math.prod(out)) if out else 0


# -- profiling --------------------------------------------------------------------------------
@dataclass
class BlockProfile:
    model: str
    batch_size: int
    iterations: int
    threads: int | None
    total_ms: float  # summed kernel time per run
    blocks: list[dict[str, Any]] = field(default_factory=list)
    by_type: dict[str, dict[str, float]] = field(default_factory=dict)
    attention_time_share: float = 0.0
    attention_flop_share: float = 0.0
    total_flops: int = 0
    reorder_ms_attributed: float = 0.0
    unattributed_reorder_ms: float = 0.0
    note: str = ""

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def profile_blocks(
    onnx_path: str | os.PathLike[str],
    *,
    batch_size: int = 1,
    iterations: int = 20,
    warmup: int = 5,
    threads: int | None = None,
    optimization_level: str = "all",
) -> BlockProfile:
    """Profile ``onnx_path`` on ORT CPU and break the kernel time down by attention block."""
    path = Path(onnx_path)
    inlined, blocks = _inline(path)
    flops = node_flops(inlined, batch_size)
    events, graph = _run_profiled(inlined, path, batch_size, iterations, warmup, threads, optimization_level)
    per_node_ms, ops = _kernel_times(events, iterations)
    owner = _attribute(per_node_ms, ops, blocks, graph)
    block_ms, reorder_ms, unattributed = _block_times(per_node_ms, ops, owner)
    block_flops: dict[str, int] = defaultdict(int)
    for index, node in enumerate(inlined.graph.node):
        block = block_of(node.name, blocks)
        if block is not None:
            block_flops[block] += flops.get(index, 0)
    profile = BlockProfile(
        model=os.fspath(path), batch_size=batch_size, iterations=iterations, threads=threads,
        total_ms=float(sum(per_node_ms.values())), total_flops=int(sum(flops.values())) or 1,
        reorder_ms_attributed=reorder_ms, unattributed_reorder_ms=unattributed,
        note="kernel time summed over ORT nodes (excludes framework overhead between kernels); blocks inlined by edgeattn "
        "before profiling so the names survive ORT's own inlining; layout reorders counted with the block they feed or drain",
    )
    _summarise(profile, blocks, block_ms, block_flops)
    return profile


def _inline(path: Path) -> tuple[Any, dict[str, str]]:
    """The model with its ``edgeattn::`` calls inlined (nodes named ``<block>/<node>``), and its blocks."""
    import onnx

    if not path.exists():
        raise InputError(f"ONNX model not found: {path}")
    inlined, blocks = inline_functions(onnx.load(os.fspath(path)))
    if not blocks:
        raise InputError(
            f"{path.name} has no folded attention blocks (no edgeattn:: nodes, no recorded blocks)",
            hint="export with --fold functions (the default) to get per-block costs",
        )
    return inlined, blocks


def _run_profiled(
    inlined: Any, path: Path, batch_size: int, iterations: int, warmup: int, threads: int | None, optimization_level: str
) -> tuple[list[dict[str, Any]], Any]:
    """ORT's profile events of ``warmup + iterations`` runs, and the graph ORT optimised (None if not saved)."""
    import onnx

    from ..runtime.base import random_input
    from ..runtime.onnxruntime_runner import OnnxRuntimeRunner

    with tempfile.TemporaryDirectory(prefix="edgeattn-prof-") as tmp:
        model_file = Path(tmp) / "inlined.onnx"
        onnx.save(inlined, os.fspath(model_file))
        optimized = Path(tmp) / "optimized.onnx"
        runner = OnnxRuntimeRunner(
            model_file, threads=threads, enable_profiling=True, profile_prefix=Path(tmp) / "profile",
            optimized_model_path=optimized, optimization_level=optimization_level,
            log_severity=3,  # ORT warns that a saved NCHWc graph is machine-specific: expected here
        )
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            runner.load()
        name, x = random_input(runner, path, batch_size)
        for _ in range(warmup + iterations):
            runner.run({name: x})
        trace = runner.end_profiling()
        runner.close()
        if trace is None:  # the runner was created with profiling on, so ORT wrote a trace
            raise RuntimeError(f"ONNX Runtime wrote no profile trace for {path.name}")
        events = json.loads(Path(trace).read_text(encoding="utf-8"))
        graph = onnx.load(os.fspath(optimized), load_external_data=False).graph if optimized.exists() else None
    return events, graph


def _kernel_times(events: list[dict[str, Any]], iterations: int) -> tuple[dict[str, float], dict[str, str]]:
    """Mean kernel time (ms) of each node over the timed runs, and each node's op type."""
    durations: dict[str, list[float]] = defaultdict(list)
    ops: dict[str, str] = {}
    for event in events:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith("_kernel_time"):
            continue
        name = event["name"][: -len("_kernel_time")]
        durations[name].append(float(event.get("dur", 0.0)))
        ops[name] = str(event.get("args", {}).get("op_name", ""))
    return {name: float(np.mean(d[-iterations:])) / 1e3 for name, d in durations.items()}, ops


def _block_times(
    per_node_ms: dict[str, float], ops: dict[str, str], owner: dict[str, str]
) -> tuple[dict[str, float], float, float]:
    """Time per block; layout-reorder time attributed to a block, and reorder time left unattributed."""
    block_ms: dict[str, float] = defaultdict(float)
    reorder_ms = unattributed = 0.0
    for name, ms in per_node_ms.items():
        block = owner.get(name)
        if block is not None:
            block_ms[block] += ms
            if ops.get(name) in _REORDER:
                reorder_ms += ms
        elif ops.get(name) in _REORDER:
            unattributed += ms
    return block_ms, reorder_ms, unattributed


def _summarise(
    profile: BlockProfile, blocks: dict[str, str], block_ms: dict[str, float], block_flops: dict[str, int]
) -> None:
    """Fill the per-block rows, the per-op-type totals and the attention shares."""
    total_ms, total_flops = profile.total_ms, profile.total_flops
    for block, kind in blocks.items():
        ms = block_ms.get(block, 0.0)
        fl = block_flops.get(block, 0)
        profile.blocks.append(
            {"name": block, "op_type": kind, "time_ms": ms, "time_share": ms / total_ms if total_ms else 0.0,
             "flops": fl, "flop_share": fl / total_flops}
        )
        entry = profile.by_type.setdefault(kind, {"count": 0, "time_ms": 0.0, "time_share": 0.0, "flops": 0, "flop_share": 0.0})
        entry["count"] += 1
        entry["time_ms"] += ms
        entry["flops"] += fl
    for entry in profile.by_type.values():
        entry["time_share"] = entry["time_ms"] / total_ms if total_ms else 0.0
        entry["flop_share"] = entry["flops"] / total_flops
    profile.attention_time_share = sum(b["time_ms"] for b in profile.blocks) / total_ms if total_ms else 0.0
    profile.attention_flop_share = sum(b["flops"] for b in profile.blocks) / total_flops


def _attribute(per_node_ms: dict[str, float], ops: dict[str, str], blocks: dict[str, str], graph: Any) -> dict[str, str]:
    """Profiled node name -> block, by name prefix, tensor prefix, then reorder adjacency."""
    nodes = {n.name: n for n in graph.node} if graph is not None else {}
    owner: dict[str, str] = {}
    for name in per_node_ms:
        block = block_of(name, blocks)
        if block is None and name in nodes:
            node = nodes[name]
            block = next((b for t in list(node.output) + list(node.input) if (b := block_of(t, blocks))), None)
        if block is not None:
            owner[name] = block
    if graph is not None:
        reorders = [n for n in per_node_ms if n not in owner and ops.get(n) in _REORDER and n in nodes]
        _attribute_reorders(graph, [nodes[n] for n in reorders], owner, blocks)
    return owner


def _attribute_reorders(graph: Any, reorders: list[Any], owner: dict[str, str], blocks: dict[str, str]) -> None:
    """Add each layout reorder to ``owner``: the block of a node it feeds or drains (attributed nodes
    first, a reorder attributed earlier included; then by name)."""
    producers = {t: n.name for n in graph.node for t in n.output}
    consumers: dict[str, list[str]] = defaultdict(list)
    for n in graph.node:
        for t in n.input:
            consumers[t].append(n.name)
    for node in reorders:
        near = [consumer for t in node.output for consumer in consumers.get(t, [])]
        near += [producers[t] for t in node.input if t in producers]
        block = next((owner[n] for n in near if n in owner), None)
        if block is None:
            block = next((b for n in near if (b := block_of(n, blocks))), None)
        if block is not None:
            owner[node.name] = block
