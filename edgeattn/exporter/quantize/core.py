"""``quantize()``: an FP32 ONNX to FP16 or INT8 (Q/DQ), as named stages.

Check the request -> load the FP32 source -> convert (FP16: one pass; INT8: calibration data,
cache key, ORT static quantization) -> record (metadata) -> check it loads in ORT -> write the
model, its sidecar and, for real calibration data, the reference set, together. See
docs/precision.md.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..._io import OutputSet, atomic_outputs, check_outputs, sha256_file, sidecar_path
from ...errors import CalibrationError, InputError, QuantizationError
from ...artifact import ArtifactInfo, InputSpec, refuse_baked
from ...data.reference_set import MAX_SAMPLES, record_outputs, reference_set_path
from ...graph import PRECISIONS as GRAPH_PRECISIONS
from ._graph import load_onnx
from .calibration import METHODS, ArrayDataReader, CalibrationData, cache_key, cache_path, load_calibration
from .int8 import TARGETS
from .policy import PrecisionPolicy
from .report import NodePrecision, QuantizeResult

PRECISIONS = tuple(p for p in GRAPH_PRECISIONS if p != "fp32")  # what quantize converts an FP32 graph to


@dataclass(frozen=True)
class _Int8Options:
    """How INT8 calibrates and quantizes (the ``quantize`` arguments FP16 ignores)."""

    calibration: str | os.PathLike[str] | np.ndarray | None
    method: str
    num_calibration: int | None
    target: str
    percentile: float
    reduce_range: bool | None
    batch_size: int | None
    cache_dir: str | os.PathLike[str] | None
    use_cache: bool
    progress: bool
    seed: int
    reader_hook: Callable[[ArrayDataReader], None] | None


@dataclass
class _Converted:
    """What a conversion stage hands to the write stage."""

    model: Any  # onnx.ModelProto
    nodes: list[NodePrecision]
    settings: dict[str, Any]
    target: str | None = None
    calibration: dict[str, Any] | None = None  # the calibration record (INT8)
    data: CalibrationData | None = None  # the calibration inputs (INT8)
    warnings: list[str] = field(default_factory=list)


def quantize(
    onnx_path: str | os.PathLike[str],
    output: str | os.PathLike[str],
    precision: str = "int8",
    calibration: str | os.PathLike[str] | np.ndarray | None = None,
    *,
    calibration_method: str = "minmax",
    num_calibration: int | None = 256,
    target: str = "ort-cpu",
    quantize_attention: bool = False,
    attention: str | None = None,
    exclude_nodes: Sequence[str] = (),
    exclude_op_types: Sequence[str] = (),
    keep_io_types: bool = True,
    fp32_op_types: Sequence[str] | None = None,
    percentile: float = 99.999,
    reduce_range: bool | None = None,
    calibration_batch_size: int | None = None,
    cache_dir: str | os.PathLike[str] | None = None,
    use_cache: bool = True,
    progress: bool = True,
    seed: int = 0,
    reader_hook: Callable[[ArrayDataReader], None] | None = None,
) -> QuantizeResult:
    """Write an FP16 or INT8 (Q/DQ) version of ``onnx_path`` to ``output`` and report node placement.

    Args:
        onnx_path: an FP32 ONNX model (ideally from ``edgeattn export``: folded blocks + metadata).
        output: where to write the converted model (atomically) and its ``.json`` sidecar.
        precision: ``fp16`` or ``int8``.
        calibration: INT8 only. Image folder, ``.npy``/``.npz`` or an array ``[N, C, H, W]``;
            ``None`` calibrates on synthetic noise with a loud warning.
        calibration_method: ``minmax``, ``entropy`` or ``percentile`` (see ``calibration``).
        num_calibration: samples used (spread over the set); ``None`` = all.
        target: ``ort-cpu`` (U8 activations) or ``tensorrt`` (S8 symmetric, zero-point 0).
        quantize_attention: put the SE/CBAM gate path into INT8 / gates into FP16 too
            (the same as ``attention="int8"``).
        attention: what of each SE/CBAM gate path stays FP32 (``policy.ATTENTION_MODES``):
            ``"fp32"`` all of it, ``"gate"`` the gate and the scaling Mul only, ``"int8"``
            nothing. Default: ``"gate"`` for INT8 (measured: docs/precision.md), ``"fp32"`` for
            FP16 (the gates and reductions in FP32; FP16 takes ``"fp32"`` or ``"int8"``).
        exclude_nodes: regular expressions of node names kept in high precision.
        exclude_op_types: op types kept in high precision.
        keep_io_types: FP16 only: keep FP32 graph inputs and outputs.
        fp32_op_types: FP16 only: op types kept in FP32 (default: reductions and gates).
        reduce_range: INT8 7-bit weights; default on for ``ort-cpu`` (no int16 saturation on
            x86 CPUs without VNNI), off for ``tensorrt``.
        cache_dir: calibration cache folder (default ``$EDGEATTN_CACHE_DIR`` or ``~/.cache/edgeattn``).
        use_cache: reuse / store calibration ranges keyed by model, data, method and options.
        reader_hook: called with the calibration data reader before use (tests count its calls).
    """
    from ..._lazy import require_workstation

    require_workstation("quantize")  # before any check or work: on Python 3.8 it never runs
    started = time.perf_counter()
    precision, calibration_method = _check_choices(precision, target, calibration_method)
    src, dest = Path(onnx_path), Path(output)
    _check_paths(src, dest, precision, calibration)
    model, info = _load_fp32(src)
    if attention is None and not quantize_attention:
        attention = "gate" if precision == "int8" else "fp32"
    if precision == "fp16" and attention == "gate":
        raise InputError("--attention-policy gate: received it for FP16, expected fp32 or int8 (FP16 keeps the gates and "
                         "reductions in FP32 and runs the MLP in FP16 under fp32 already)")
    policy = PrecisionPolicy(quantize_attention, exclude_nodes, exclude_op_types, attention)
    source_sha = sha256_file(src)
    int8 = _Int8Options(calibration, calibration_method, num_calibration, target, percentile, reduce_range,
                        calibration_batch_size, cache_dir, use_cache, progress, seed, reader_hook)

    # The model and its sidecar are committed together, after the result has loaded in ORT.
    # The destination's temporary file is asked for only when the result is written: an
    # interrupted calibration leaves nothing beside the destination.
    with atomic_outputs() as outputs, tempfile.TemporaryDirectory(prefix="edgeattn-q-") as work:
        if precision == "fp16":
            converted = _convert_fp16(model, policy, calibration, keep_io_types, fp32_op_types)
        else:
            converted = _convert_int8(model, info, src, source_sha, policy, Path(work) / "quantized.onnx", int8)
        tmp = outputs.path(dest)
        _finish(converted.model, tmp, info, precision, converted.target, policy, converted.settings,
                converted.calibration, source_sha)
        result = QuantizeResult(
            precision=precision,
            source=os.fspath(src),
            output=os.fspath(dest),
            target=converted.target,
            policy=policy.to_dict(),
            nodes=converted.nodes,
            calibration=converted.calibration,
            settings=converted.settings,
            warnings=converted.warnings,
        )
        _check_runs(tmp)
        if converted.data is not None and not converted.data.synthetic:
            _write_reference_set(outputs, src, dest, converted.data, source_sha)
        result.seconds = time.perf_counter() - started
        outputs.write_json(sidecar_path(dest), _sidecar(src, tmp, result))
    return result


# -- stage: check the request --------------------------------------------------------------------


def _check_choices(precision: str, target: str, calibration_method: str) -> tuple[str, str]:
    """The precision and calibration method, lower-cased, each one of its choices (and the target)."""
    precision = precision.lower()
    calibration_method = calibration_method.lower()
    if precision not in PRECISIONS:
        raise InputError(f"--precision: received {precision!r}, expected one of {list(PRECISIONS)}")
    if target not in TARGETS:
        raise InputError(f"--target: received {target!r}, expected one of {list(TARGETS)}")
    if calibration_method not in METHODS:
        raise InputError(f"--calibration-method: received {calibration_method!r}, expected one of {list(METHODS)}")
    return precision, calibration_method


def _check_paths(src: Path, dest: Path, precision: str, calibration: Any) -> None:
    """The backends this conversion needs, and outputs that overwrite no input (nor a folder)."""
    calibration_file = calibration if isinstance(calibration, (str, os.PathLike)) else None
    _require_backends(precision, calibration_file)
    check_outputs([src, calibration_file], {"--output": dest, "the output's sidecar": sidecar_path(dest),
                                            "the output's reference set": reference_set_path(dest)})
    if dest.is_dir():  # checked before the conversion work, not when the rename fails after it
        raise InputError(f"output {dest} is a directory; expected a file path", hint="pass -o NEW.onnx")


# -- stage: load ---------------------------------------------------------------------------------


def _load_fp32(src: Path) -> tuple[Any, ArtifactInfo]:
    """The source model and its artifact record: a valid FP32 graph with an input."""
    model = load_onnx(src)
    _check_source(model, src)
    info = ArtifactInfo.from_proto(model, src)
    if (info.precision or "fp32") != "fp32":
        raise InputError(
            f"{src} is already {info.precision}; expected an FP32 model",
            hint="quantize the FP32 export, not a converted one",
        )
    if not model.graph.input:
        raise InputError(f"{src} has no graph inputs; expected an image model with one input")
    refuse_baked(info, src, "quantize")
    return model, info


# -- stage: convert ------------------------------------------------------------------------------


def _convert_fp16(
    model: Any, policy: PrecisionPolicy, calibration: Any, keep_io_types: bool, fp32_op_types: Sequence[str] | None
) -> _Converted:
    """FP16 with FP32 kept where the policy says (no calibration)."""
    from .fp16 import convert_fp16

    warnings = ["FP16 needs no calibration data; --calibration was ignored"] if calibration is not None else []
    converted, nodes = convert_fp16(model, policy, keep_io_types=keep_io_types, fp32_op_types=fp32_op_types)
    settings = {"keep_io_types": keep_io_types, "fp32_op_types": list(fp32_op_types or []) or None}
    return _Converted(converted, nodes, settings, warnings=warnings)


def _convert_int8(
    model: Any, info: ArtifactInfo, src: Path, source_sha: str, policy: PrecisionPolicy, staged: Path, opts: _Int8Options
) -> _Converted:
    """Calibrate (or reuse cached ranges) and quantize to Q/DQ at ``staged``; the result loaded back."""
    from .int8 import quantize_int8

    data, batch = _calibration_data(info, src, opts)
    options = {
        "target": opts.target,
        "policy": policy.to_dict(),
        "percentile": opts.percentile if opts.method == "percentile" else None,
        "reduce_range": opts.reduce_range,
        "batch": batch,
    }
    cache_file = (
        cache_path(opts.cache_dir, cache_key(source_sha, data.fingerprint, opts.method, options))
        if opts.use_cache
        else None
    )
    nodes, settings, hit = quantize_int8(
        model,
        staged,
        data,
        policy,
        target=opts.target,
        method=opts.method,
        percentile=opts.percentile,
        reduce_range=opts.reduce_range,
        batch_size=batch,
        cache_file=cache_file,
        progress=opts.progress,
        reader_hook=opts.reader_hook,
    )
    calibration_info = {
        **data.describe(opts.method),
        "cache": os.fspath(cache_file) if cache_file else None,
        "cache_hit": hit,
    }
    warnings = [*data.warnings, *_int8_warnings(settings)]
    return _Converted(load_onnx(staged), nodes, settings, opts.target, calibration_info, data, warnings)


def _calibration_data(info: ArtifactInfo, src: Path, opts: _Int8Options) -> tuple[CalibrationData, int]:
    """The preprocessed calibration inputs and the calibration batch size.

    A fixed-batch model takes whole batches only; ORT's histogram methods need batches that
    divide the set (see :func:`_even_batch`).
    """
    spec = image_input(info, src)
    input_name, batch_dim = spec.name, spec.fixed_batch
    data = load_calibration(
        opts.calibration,
        input_name=input_name,
        input_size=spec.size,
        preprocessing=info.preprocessing,
        limit=opts.num_calibration,
        seed=opts.seed,
    )
    batch = opts.batch_size or (batch_dim if isinstance(batch_dim, int) else 8)
    if opts.method != "minmax" and not isinstance(batch_dim, int):
        batch = _even_batch(data.arrays.shape[0], batch)
    if isinstance(batch_dim, int):
        data = dataclasses.replace(data, arrays=_whole_batches(data.arrays, batch_dim, input_name))
    return data, batch


def _int8_warnings(settings: dict[str, Any]) -> list[str]:
    """Gates left unprotected, and a CPU whose ORT saturates full-range INT8 weights."""
    from .int8 import cpu_saturates_int8

    warnings = []
    if settings["unprotected_gates"]:
        names = settings["unprotected_gates"]
        warnings.append(
            f"{len(names)} sigmoid-gated product(s) are not a recognised SE/CBAM gate path (the gate is not "
            f"computed from a pooling of the tensor it scales) and were quantized to INT8: "
            f"{', '.join(names[:5])}{' ...' if len(names) > 5 else ''}; keep them in FP32 with --exclude-nodes"
        )
    if not settings["reduce_range"] and cpu_saturates_int8():
        warnings.append(
            "this CPU has no VNNI: ONNX Runtime on it saturates full-range INT8 weights, so CPU "
            "validation of this model will look much worse than the target will run; validate on "
            "the target, or add --reduce-range for a model that is exact on this CPU too"
        )
    return warnings


# -- stage: write --------------------------------------------------------------------------------


def _write_reference_set(
    outputs: OutputSet, src: Path, dest: Path, data: CalibrationData, source_sha: str
) -> None:
    """Real inputs and what the FP32 parent gives for them: validate checks this artifact (or an
    engine built from it) on them later, with neither PyTorch nor the dataset at hand."""
    recorded = record_outputs(src, data.arrays[:MAX_SAMPLES], {
        "producer": f"FP32 parent {src.name} on ONNX Runtime CPU", "parent": src.name,
        "parent_sha256": source_sha, "inputs": data.source,
    })
    if recorded is not None:
        outputs.write_bytes(reference_set_path(dest), recorded.to_bytes())


def image_input(info: ArtifactInfo, src: Path) -> InputSpec:
    """The image input with a fixed ``C x H x W`` (calibration arrays need one), or a one-line error."""
    if info.input is None:
        first = info.inputs[0] if info.inputs else None
        shown = f"input {first.name!r} has shape {list(first.shape)}" if first is not None else "no input"
        raise InputError(
            f"{src}: model {shown}; expected [N, C, H, W] with fixed C, H, W",
            hint="export with a fixed input size (--input-size)",
        )
    return info.input


def _whole_batches(arrays: np.ndarray, batch: int, input_name: str) -> np.ndarray:
    """A fixed-batch model takes only full batches: drop the remainder, refuse too few samples."""
    usable = (arrays.shape[0] // batch) * batch
    if usable == 0:
        raise CalibrationError(
            f"calibration data: received {arrays.shape[0]} samples, the model's input {input_name!r} has a "
            f"fixed batch of {batch}; expected at least {batch}",
            hint="give more samples (--num-calibration) or export with a dynamic batch",
        )
    return arrays[:usable]


def _even_batch(samples: int, batch: int) -> int:
    """The largest batch <= ``batch`` that divides ``samples``.

    ORT's histogram calibrators (entropy, percentile) stack the outputs of all batches into one
    array, which fails on a shorter last batch ("inhomogeneous shape"), e.g. 500 samples in 8s.
    """
    return next(b for b in range(min(batch, samples), 0, -1) if samples % b == 0)


def _require_backends(precision: str, calibration: str | os.PathLike[str] | None) -> None:
    """Check the optional modules this conversion needs before any work (not after calibrating)."""
    from ..._lazy import require
    from ...data.samples import reads_images

    if precision == "fp16":
        require("onnxconverter_common", "FP16 conversion")
        return
    require("onnxruntime", "INT8 quantization")
    if calibration is not None and reads_images(calibration):
        require("PIL", "reading calibration images")


def _check_source(model: Any, src: Path) -> None:
    """A damaged graph (a node output index out of range, a dangling input) is refused here in
    one line, not as a converter's traceback halfway through."""
    import onnx

    if model.ByteSize() >= 2**31:  # the in-memory checker cannot serialise it; ORT checks it later
        return
    try:
        onnx.checker.check_model(model)
        onnx.shape_inference.infer_shapes(model)
    except Exception as exc:  # noqa: BLE001 - ValidationError, InferenceError, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        raise InputError(f"{src} is not a valid ONNX model ({first})", hint="export it again") from None


