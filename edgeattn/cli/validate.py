"""Check an exported artifact against its PyTorch model: per-output error statistics, exit 1 on failure.

MODEL and CHECKPOINT default to the provenance recorded in the artifact. --reference REF compares
against another artifact instead (e.g. an INT8 model or an engine against the FP32 ONNX it came
from), on ONNX Runtime / TensorRT, with no PyTorch installed, or against recorded outputs
(--reference model_int8.onnx.reference.npz, written by quantize with calibration data). Without
--inputs, that recorded set beside the artifact gives the inputs (and, without torch, the
reference). With neither, inputs are seeded random tensors, on which an INT8 artifact is not
judged (only NaN/Inf fails: random inputs leave the calibrated ranges). --inputs gives real data
(an image folder, flat or one sub-folder per class, .npy or .npz), read in batches with bounded memory, so a whole
data set can be run: with labels (class sub-folders, numbered by sorted folder name as torchvision
ImageFolder does, or by --labels FILE; an .npz 'labels' array) top-1/top-5 of the reference and every artifact
are reported side by side. Tolerances default by precision (fp32 / fp16 / int8, read from the artifact) and can be
set per output: --atol logits=0.05. --backend takes the names and aliases bench takes (one here). On failure the first diverging attention block or stage is
reported (marking extra outputs can itself change results).
"""

import math
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Dict, List, Optional, Union

import typer
from typing_extensions import Annotated

if TYPE_CHECKING:
    from rich.progress import TaskID  # rich is imported when a progress bar is shown

from ..errors import InputError
from ._errors import echo_json
from ._options import (
    Backends,
    CheckpointOpt,
    InputsOpt,
    JsonOpt,
    NoEmaOpt,
    NonStrictOpt,
    NumSamplesOpt,
    Precision,
    ProvidersOpt,
    ReportJsonOpt,
    ReportMdOpt,
    ThreadsOpt,
    UnsafePickleOpt,
    backend_option,
    batch_size_option,
    one_backend,
    precision_option,
    value,
)


def parse_tolerances(values: Optional[List[str]], option: str) -> Union[float, Dict[str, float], None]:
    """``["0.01"]`` -> 0.01; ``["logits=0.1", "0.01"]`` -> {"logits": 0.1, "*": 0.01}."""
    if not values:
        return None
    per_output: Dict[str, float] = {}
    for item in values:
        name, sep, number = item.rpartition("=")
        key = name.strip() if sep else "*"
        try:
            per_output[key] = float(number)
        except ValueError:
            raise InputError(f"{option}: received {item!r}, expected a number or NAME=NUMBER") from None
        if not math.isfinite(per_output[key]) or per_output[key] < 0:
            raise InputError(f"{option}: received {item!r}, expected a finite non-negative tolerance")
    if list(per_output) == ["*"]:
        return per_output["*"]
    return per_output


def _check_tolerances(option: str) -> Callable[[Optional[List[str]]], Optional[List[str]]]:
    """A callback that refuses a tolerance that does not parse as a usage error (exit 2)."""

    def check(values: Optional[List[str]]) -> Optional[List[str]]:
        try:
            parse_tolerances(values, option)
        except InputError as exc:
            raise typer.BadParameter(exc.message.partition(": ")[2] or exc.message) from None
        return values

    return check


