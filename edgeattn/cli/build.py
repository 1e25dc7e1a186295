"""Build a TensorRT engine from an ONNX model (needs an NVIDIA GPU and TensorRT).

Precision comes from the ONNX (FP32, the FP16 graph or the INT8 Q/DQ graph of `edgeattn quantize`).
On TensorRT 8.5-10.x the classic builder flags are offered too (--classic-fp16,
--classic-int8-calibration DATA). Writes the engine and a JSON sidecar `<engine>.json` that
records what the engine is tied to (TensorRT version, GPU, platform).

\b
Example:
  edgeattn build m.onnx -o m.engine --max-batch 8 --timing-cache trt.cache

Before parsing, the graph is prepared for the TensorRT found (edgeattn:: blocks inlined with their
module path as node-name prefix; opset 17 for TensorRT 8.x). --emit-onnx PATH --for-tensorrt X.Y
writes that graph instead of building, without TensorRT installed.
"""

from pathlib import Path
from typing import Any, Optional

import typer
from typing_extensions import Annotated

from ..errors import InputError
from ._errors import echo_json
from ._options import HardwareCompatibility, JsonOpt, Precision, max_batch_option, output_option, precision_option, value

SHAPES_HELP = "(trtexec's form; several comma-separated)"


def _check_shapes(spec: Optional[str]) -> Optional[str]:
    """A callback that refuses a shape spec that does not parse as a usage error (exit 2)."""
    from ..tensorrt.profiles import parse_shape_spec

    try:
        parse_shape_spec(spec)
    except InputError as exc:
        raise typer.BadParameter(exc.message) from None
    return spec


# -- the flags (Typer reads them from the annotations of `command`) ---------------------------

OnnxPathArg = Annotated[Path, typer.Argument(help="ONNX model to build (from edgeattn export/quantize).", show_default=False, metavar="ONNX")]

PrecisionOpt = Annotated[Optional[Precision], precision_option("detected from the ONNX")]

ClassicFp16Opt = Annotated[
    bool, typer.Option("--classic-fp16", help="TensorRT <= 10.x: let the builder pick FP16 kernels (BuilderFlag.FP16).")
]

ClassicInt8CalibrationOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--classic-int8-calibration",
        help="TensorRT <= 10.x: implicit INT8 with an entropy calibrator fed from this .npy/.npz/image folder.",
        show_default=False,
    ),
]

CalibrationCacheOpt = Annotated[
    Optional[Path], typer.Option("--calibration-cache", help="INT8 calibration cache to read/write.", show_default=False)
]

CalibrationBatchSizeOpt = Annotated[
    int, typer.Option("--calibration-batch-size", min=1, help="Samples per batch fed to the INT8 calibrator.")
]

MinBatchOpt = Annotated[
    Optional[int], typer.Option("--min-batch", min=1, help="Smallest batch the engine accepts.", show_default="1")
]

OptBatchOpt = Annotated[
    Optional[int], typer.Option("--opt-batch", min=1, help="Batch the kernels are tuned for.", show_default="--min-batch")
]

ShapesOpt = Annotated[
    Optional[str],
    typer.Option("--shapes", callback=_check_shapes, help=f"Fixed input shapes NAME:1x3x224x224 {SHAPES_HELP}: min = opt = max.", show_default=False),
]

MinShapesOpt = Annotated[
    Optional[str], typer.Option("--min-shapes", callback=_check_shapes, help=f"Smallest input shapes NAME:NxCxHxW {SHAPES_HELP}.", show_default=False)
]

OptShapesOpt = Annotated[
    Optional[str], typer.Option("--opt-shapes", callback=_check_shapes, help=f"Input shapes the kernels are tuned for {SHAPES_HELP}.", show_default=False)
]

MaxShapesOpt = Annotated[
    Optional[str], typer.Option("--max-shapes", callback=_check_shapes, help=f"Largest input shapes NAME:NxCxHxW {SHAPES_HELP}.", show_default=False)
]

