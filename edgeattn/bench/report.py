"""Markdown tables and the PNG chart of a benchmark report."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .._io import OutputSet


def _spinning_text(spin: dict[str, Any]) -> str:
    if not spin:
        return "thread spinning not recorded"
    omp = spin.get("openmp_wait_policy") or "default (active)"
    if not spin.get("openmp_policy_applies", True):
        omp += " (set after torch was imported: not in effect)"
    return f"ORT thread spinning {'on' if spin.get('onnxruntime') else 'off'}, OMP_WAIT_POLICY {omp}"


def benchmark_markdown(report: Any) -> str:
    s = report.settings
    env = report.environment
    lines = [
        "# Latency benchmark",
        "",
        f"CPU: {env.get('cpu')}, {env.get('cpu_isa', 'ISA not recorded')} ({env.get('logical_cores')} logical cores); threads: {s.get('threads') or 'default'}; "
        f"warm-up {s.get('warmup')}, "
        + (f"{s['iterations']} iterations" if s.get("iterations") else f"{s.get('duration_s')} s")
        + f" per variant in {s.get('rounds')} interleaved rounds; "
        + _spinning_text(s.get("spinning") or {})
        + (f"; 1-minute load average {env['load_average'][0]:.1f}" if env.get("load_average") else "")
        + ".",
        "",
    ]
    if s.get("triton"):
        # Client-side timing of a server (edgeattn.bench.triton_client): say what was measured where.
        lines[2] = (
            f"Client CPU: {env.get('cpu')} ({env.get('logical_cores')} logical cores); server {s['triton']}, model "
            f"`{s.get('model')}`; concurrency {s.get('concurrency')}; warm-up {s.get('warmup')} requests per client, then "
            + (f"{s['iterations']} requests" if s.get("iterations") else f"{s.get('duration_s')} s")
            + " per row; samples/s = samples answered / wall time."
        )
    lines += [
        "| variant | backend | batch | mean ms | p50 ms | p90 ms | p99 ms | min ms | max ms | samples/s | p50 vs first |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for batch in s.get("batch_sizes", []):
        rows = [r for r in report.results if r.batch_size == batch]
        base = next((r for r in rows if r.stats), None)
        for r in rows:
            if r.stats is None:
                lines.append(f"| {r.variant} | {r.backend} | {batch} | skipped: {r.skipped} | | | | | | | |")
                continue
            st = r.stats
            ratio = st.p50_ms / base.stats.p50_ms if base and base.stats else float("nan")
            lines.append(
                f"| {r.variant} | {r.backend} | {batch} | {st.mean_ms:.2f} | {st.p50_ms:.2f} | {st.p90_ms:.2f} | {st.p99_ms:.2f} | "
                f"{st.min_ms:.2f} | {st.max_ms:.2f} | {st.throughput:.1f} | {ratio:.2f}x |"
            )
    for prof in report.per_block:
        lines += ["", f"## Attention blocks in `{os.path.basename(str(prof.get('model')))}`", ""]
        if prof.get("error"):
            lines.append(f"Not profiled: {prof['error']}")
            continue
        lines += block_profile_markdown(prof)
    lines += ["", "Libraries: " + ", ".join(f"{k} {v}" for k, v in env.get("libraries", {}).items())]
    return "\n".join(lines) + "\n"


def block_profile_markdown(prof: dict[str, Any]) -> list[str]:
    lines = [
        f"Kernel time per run {prof['total_ms']:.2f} ms (batch {prof['batch_size']}); attention blocks take "
        f"**{100 * prof['attention_time_share']:.1f}% of the time for {100 * prof['attention_flop_share']:.2f}% of the FLOPs** "
        f"(layout reorders counted with their block: {prof['reorder_ms_attributed']:.3f} ms).",
        "",
        "| type | blocks | time ms | time share | FLOP share |",
        "|---|---|---|---|---|",
    ]
    for kind, entry in prof["by_type"].items():
        lines.append(
            f"| {kind} | {entry['count']} | {entry['time_ms']:.3f} | {100 * entry['time_share']:.2f}% | {100 * entry['flop_share']:.3f}% |"
        )
    lines += ["", "| block | type | time ms | time share | FLOP share |", "|---|---|---|---|---|"]
    for block in prof["blocks"]:
        lines.append(
            f"| {block['name']} | {block['op_type']} | {block['time_ms']:.3f} | {100 * block['time_share']:.2f}% | {100 * block['flop_share']:.3f}% |"
        )
    return lines


def write_chart(report: Any, destination: str | os.PathLike[str], outputs: OutputSet | None = None) -> None:
    """A bar chart of p50 latency (error bar to p90) per variant and batch size, as PNG.

    With ``outputs`` the chart joins that set of files (committed with the reports); alone it is
    written atomically by itself.
    """
    import matplotlib

    matplotlib.use("Agg")  # files only: never open a window
    import matplotlib.pyplot as plt

    from .._io import atomic_outputs

    batches = report.settings.get("batch_sizes", [1])
    variants = list(dict.fromkeys(r.variant for r in report.results))
    fig, ax = plt.subplots(figsize=(max(6, 1.2 * len(variants) * len(batches)), 4))
    width = 0.8 / max(1, len(batches))
    for j, batch in enumerate(batches):
        p50, err = [], []
        for v in variants:
            r = report.result(v, batch)
            p50.append(r.stats.p50_ms if r and r.stats else 0.0)
            err.append((r.stats.p90_ms - r.stats.p50_ms) if r and r.stats else 0.0)
        xs = [i + j * width for i in range(len(variants))]
        ax.bar(xs, p50, width=width, yerr=[[0] * len(err), err], capsize=3, label=f"batch {batch}")
    ax.set_xticks([i + width * (len(batches) - 1) / 2 for i in range(len(variants))])
    ax.set_xticklabels(variants, rotation=20, ha="right")
    ax.set_ylabel("latency p50 (ms), bar to p90")
    threads = report.settings.get("threads")
    ax.set_title(f"{report.environment.get('cpu', '')} - threads {threads or 'default'}", fontsize=9)
    ax.legend()
    fig.tight_layout()
    try:
        if outputs is not None:
            fig.savefig(outputs.path(destination), format="png", dpi=120)
        else:
            with atomic_outputs() as own:
                fig.savefig(own.path(destination), format="png", dpi=120)
    finally:
        plt.close(fig)