def command(
    artifacts: Annotated[List[Path], typer.Argument(help="Artifacts to check (.onnx, .engine); several = one table.", show_default=False, metavar="ARTIFACT")],
    model: Annotated[Optional[str], typer.Option("--model", "-m", help="PyTorch model to compare against.", show_default="the artifact's provenance")] = None,
    checkpoint: CheckpointOpt = None,
    reference: Annotated[Optional[Path], typer.Option("--reference", "-r", help="Compare against this artifact (e.g. the FP32 .onnx) or recorded outputs (.reference.npz) instead of PyTorch; needs no torch.", show_default=False)] = None,
    backend: Annotated[Backends, backend_option(callback=one_backend)] = "auto",  # type: ignore[assignment]
    inputs: InputsOpt = None,
    labels: Annotated[Optional[Path], typer.Option("--labels", help="Class names in the model's class order, one per line, for a class-per-folder --inputs folder.", show_default="sorted folder names (torchvision ImageFolder)")] = None,
    num_samples: NumSamplesOpt = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random inputs.", min=0)] = 0,
    batch_size: Annotated[int, batch_size_option()] = 1,
    atol: Annotated[Optional[List[str]], typer.Option("--atol", help="Absolute tolerance: VALUE or OUTPUT=VALUE (repeatable).", show_default=False, callback=_check_tolerances("--atol"))] = None,
    rtol: Annotated[Optional[List[str]], typer.Option("--rtol", help="Relative tolerance: VALUE or OUTPUT=VALUE (repeatable).", show_default=False, callback=_check_tolerances("--rtol"))] = None,
    precision: Annotated[Optional[Precision], precision_option("from the artifact")] = None,
    report_json: ReportJsonOpt = None,
    report_md: ReportMdOpt = None,
    json_output: JsonOpt = False,
    localize: Annotated[bool, typer.Option("--localize/--no-localize", help="On failure, compare block by block.")] = True,
    threads: ThreadsOpt = None,
    providers: ProvidersOpt = None,
    unsafe_pickle: UnsafePickleOpt = False,
    non_strict: NonStrictOpt = False,
    no_ema: NoEmaOpt = False,
    recorded_checkpoint: Annotated[bool, typer.Option("--recorded-checkpoint/--no-recorded-checkpoint", help="Without --checkpoint, load the checkpoint recorded at export (with --model too).")] = True,
    trust_provenance: Annotated[bool, typer.Option("--trust-provenance", help="Without --model, also run a file.py:factory / module:factory / model file recorded in the artifact (a file only while its sha256 is the recorded one).")] = False,
) -> None:
    from .._io import check_outputs

    if backend[0] == "torch":
        raise InputError(
            "--backend torch: validate runs artifacts (.onnx, .engine); PyTorch is the reference (--model)",
            hint="run the artifact on auto, onnxruntime, openvino or tensorrt",
        )
    check_outputs(input_files(*artifacts, inputs, checkpoint, model, reference, labels), {"--report-json": report_json, "--report-md": report_md})
    atol_value = parse_tolerances(atol, "--atol")
    rtol_value = parse_tolerances(rtol, "--rtol")
    model_options: Dict[str, object] = {}
    if unsafe_pickle:
        model_options["unsafe_pickle"] = True
    if non_strict:
        model_options["strict"] = False
    if no_ema:
        model_options["prefer_ema"] = False

    from ..validation import validate

    with _progress() as progress:
        report = validate(
            artifacts,
            model=model,
            checkpoint=checkpoint,
            backend=backend[0],
            inputs=inputs,
            num_samples=num_samples,
            seed=seed,
            batch_size=batch_size,
            atol=atol_value,
            rtol=rtol_value,
            precision=value(precision),
            localize=localize,
            threads=threads,
            runner_options={"providers": providers} if providers else None,
            model_options=model_options,
            progress=progress,
            trust_provenance=trust_provenance,
            reference=reference,
            use_recorded_checkpoint=recorded_checkpoint,
            class_names=labels,
        )
    data = write_reports(report, report_json, report_md)
    if json_output:
        echo_json(data)
    else:
        _print(report)
    if not report.passed:
        raise typer.Exit(1)


def write_reports(report, report_json: Optional[Path], report_md: Optional[Path], chart: Optional[Path] = None) -> dict:
    """Write ``report`` to --report-json / --report-md (and a bench --chart), all or none; return its dict."""
    from .._io import atomic_outputs

    data = report.to_dict()
    with atomic_outputs() as outputs:
        if report_json is not None:
            outputs.write_json(report_json, data)
        if report_md is not None:
            outputs.write_text(report_md, report.to_markdown())
        if chart is not None:
            from ..bench.report import write_chart

            write_chart(report, chart, outputs)
    return data


def input_files(*items: object) -> List[Path]:
    """The files a command reads, from its arguments: paths, ``file.onnx@backend`` targets,
    ``file.py:factory`` sources (what ``check_outputs`` protects)."""
    from ..models.source_spec import parse_source

    files: List[Path] = []
    for item in items:
        if item is None:
            continue
        text = str(item)
        files.append(Path(text))
        if "@" in text:
            files.append(Path(text.rpartition("@")[0]))
        path = parse_source(text).path
        if path is not None:
            files.append(path)
    return files