WorkspaceOpt = Annotated[
    Optional[str], typer.Option("--workspace", help="Builder workspace limit, e.g. 2G.", show_default=False)
]

OptLevelOpt = Annotated[
    Optional[int], typer.Option("--opt-level", min=0, max=5, help="Builder optimization level 0-5 (TensorRT >= 8.6).", show_default="3")
]

TimingCacheOpt = Annotated[
    Optional[Path], typer.Option("--timing-cache", help="Timing cache to reuse and update.", show_default=False)
]

IgnoreTimingCacheMismatchOpt = Annotated[
    bool,
    typer.Option(
        "--ignore-timing-cache-mismatch",
        help="Use a timing cache written by another TensorRT version or GPU (TensorRT refuses it otherwise).",
    ),
]

DlaCoreOpt = Annotated[
    Optional[int], typer.Option("--dla-core", min=0, help="Jetson: place layers on this DLA core.", show_default=False)
]

NoGpuFallbackOpt = Annotated[bool, typer.Option("--no-gpu-fallback", help="With --dla-core: fail instead of falling back to the GPU.")]

HardwareCompatibilityOpt = Annotated[
    HardwareCompatibility,
    typer.Option("--hardware-compatibility", help="GPUs the engine may run on besides the one it is built on (TensorRT >= 8.6)."),
]

VersionCompatibleOpt = Annotated[bool, typer.Option("--version-compatible", help="Engine loadable by newer TensorRT (8.6+).")]

ExcludeLeanRuntimeOpt = Annotated[
    bool,
    typer.Option(
        "--exclude-lean-runtime",
        help="With --version-compatible: leave the lean runtime out of the plan (smaller; the runtime must provide it).",
    ),
]

NoStronglyTypedOpt = Annotated[
    bool, typer.Option("--no-strongly-typed", help="TensorRT 10.x: weakly typed network (flags decide precision).")
]

Tf32Opt = Annotated[
    bool,
    typer.Option("--tf32", help="Allow TF32 for FP32 layers (Ampere+; faster, ~1e-3 relative error; validate loosens FP32 tolerances)."),
]

ContextsOpt = Annotated[
    int,
    typer.Option("--contexts", min=1, help="TensorRT 8.5: concurrent execution contexts to allow (one profile each)."),
]

EmitOnnxOpt = Annotated[
    Optional[Path],
    typer.Option("--emit-onnx", help="Write the graph as TensorRT's parser would get it; build nothing.", show_default=False),
]

ForTensorrtOpt = Annotated[
    Optional[str],
    typer.Option("--for-tensorrt", help="With --emit-onnx: TensorRT version X.Y to prepare for.", show_default="the installed one"),
]

VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Print TensorRT's log.")]


