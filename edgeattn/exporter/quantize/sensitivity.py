"""INT8 sensitivity: the output error caused by quantizing one attention block or one conv stage alone.

TensorRT and ModelOpt users find the layers INT8 hurts by manual bisection. Here every *unit* of an
``edgeattn export`` (folded) model is quantized on its own, everything else kept in FP32, and the
result is run on the calibration data and compared with the FP32 model:

* attention units: every folded ``edgeattn::`` node (``layer3.2.attn``, or a CBAM's
  ``...attn.channel`` / ``...attn.spatial``), put into INT8 as ``--quantize-attention`` would;
* conv stages: the backbone nodes between two recorded probe tensors
  (the stage outputs recorded at export; the first stage includes the stem) and the head after
  the last probe, with their attention blocks left FP32 (``attention="fp32"``).

Reported per unit: relative L2 error of the output logits, top-1 agreement with FP32, and the
rank by error. ``keep_fp32_patterns`` turns unit names into node regexes for ``--exclude-nodes``.
"""

from __future__ import annotations

import os
import re
import tempfile
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from ...errors import InputError
from ...graph import attention_calls
from ._graph import load_onnx, producers


@dataclass(frozen=True)
class Unit:
    """A part of the model quantized alone: its name, kind and the node-name regex that selects it."""

    name: str
    kind: str  # "attention" or "stage"
    pattern: str
    nodes: int
    blocks: tuple[str, ...] = ()  # a stage's attention blocks (not in its pattern: measured apart)


@dataclass
class SensitivityReport:
    """Units ranked by the output error their INT8 version causes (largest first)."""

    model: str
    samples: int
    method: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    all_int8: dict[str, Any] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "samples": self.samples, "method": self.method,
                "all_int8_default_policy": self.all_int8, "units": self.rows}

    def to_markdown(self) -> str:
        lines = [
            f"INT8 sensitivity of `{Path(self.model).name}` ({self.samples} calibration samples, {self.method}): "
            "each unit quantized alone, the rest FP32.",
            "",
            "| rank | unit | kind | nodes | rel. L2 error of logits | top-1 agreement with FP32 |",
            "|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            lines.append(f"| {row['rank']} | `{row['unit']}` | {row['kind']} | {row['nodes']} | "
                         f"{row['rel_l2']:.4f} | {row['agreement'] * 100:.1f} % |")
        if self.all_int8:
            lines.append(f"| | whole model, default policy | | | {self.all_int8['rel_l2']:.4f} | "
                         f"{self.all_int8['agreement'] * 100:.1f} % |")
        return "\n".join(lines) + "\n"

    def write(self, base: Path) -> dict[str, Path]:
        """``base.json``, ``base.md`` and (with matplotlib) ``base.png``, each written atomically."""
        from ..._io import atomic_path, write_json_atomic, write_text_atomic

        paths = {"json": write_json_atomic(base.with_name(base.name + ".json"), self.to_dict()),
                 "md": write_text_atomic(base.with_name(base.name + ".md"), self.to_markdown())}
        try:
            import matplotlib

            matplotlib.use("Agg")
            import matplotlib.pyplot as plt
        except ImportError:
            return paths
        fig, ax = plt.subplots(figsize=(7, 0.3 * len(self.rows) + 1.2))
        rows = list(reversed(self.rows))
        ax.barh([r["unit"] for r in rows], [r["rel_l2"] for r in rows],
                color=["tab:orange" if r["kind"] == "attention" else "tab:blue" for r in rows])
        ax.set_xlabel("relative L2 error of the logits, unit alone in INT8")
        ax.set_title(f"INT8 sensitivity: {Path(self.model).name} (orange: attention, blue: conv stage)", fontsize=9)
        fig.tight_layout()
        png = base.with_name(base.name + ".png")
        with atomic_path(png) as tmp:
            fig.savefig(tmp, format="png", dpi=110)
        plt.close(fig)
        paths["png"] = png
        return paths


def _ancestors(graph: onnx.GraphProto, tensor: str) -> set[str]:
    """Names of the nodes that ``tensor`` depends on (including its producer)."""
    made_by = producers(graph)
    seen: set[str] = set()
    stack = [tensor]
    while stack:
        node = made_by.get(stack.pop())
        if node is None or node.name in seen:
            continue
        seen.add(node.name)
        stack.extend(i for i in node.input if i)
    return seen


def _exact(names: Sequence[str]) -> str:
    return "^(?:" + "|".join(re.escape(n) for n in sorted(names)) + ")$"


