"""Inspect a model: parameters, GFLOPs, input configuration and the SE/CBAM blocks found.

An ``.onnx`` file is inspected as an artifact instead (no PyTorch needed): see inspect_artifact.

MODEL is any model source: a registry name (se_resnet50), timm:NAME, torchvision:NAME,
path/file.py:factory, package.module:factory or a TorchScript archive. With --checkpoint the
weights are loaded first (safely: --unsafe-pickle only for files you trust), so a checkpoint
that does not fit the model is reported here before any export. --input-size C,H,W sets the
size the FLOPs are counted at.
"""

from typing import Any, Dict, Optional, Tuple

import typer
from typing_extensions import Annotated

from ._errors import echo_json
from ._options import CheckpointOpt, InputSizeOpt, JsonOpt, ModelArg, NoEmaOpt, NonStrictOpt, UnsafePickleOpt

NumClassesOpt = Annotated[
    Optional[int],
    typer.Option("--num-classes", help="Classifier size.", min=1, show_default="the model's, or the checkpoint's"),
]
AllowNonfiniteOpt = Annotated[
    bool, typer.Option("--allow-nonfinite", help="Load a checkpoint with NaN/Inf weights (warns instead of failing).")
]


def inspect_report(
    model_source: str,
    checkpoint: Optional[str] = None,
    *,
    unsafe_pickle: bool = False,
    strict: bool = True,
    prefer_ema: bool = True,
    num_classes: Optional[int] = None,
    allow_nonfinite: bool = False,
    input_size: Optional[Tuple[int, int, int]] = None,
) -> Dict[str, Any]:
    """Everything ``edgeattn inspect`` prints, as a JSON-ready dict."""
    from ..artifact import Preprocessing
    from ..models import find_attention_blocks, load_model, model_profile
    from ..models.attention_scan import attention_type, count_by_kind

    loaded = load_model(
        model_source, checkpoint, unsafe_pickle=unsafe_pickle, strict=strict, prefer_ema=prefer_ema,
        num_classes=num_classes, allow_nonfinite=allow_nonfinite,
    )
    model = loaded.module
    config = loaded.input or Preprocessing()
    size = input_size or config.input_size
    profile = model_profile(model, size)
    blocks = find_attention_blocks(model)
    report = loaded.checkpoint_report
    return {
        "model": model_source,
        "class": f"{type(model).__module__}.{type(model).__qualname__}",
        "params": profile["params"],
        "macs": profile["macs"],
        "gflops": None if profile["gflops"] is None else round(profile["gflops"], 4),
        "gflops_definition": profile["gflops_definition"],
        "input_size": list(size),
        "input_config": config.to_dict(),
        "attention": attention_type(blocks),
        "attention_counts": count_by_kind(blocks),
        "attention_blocks": [b.to_dict() for b in blocks],
        "checkpoint": None if report is None else report.to_dict(),
    }


def command(
    model: ModelArg,
    checkpoint: CheckpointOpt = None,
    json_output: JsonOpt = False,
    unsafe_pickle: UnsafePickleOpt = False,
    non_strict: NonStrictOpt = False,
    no_ema: NoEmaOpt = False,
    num_classes: NumClassesOpt = None,
    input_size: InputSizeOpt = None,
    allow_nonfinite: AllowNonfiniteOpt = False,
) -> None:
    from .inspect_artifact import inspect_artifact, is_artifact, print_artifact

    if is_artifact(model):
        data = inspect_artifact(model)
        if json_output:
            echo_json(data)
        else:
            print_artifact(data)
        return
    size = None if input_size is None else (input_size.channels, input_size.height, input_size.width)
    # EdgeattnWarnings are printed as "Warning: ..." by the CLI's error boundary (_errors.py).
    data = inspect_report(
        model, None if checkpoint is None else str(checkpoint), unsafe_pickle=unsafe_pickle,
        strict=not non_strict, prefer_ema=not no_ema, num_classes=num_classes,
        allow_nonfinite=allow_nonfinite, input_size=size,
    )
    if json_output:
        echo_json(data)
        return
    _print_human(data)


def _print_human(data: Dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from ._errors import report_console

    console = report_console()
    cfg = data["input_config"]
    gflops = "n/a (not traceable)" if data["gflops"] is None else f"{data['gflops']:.3f}"
    console.print(f"[bold]{escape(data['model'])}[/]  ({data['class']})")
    console.print(f"  parameters   {data['params']:,} ({data['params'] / 1e6:.2f}M)")
    console.print(f"  GFLOPs       {gflops} at {'x'.join(map(str, data['input_size']))} (multiply-adds, the papers' GFLOPs convention)")
    console.print(
        f"  input        {'x'.join(map(str, cfg['input_size']))} {cfg['channel_order']}, mean {tuple(cfg['mean'])}, "
        f"std {tuple(cfg['std'])}, {cfg['interpolation']}, crop_pct {cfg['crop_pct']} ({cfg['source']})"
    )
    ck = data["checkpoint"]
    if ck is not None:
        extra = f", converted from {ck['converter']} layout" if ck["converter"] else ""
        fit = "exact fit" if not (ck["missing"] or ck["unexpected"] or ck["mismatched"]) else (
            f"{len(ck['missing'])} missing, {len(ck['unexpected'])} unexpected, {len(ck['mismatched'])} mismatched"
        )
        console.print(f"  checkpoint   {escape(ck['path'])} {escape(ck['container'])}: {ck['loaded']} tensors loaded, {fit}{extra}")
    counts = ", ".join(f"{n} {k}" for k, n in data["attention_counts"].items()) or "none"
    console.print(f"  attention    {data['attention']} ({counts})")
    if data["attention_blocks"]:
        table = Table(show_edge=False, pad_edge=False)
        table.add_column("module path")
        table.add_column("kind")
        table.add_column("class")
        table.add_column("CBAM parent")
        for block in data["attention_blocks"]:
            table.add_row(block["path"], block["kind"], block["module_class"], block["cbam_parent"] or "")
        console.print(table)