def _finish(
    model: Any,
    path: Path,
    info: ArtifactInfo,
    precision: str,
    target: str | None,
    policy: PrecisionPolicy,
    settings: dict[str, Any],
    calibration: dict[str, Any] | None,
    source_sha: str,
) -> None:
    import onnx

    from ... import __version__

    record = {
        "precision": precision,
        "target": target,
        "policy": policy.to_dict(),
        "settings": {k: v for k, v in settings.items() if k != "gate_paths"},
        "calibration": calibration,
        "source_sha256": source_sha,
        "edgeattn_version": __version__,
    }
    dataclasses.replace(info, precision=precision, quantization=record).write_metadata(model)
    onnx.save(model, os.fspath(path))


def _check_runs(path: Path) -> None:
    """Load the result in ONNX Runtime: a graph that ORT cannot load is never written."""
    try:
        import onnxruntime as ort
    except ImportError:  # the core install has no ORT: the checker is what we can do
        import onnx

        onnx.checker.check_model(os.fspath(path))
        return
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3
        ort.InferenceSession(os.fspath(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        raise QuantizationError(
            f"the converted model does not load in ONNX Runtime: {exc}".splitlines()[0],
            hint="report this with the model; --exclude-nodes / --exclude-op-types can keep the failing node in FP32",
        ) from exc


def _sidecar(src: Path, written_path: Path, result: QuantizeResult) -> dict[str, Any]:
    """The output's sidecar: the source's sidecar (the fold report and whatever else it holds) with
    the written record over it (provenance, blocks, probes, precision, quantization + counts)."""
    sidecar: dict[str, Any] = {}
    source_sidecar = sidecar_path(src)
    if source_sidecar.is_file():
        try:
            loaded = json.loads(source_sidecar.read_text(encoding="utf-8"))
            sidecar = loaded if isinstance(loaded, dict) else {}
        except (OSError, ValueError, RecursionError):  # unreadable, not UTF-8, not JSON, too deep
            sidecar = {}
    written = ArtifactInfo.from_proto(load_onnx(written_path))
    sidecar.update(written.sidecar())
    sidecar["quantization"] = {**(written.quantization or {}), "counts": result.counts()}
    return sidecar