def find_units(model: onnx.ModelProto) -> list[Unit]:
    """The attention blocks and conv stages of a folded export, in graph order."""
    from ...artifact import ArtifactInfo

    graph = model.graph
    blocks = [n.name for n in attention_calls(model)]
    probes = ArtifactInfo.from_proto(model).probes
    if not blocks or not probes:
        raise InputError(
            "sensitivity analysis: received a model without folded attention blocks or recorded stage probes; "
            "expected an `edgeattn export` with --fold functions",
            hint="export the model with edgeattn (default --fold functions) first",
        )
    units = [Unit(b, "attention", f"^{re.escape(b)}(?:/|$)", 1) for b in blocks]
    block_set = set(blocks)
    done: set[str] = set()
    for probe in probes:
        upto = _ancestors(graph, probe["tensor"])
        members = [n for n in upto - done if n not in block_set]
        inner = tuple(n for n in blocks if n in upto - done)
        units.append(Unit(str(probe["module"]), "stage", _exact(members), len(members), inner))
        done |= upto
    head = [n.name for n in graph.node if n.name not in done and n.name not in block_set]
    if head:
        units.append(Unit("head", "stage", _exact(head), len(head)))
    return units


def keep_fp32_patterns(model: onnx.ModelProto | str | os.PathLike[str], names: Sequence[str]) -> list[str]:
    """``--keep-fp32`` values as node regexes: a unit name (block or stage) selects its nodes, a
    stage's with its attention blocks (whole or inlined), anything else is taken as a regex of
    node names."""
    if not isinstance(model, onnx.ModelProto):
        model = load_onnx(model)
    try:
        units = {u.name: u for u in find_units(model)}
    except InputError:
        units = {}
    patterns: list[str] = []
    for name in names:
        unit = units.get(name)
        if unit is None:
            patterns.append(name)
            continue
        patterns.append(unit.pattern)
        patterns += [units[b].pattern for b in unit.blocks]
    return patterns


def _logits(path: Path, arrays: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3
    session = ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    batch = session.get_inputs()[0].shape[0]
    step = batch if isinstance(batch, int) else 64
    return np.concatenate([session.run(None, {name: arrays[i : i + step]})[0] for i in range(0, len(arrays), step)])


def _error(out: np.ndarray, reference: np.ndarray) -> dict[str, float]:
    return {
        "rel_l2": float(np.linalg.norm(out - reference) / max(np.linalg.norm(reference), 1e-12)),
        "agreement": float((out.argmax(-1) == reference.argmax(-1)).mean()),
    }


def sensitivity(
    onnx_path: str | os.PathLike[str],
    calibration: str | os.PathLike[str] | np.ndarray | None,
    *,
    calibration_method: str = "minmax",
    num_calibration: int | None = 128,
    target: str = "ort-cpu",
    reduce_range: bool | None = None,
) -> SensitivityReport:
    """Quantize each unit of ``onnx_path`` alone and rank the units by the output error (see module doc)."""
    from ..._lazy import require_workstation
    from ...artifact import ArtifactInfo
    from .calibration import load_calibration
    from .core import image_input, quantize

    require_workstation("quantize")  # before loading calibration data
    src = Path(onnx_path)
    model = load_onnx(src)
    units = find_units(model)
    info = ArtifactInfo.from_proto(model, src)
    spec = image_input(info, src)

    data = load_calibration(calibration, input_name=spec.name, input_size=spec.size,
                            preprocessing=info.preprocessing, limit=num_calibration, seed=0)
    arrays = data.arrays
    fixed = spec.fixed_batch
    if fixed:  # a fixed-batch model runs whole batches only
        arrays = arrays[: max(fixed, arrays.shape[0] // fixed * fixed)]
    reference = _logits(src, arrays)
    report = SensitivityReport(os.fspath(src), int(arrays.shape[0]), calibration_method)
    common: dict[str, Any] = {"calibration_method": calibration_method, "num_calibration": None, "target": target,
              "reduce_range": reduce_range, "use_cache": False, "progress": False}
    with tempfile.TemporaryDirectory(prefix="edgeattn-sensitivity-") as tmp, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # per-unit runs repeat the same notes (e.g. no VNNI)
        out = Path(tmp) / "unit.onnx"
        for unit in units:
            # Everything but this unit in FP32: one regex that matches every other node name.
            others = f"^(?!{unit.pattern[1:]})"
            quantize(src, out, "int8", arrays, attention="int8" if unit.kind == "attention" else "fp32",
                     exclude_nodes=[others], **common)
            report.rows.append({"unit": unit.name, "kind": unit.kind, "nodes": unit.nodes,
                                **_error(_logits(out, arrays), reference)})
        quantize(src, out, "int8", arrays, **common)
        report.all_int8 = _error(_logits(out, arrays), reference)
    report.rows.sort(key=lambda r: -r["rel_l2"])
    for rank, row in enumerate(report.rows, 1):
        row["rank"] = rank
    return report


__all__ = ["SensitivityReport", "Unit", "find_units", "keep_fp32_patterns", "sensitivity"]
