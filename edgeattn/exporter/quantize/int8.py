"""Static INT8 post-training quantization to an explicit Q/DQ graph (ONNX Runtime's quantizer).

Weights: symmetric per-channel S8 (zero-point 0), on the output-channel axis. Activations:
per-tensor, and the type depends on the consumer:

* ``target="ort-cpu"``: U8 activations (asymmetric) and 7-bit weights (``reduce_range``). On x86
  ORT's integer kernels take u8 x s8; S8 activations gave no speed-up over FP32 in our
  measurement (see also onnxruntime#17389). Without VNNI (AVX2 ``vpmaddubsw``) the int16 pair
  sums saturate with full 8-bit weights, hence the 7 bits.
* ``target="tensorrt"``: S8 symmetric activations (TensorRT accepts only zero-point 0), float
  biases (TensorRT has no INT32 DequantizeLinear), and Q/DQ only on the ops TensorRT's placement
  guide quantizes (Conv/Gemm/MatMul inputs, residual Add, pools).

ORT's quantizer does not look into ONNX local functions, so a folded ``edgeattn::`` node is left
alone with its body in FP32, Q/DQ placed around it: the policy's ``attention="fp32"``, which
keeps the graph folded. ``"gate"`` (the default of ``quantize``) and ``"int8"``
(``quantize_attention=True``) inline the blocks first (node names ``<block>/<op>``), so the gate
path is quantized like everything else but, for ``"gate"``, its gate and scaling Mul; the output
is then unfolded, but the recorded blocks' tensor names stay valid. The nodes the policy keeps
(gate paths in plain graphs included) are passed to ORT as ``nodes_to_exclude``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx

from ...errors import InputError, QuantizationError
from ...graph import attention_calls, inline_functions
from ._graph import consumers, ensure_node_names, producers
from .calibration import ArrayDataReader, CalibrationData, calibration_method
from .policy import PrecisionPolicy, find_gate_paths, high_precision_nodes, unprotected_gates
from .report import NodePrecision, int8_node_report

TARGETS = ("ort-cpu", "tensorrt")
# TensorRT Q/DQ placement: quantize the inputs of the compute ops and the residual Add.
_TENSORRT_OP_TYPES = ("Conv", "ConvTranspose", "Gemm", "MatMul", "Add", "MaxPool", "AveragePool", "GlobalAveragePool")


def quantization_settings(
    target: str, quantize_attention: bool, percentile: float, reduce_range: bool | None = None
) -> dict[str, Any]:
    """The ORT ``quantize_static`` arguments for ``target`` (JSON-able: types by name).

    ``reduce_range=None`` means 7-bit weights for ``ort-cpu`` and full 8-bit for ``tensorrt``:
    x86 CPUs without VNNI multiply u8 x s8 with ``vpmaddubsw``, whose int16 pair sums saturate
    with full-range weights (ORT's own guidance). On the digits example that saturation took
    agreement with FP32 from 100% to 85%; 7-bit weights restore it at no measurable cost.
    """
    if target not in TARGETS:
        raise InputError(f"--target: received {target!r}, expected one of {list(TARGETS)}")
    extra: dict[str, Any] = {"WeightSymmetric": True, "CalibPercentile": percentile}
    if reduce_range is None:
        reduce_range = target == "ort-cpu"
    settings: dict[str, Any] = {"per_channel": True, "reduce_range": bool(reduce_range), "weight_type": "QInt8"}
    if target == "ort-cpu":
        settings["activation_type"] = "QUInt8"
        extra["ActivationSymmetric"] = False
        settings["op_types_to_quantize"] = None  # ORT's registry: every op it has a QDQ rule for
    else:
        settings["activation_type"] = "QInt8"
        extra["ActivationSymmetric"] = True
        extra["QuantizeBias"] = False
        ops = list(_TENSORRT_OP_TYPES)
        if quantize_attention:
            ops.append("Mul")
        settings["op_types_to_quantize"] = ops
    settings["extra_options"] = extra
    return settings


def cpu_saturates_int8() -> bool:
    """True on an x86 CPU without VNNI (Linux ``/proc/cpuinfo``), where ORT's u8/s8 kernels
    saturate with full-range 8-bit weights."""
    import platform

    if platform.machine().lower() not in ("x86_64", "amd64", "i686", "x86"):
        return False
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            flags = next((line for line in handle if line.startswith("flags")), "")
    except OSError:
        return False
    return bool(flags) and not ({"avx512_vnni", "avx_vnni", "amx_int8"} & set(flags.split()))


def prepare_for_int8(model: onnx.ModelProto, policy: PrecisionPolicy, workdir: Path) -> onnx.ModelProto:
    """Inline the blocks when they are to be quantized, then ORT's pre-processing where it is safe.

    ``quant_pre_process`` runs symbolic shape inference (which does not know the ``edgeattn``
    domain) and ORT's graph optimizer (which inlines local functions and renames nodes), so a
    graph that still holds folded blocks only gets ONNX shape inference.
    """
    if policy.attention != "fp32" and attention_calls(model):
        model = inline_functions(model).model
    ensure_node_names(model.graph)
    folded = bool(attention_calls(model))
    source = workdir / "prepared_in.onnx"
    target = workdir / "prepared.onnx"
    onnx.save(model, source)
    dump_before = _stat_ns(Path(ORT_SHAPE_DUMP))
    try:
        from onnxruntime.quantization.shape_inference import quant_pre_process

        quant_pre_process(
            os.fspath(source),
            os.fspath(target),
            skip_optimization=folded,
            skip_symbolic_shape=folded,
        )
        prepared = onnx.load(os.fspath(target))
    except Exception as exc:  # pre-processing is an optimisation: fall back to plain shape inference
        logging.getLogger(__name__).info("quant_pre_process failed (%s); using ONNX shape inference only", exc)
        prepared = onnx.shape_inference.infer_shapes(model)
    finally:
        remove_ort_shape_dump(dump_before)
    ensure_node_names(prepared.graph)
    return prepared


# onnxruntime/tools/symbolic_shape_infer.py: when symbolic shape inference is incomplete (graphs
# with nothing folded: timm hrnet_w18_small, measured) it saves the model to this name in the
# *current directory*, with its weights in a uuid-named external data file beside it, and raises.
# quant_pre_process's failure is handled (plain shape inference), but the two files (tens of MB)
# would be left in the user's folder.
ORT_SHAPE_DUMP = "sym_shape_infer_temp.onnx"


def _stat_ns(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return None


def remove_ort_shape_dump(before: int | None, folder: Path | None = None) -> bool:
    """Delete ORT's shape-inference dump (and its external data) if this call wrote it.

    ``before`` is the dump's modification time before the call (``None``: absent); a file that
    was already there and is unchanged belongs to someone else and stays. Returns whether a dump
    was removed.
    """
    dump = (folder or Path.cwd()) / ORT_SHAPE_DUMP
    after = _stat_ns(dump)
    if after is None or after == before:
        return False
    try:
        proto = onnx.load(os.fspath(dump), load_external_data=False)
        locations = {e.value for t in proto.graph.initializer for e in t.external_data if e.key == "location"}
    except Exception:  # a damaged dump: remove the model file at least
        locations = set()
    for name in locations:
        if name and Path(name).name == name:  # a bare file name beside the dump, nothing else
            with contextlib.suppress(OSError):
                (dump.parent / name).unlink()
    with contextlib.suppress(OSError):
        dump.unlink()
    return True


def quantize_int8(
    model: onnx.ModelProto,
    output: Path,
    calibration: CalibrationData,
    policy: PrecisionPolicy,
    *,
    target: str = "ort-cpu",
    method: str = "minmax",
    percentile: float = 99.999,
    reduce_range: bool | None = None,
    batch_size: int = 8,
    cache_file: Path | None = None,
    progress: bool = True,
    reader_hook: Callable[[ArrayDataReader], None] | None = None,
) -> tuple[list[NodePrecision], dict[str, Any], bool]:
    """Quantize ``model`` into ``output``; returns (node report, settings, calibration cache hit)."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static

    settings = quantization_settings(target, policy.quantize_attention, percentile, reduce_range)
    block_names = [n.name for n in attention_calls(model)]
    with tempfile.TemporaryDirectory(prefix="edgeattn-int8-") as tmp:
        workdir = Path(tmp)
        prepared = prepare_for_int8(model, policy, workdir)
        paths = find_gate_paths(prepared)
        inlined = block_names if policy.attention != "fp32" else []
        reasons = high_precision_nodes(prepared, policy, paths, inlined_blocks=inlined)
        unprotected = [] if policy.quantize_attention else [n for n in unprotected_gates(prepared, paths) if n not in reasons]
        prepared_path = workdir / "model.onnx"
        onnx.save(prepared, prepared_path)
        input_name = prepared.graph.input[0].name
        reader = ArrayDataReader(input_name, calibration.arrays, batch_size, progress=progress)
        if reader_hook is not None:
            reader_hook(reader)
        cache_hit = cache_file is not None and cache_file.is_file()
        # quantize_static logs a pre-processing nag and per-tensor notes at WARNING/INFO.
        root = logging.getLogger()
        level = root.level
        root.setLevel(logging.ERROR)
        try:
            # ORT's histogram calibrators print() progress: keep stdout clean for --json.
            with contextlib.redirect_stdout(sys.stderr):
                quantize_static(
                    os.fspath(prepared_path),
                    os.fspath(output),
                    None if cache_hit else reader,
                    quant_format=QuantFormat.QDQ,
                    op_types_to_quantize=settings["op_types_to_quantize"],
                    per_channel=settings["per_channel"],
                    reduce_range=settings["reduce_range"],
                    activation_type=getattr(QuantType, settings["activation_type"]),
                    weight_type=getattr(QuantType, settings["weight_type"]),
                    nodes_to_exclude=sorted(reasons),
                    calibrate_method=calibration_method(method),
                    extra_options=dict(settings["extra_options"]),
                    calibration_cache_path=os.fspath(cache_file) if cache_file is not None else None,
                )
        except Exception as exc:
            raise QuantizationError(
                f"INT8 quantization failed: {type(exc).__name__}: {exc}",
                hint="re-run with EDGEATTN_DEBUG=1 for the traceback; --exclude-nodes can keep a failing node in FP32",
            ) from exc
        finally:
            root.setLevel(level)
            reader._stop()
        quantized = onnx.load(os.fspath(output))
        if _float_graph_outputs(quantized):
            onnx.save(quantized, os.fspath(output))
    nodes = int8_node_report(quantized, reasons, block_names)
    settings["folded_blocks_kept"] = bool(attention_calls(quantized))
    settings["gate_paths"] = [
        {"kind": p.kind, "scale_node": p.scale_node, "folded": p.folded, "nodes": len(p.nodes)} for p in paths
    ]
    settings["unprotected_gates"] = unprotected
    return nodes, settings, cache_hit


def _float_graph_outputs(model: onnx.ModelProto) -> int:
    """Drop the Q/DQ pair ORT puts on a graph output (logits rounded to 256 levels help no one).

    TensorRT's placement guide also leaves the outputs of the last compute op unquantized.
    Returns how many outputs were changed.
    """
    graph = model.graph
    made_by = producers(graph)
    users = consumers(graph)
    changed = 0
    params: set[str] = set()
    for out in graph.output:
        dq = made_by.get(out.name)
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q = made_by.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear" or len(users.get(q.output[0], [])) != 1:
            continue
        source = q.input[0]
        producer = made_by.get(source)
        if producer is None or len(users.get(source, [])) != 1 or source in {o.name for o in graph.output}:
            continue
        producer.output[list(producer.output).index(source)] = out.name
        params.update(list(q.input[1:]) + list(dq.input[1:]))
        graph.node.remove(q)
        graph.node.remove(dq)
        changed += 1
    if changed:  # the removed pairs' scale / zero-point initializers (ORT warns about each unused one)
        used = {name for node in graph.node for name in node.input}
        kept = [t for t in graph.initializer if t.name in used or t.name not in params]
        del graph.initializer[:]
        graph.initializer.extend(kept)
    return changed
