"""Convert an exported ONNX model to FP16 or INT8 (explicit Q/DQ) under an attention-aware policy.

By default the SE/CBAM gate path (pooling, excitation MLP, sigmoid, scaling multiply; CBAM's
spatial conv) stays in FP32, which keeps INT8 accuracy; --quantize-attention puts it in low
precision too. INT8 calibrates on --calibration (an image folder preprocessed like the model's
training data, or a .npy/.npz of preprocessed [N,C,H,W] inputs); without it, on synthetic noise
with a warning. Prints which nodes run in which precision and why.

\b
Example:
  edgeattn quantize m.onnx -p int8 --calibration images/ -o m_int8.onnx
"""

from enum import Enum
from pathlib import Path
from typing import Any, List, Optional

import typer
from typing_extensions import Annotated

from ..errors import InputError
from ._errors import echo_json
from ._options import (
    CalibrationMethod,
    JsonOpt,
    OutputOpt,
    Precision,
    QuantizeTarget,
    low_precision_only,
    precision_option,
    value,
)


# -- the flags (Typer reads them from the annotations of `command`) ---------------------------

ModelArg = Annotated[Path, typer.Argument(help="FP32 ONNX model (from `edgeattn export`).", show_default=False, metavar="ONNX")]

PrecisionOpt = Annotated[Precision, precision_option(True, callback=low_precision_only)]

CalibrationOpt = Annotated[
    Optional[Path],
    typer.Option(
        "--calibration",
        help="INT8 calibration data: image folder, .npy or .npz. Omitted: synthetic data (accuracy unknown).",
        show_default=False,
    ),
]

CalibrationMethodOpt = Annotated[
    CalibrationMethod, typer.Option("--calibration-method", help="How activation ranges are chosen from the calibration data.")
]

NumCalibrationOpt = Annotated[
    int, typer.Option("--num-calibration", min=1, help="Calibration samples to use (spread over the set).")
]

TargetOpt = Annotated[
    QuantizeTarget, typer.Option("--target", help="ort-cpu (U8 activations) or tensorrt (S8 symmetric, zero-point 0).")
]

QuantizeAttentionOpt = Annotated[
    bool,
    typer.Option("--quantize-attention", help="Put the whole SE/CBAM gate path into INT8 (gates into FP16): --attention-policy int8."),
]


class AttentionMode(str, Enum):
    fp32 = "fp32"
    gate = "gate"
    int8 = "int8"


AttentionOpt = Annotated[
    Optional[AttentionMode],
    typer.Option(
        "--attention-policy",
        help="What of each SE/CBAM gate path stays FP32: fp32 (all of it), gate (the sigmoid and the scaling "
        "multiply; the INT8 default), int8 (nothing). FP16: fp32 (default) or int8.",
        show_default=False,
    ),
]

ExcludeNodesOpt = Annotated[
    Optional[List[str]],
    typer.Option("--exclude-nodes", help="Regex of node names to keep in FP32 (repeatable).", show_default=False),
]

ExcludeOpTypesOpt = Annotated[
    Optional[List[str]],
    typer.Option("--exclude-op-types", help="Op type to keep in FP32 (repeatable).", show_default=False),
]

KeepIoTypesOpt = Annotated[
    bool, typer.Option("--keep-io-types/--no-keep-io-types", help="FP16: keep FP32 inputs and outputs.")
]

ReduceRangeOpt = Annotated[
    Optional[bool],
    typer.Option(
        "--reduce-range/--no-reduce-range",
        help="INT8 7-bit weights (default: on for ort-cpu, avoids int16 saturation on CPUs without VNNI; "
        "off for tensorrt).",
        show_default=False,
    ),
]

NoCacheOpt = Annotated[bool, typer.Option("--no-cache", help="Recalibrate even when cached ranges exist.")]

KeepFp32Opt = Annotated[
    Optional[List[str]],
    typer.Option(
        "--keep-fp32",
        help="Attention block or conv stage (a unit name from --sensitivity), or a node-name regex, kept in "
        "FP32 (repeatable).",
        show_default=False,
    ),
]

