"""What to keep in higher precision when an INT8 artifact fails ``validate``.

An INT8 failure alone says only that the logits moved. Which part of the network to keep in FP32
is what ``edgeattn quantize --sensitivity`` measures (each attention block and conv stage quantized
alone; ``exporter/quantize/sensitivity.py``). This module turns that ranking, when the CLI wrote it
beside the artifact (``-o X.onnx`` -> ``X.sensitivity.json``), into the ``--keep-fp32`` flags to
re-quantize with, and names the command that writes it when it is absent.

Measured on timm ``mobilenetv3_large_100`` (random weights, randomised BN statistics, 128 px,
64 CIFAR-10 images; docs/precision.md): the error is spread over the stages (the worst stage alone
costs rel. L2 0.21 of the whole model's 0.25), so the advice names every unit within half of the
worst one, not a single layer; keeping the two worst stages took the output cosine from 0.970 to
0.981, the four worst to 0.993. Seven-bit weights (``--reduce-range``, the ``ort-cpu`` default for
CPUs without VNNI) cost that model 19 points of top-1 agreement, so the advice says so when the
artifact was made with them.

Sidecars and sensitivity files are untrusted input: read as JSON, every field checked, anything
unexpected ignored (the advice then falls back to naming the command).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._io import sidecar_path

# Units named: those within this fraction of the worst unit's error alone, at most MAX_UNITS.
SHARE_OF_WORST = 0.5
MAX_UNITS = 4


def sensitivity_path(artifact: str | os.PathLike[str]) -> Path:
    """Where ``edgeattn quantize -o ARTIFACT --sensitivity`` writes its ranking (JSON)."""
    path = Path(artifact)
    return path.with_name(path.with_suffix("").name + ".sensitivity.json")


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _units_to_keep(report: dict[str, Any], attention_quantized: bool) -> list[tuple[str, float]]:
    """(unit, rel. L2 alone) worth keeping in FP32, worst first.

    Attention units count only when the artifact put attention in INT8 (``--quantize-attention``):
    under the default policy they already are FP32, and the sensitivity table measures them
    quantized, which is not what the artifact did.
    """
    rows = report.get("units")
    if not isinstance(rows, list):
        return []
    units = []
    for row in rows:
        if not isinstance(row, dict):
            continue
        name, kind, error = row.get("unit"), row.get("kind"), row.get("rel_l2")
        if not isinstance(name, str) or not isinstance(error, (int, float)) or kind not in ("stage", "attention"):
            continue
        if kind == "attention" and not attention_quantized:
            continue
        units.append((name, float(error)))
    units.sort(key=lambda u: -u[1])
    if not units:
        return []
    worst = units[0][1]
    return [u for u in units if u[1] >= SHARE_OF_WORST * worst][:MAX_UNITS]


def _dict(value: Any) -> dict[str, Any]:
    """``value`` when the sidecar holds an object there, else empty (an absent or odd entry)."""
    return value if isinstance(value, dict) else {}


def keep_fp32_advice(artifact: str | os.PathLike[str]) -> str:
    """One paragraph for a failed INT8 ONNX artifact: the ``--keep-fp32`` units, or how to find them."""
    path = Path(artifact)
    sidecar = _read_json(sidecar_path(path)) or {}
    quantization = _dict(sidecar.get("quantization"))
    policy = _dict(quantization.get("policy"))
    settings = _dict(quantization.get("settings"))
    # Artifacts before the "attention" field had only quantize_attention.
    attention_quantized = policy.get("quantize_attention") is True or policy.get("attention") in ("gate", "int8")
    parts = []
    ranking_file = sensitivity_path(path)
    ranking = _read_json(ranking_file)
    units = _units_to_keep(ranking, attention_quantized) if ranking is not None else []
    if units:
        shown = ", ".join(f"{name} (rel. L2 {error:.3g} alone)" for name, error in units)
        flags = " ".join(f"--keep-fp32 {name}" for name, _ in units)
        whole = ranking.get("all_int8_default_policy") if ranking is not None else None
        total = f" (whole model {whole['rel_l2']:.3g})" if isinstance(whole, dict) and isinstance(whole.get("rel_l2"), (int, float)) else ""
        parts.append(f"the units that cost most in INT8 alone ({ranking_file.name}){total}: {shown}; "
                     f"re-quantize the FP32 model with {flags}")
    else:
        parts.append(
            "to find which attention blocks and conv stages to keep in FP32, run `edgeattn quantize FP32.onnx "
            f"--calibration DATA --sensitivity -o {path.name}` (it ranks each by the error it causes alone and "
            f"writes {ranking_file.name}, which validate then reads), and re-quantize with --keep-fp32 UNIT"
        )
    if settings.get("reduce_range") is True:
        parts.append(
            "the weights are 7-bit (--reduce-range, the ort-cpu default for x86 CPUs without VNNI); on a target "
            "with VNNI or an ARM CPU, --no-reduce-range keeps 8 bits"
        )
    return "; ".join(parts)


__all__ = ["keep_fp32_advice", "sensitivity_path"]
