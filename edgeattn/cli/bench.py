"""Measure latency (min/mean/p50/p90/p99/max) and throughput of models and artifacts side by side.

Each TARGET is an .onnx / .engine artifact or a PyTorch model spec (se_resnet50, timm:NAME, ...);
append @BACKEND to force one (model.onnx@onnxruntime). Variants are timed in interleaved rounds
after a warm-up, so their ratios hold on a machine whose speed drifts. --per-block adds how much
of the ONNX Runtime time each folded SE/CBAM block takes, next to its share of the FLOPs.
--triton URL NAME times the model NAME on a running Triton server from the client side instead,
at each --concurrency (threads with one client each), in the same report format; --inputs gives
it an image folder when the model takes encoded bytes.
"""

from pathlib import Path
from typing import List, Optional

import typer
from typing_extensions import Annotated

from ..errors import InputError
from ._errors import echo_json
from ._options import (
    Backends,
    CheckpointOpt,
    InputsOpt,
    InputSizeOpt,
    IntList,
    JsonOpt,
    ProvidersOpt,
    ReportJsonOpt,
    ReportMdOpt,
    ThreadsOpt,
    backend_option,
    parse_int_list,
)


def command(
    targets: Annotated[
        Optional[List[str]],
        typer.Argument(
            help="Artifacts (.onnx, .engine) or model specs; TARGET@BACKEND forces a backend. "
            "With --triton: the server's model name.",
            show_default=False,
            metavar="TARGET",
        ),
    ] = None,
    backend: Annotated[Backends, backend_option()] = "auto",  # type: ignore[assignment]
    batch_sizes: Annotated[
        IntList, typer.Option("--batch-sizes", help="Batch sizes to sweep, e.g. 1,8.", parser=parse_int_list, metavar="N[,N...]")
    ] = "1",  # type: ignore[assignment]
    iterations: Annotated[Optional[int], typer.Option("--iterations", help="Timed runs per variant and batch size.", min=1, show_default="50")] = None,
    duration: Annotated[Optional[float], typer.Option("--duration", help="Seconds per variant and batch size instead of --iterations.", min=0.001, show_default=False)] = None,
    warmup: Annotated[int, typer.Option("--warmup", help="Untimed runs first.", min=0)] = 10,
    rounds: Annotated[int, typer.Option("--rounds", help="Interleaved rounds the timed runs are split into.", min=1)] = 10,
    checkpoint: CheckpointOpt = None,
    threads: ThreadsOpt = None,
    providers: ProvidersOpt = None,
    input_size: InputSizeOpt = None,
    per_block: Annotated[bool, typer.Option("--per-block", help="Profile the time of each attention block (ONNX Runtime).")] = False,
    spinning: Annotated[bool, typer.Option("--spinning", help="Let idle ORT/OpenMP threads busy-wait (off: they would steal cores from the variant being timed).")] = False,
    json_output: JsonOpt = False,
    report_json: ReportJsonOpt = None,
    report_md: ReportMdOpt = None,
    chart: Annotated[Optional[Path], typer.Option("--chart", help="Write a PNG bar chart.", show_default=False)] = None,
    triton: Annotated[Optional[str], typer.Option("--triton", help="Time a model on a running Triton server instead: http://HOST:PORT or grpc://HOST:PORT.", show_default=False)] = None,
    concurrency: Annotated[
        IntList, typer.Option("--concurrency", help="With --triton: requests in flight, e.g. 1,4,16.", parser=parse_int_list, metavar="N[,N...]")
    ] = "1",  # type: ignore[assignment]
    inputs: InputsOpt = None,
) -> None:
    from .._io import check_outputs
    from .validate import input_files

    if triton is not None:
        _bench_triton(triton, targets, concurrency, batch_sizes, iterations, duration, warmup, inputs,
                      json_output, report_json, report_md, chart)
        return
    if not targets:
        raise InputError("received no TARGET, expected an artifact or model spec (or --triton URL NAME)")
    if inputs is not None:
        raise InputError("--inputs goes with --triton URL (local targets run on seeded random inputs)")

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

    from ..bench import benchmark
    from .validate import _progress, write_reports

    with _progress() as progress:
        report = benchmark(
            targets,
            backend=list(backend),
            batch_sizes=list(batch_sizes),
            iterations=iterations,
            duration=duration,
            warmup=warmup,
            rounds=rounds,
            threads=threads,
            input_size=None if input_size is None else list(input_size),
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


def _bench_triton(url, targets, concurrency, batch_sizes, iterations, duration, warmup, inputs,
                  json_output, report_json, report_md, chart) -> None:
    from .._io import check_outputs

    if not targets or len(targets) != 1:
        raise InputError(f"--triton: received {len(targets or [])} TARGETs, expected one: the name of a model on the server")
    model = targets[0]
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
            url, model, concurrency=list(concurrency), batch_sizes=list(batch_sizes),
            requests=iterations, duration=duration, warmup=warmup, inputs=inputs, progress=progress,
        )
    data = write_reports(report, report_json, report_md, chart)
    if json_output:
        echo_json(data)
        return
    _print(report)


def _print(report) -> None:
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
        base = next((r.stats for r in rows if r.stats is not None), None)
        for r in rows:
            if r.stats is None:
                table.add_row(r.variant, r.backend, str(batch), f"skipped: {r.skipped}", *[""] * 7)
                continue
            st = r.stats
            table.add_row(
                r.variant, r.backend, str(batch), f"{st.mean_ms:.2f}", f"{st.p50_ms:.2f}", f"{st.p90_ms:.2f}", f"{st.p99_ms:.2f}",
                f"{st.min_ms:.2f}", f"{st.max_ms:.2f}", f"{st.throughput:.1f}", f"{st.p50_ms / (base or st).p50_ms:.2f}x",
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
