"""Export a model to ONNX with its SE/CBAM blocks folded into edgeattn:: custom-domain nodes.

Each attention block becomes one node (SqueezeExcite / ChannelAttention / SpatialAttention)
named after its PyTorch module path and defined by an ONNX local function, so ONNX Runtime and
TensorRT's parser run it with no plugin. Opset 18+ uses the dynamo exporter; --opset 17 (for
TensorRT 8.5/8.6 on JetPack 5.1/6.0) uses the legacy exporter. The result is simplified,
checked with onnx.checker and on ONNX Runtime against PyTorch, and written with provenance
metadata and a <model>.onnx.json sidecar.

--input-size C,H,W overrides the model's sample size; --batch-size N is the batch traced (and,
with --static-batch, the one the artifact is fixed at).

\b
Example: edgeattn export timm:seresnet50 -o seresnet50.onnx
"""

from typing import List, Optional

import typer
from typing_extensions import Annotated

from ._errors import echo_json
from ._options import (
    CheckpointOpt,
    Fold,
    FoldOpt,
    InputLayout,
    InputSize,
    InputSizeOpt,
    JsonOpt,
    ModelArg,
    NoCheckOpt,
    NonStrictOpt,
    OptimizeFor,
    OptimizeForOpt,
    OutputOpt,
    UsageError,
    UnsafePickleOpt,
    batch_size_option,
    max_batch_option,
    value,
)


def command(
    model: ModelArg,
    output: OutputOpt,
    checkpoint: CheckpointOpt = None,
    input_size: InputSizeOpt = None,
    batch_size: Annotated[int, batch_size_option()] = 1,
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch/--static-batch", help="Dynamic batch axis (1..--max-batch), or fixed at --batch-size.")
    ] = True,
    max_batch: Annotated[int, max_batch_option(True)] = 32,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset: 18+ dynamo exporter, 17 legacy (TensorRT 8.5/8.6).")] = 18,
    fold: FoldOpt = Fold.functions,
    optimize_for: OptimizeForOpt = OptimizeFor.any,
    no_simplify: Annotated[bool, typer.Option("--no-simplify", help="Skip onnxsim.")] = False,
    no_check: NoCheckOpt = False,
    bake_preprocessing: Annotated[
        bool,
        typer.Option(
            "--bake-preprocessing",
            help="The ONNX takes uint8 pixels and scales and normalises them itself (the recorded recipe then only resizes and crops).",
        ),
    ] = False,
    input_layout: Annotated[
        InputLayout,
        typer.Option("--input-layout", help="Layout of the uint8 input with --bake-preprocessing: nchw or nhwc (channels last, as images are stored)."),
    ] = InputLayout.nchw,
    unsafe_pickle: UnsafePickleOpt = False,
    non_strict: NonStrictOpt = False,
    json_output: JsonOpt = False,
) -> None:
    from rich.console import Console
    from rich.markup import escape

    from .._lazy import require

    shape = _input_shape(input_size, batch_size)  # a usage error before the heavy imports
    for module in ("torch", "onnx_ir", "onnxscript"):
        require(module, "export")
    from ..exporter import export
    from ._errors import print_warning

    err = Console(stderr=True, soft_wrap=True)  # a long "wrote ..." line stays one line in logs

    with err.status("exporting", spinner="dots") as status:

        def on_stage(stage: str, detail: str) -> None:
            status.update(f"[bold]{stage}[/bold]: {escape(detail)}")
            if not json_output:
                err.print(f"[dim]{stage:>8}[/dim]  {escape(detail)}", highlight=False)

        result = export(
            model,
            output,
            checkpoint=checkpoint,
            input_shape=shape,
            dynamic_batch=dynamic_batch,
            max_batch=max_batch,
            opset=opset,
            fold=value(fold),
            optimize_for=value(optimize_for),
            simplify=not no_simplify,
            unsafe_pickle=unsafe_pickle,
            strict=not non_strict,
            check=not no_check,
            bake_preprocessing=bake_preprocessing,
            input_layout=value(input_layout),
            on_stage=on_stage,
        )

    report = result.fold
    for warning in result.warnings:
        print_warning(escape(warning))
    if json_output:
        echo_json(result.to_dict())
        return
    # Plain text from here on: block variants print as "[relu_hardsigmoid]", which rich would
    # otherwise take for a style tag and drop.
    err.print(report.summary(), markup=False)
    for block in report.blocks:
        variant = "" if block.variant in ("relu_sigmoid", "sigmoid") else f" [{block.variant}]"
        err.print(f"  {block.op_type:<17} {block.name}{variant}", markup=False)
    diff = "" if result.max_abs_diff is None else f", max |ORT - PyTorch| {result.max_abs_diff:.2e}"
    err.print(
        f"wrote {result.path} (opset {result.opset}, {result.exporter} exporter, "
        f"{result.size_bytes / 1e6:.1f} MB{diff}) and {result.sidecar.name}",
        markup=False,
    )


def _input_shape(input_size: Optional[InputSize], batch_size: int) -> Optional[List[int]]:
    """N,C,H,W for the exporter; None: batch 1 at the model's own input size."""
    if input_size is None:
        if batch_size != 1:
            # The model's own size is known only once it is loaded, inside the exporter.
            raise UsageError(f"--batch-size {batch_size}: received no --input-size, expected C,H,W with it")
        return None
    return [batch_size, *input_size]
