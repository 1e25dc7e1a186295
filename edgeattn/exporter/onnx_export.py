"""PyTorch -> ONNX: export, fold attention, simplify, check, write with provenance.

Stages (each reported to ``on_stage``): load model -> torch.onnx.export -> fold -> simplify ->
check (onnx.checker + ONNX Runtime, compared with the PyTorch output) -> write (atomic).

Exporter choice: opset >= 18 uses the dynamo exporter (``torch.onnx.export(dynamo=True)``); an
older opset (17 for TensorRT 8.5/8.6 on JetPack 5.1/6.0) uses the legacy TorchScript exporter,
because the dynamo exporter silently stays at 18 when asked for less. The opset actually
written is verified either way.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import logging
import os
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ExportError, InputError
from .fold import FOLD_MODES, FoldReport

if TYPE_CHECKING:
    import numpy as np
    import onnx_ir as ir
    from torch import nn

    from ..models import LoadedModel

MIN_OPSET = 14  # HardSwish / the canonical bodies need 14
DYNAMO_MIN_OPSET = 18
EXPORT_REFERENCE_SAMPLES = 8  # inputs in the reference set written beside the artifact
DEFAULT_INPUT_NAMES = ("input",)
DEFAULT_OUTPUT_NAME = "logits"

StageCallback = Callable[[str, str], None]  # (stage, detail)


@dataclass
class ExportResult:
    """What ``export`` wrote and what it checked."""

    path: Path
    sidecar: Path
    exporter: str
    opset: int
    ir_version: int
    input_names: list[str]
    output_names: list[str]
    input_shape: list[int]
    dynamic_batch: bool
    max_batch: int
    fold: FoldReport
    simplified: bool
    provenance: dict[str, Any]
    blocks: list[dict[str, str]]
    probes: list[dict[str, str]]
    max_abs_diff: float | None = None
    sha256: str = ""
    size_bytes: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": os.fspath(self.path),
            "sidecar": os.fspath(self.sidecar),
            "exporter": self.exporter,
            "opset": self.opset,
            "ir_version": self.ir_version,
            "inputs": self.input_names,
            "outputs": self.output_names,
            "input_shape": self.input_shape,
            "dynamic_batch": self.dynamic_batch,
            "max_batch": self.max_batch,
            "simplified": self.simplified,
            "max_abs_diff_vs_torch": self.max_abs_diff,
            "sha256": self.sha256,
            "size_bytes": self.size_bytes,
            "stage_seconds": self.stage_seconds,
            "fold": self.fold.to_dict(),
            "blocks": self.blocks,
            "probes": self.probes,
            "provenance": self.provenance,
            "warnings": self.warnings,
        }


def export(
    model_or_source: str | os.PathLike[str] | nn.Module | LoadedModel,
    output: str | os.PathLike[str],
    *,
    checkpoint: str | os.PathLike[str] | None = None,
    input_shape: Sequence[int] | None = None,
    dynamic_batch: bool = True,
    max_batch: int = 32,
    opset: int = 18,
    fold: str = "functions",
    optimize_for: str = "any",
    simplify: bool = True,
    input_names: Sequence[str] | None = None,
    output_names: Sequence[str] | None = None,
    unsafe_pickle: bool = False,
    strict: bool = True,
    prefer_ema: bool = True,
    num_classes: int | None = None,
    check: bool = True,
    rtol: float = 1e-3,
    atol: float = 1e-4,
    bake_preprocessing: bool = False,
    input_layout: str = "nchw",
    on_stage: StageCallback | None = None,
) -> ExportResult:
    """Export a model to ONNX with SE/CBAM blocks folded into ``edgeattn::`` function nodes.

    Args:
        model_or_source: a :class:`edgeattn.models.LoadedModel`, an ``nn.Module`` or any source
            ``edgeattn.models.load_model`` accepts.
        output: the ``.onnx`` file to write; the sidecar goes to ``<output>.json``.
        input_shape: ``(N, C, H, W)``; default ``(1, *LoadedModel.input.input_size)``.
        dynamic_batch: batch axis dynamic (1..``max_batch``) instead of fixed at N.
        opset: 18+ uses the dynamo exporter, 14-17 the legacy one (TensorRT 8.5/8.6: 17).
        fold: ``functions`` (default), ``inline`` or ``none`` (see ``edgeattn.exporter.fold``).
        optimize_for: ``any`` (default, portable bodies) or ``ort-cpu`` (bodies that keep ONNX
            Runtime's blocked CPU layout; same values, see ``fold.functions.OPTIMIZE_FOR``).
        simplify: run onnxsim after folding.
        input_names / output_names: default ``["input"]`` and ``["logits"]`` (``output_<i>``
            when the model returns several tensors).
        check: run the result on ONNX Runtime CPU and compare with PyTorch (``rtol``/``atol``
            scaled by the output's magnitude); a mismatch is an :class:`ExportError`.
        bake_preprocessing: the artifact takes uint8 pixels (``input_layout`` ``nchw`` or
            ``nhwc``) and scales and normalises them itself (:mod:`edgeattn.exporter.bake`);
            the recorded recipe says so, and then only resizes and crops.
        on_stage: called as ``on_stage(stage, detail)`` when each stage starts.
    """
    import onnx_ir as ir

    from .._io import check_outputs, sidecar_path
    from ..data.reference_set import reference_set_path
    from ..models.source_spec import parse_source
    from .metadata import find_probes

    _validate_options(fold, opset, max_batch, input_shape, optimize_for)
    output = _check_output(output)
    source_text = os.fspath(model_or_source) if isinstance(model_or_source, (str, os.PathLike)) else getattr(model_or_source, "source", None)
    source_file = parse_source(source_text).path if source_text else None
    check_outputs([checkpoint, source_file], {"--output": output, "the output's sidecar": sidecar_path(output),
                                              "the output's reference set": reference_set_path(output)})
    notify = on_stage or (lambda stage, detail: None)
    timings: dict[str, float] = {}

    with _timed(timings, "load"):
        notify("load", source_text or type(model_or_source).__name__)
        loaded = _resolve_model(model_or_source, checkpoint, unsafe_pickle, strict, prefer_ema, num_classes)
    traced = _trace(loaded.module, loaded.input, input_shape, dynamic_batch, max_batch, input_names, output_names)
    baked = _recipe_to_bake(loaded.input, traced.shape, input_layout) if bake_preprocessing else None
    exporter = "dynamo" if opset >= DYNAMO_MIN_OPSET else "legacy"
    with _timed(timings, "export"):
        notify("export", f"{exporter} exporter, opset {opset}")
        ir_model = _export_graph(loaded.module, traced, exporter, opset, dynamic_batch, max_batch)
    probes = find_probes(ir_model)
    with _timed(timings, "fold"):
        notify("fold", fold)
        report = _fold(ir_model, fold, traced.expected_blocks, optimize_for, dynamic_batch)
    _strip_bulky_metadata(ir_model)
    proto = ir.to_proto(ir_model)
    simplified = False
    if simplify:
        with _timed(timings, "simplify"):
            notify("simplify", "onnxsim")
            proto, simplified = _simplify(proto, report)
    blocks, probes = _surviving_records(proto, report, probes, fold)
    if baked is not None:
        proto, traced = _bake(proto, loaded.module, traced, baked, input_layout)
    max_abs_diff = None
    if check:
        with _timed(timings, "check"):
            notify("check", "onnx.checker + ONNX Runtime vs PyTorch")
            max_abs_diff = _check(proto, traced, rtol, atol, report)
    shape = traced.shape
    provenance, record = _record(proto, loaded, checkpoint, traced, dynamic_batch, max_batch, exporter, opset, fold,
                                 optimize_for, output, blocks, probes, baked)
    reference = _reference_set(loaded.module, loaded.input, traced, loaded.source)
    with _timed(timings, "write"):
        notify("write", os.fspath(output))
        serialized, sidecar = _write(proto, record, report, output, reference)
    return ExportResult(
        path=output,
        sidecar=sidecar,
        exporter=exporter,
        opset=opset,
        ir_version=proto.ir_version,
        input_names=traced.input_names,
        output_names=traced.output_names,
        input_shape=list(shape),
        dynamic_batch=dynamic_batch,
        max_batch=max_batch if dynamic_batch else shape[0],
        fold=report,
        simplified=simplified,
        provenance=provenance,
        blocks=blocks,
        probes=probes,
        max_abs_diff=max_abs_diff,
        sha256=hashlib.sha256(serialized).hexdigest(),
        size_bytes=len(serialized),
        stage_seconds=timings,
        warnings=list(report.warnings),
    )


@dataclass(frozen=True)
class _Traced:
    """The model run once in PyTorch: the example input, its outputs and the I/O names."""

    shape: list[int]  # the exported N, C, H, W
    example: Any  # torch.Tensor (batch 2 where a dynamic batch of 1 was asked for)
    reference: list[Any]  # PyTorch's outputs, flattened
    input_names: list[str]
    output_names: list[str]
    expected_blocks: Any  # what find_attention_blocks saw in the module
    feed: Any = None  # what the check feeds ONNX Runtime when not the example (baked: uint8 pixels)


# -- stage: check the request --------------------------------------------------------------------


def _check_output(output: str | os.PathLike[str]) -> Path:
    path = Path(output)
    if path.suffix.lower() != ".onnx":
        raise InputError(f"output {os.fspath(path)!r} does not end in .onnx", hint="use e.g. -o model.onnx")
    if path.is_dir():
        raise InputError(f"output {os.fspath(path)!r} is a directory; expected a file path", hint="use e.g. -o model.onnx")
    return path


# -- stage: trace --------------------------------------------------------------------------------


def _trace(
    model: nn.Module,
    config: Any,
    input_shape: Sequence[int] | None,
    dynamic_batch: bool,
    max_batch: int,
    input_names: Sequence[str] | None,
    output_names: Sequence[str] | None,
) -> _Traced:
    """Run the model once on a seeded example: the reference outputs and the I/O names."""
    import torch

    from ..models.attention_scan import find_attention_blocks
    from ..models.footprint import check_forward

    shape = _input_shape(input_shape, config)
    if dynamic_batch and shape[0] > max_batch:
        raise InputError(f"batch {shape[0]} (--batch-size) exceeds --max-batch {max_batch}")
    in_names = list(input_names or DEFAULT_INPUT_NAMES)
    if len(in_names) != 1:
        raise InputError(f"expected one input name (models take one image tensor), got {in_names}")
    expected_blocks = find_attention_blocks(model)

    # torch.export specialises a dim whose example size is 1; a batch of 2 keeps it symbolic.
    example_shape = [2, *shape[1:]] if dynamic_batch and shape[0] == 1 else list(shape)
    check_forward(model, example_shape, "export" if example_shape == list(shape) else f"export of {list(shape)} (traced with a batch of 2)")
    example = torch.randn(*example_shape, generator=torch.Generator().manual_seed(0))
    try:
        with torch.no_grad():
            reference = model(example)
    except (RuntimeError, ValueError, TypeError, IndexError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise InputError(
            f"the model does not accept an input of shape {list(shape)}: {first}",
            hint="check --input-size C,H,W against the model (channels, minimum size)",
        ) from None
    ref_outputs = _flatten_outputs(reference)
    out_names = list(output_names or ([DEFAULT_OUTPUT_NAME] if len(ref_outputs) == 1 else [f"output_{i}" for i in range(len(ref_outputs))]))
    if len(out_names) != len(ref_outputs):
        raise InputError(f"{len(out_names)} output names given but the model returns {len(ref_outputs)} tensors")
    return _Traced(shape, example, ref_outputs, in_names, out_names, expected_blocks)


# -- stage: export -------------------------------------------------------------------------------


def _export_graph(
    model: nn.Module, traced: _Traced, exporter: str, opset: int, dynamic_batch: bool, max_batch: int
) -> ir.Model:
    """torch.onnx.export, then the checks that it wrote the opset asked for and one input."""
    in_names, out_names = traced.input_names, traced.output_names
    try:
        ir_model = _torch_export(model, traced.example, exporter, opset, in_names, out_names, dynamic_batch, max_batch)
    except ExportError as exc:
        raise _explain_legacy_dynamic_failure(exc, model, traced.example, opset, in_names, out_names, dynamic_batch) from exc
    written = ir_model.opset_imports.get("", ir_model.opset_imports.get("ai.onnx"))
    if written != opset:
        raise ExportError(
            f"asked for opset {opset} but the {exporter} exporter wrote opset {written}",
            hint="use --opset 17 (legacy exporter) or --opset 18 (dynamo exporter)",
        )
    if len(ir_model.graph.inputs) != 1:
        raise ExportError(
            f"the exported graph has {len(ir_model.graph.inputs)} inputs, expected 1",
            hint="the output must depend on the image tensor through torch ops (no .numpy() or Python-side math)",
        )
    return ir_model


# -- stages: fold, simplify, check ---------------------------------------------------------------


def _fold(ir_model: ir.Model, fold: str, expected_blocks: Any, optimize_for: str, dynamic_batch: bool) -> FoldReport:
    from .fold import fold_attention
    from .fold.functions import OPTIMIZE_FOR

    report = fold_attention(ir_model, fold, expected_blocks, OPTIMIZE_FOR[optimize_for])
    if optimize_for == "ort-cpu" and dynamic_batch and report.counts:
        # ORT folds the gate's Resize scales (Shape(x, start=2)) only when the whole shape is static.
        report.warnings.append(
            "--optimize-for ort-cpu keeps ONNX Runtime's blocked layout only with a static input shape "
            "(--static-batch); with a dynamic batch its attention blocks run slower than the default bodies"
        )
    return report


def _simplify(proto: Any, report: FoldReport) -> tuple[Any, bool]:
    from .simplify import simplify as run_simplify

    proto, simplified = run_simplify(proto)
    if not simplified:
        report.warnings.append("onnxsim could not simplify the graph; the unsimplified graph was kept")
    return proto, simplified


def _surviving_records(
    proto: Any, report: FoldReport, probes: list[dict[str, str]], fold: str
) -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """The block and probe records whose tensors are still in the graph (simplification renames some)."""
    tensor_names = {o for n in proto.graph.node for o in n.output} | {i.name for i in proto.graph.input}
    blocks = [b.metadata_entry() for b in report.blocks]
    if fold != "none":
        lost = [b["name"] for b in blocks if b["input"] not in tensor_names or b["output"] not in tensor_names]
        if lost:
            report.warnings.append(f"block tensors renamed by simplification, not recorded: {lost}")
            blocks = [b for b in blocks if b["name"] not in lost]
    return blocks, [p for p in probes if p["tensor"] in tensor_names]


# -- stage: bake (optional) ----------------------------------------------------------------------


def _bake(proto: Any, model: nn.Module, traced: _Traced, recipe: Any, layout: str) -> tuple[Any, _Traced]:
    """The graph with the recipe's normalisation in front (:mod:`.bake`); the check then feeds
    random pixels, and PyTorch's reference is its output on those pixels normalised."""
    from dataclasses import replace

    import numpy
    import torch

    from .bake import bake_preprocessing, normalise_pixels

    baked = bake_preprocessing(proto, recipe, layout)
    pixels = numpy.random.default_rng(0).integers(0, 256, size=tuple(traced.example.shape), dtype=numpy.uint8)
    with torch.no_grad():
        reference = _flatten_outputs(model(torch.from_numpy(normalise_pixels(pixels, recipe))))
    feed = pixels.transpose(0, 2, 3, 1).copy() if layout == "nhwc" else pixels
    return baked, replace(traced, reference=reference, feed=feed)


def _check(proto: Any, traced: _Traced, rtol: float, atol: float, report: FoldReport) -> float | None:
    """onnx.checker and ONNX Runtime on the example; the largest difference from PyTorch."""
    from .simplify import check as run_check

    feed = traced.feed if traced.feed is not None else traced.example.numpy()
    got = run_check(proto, {traced.input_names[0]: feed})
    if not got:
        return None
    return _compare(traced.reference, [got[n] for n in traced.output_names], rtol, atol, report)


# -- stage: record and write ---------------------------------------------------------------------


def _record(
    proto: Any,
    loaded: LoadedModel,
    checkpoint: Any,
    traced: _Traced,
    dynamic_batch: bool,
    max_batch: int,
    exporter: str,
    opset: int,
    fold: str,
    optimize_for: str,
    output: Path,
    blocks: list[dict[str, str]],
    probes: list[dict[str, str]],
    baked: Any = None,
) -> tuple[dict[str, Any], Any]:
    """Provenance and the artifact record, written into the model's metadata."""
    from ..artifact import ArtifactInfo, InputSpec, provenance_record

    shape = traced.shape
    spec = InputSpec(traced.input_names[0], channels=shape[1], height=shape[2], width=shape[3],
                     dynamic_batch=dynamic_batch, max_batch=max_batch if dynamic_batch else shape[0], batch=shape[0],
                     dtype="uint8" if baked is not None else "float32")
    # The recorded preprocessing is sized to the exported input, never to the model's default size.
    provenance = provenance_record(
        source=loaded.source,
        checkpoint=checkpoint,
        input=spec,
        output_names=traced.output_names,
        preprocessing=baked if baked is not None else loaded.input,
        exporter=exporter,
        opset=opset,
        fold=fold,
        optimize_for=optimize_for,
        artifact=output,
    )
    record = ArtifactInfo(provenance=provenance, blocks=blocks, probes=probes)
    record.write_metadata(proto)
    proto.producer_name = "edgeattn"
    return provenance, record


def _reference_set(model: nn.Module, recipe: Any, traced: _Traced, source: str | None) -> Any:
    """A few inputs and PyTorch's outputs for them, written beside the artifact: ``validate`` (of
    this ONNX, or of an engine built from it, which takes the set along) compares with PyTorch
    where PyTorch is not installed. The inputs are synthetic images, uniform random pixels through
    the model's recipe (random normal values when it has none): no dataset is at hand here."""
    import numpy
    import torch

    from ..data.reference_set import ReferenceSet

    count = EXPORT_REFERENCE_SAMPLES
    rng = numpy.random.default_rng(0)
    size = tuple(traced.shape[1:])
    if recipe is not None:
        multiplier, offset = recipe.with_input_size(size).pixel_affine()
        pixels = rng.integers(0, 256, size=(count, *size)).astype(numpy.float32)
        inputs = (pixels * multiplier + offset).astype(numpy.float32)
        described = "synthetic images: uniform random pixels through the model's preprocessing"
    else:
        inputs = rng.standard_normal((count, *size), dtype=numpy.float32)
        described = "synthetic inputs: standard normal values (the model records no preprocessing)"
    with torch.no_grad():
        outputs = _flatten_outputs(model(torch.from_numpy(inputs)))
    return ReferenceSet(
        inputs=inputs,
        outputs={name: out.detach().cpu().numpy() for name, out in zip(traced.output_names, outputs)},
        meta={"producer": f"PyTorch ({source or type(model).__name__}) at export", "inputs": described},
    )


def _write(proto: Any, record: Any, report: FoldReport, output: Path, reference: Any = None) -> tuple[bytes, Path]:
    """The model, its sidecar and its reference set land together or not at all; returns the bytes
    written and the sidecar."""
    from .._io import atomic_outputs, sidecar_path
    from ..data.reference_set import reference_set_path

    serialized = proto.SerializeToString()  # what onnx.save_model writes; hashed without re-reading
    with atomic_outputs() as outputs:
        outputs.write_bytes(output, serialized)
        sidecar = outputs.write_json(sidecar_path(output), {**record.sidecar(), "fold": report.to_dict()})
        if reference is not None:
            outputs.write_bytes(reference_set_path(output), reference.to_bytes())
    return serialized, sidecar


# ------------------------------------------------------------------------------------ helpers
def _recipe_to_bake(config: Any, shape: Sequence[int], layout: str) -> Any:
    """The model's recipe, sized to the export and marked as done in the graph (``in_graph``)."""
    from dataclasses import replace

    from ..artifact import LAYOUTS

    if layout not in LAYOUTS:
        raise InputError(f"--input-layout: received {layout!r}, expected one of {', '.join(LAYOUTS)}")
    if config is None:
        raise InputError(
            "--bake-preprocessing: the model records no preprocessing (mean, std, scale) to put in the graph",
            hint="give the model a pretrained_cfg / input config, or export without --bake-preprocessing",
        )
    return replace(config.with_input_size(shape[1:]), in_graph=layout)


def _validate_options(fold: str, opset: int, max_batch: int, input_shape: Sequence[int] | None, optimize_for: str) -> None:
    import onnx

    from .fold.functions import OPTIMIZE_FOR

    if fold not in FOLD_MODES:
        raise InputError(f"--fold {fold!r} is not one of {', '.join(FOLD_MODES)}")
    newest = onnx.defs.onnx_opset_version()
    if not MIN_OPSET <= opset <= newest:
        raise InputError(
            f"opset {opset} is outside {MIN_OPSET}..{newest}",
            hint="17 for TensorRT 8.5/8.6 (JetPack 5.1/6.0), 18 otherwise",
        )
    if max_batch < 1:
        raise InputError(f"--max-batch must be >= 1, got {max_batch}")
    if input_shape is not None and (len(input_shape) != 4 or any(int(d) < 1 for d in input_shape)):
        raise InputError(f"input shape must be 4 positive ints N,C,H,W, got {list(input_shape)}")
    if optimize_for not in OPTIMIZE_FOR:
        raise InputError(f"optimize for: received {optimize_for!r}, expected one of {', '.join(OPTIMIZE_FOR)}")


def _resolve_model(
    model_or_source: Any, checkpoint: Any, unsafe_pickle: bool, strict: bool, prefer_ema: bool, num_classes: int | None
) -> LoadedModel:
    from ..models import load_model

    return load_model(
        model_or_source,
        checkpoint,
        unsafe_pickle=unsafe_pickle,
        strict=strict,
        prefer_ema=prefer_ema,
        num_classes=num_classes,
    )


def _input_shape(input_shape: Sequence[int] | None, config: Any) -> list[int]:
    if input_shape is not None:
        return [int(d) for d in input_shape]
    if config is None:
        raise InputError("the model has no known input size", hint="pass --input-size C,H,W")
    return [1, *[int(d) for d in config.input_size]]


def _flatten_outputs(out: Any) -> list[Any]:
    import torch

    if isinstance(out, torch.Tensor):
        return [out]
    if isinstance(out, (list, tuple)):
        return [t for o in out for t in _flatten_outputs(o)]
    if isinstance(out, dict):
        return [t for o in out.values() for t in _flatten_outputs(o)]
    raise ExportError(f"the model returned {type(out).__name__}; expected tensors")


@contextlib.contextmanager
def _quiet(sink: io.StringIO) -> Iterator[io.StringIO]:
    """Route the exporters' prints, warnings and logs into ``sink`` (printed on failure with
    ``EDGEATTN_DEBUG=1``): they are pages of tracer chatter a user cannot act on."""
    loggers = [logging.getLogger(n) for n in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript", "torch.fx")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink):
            warnings.simplefilter("ignore")
            yield sink
    finally:
        for lg, level in zip(loggers, levels):
            lg.setLevel(level)


def _torch_export(
    model: nn.Module,
    example: Any,
    exporter: str,
    opset: int,
    input_names: list[str],
    output_names: list[str],
    dynamic_batch: bool,
    max_batch: int,
) -> ir.Model:
    import torch

    log = io.StringIO()
    try:
        with _quiet(log), torch.no_grad():
            if exporter == "dynamo":
                return _dynamo_export(model, example, opset, input_names, output_names, dynamic_batch, max_batch)
            return _legacy_export(model, example, opset, input_names, output_names, dynamic_batch)
    except Exception as exc:  # noqa: BLE001 - the exporters raise anything
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        other = "--opset 17 (legacy exporter)" if exporter == "dynamo" else "--opset 18 (dynamo exporter)"
        if os.environ.get("EDGEATTN_DEBUG"):
            sys.stderr.write(log.getvalue())
        raise ExportError(
            f"torch.onnx.export ({exporter}, opset {opset}) failed: {type(exc).__name__}: {first}",
            hint=f"try {other}, or --static-batch if the error is about the batch dimension "
            "(EDGEATTN_DEBUG=1 prints the exporter's log)",
        ) from exc


def _dynamo_export(
    model: nn.Module, example: Any, opset: int, input_names: list[str], output_names: list[str], dynamic_batch: bool,
    max_batch: int,
) -> ir.Model:
    import torch

    kwargs: dict[str, Any] = {}
    if dynamic_batch:
        kwargs["dynamic_shapes"] = ({0: torch.export.Dim("batch", min=1, max=max_batch)},)
    program = torch.onnx.export(
        model,
        (example,),
        dynamo=True,
        opset_version=opset,
        input_names=input_names,
        output_names=output_names,
        optimize=True,
        verbose=False,
        **kwargs,
    )
    if program is None:  # typed Optional: None only when it writes a file, not asked for here
        raise ExportError("torch.onnx.export (dynamo) returned no program")
    return program.model


def _legacy_export(
    model: nn.Module, example: Any, opset: int, input_names: list[str], output_names: list[str], dynamic_batch: bool
) -> ir.Model:
    import onnx
    import onnx_ir as ir
    import torch

    buffer = io.BytesIO()
    axes = {name: {0: "batch"} for name in [*input_names, *output_names]} if dynamic_batch else None
    torch.onnx.export(
        model,
        (example,),
        buffer,  # type: ignore[arg-type]  # the legacy exporter writes to a file object too
        dynamo=False,
        opset_version=opset,
        input_names=input_names,
        output_names=output_names,
        dynamic_axes=axes,
        do_constant_folding=True,
    )
    # The legacy exporter writes no value shapes; the folding rules need the static
    # H x W of a feature map to recognise a whole-map AveragePool/MaxPool as global pooling.
    proto = onnx.shape_inference.infer_shapes(onnx.load_model_from_string(buffer.getvalue()))
    return ir.from_proto(proto)


def _explain_legacy_dynamic_failure(
    exc: ExportError,
    model: nn.Module,
    example: Any,
    opset: int,
    input_names: list[str],
    output_names: list[str],
    dynamic_batch: bool,
) -> ExportError:
    """Name the one flag that works when the legacy exporter fails only because the batch is dynamic.

    Code that takes a pooling window from ``x.size()`` (the official CBAM's
    ``F.avg_pool2d(x, (x.size(2), x.size(3)))``) makes the legacy exporter see a computed kernel
    once any axis is dynamic, and it refuses. The same export with a fixed batch is tried once;
    when it works, the error says so instead of leaving the user to guess.
    """
    if opset >= DYNAMO_MIN_OPSET or not dynamic_batch:
        return exc
    try:
        _torch_export(model, example, "legacy", opset, input_names, output_names, False, 0)
    except ExportError:
        return exc
    return ExportError(
        f"{exc.message} (the same export with a fixed batch works)",
        hint=f"at --opset {opset} this model exports only with --static-batch (the legacy exporter cannot "
        "keep the batch dynamic when a kernel size comes from x.size()); --opset 18 keeps it dynamic",
    )


def _strip_bulky_metadata(model: ir.Model) -> None:
    # Stack traces and FX dumps would ship the user's file paths in every artifact; the name
    # scopes stay (they name modules, and the probes/validate use them).
    for node in model.graph:
        for key in ("pkg.torch.onnx.stack_trace", "pkg.torch.onnx.fx_node", "pkg.torch.onnx.class_hierarchy", "namespace"):
            node.metadata_props.pop(key, None)


def _compare(reference: list[Any], got: list[np.ndarray], rtol: float, atol: float, report: FoldReport) -> float:
    """The largest absolute difference between ONNX Runtime's outputs and PyTorch's, or an ExportError.

    :func:`edgeattn.compare.compare_output` (validate's comparison) with ``atol`` scaled by the
    output's magnitude and no cosine floor: the elementwise bound and finiteness decide here.
    """
    import numpy as np

    from ..compare import Tolerance, compare_output

    worst = 0.0
    for i, (ref_t, out) in enumerate(zip(reference, got)):
        ref = ref_t.detach().float().numpy()
        if out.shape != ref.shape:
            raise ExportError(f"ONNX output {i} has shape {list(out.shape)}, PyTorch {list(ref.shape)}")
        scale = max(1.0, float(np.max(np.abs(ref)))) if ref.size else 1.0
        result = compare_output(f"output {i}", ref, out, Tolerance(atol=atol * scale, rtol=rtol, min_cosine=-1.0))
        worst = max(worst, result.max_abs)
        if not result.passed:
            raise ExportError(
                f"ONNX Runtime output {i} differs from PyTorch by up to {result.max_abs:.3g} (rtol {rtol}, atol {atol * scale:.3g})",
                hint=f"retry with --fold none to see whether folding ({report.mode}) caused it, and report the model",
            )
    return worst


@contextlib.contextmanager
def _timed(timings: dict[str, float], stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        timings[stage] = round(time.perf_counter() - start, 3)