SensitivityOpt = Annotated[
    bool,
    typer.Option(
        "--sensitivity",
        help="Instead of converting: quantize each attention block and conv stage alone, rank them by the "
        "output error on the calibration data; writes OUTPUT without suffix + .sensitivity.{json,md,png}.",
    ),
]


def command(
    model: ModelArg,
    output: OutputOpt,
    precision: PrecisionOpt = Precision.int8,
    calibration: CalibrationOpt = None,
    calibration_method: CalibrationMethodOpt = CalibrationMethod.minmax,
    num_calibration: NumCalibrationOpt = 256,
    target: TargetOpt = QuantizeTarget.ort_cpu,
    quantize_attention: QuantizeAttentionOpt = False,
    attention: AttentionOpt = None,
    exclude_nodes: ExcludeNodesOpt = None,
    exclude_op_types: ExcludeOpTypesOpt = None,
    keep_io_types: KeepIoTypesOpt = True,
    reduce_range: ReduceRangeOpt = None,
    no_cache: NoCacheOpt = False,
    keep_fp32: KeepFp32Opt = None,
    sensitivity: SensitivityOpt = False,
    json_output: JsonOpt = False,
) -> None:
    import re
    import warnings

    from ..exporter.quantize import quantize
    from ..exporter.quantize.calibration import SYNTHETIC_WARNING

    precision, calibration_method, target = value(precision), value(calibration_method), value(target)
    if sensitivity:
        _sensitivity(model, output, calibration, calibration_method, num_calibration, target, reduce_range, json_output)
        return
    if keep_fp32:
        from ..exporter.quantize.sensitivity import keep_fp32_patterns

        exclude_nodes = [*(exclude_nodes or ()), *keep_fp32_patterns(model, keep_fp32)]

    with warnings.catch_warnings():
        # The API also raises it as a Python warning; here it is one of result.warnings, printed once below.
        warnings.filterwarnings("ignore", message=re.escape(SYNTHETIC_WARNING), category=UserWarning)
        result = quantize(
            model,
            output,
            precision=precision,
            calibration=calibration,
            calibration_method=calibration_method,
            num_calibration=num_calibration,
            target=target,
            quantize_attention=quantize_attention,
            attention=value(attention),
            exclude_nodes=exclude_nodes or (),
            exclude_op_types=exclude_op_types or (),
            keep_io_types=keep_io_types,
            reduce_range=reduce_range,
            use_cache=not no_cache,
            progress=not json_output,
        )
    _print_result(result, json_output)


def _print_result(result: Any, json_output: bool) -> None:
    """The node placement report; with --json, the JSON on stdout and the warnings on stderr."""
    from rich.markup import escape

    from ._errors import print_warning, report_console

    if json_output:
        for warning in result.warnings:
            print_warning(escape(warning))
        echo_json(result.to_dict())
        return
    result.render(report_console())


def _sensitivity(model: Path, output: Path, calibration: Optional[Path], method: str, num_calibration: int,
                 target: str, reduce_range: Optional[bool], json_output: bool) -> None:
    """``--sensitivity``: the ranked per-unit table (JSON, Markdown, PNG) beside OUTPUT."""
    from rich.markup import escape

    from ..exporter.quantize.sensitivity import sensitivity
    from ._errors import report_console

    if calibration is None:
        raise InputError("--sensitivity: received no --calibration; expected the data the errors are measured on")
    base = output.with_suffix("")
    base = base.with_name(base.name + ".sensitivity")
    if model.resolve() in {base.with_name(base.name + s).resolve() for s in (".json", ".md", ".png")}:
        raise InputError(f"--sensitivity: output {base}.* would overwrite the input model; expected another -o")
    report = sensitivity(model, calibration, calibration_method=method, num_calibration=num_calibration,
                         target=target, reduce_range=reduce_range)
    paths = report.write(base)
    if json_output:
        echo_json({**report.to_dict(), "written": {k: str(v) for k, v in paths.items()}})
        return
    console = report_console()
    console.print(escape(report.to_markdown()))
    console.print("wrote " + ", ".join(escape(str(p)) for p in paths.values()))
