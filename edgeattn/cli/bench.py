"""Measure latency (min/mean/p50/p90/p99/max) and throughput of models and artifacts side by side.

Each TARGET is an .onnx / .engine artifact or a PyTorch model spec (se_resnet50, timm:NAME, ...);
append @BACKEND to force one (model.onnx@onnxruntime). Variants are timed in interleaved rounds
after a warm-up, so their ratios hold on a machine whose speed drifts. --per-block adds how much
of the ONNX Runtime time each folded SE/CBAM block takes, next to its share of the FLOPs.
--triton URL --model NAME times a model on a running Triton server from the client side instead,
at each --concurrency (threads with one client each), in the same report format.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from ._errors import echo_json
from ._options import CheckpointOpt, JsonOpt, ThreadsOpt


def _ints(text: str, option: str, count: int | None = None) -> list[int]:
    from ..errors import InputError

    try:
        values = [int(v) for v in text.replace("x", ",").split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{option}: received {text!r}, expected comma-separated integers") from None
    if not values or any(v < 1 for v in values) or (count is not None and len(values) != count):
        want = f"{count} positive integers" if count else "positive integers"
        raise InputError(f"{option}: received {text!r}, expected {want}")
    return values


def command(
    targets: Annotated[Optional[list[str]], typer.Argument(help="Artifacts (.onnx, .engine) or model specs; TARGET@BACKEND forces a backend.", show_default=False)] = None,
    backend: Annotated[str, typer.Option("--backend", "-b", help="auto, torch, onnxruntime, tensorrt; comma-separated for several.")] = "auto",
    batch_sizes: Annotated[str, typer.Option("--batch-sizes", help="Batch sizes to sweep, e.g. 1,8.")] = "1",
    iterations: Annotated[Optional[int], typer.Option("--iterations", "-n", help="Timed runs per variant and batch size (default 50).", min=1, show_default=False)] = None,
    duration: Annotated[Optional[float], typer.Option("--duration", help="Seconds per variant and batch size instead of --iterations.", min=0.001, show_default=False)] = None,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed runs first.", min=0)] = 10,
    rounds: Annotated[int, typer.Option("--rounds", help="Interleaved rounds the timed runs are split into.", min=1)] = 10,
    checkpoint: CheckpointOpt = None,
    threads: ThreadsOpt = None,
    providers: Annotated[Optional[str], typer.Option("--providers", help="ONNX Runtime execution providers, e.g. tensorrt,cuda (CPU is always the fallback).", show_default=False)] = None,
    input_size: Annotated[Optional[str], typer.Option("--input-size", help="C,H,W when the model does not say.", show_default=False)] = None,
    per_block: Annotated[bool, typer.Option("--per-block", help="Profile the time of each attention block (ONNX Runtime).")] = False,
    spinning: Annotated[bool, typer.Option("--spinning", help="Let idle ORT/OpenMP threads busy-wait (off: they would steal cores from the variant being timed).")] = False,
    json_output: JsonOpt = False,
    report_json: Annotated[Optional[Path], typer.Option("--report-json", help="Write the results as JSON.", show_default=False)] = None,
    report_md: Annotated[Optional[Path], typer.Option("--report-md", help="Write the results as Markdown.", show_default=False)] = None,
    chart: Annotated[Optional[Path], typer.Option("--chart", help="Write a PNG bar chart.", show_default=False)] = None,
    triton: Annotated[Optional[str], typer.Option("--triton", help="A running Triton server: http://HOST:PORT or grpc://HOST:PORT.", show_default=False)] = None,
    model: Annotated[Optional[str], typer.Option("--model", help="With --triton: the model to time.", show_default=False)] = None,
    concurrency: Annotated[str, typer.Option("--concurrency", help="With --triton: requests in flight, e.g. 1,4,16.")] = "1",
    inputs: Annotated[Optional[Path], typer.Option("--inputs", help="With --triton: image folder for a model that takes encoded bytes.", show_default=False)] = None,
) -> None:
    from .._io import check_outputs
    from ..errors import InputError
    from .validate import input_files

    if triton is not None:
        _bench_triton(triton, model, targets, concurrency, batch_sizes, iterations, duration, warmup, inputs,
                      json_output, report_json, report_md, chart)
        return
    if not targets:
        raise InputError("received no TARGET, expected an artifact or model spec (or --triton URL --model NAME)")
    if model is not None or inputs is not None:
        raise InputError("--model and --inputs go with --triton URL")

    if iterations is not None and duration is not None:
        raise InputError("--iterations and --duration: received both, expected one")
    if chart is not None and chart.suffix.lower() != ".png":
        raise InputError(f"--chart: received {chart.name}, expected a .png file")
    check_outputs(
        input_files(*targets, checkpoint), {"--report-json": report_json, "--report-md": report_md, "--chart": chart}
    )
    if chart is not None:
        from .._lazy import check

        check("matplotlib", "--chart")  # said before the run, not after it: the figures would be lost
    sizes = _ints(batch_sizes, "--batch-sizes")
    shape = _ints(input_size, "--input-size", 3) if input_size else None
    backends = [b.strip() for b in backend.split(",") if b.strip()]

    from ..bench import benchmark
    from .validate import _progress, write_reports

    with _progress() as progress:
        report = benchmark(
            targets,
            backend=backends,
            batch_sizes=sizes,
            iterations=iterations,
            duration=duration,
            warmup=warmup,
            rounds=rounds,
            threads=threads,
            input_size=shape,
            runner_options={"providers": providers} if providers else None,
            per_block=per_block,
            progress=progress,
            checkpoint=checkpoint,
            spinning=spinning,
        )
    data = write_reports(report, report_json, report_md, chart)
    if json_output:
        echo_json(data)
        return
    _print(report)


def _bench_triton(url, model, targets, concurrency, batch_sizes, iterations, duration, warmup, inputs,  # type: ignore[no-untyped-def]
                  json_output, report_json, report_md, chart) -> None:
    from .._io import check_outputs
    from ..errors import InputError

    if targets:
        raise InputError(f"--triton: received targets {targets}, expected none (the server holds the model; name it with --model)")
    if not model:
        raise InputError("--triton: received no --model, expected the name of a model on the server")
    if iterations is not None and duration is not None:
        raise InputError("--iterations and --duration: received both, expected one")
    if chart is not None and chart.suffix.lower() != ".png":
        raise InputError(f"--chart: received {chart.name}, expected a .png file")
    images = sorted(p for p in inputs.rglob("*") if p.is_file()) if inputs is not None and inputs.is_dir() else []
    check_outputs(images, {"--report-json": report_json, "--report-md": report_md, "--chart": chart})
    from ..bench.triton_client import benchmark_triton
    from .validate import _progress, write_reports

    with _progress() as progress:
        report = benchmark_triton(
            url, model, concurrency=_ints(concurrency, "--concurrency"), batch_sizes=_ints(batch_sizes, "--batch-sizes"),
            requests=iterations, duration=duration, warmup=warmup, inputs=inputs, progress=progress,
        )
    data = write_reports(report, report_json, report_md, chart)
    if json_output:
        echo_json(data)
        return
    _print(report)


def _print(report) -> None:  # type: ignore[no-untyped-def]
    from ._errors import report_console
    from rich.table import Table

    console = report_console()
    env = report.environment
    spin = "on" if report.settings["spinning"]["onnxruntime"] else "off"
    table = Table(title=f"Latency (ms) - {env.get('cpu')} ({env.get('cpu_isa')}), threads {report.settings.get('threads') or 'default'}, interleaved rounds, spinning {spin}")
    for col in ("variant", "backend", "batch", "mean", "p50", "p90", "p99", "min", "max", "samples/s", "p50 vs first"):
        table.add_column(col, justify="left" if col in ("variant", "backend") else "right")
    for batch in report.settings["batch_sizes"]:
        rows = [r for r in report.results if r.batch_size == batch]
        base = next((r for r in rows if r.stats), None)
        for r in rows:
            if r.stats is None:
                table.add_row(r.variant, r.backend, str(batch), f"skipped: {r.skipped}", *[""] * 7)
                continue
            st = r.stats
            table.add_row(
                r.variant, r.backend, str(batch), f"{st.mean_ms:.2f}", f"{st.p50_ms:.2f}", f"{st.p90_ms:.2f}", f"{st.p99_ms:.2f}",
                f"{st.min_ms:.2f}", f"{st.max_ms:.2f}", f"{st.throughput:.1f}", f"{st.p50_ms / base.stats.p50_ms:.2f}x",
            )
    console.print(table)
    for prof in report.per_block:
        if prof.get("error"):
            console.print(f"[yellow]{Path(str(prof.get('model'))).name}: per-block profile not available: {prof['error']}[/]")
            continue
        console.print(
            f"{Path(prof['model']).name}: attention blocks take {100 * prof['attention_time_share']:.1f}% of the ORT kernel time "
            f"({prof['total_ms']:.2f} ms/run) for {100 * prof['attention_flop_share']:.2f}% of the FLOPs"
        )
        for kind, entry in prof["by_type"].items():
            console.print(
                f"  {kind}: {entry['count']} blocks, {entry['time_ms']:.3f} ms ({100 * entry['time_share']:.1f}% time, "
                f"{100 * entry['flop_share']:.2f}% FLOPs)"
            )