def _print_accuracy(console, report) -> None:
    """Top-1/top-5 of the reference and every artifact on the labelled inputs, one table."""
    from rich.table import Table

    pct = lambda v: "-" if v is None else f"{100 * v:.2f}%"  # noqa: E731
    order = report.inputs.get("class_order")
    table = Table(title=f"Accuracy on {report.inputs['count']} labelled sample(s)" + (f" (labels: {order})" if order else ""))
    for col in ("model", "precision", "top-1", "top-5"):
        table.add_column(col, justify="left" if col == "model" else "right")
    ref_name = (Path(report.reference["artifact"]).name if report.reference.get("artifact")
                else f"recorded {Path(report.reference['recorded']).name}" if report.reference.get("recorded")
                else f"PyTorch {Path(str(report.reference.get('model'))).name}")
    table.add_row(f"{ref_name} (reference)", "-", pct(report.reference_accuracy.get("top1")), pct(report.reference_accuracy.get("top5")))
    for art in report.artifacts:
        if art.accuracy:
            table.add_row(Path(art.artifact).name, art.precision, pct(art.accuracy.get("top1")), pct(art.accuracy.get("top5")))
    console.print(table)


class _progress:
    """A rich progress bar on stderr; a no-op callback when stderr is not a terminal."""

    def __enter__(self) -> Callable[[str, int, int], None]:
        import sys

        self._bar = None
        if sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn

            # Samples done of the total and elapsed time beside the bar: a whole data set takes minutes.
            self._bar = Progress(*Progress.get_default_columns(), MofNCompleteColumn(), TimeElapsedColumn(),
                                 console=Console(stderr=True), transient=True)
            self._bar.start()
        self._tasks: Dict[str, TaskID] = {}
        return self._update

    def _update(self, stage: str, done: int, total: int) -> None:
        if self._bar is None:
            return
        if stage not in self._tasks:
            self._tasks[stage] = self._bar.add_task(stage, total=total)
        self._bar.update(self._tasks[stage], completed=done)

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()


def _print(report) -> None:
    from ._errors import report_console
    from rich.markup import escape
    from rich.table import Table

    console = report_console()
    against = (f"reference {Path(report.reference['artifact']).name}" if report.reference.get("artifact")
               else f"recorded {Path(report.reference['recorded']).name}" if report.reference.get("recorded")
               else f"PyTorch {report.reference.get('model')}")
    table = Table(title=f"Parity vs {against} on {report.inputs['count']} sample(s) ({report.inputs['source']})")
    for col in ("artifact", "precision", "output", "max abs", "mean abs", "max rel", "cosine", "top-1", "top-5", "would pass atol", "result"):
        table.add_column(col, justify="right" if col not in ("artifact", "output", "result") else "left")
    for art in report.artifacts:
        name = Path(art.artifact).name
        if art.error:
            table.add_row(name, art.precision, "-", "-", "-", "-", "-", "-", "-", "-", f"[red]error: {art.error}[/]")
            continue
        for out in art.outputs:
            pct = lambda v: "-" if v is None else f"{100 * v:.1f}%"  # noqa: E731
            table.add_row(
                name, art.precision, out.name, f"{out.max_abs:.3g}", f"{out.mean_abs:.3g}", f"{out.max_rel:.3g}",
                f"{out.cosine:.6f}", pct(out.top1_agreement), pct(out.top5_agreement), f"{out.required_atol:.3g}",
                "[yellow]not judged[/]" if art.unjudged and not out.nonfinite else "[green]pass[/]" if out.passed and not art.unjudged else "[red]FAIL[/]",
            )
    console.print(table)
    if report.reference_accuracy is not None:
        _print_accuracy(console, report)
    for art in report.artifacts:
        if art.unjudged:
            console.print(f"[yellow]{escape(Path(art.artifact).name)} not judged:[/] {escape(art.unjudged)}")
            continue
        for out in art.outputs:
            for reason in out.reasons:
                console.print(f"[red]{Path(art.artifact).name}[/] {out.name}: {reason}")
        if art.advice:
            console.print(f"Advice: {escape(art.advice)}")
        if art.localization is not None:
            console.print(f"Localisation: {art.localization.message}")
            console.print(f"[dim]{art.localization.caveat}[/]")
    if not report.passed:
        console.print("[bold red]FAIL[/]")
    else:
        console.print("[bold yellow]NOT JUDGED[/] (no NaN/Inf; nothing else is judged on random inputs)" if any(a.unjudged for a in report.artifacts) else "[bold green]PASS[/]")
