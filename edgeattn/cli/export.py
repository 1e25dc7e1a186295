"""Export a model to ONNX with its SE/CBAM blocks folded into edgeattn:: custom-domain nodes.

Each attention block becomes one node (SqueezeExcite / ChannelAttention / SpatialAttention)
named after its PyTorch module path and defined by an ONNX local function, so ONNX Runtime and
TensorRT's parser run it with no plugin. Opset 18+ uses the dynamo exporter; --opset 17 (for
TensorRT 8.5/8.6 on JetPack 5.1/6.0) uses the legacy exporter. The result is simplified,
checked with onnx.checker and on ONNX Runtime against PyTorch, and written with provenance
metadata and a <model>.onnx.json sidecar.

Example: edgeattn export timm:seresnet50 -o seresnet50.onnx
"""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from ._errors import echo_json
from ._options import CheckpointOpt, JsonOpt, ModelArg, NonStrictOpt, OutputOpt, UnsafePickleOpt


def _parse_shape(text: Optional[str]) -> Optional[list[int]]:
    from ..errors import InputError

    if text is None:
        return None
    try:
        dims = [int(p) for p in text.replace("x", ",").split(",") if p.strip()]
    except ValueError:
        raise InputError(f"--input-shape {text!r} is not N,C,H,W integers", hint="e.g. --input-shape 1,3,224,224") from None
    if len(dims) != 4 or any(d < 1 for d in dims):
        raise InputError(f"--input-shape {text!r} is not four positive integers N,C,H,W", hint="e.g. 1,3,224,224")
    return dims


def command(
    model: ModelArg,
    output: OutputOpt,
    checkpoint: CheckpointOpt = None,
    input_shape: Annotated[
        Optional[str],
        typer.Option("--input-shape", help="N,C,H,W (default: 1 and the model's input size).", show_default=False),
    ] = None,
    dynamic_batch: Annotated[
        bool, typer.Option("--dynamic-batch/--static-batch", help="Dynamic batch axis (1..--max-batch).")
    ] = True,
    max_batch: Annotated[int, typer.Option("--max-batch", min=1, help="Largest batch of the dynamic axis.")] = 32,
    opset: Annotated[int, typer.Option("--opset", help="ONNX opset: 18+ dynamo exporter, 17 legacy (TensorRT 8.5/8.6).")] = 18,
    fold: Annotated[
        str,
        typer.Option("--fold", help="functions (edgeattn:: nodes), inline (same canonical ops, no functions), none (raw)."),
    ] = "functions",
    optimize_for: Annotated[
        str,
        typer.Option("--optimize-for", help="any (portable attention bodies) or ort-cpu (bodies that keep ONNX Runtime's blocked CPU layout)."),
    ] = "any",
    no_simplify: Annotated[bool, typer.Option("--no-simplify", help="Skip onnxsim.")] = False,
    no_check: Annotated[bool, typer.Option("--no-check", help="Skip the ONNX Runtime vs PyTorch check.")] = False,
    unsafe_pickle: UnsafePickleOpt = False,
    non_strict: NonStrictOpt = False,
    json_output: JsonOpt = False,
) -> None:
    from rich.console import Console
    from rich.markup import escape

    from .._lazy import require

    for module in ("torch", "onnx_ir", "onnxscript"):
        require(module, "export")
    from ..exporter import export
    from ._errors import print_warning

    err = Console(stderr=True, soft_wrap=True)  # a long "wrote ..." line stays one line in logs
    shape = _parse_shape(input_shape)

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
            fold=fold,
            optimize_for=optimize_for,
            simplify=not no_simplify,
            unsafe_pickle=unsafe_pickle,
            strict=not non_strict,
            check=not no_check,
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
