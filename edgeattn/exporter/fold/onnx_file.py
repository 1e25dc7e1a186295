"""Fold an ONNX file that did not come from ``edgeattn export`` (``edgeattn fold``).

Paddle2ONNX, tf2onnx and other PyTorch exporter settings write the same SE / CBAM blocks that
the folding rules recognise (the matchers of ``_match`` take Gemm / MatMul / 1x1-conv FCs,
Flatten / Reshape / Unsqueeze glue, GlobalAveragePool or ReduceMean with its axes as attribute
or input, Sigmoid / HardSigmoid / relu6(z+3)/6 gates). :func:`fold_onnx` runs the same pass as
the export on such a file:

1. load, refuse what cannot be folded (not FP32, opset below :data:`MIN_OPSET`);
2. infer shapes (third-party files often carry none; the gate-rank check and whole-map pooling
   need them);
3. :func:`fold_attention` without a PyTorch model (blocks are named from the exporter's scopes,
   else ``SqueezeExcite_0``...); every refused candidate keeps its reason in the report;
4. check: ``onnx.checker`` (full) and ONNX Runtime on the original and the folded graph with the
   same seeded inputs; a difference is an :class:`ExportError` and nothing is written;
5. write the model and its ``.onnx.json`` sidecar together (:func:`edgeattn._io.atomic_outputs`),
   with a record (:class:`edgeattn.artifact.ArtifactInfo`) that says the file was folded by
   ``edgeattn fold`` from which file (its sha256), and names no PyTorch source it does not have.

Opset: the model keeps its own opset by default. The matchers read both spellings of every op
whose signature changed between opsets 11 and 18 (ReduceMean/ReduceMax axes, Unsqueeze/Squeeze
axes, Clip bounds) and the canonical bodies are written for the model's opset
(``functions._reduce``, ``functions._dims``), so the rules need no ``onnx.version_converter``
pass, and none is run unasked: converting rewrites every op of a graph the user has validated.
``convert_opset`` (``--convert-opset N``) converts first, for what comes after the fold: FP16
conversion of the folded bodies needs opset 15 (CastLike), TensorRT 8.5/8.6 wants 17. The ONNX
Runtime check compares the result with the unconverted source, so it covers the conversion too.
Below opset 11 the bodies cannot be written (Clip and Resize take their bounds and scales as
inputs from 11): such a file is refused unless converted.

Needs onnx-ir and onnxscript (``edgeattn[fold]``), not PyTorch.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ...errors import ExportError, InputError
from .driver import FOLD_MODES
from .report import FoldReport

MIN_OPSET = 11  # Clip(x, min, max) and Resize(x, roi, scales) take inputs from opset 11
TOOL = "edgeattn fold"


@dataclass
class FoldOnnxResult:
    """What :func:`fold_onnx` wrote and checked."""

    path: Path
    sidecar: Path
    source: Path | None
    source_sha256: str
    opset: int
    fold: FoldReport
    max_abs_diff: float | None = None
    checked_shapes: dict[str, list[int]] = field(default_factory=dict)
    sha256: str = ""
    size_bytes: int = 0
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": os.fspath(self.path),
            "sidecar": os.fspath(self.sidecar),
            "source": os.fspath(self.source) if self.source is not None else None,
            "source_sha256": self.source_sha256,
            "opset": self.opset,
            "max_abs_diff_vs_source": self.max_abs_diff,
            "checked_shapes": self.checked_shapes,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "fold": self.fold.to_dict(),
            "warnings": self.warnings,
        }


def fold_onnx(
    model: str | os.PathLike[str] | Any,
    output: str | os.PathLike[str],
    *,
    mode: str = "functions",
    optimize_for: str = "any",
    convert_opset: int | None = None,
    check: bool = True,
    rtol: float = 1e-4,
    atol: float = 1e-5,
    seed: int = 0,
) -> FoldOnnxResult:
    """Fold the SE / CBAM blocks of an FP32 ONNX model (a path or an ``onnx.ModelProto``) into ``output``.

    Args:
        mode: ``functions`` (one ``edgeattn::`` node per block), ``inline`` (the canonical bodies as
            plain ops) or ``none`` (graph unchanged; the report says what would fold).
        optimize_for: ``any`` or ``ort-cpu`` (``fold.functions.OPTIMIZE_FOR``), as in export.
        convert_opset: convert the model to this opset (``onnx.version_converter``) before folding;
            ``None`` keeps the model's opset.
        check: run ONNX Runtime on the source and the result with the same seeded inputs (batch 2
            on a dynamic batch axis) and refuse a difference beyond ``rtol``/``atol`` (scaled by the
            output's magnitude).
    """
    import onnx
    import onnx_ir as ir

    from ..._io import atomic_outputs, check_outputs, sha256_file, sidecar_path
    from ...artifact import ArtifactInfo
    from ...graph import detect_precision
    from ..metadata import find_probes
    from .driver import fold_attention
    from .functions import OPTIMIZE_FOR

    if mode not in FOLD_MODES:
        raise InputError(f"--fold: received {mode!r}, expected one of {', '.join(FOLD_MODES)}")
    if optimize_for not in OPTIMIZE_FOR:
        raise InputError(f"--optimize-for: received {optimize_for!r}, expected one of {', '.join(OPTIMIZE_FOR)}")
    output = Path(output)
    if output.suffix.lower() != ".onnx":
        raise InputError(f"--output: received {os.fspath(output)!r}, expected a path ending in .onnx")
    if output.is_dir():
        raise InputError(f"--output: received {os.fspath(output)!r}, a directory; expected a file path")
    source = Path(model) if isinstance(model, (str, os.PathLike)) else None
    check_outputs([source], {"--output": output, "the output's sidecar": sidecar_path(output)})

    if source is not None:
        proto, source_sha = _load(source), sha256_file(source)
    elif isinstance(model, onnx.ModelProto):
        proto, source_sha = model, hashlib.sha256(model.SerializeToString()).hexdigest()
    else:
        raise InputError(f"model: received {type(model).__name__}, expected an .onnx path or an onnx.ModelProto")
    name = os.fspath(source) if source is not None else "the ONNX model"
    source_opset = _default_opset(proto, name)
    original = proto
    if convert_opset is not None and convert_opset != source_opset:
        proto = _convert(proto, name, source_opset, convert_opset)
    opset = _check_foldable(proto, name, detect_precision)
    prior = ArtifactInfo.from_proto(original, source)

    try:
        inferred = onnx.shape_inference.infer_shapes(proto)
    except Exception:  # noqa: BLE001 - custom domains, malformed shapes: fold without shapes
        inferred = proto
    ir_model = ir.from_proto(inferred)
    probes = prior.probes or find_probes(ir_model)
    report = fold_attention(ir_model, mode, None, OPTIMIZE_FOR[optimize_for])
    if optimize_for == "ort-cpu" and report.counts and _dynamic_batch(proto):
        report.warnings.append(
            "--optimize-for ort-cpu keeps ONNX Runtime's blocked layout only with a static input shape; "
            "with a dynamic batch its attention blocks run slower than the default bodies"
        )
    folded = ir.to_proto(ir_model)
    # Inferred value_info of tensors the fold removed would dangle; ORT re-infers what it needs.
    del folded.graph.value_info[:]
    try:
        onnx.checker.check_model(folded, full_check=True)
    except Exception as exc:  # noqa: BLE001 - ValidationError, InferenceError
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise ExportError(f"the folded graph of {name} fails the ONNX checker: {first}",
                          hint="retry with --fold none to see the report, and report the model") from None

    max_abs_diff: float | None = None
    shapes: dict[str, list[int]] = {}
    skipped: str | None = None
    if check:
        max_abs_diff, shapes, skipped = _compare_on_ort(original, folded, name, rtol, atol, seed, report.mode)
        if skipped:
            report.warnings.append(f"not checked on ONNX Runtime: {skipped}")

    names = {o for n in folded.graph.node for o in n.output} | {i.name for i in folded.graph.input}
    blocks = [b.metadata_entry() for b in report.blocks if mode != "none"]
    record = ArtifactInfo(
        provenance=_provenance(prior, original, source, source_sha, source_opset, opset, mode, optimize_for),
        blocks=blocks,
        probes=[p for p in probes if p.get("tensor") in names],
    )
    record.write_metadata(folded)
    serialized = folded.SerializeToString()
    with atomic_outputs() as outputs:
        outputs.write_bytes(output, serialized)
        sidecar = outputs.write_json(sidecar_path(output), {**record.sidecar(), "fold": report.to_dict()})
    return FoldOnnxResult(
        path=output,
        sidecar=sidecar,
        source=source,
        source_sha256=source_sha,
        opset=opset,
        fold=report,
        max_abs_diff=max_abs_diff,
        checked_shapes=shapes,
        sha256=hashlib.sha256(serialized).hexdigest(),
        size_bytes=len(serialized),
        warnings=list(report.warnings),
    )


# ------------------------------------------------------------------------------------ helpers
def _load(path: Path) -> Any:
    import onnx

    if not path.is_file():
        raise InputError(f"model: received {os.fspath(path)!r}, which is not a file; expected an .onnx file")
    try:
        return onnx.load(os.fspath(path))
    except Exception as exc:  # noqa: BLE001 - protobuf's DecodeError, missing external data
        raise InputError(f"{path} is not a readable ONNX model ({type(exc).__name__}: {str(exc)[:200]})") from None


def _default_opset(proto: Any, name: str) -> int:
    opset = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), None)
    if opset is None:
        raise InputError(f"{name} imports no default-domain opset; expected a standard ONNX model")
    return int(opset)


def _convert(proto: Any, name: str, source_opset: int, target: int) -> Any:
    """``proto`` converted to opset ``target`` by ``onnx.version_converter``, or a one-line error."""
    import onnx
    from onnx import version_converter

    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= target <= newest:
        raise InputError(f"--convert-opset: received {target}, expected {MIN_OPSET}..{newest}")
    try:
        converted = version_converter.convert_version(proto, target)
        onnx.checker.check_model(converted)
    except Exception as exc:  # noqa: BLE001 - the converter raises RuntimeError/ValidationError per op
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(
            f"{name}: onnx.version_converter cannot convert opset {source_opset} to {target} ({first})",
            hint="fold it at its own opset (no --convert-opset), or convert it with the tool that wrote it",
        ) from None
    return converted


def _check_foldable(proto: Any, name: str, detect_precision: Any) -> int:
    """The model's default-domain opset, or a one-line refusal of what the pass cannot fold."""
    opset = _default_opset(proto, name)
    if opset < MIN_OPSET:
        raise InputError(
            f"{name} is opset {opset}; expected opset {MIN_OPSET} or newer (the folded bodies need Clip/Resize inputs)",
            hint="add --convert-opset 13 (onnx.version_converter)",
        )
    precision = detect_precision(proto)
    if precision != "fp32":
        raise InputError(f"{name} is {precision}; expected an FP32 model", hint="fold the FP32 model, then quantize")
    return int(opset)


def _dynamic_batch(proto: Any) -> bool:
    initializers = {t.name for t in proto.graph.initializer}
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        dims = value.type.tensor_type.shape.dim
        return not (dims and dims[0].HasField("dim_value") and dims[0].dim_value > 0)
    return False


def _feeds(proto: Any, seed: int) -> tuple[dict[str, np.ndarray], str | None]:
    """Seeded inputs for every graph input, or ``(_, reason)`` when one cannot be made up."""
    import onnx

    rng = np.random.default_rng(seed)
    initializers = {t.name for t in proto.graph.initializer}
    feeds: dict[str, np.ndarray] = {}
    for value in proto.graph.input:
        if value.name in initializers:
            continue
        tensor_type = value.type.tensor_type
        if tensor_type.elem_type not in (onnx.TensorProto.FLOAT, onnx.TensorProto.DOUBLE):
            return feeds, f"input {value.name!r} is not a float tensor"
        shape = []
        for axis, dim in enumerate(tensor_type.shape.dim):
            if dim.HasField("dim_value") and dim.dim_value > 0:
                shape.append(int(dim.dim_value))
            elif axis == 0:
                shape.append(2)  # a dynamic batch: two samples, so a block mixing them would show
            else:
                return feeds, f"input {value.name!r} has a dynamic axis {axis} ({dim.dim_param or '?'})"
        dtype = np.float32 if tensor_type.elem_type == onnx.TensorProto.FLOAT else np.float64
        feeds[value.name] = rng.standard_normal(shape).astype(dtype)
    return feeds, None


def _compare_on_ort(
    source: Any, folded: Any, name: str, rtol: float, atol: float, seed: int, mode: str
) -> tuple[float | None, dict[str, list[int]], str | None]:
    """Max |folded - source| over every output on ONNX Runtime CPU; ExportError past the tolerance."""
    from ..._lazy import require

    ort = require("onnxruntime", "fold's check (--no-check skips it)")
    feeds, skipped = _feeds(source, seed)
    if skipped:
        return None, {}, skipped
    options = ort.SessionOptions()
    options.log_severity_level = 3

    def run(proto: Any) -> list[np.ndarray]:
        session = ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])
        return session.run(None, feeds)

    try:
        before = run(source)
    except Exception as exc:  # noqa: BLE001 - ORT raises its own exception types
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        return None, {}, f"ONNX Runtime cannot run {name} ({first})"
    after = run(folded)
    worst = 0.0
    for i, (ref, got) in enumerate(zip(before, after)):
        ref64, got64 = np.asarray(ref, np.float64), np.asarray(got, np.float64)
        if ref64.shape != got64.shape:
            raise ExportError(f"folded output {i} has shape {list(got64.shape)}, the source {list(ref64.shape)}")
        diff = float(np.max(np.abs(got64 - ref64))) if ref64.size else 0.0
        worst = max(worst, diff)
        scale = max(1.0, float(np.max(np.abs(ref64)))) if ref64.size else 1.0
        if not np.all(np.isfinite(got64) == np.isfinite(ref64)) or not np.allclose(
            got64, ref64, rtol=rtol, atol=atol * scale, equal_nan=True
        ):
            raise ExportError(
                f"folded output {i} differs from {name} on ONNX Runtime by up to {diff:.3g} "
                f"(rtol {rtol}, atol {atol * scale:.3g})",
                hint=f"retry with --fold none to see which blocks {mode} would fold, and report the model",
            )
    return worst, {k: list(v.shape) for k, v in feeds.items()}, None


