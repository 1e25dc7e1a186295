"""Fold the SE/CBAM blocks of an ONNX model from another exporter into edgeattn:: nodes.

For an ONNX file that did not come from `edgeattn export` (Paddle2ONNX, tf2onnx, another
torch.onnx setting): the same folding rules (1x1-conv, Gemm or MatMul FCs; GlobalAveragePool or
ReduceMean; Sigmoid, HardSigmoid (any slope in SE blocks) or relu6(z+3)/6 gates; opset 11 and newer, kept as it is),
then a check on ONNX Runtime that the folded graph gives the source's outputs. Blocks that were
not folded are listed with the reason. The output records that `edgeattn fold` made it and the
sha256 of the source; quantize then keeps the folded gates in FP32, and `edgeattn validate
folded.onnx --reference model.onnx` compares it with the source. Needs no PyTorch.

\b
Example: edgeattn fold paddle_mobilenetv3.onnx -o folded.onnx
"""

from pathlib import Path
from typing import Optional

import typer
from typing_extensions import Annotated

from ._errors import echo_json
from ._options import Fold, FoldOpt, JsonOpt, NoCheckOpt, OptimizeFor, OptimizeForOpt, OutputOpt, value


def command(
    model: Annotated[Path, typer.Argument(help="FP32 ONNX model from any exporter.", show_default=False, metavar="ONNX")],
    output: OutputOpt,
    fold: FoldOpt = Fold.functions,
    optimize_for: OptimizeForOpt = OptimizeFor.any,
    convert_opset: Annotated[
        Optional[int],
        typer.Option(
            "--convert-opset",
            help="Convert the model to this ONNX opset (onnx.version_converter) before folding; FP16 needs 15+.",
            show_default="the model's own",
        ),
    ] = None,
    no_check: NoCheckOpt = False,
    json_output: JsonOpt = False,
) -> None:
    from rich.markup import escape

    from .._lazy import require

    for module in ("onnx_ir", "onnxscript"):
        require(module, "fold", extra="fold")
    from ..exporter.fold import fold_onnx
    from ._errors import print_warning, report_console

    result = fold_onnx(
        model, output, mode=value(fold), optimize_for=value(optimize_for), convert_opset=convert_opset, check=not no_check
    )
    report = result.fold
    for warning in result.warnings:
        print_warning(escape(warning))
    if json_output:
        echo_json(result.to_dict())
        return
    console = report_console()
    # Plain text (markup=False): variants print as "[relu_hardsigmoid]", which rich would take for a tag.
    console.print(report.summary(), markup=False)
    for block in report.blocks:
        variant = "" if block.variant in ("relu_sigmoid", "sigmoid") else f" [{block.variant}]"
        console.print(f"  {block.op_type:<17} {block.name}{variant}", markup=False)
    silu = [r for r in report.refusals if r.reasons and all("SiLU/Swish" in why for why in r.reasons.values())]
    for refusal in report.refusals:
        if refusal in silu:
            continue
        by_reason: dict = {}
        for rule, why in refusal.reasons.items():  # one line per reason, not per rule that gave it
            by_reason.setdefault(why, []).append(rule.replace("Rule", ""))
        reasons = "; ".join(why if len(by_reason) == 1 else f"{why} ({', '.join(rules)})" for why, rules in by_reason.items())
        console.print(f"  not folded: {refusal.node or '(unnamed Mul)'}: {reasons}", markup=False)
    if silu:  # activations, listed in --json; one line here instead of one per layer
        console.print(f"  {len(silu)} x * sigmoid(x) product(s) (SiLU / hard-swish activations, not gates) left as they are",
                      markup=False)
    diff = "" if result.max_abs_diff is None else f", max |folded - source| {result.max_abs_diff:.2e} on ONNX Runtime"
    console.print(f"wrote {result.path} (opset {result.opset}{diff}) and {result.sidecar.name}", markup=False)