def command(
    onnx_path: OnnxPathArg,
    output: Annotated[Optional[Path], output_option("MODEL.engine")] = None,
    precision: PrecisionOpt = None,
    classic_fp16: ClassicFp16Opt = False,
    classic_int8_calibration: ClassicInt8CalibrationOpt = None,
    calibration_cache: CalibrationCacheOpt = None,
    calibration_batch_size: CalibrationBatchSizeOpt = 8,
    min_batch: MinBatchOpt = None,
    opt_batch: OptBatchOpt = None,
    max_batch: Annotated[Optional[int], max_batch_option("32")] = None,
    shapes: ShapesOpt = None,
    min_shapes: MinShapesOpt = None,
    opt_shapes: OptShapesOpt = None,
    max_shapes: MaxShapesOpt = None,
    workspace: WorkspaceOpt = None,
    opt_level: OptLevelOpt = None,
    timing_cache: TimingCacheOpt = None,
    ignore_timing_cache_mismatch: IgnoreTimingCacheMismatchOpt = False,
    dla_core: DlaCoreOpt = None,
    no_gpu_fallback: NoGpuFallbackOpt = False,
    hardware_compatibility: HardwareCompatibilityOpt = HardwareCompatibility.none,
    version_compatible: VersionCompatibleOpt = False,
    exclude_lean_runtime: ExcludeLeanRuntimeOpt = False,
    no_strongly_typed: NoStronglyTypedOpt = False,
    tf32: Tf32Opt = False,
    contexts: ContextsOpt = 1,
    emit_onnx: EmitOnnxOpt = None,
    for_tensorrt: ForTensorrtOpt = None,
    verbose: VerboseOpt = False,
    as_json: JsonOpt = False,
) -> None:
    from ..tensorrt import BuildOptions, build
    from ..tensorrt.profiles import parse_shape_spec

    if emit_onnx is not None:
        _emit(onnx_path, emit_onnx, for_tensorrt, as_json)
        return

    fixed = parse_shape_spec(shapes)
    options = BuildOptions(
        precision=value(precision),
        classic_fp16=classic_fp16,
        classic_int8_calibration=str(classic_int8_calibration) if classic_int8_calibration else None,
        calibration_cache=str(calibration_cache) if calibration_cache else None,
        calibration_batch_size=calibration_batch_size,
        min_batch=min_batch,
        opt_batch=opt_batch,
        max_batch=max_batch,
        min_shapes={**fixed, **parse_shape_spec(min_shapes)},
        opt_shapes={**fixed, **parse_shape_spec(opt_shapes)},
        max_shapes={**fixed, **parse_shape_spec(max_shapes)},
        workspace=workspace,
        builder_optimization_level=opt_level,
        timing_cache=str(timing_cache) if timing_cache else None,
        ignore_timing_cache_mismatch=ignore_timing_cache_mismatch,
        dla_core=dla_core,
        gpu_fallback=not no_gpu_fallback,
        hardware_compatibility=value(hardware_compatibility),
        version_compatible=version_compatible,
        exclude_lean_runtime=exclude_lean_runtime,
        strongly_typed=not no_strongly_typed,
        tf32=tf32,
        contexts=contexts,
        verbose=verbose,
    )
    if verbose:
        import logging

        logging.basicConfig(level=logging.DEBUG, format="%(message)s")
    result = build(onnx_path, output or onnx_path.with_suffix(".engine"), options=options)
    _print_result(result, as_json)


def _print_result(result: Any, as_json: bool) -> None:
    """The engine, its sidecar, precision, profiles, timing cache; warnings on stderr."""
    if as_json:
        echo_json(result.to_dict())
        return
    typer.echo(f"engine    {result.engine_path}  (TensorRT {result.tensorrt_version}, {result.build_seconds:.1f} s)")
    typer.echo(f"sidecar   {result.sidecar_path}")
    typer.echo(f"precision {result.precision} ({result.precision_path})")
    for p in result.profiles:
        typer.echo(f"profile   {p.describe()}")
    if result.timing_cache_path:
        typer.echo(f"timing    {result.timing_cache_path} ({result.timing_cache_status})")
    for w in result.warnings:
        typer.echo(f"warning   {w}", err=True)


def _emit(onnx_path: Path, output: Path, for_tensorrt: Optional[str], as_json: bool) -> None:
    """``--emit-onnx``: the prepared graph for ``--for-tensorrt`` (or the installed TensorRT)."""
    from ..tensorrt.prepare import emit_prepared, parse_target, plugin_ops

    plugins: set[str] = set()
    if for_tensorrt is None:
        from ..tensorrt.features import import_tensorrt

        trt = import_tensorrt()
        for_tensorrt, plugins = str(trt.__version__), plugin_ops(trt)
    prep = emit_prepared(onnx_path, output, parse_target(for_tensorrt), plugins=plugins)
    if as_json:
        echo_json({"onnx": str(output), **prep.to_dict()})
        return
    typer.echo(f"wrote     {output}")
    for line in prep.describe():
        typer.echo(f"          {line}")