def _provenance(
    prior: Any, proto: Any, source: Path | None, source_sha: str, source_opset: int, opset: int, mode: str,
    optimize_for: str,
) -> dict[str, Any]:
    """The record of a folded file: the source's own edgeattn provenance when it has one (an
    ``export --fold none`` artifact keeps its PyTorch model), else one that names no model.

    The keys are those of :func:`edgeattn.artifact.provenance_record`; ``source``, ``exporter`` and
    ``preprocessing`` stay ``None`` (not ours to claim), and ``folded_from`` says what was folded.
    """
    from ... import __version__

    folded_from = {
        "tool": TOOL,
        "path": os.fspath(source.resolve()) if source is not None else None,
        "sha256": source_sha,
        "producer": " ".join(p for p in (proto.producer_name, proto.producer_version) if p) or None,
        "opset": source_opset,  # the written model's is ``opset`` (different after --convert-opset)
    }
    if prior.provenance is not None:
        return {**prior.provenance, "opset": opset, "fold": mode, "optimize_for": optimize_for,
                "folded_from": folded_from}
    info = prior
    return {
        "edgeattn_version": __version__,
        "source": None,
        "source_file": None,
        "checkpoint": None,
        "input": info.input.to_record() if info.input is not None else None,
        "outputs": [t.name for t in info.outputs],
        "preprocessing": None,
        "exporter": None,
        "opset": opset,
        "fold": mode,
        "optimize_for": optimize_for,
        "folded_from": folded_from,
    }
