"""CPU latency of SE / CBAM ResNet-50 exports: PyTorch eager vs plain ONNX export vs ours.

Batch 1, 224x224, 2 threads (PyTorch intra-op and ORT intra-op), every variant in ONE
``edgeattn.bench.benchmark`` call, so rounds are interleaved and the ratios are taken from the
same minutes of a machine whose speed drifts. Idle variants do not spin (ORT
``allow_spinning=0``, ``OMP_WAIT_POLICY=PASSIVE`` set before torch is imported;
``--spinning`` restores both defaults to show what spinning does to an interleaved run). Variants per model (resnet50, se_resnet50,
cbam_resnet50, random weights, same module for all three):

- ``eager``: the PyTorch module (``torch.inference_mode``);
- ``plain``: ``torch.onnx.export(model, x, f)`` with its defaults, on ORT with default session
  options (graph optimisation level ALL) and 2 threads;
- ``ours``: ``edgeattn.exporter.export`` (folded ``edgeattn::`` nodes, simplified) on ORT, 2 threads;
- ``ours ort-cpu`` (se/cbam): the same with ``optimize_for="ort-cpu"`` (bodies that keep ORT's
  NCHWc blocked layout through each block) and a static input shape, which that form needs.

Beside the wall-clock median, each variant's median CPU time per run (the process's, all
threads) is reported: on a machine shared with other work the wall clock includes waiting for
a core, the CPU time mostly does not, so its ratios are the steadier ones there.

Targets (issue 3): ours <= 0.55x eager; attention overhead ours(se)/ours(resnet50) <= 1.05 and
ours(cbam)/ours(resnet50) <= 1.10, shown next to the FLOP ratio. Writes
``benchmarks/results/cpu_latency.{json,md}``.

Usage: python benchmarks/cpu_latency.py [--iterations 60] [--rounds 10] [--threads 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import warnings
from pathlib import Path

RESULTS = Path(__file__).parent / "results"
MODELS = ("resnet50", "se_resnet50", "cbam_resnet50")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--work", type=Path, default=None, help="Keep exports here and reuse them on the next run.")
    parser.add_argument("--spinning", action="store_true", help="Leave ORT and OpenMP thread spinning on (their defaults).")
    args = parser.parse_args()

    from edgeattn.runtime.spinning import passive_openmp

    if not args.spinning:
        passive_openmp()  # before torch loads OpenMP
    import torch

    from edgeattn._io import write_json_atomic, write_text_atomic
    from edgeattn.bench import Variant, benchmark
    from edgeattn.bench.profile import profile_blocks
    from edgeattn.exporter import export
    from edgeattn.models import create_model, model_profile

    torch.set_num_threads(args.threads)
    work = args.work or Path(tempfile.mkdtemp(prefix="edgeattn-cpu-latency-"))
    work.mkdir(parents=True, exist_ok=True)
    load_before = os.getloadavg()
    variants = []
    macs = {}
    for name in MODELS:
        torch.manual_seed(0)
        model = create_model(name).eval()
        macs[name] = model_profile(model, (3, 224, 224))["macs"]
        x = torch.randn(1, 3, 224, 224)
        plain = work / f"{name}.plain.onnx"
        ours = work / f"{name}.onnx"
        # Seeded weights: a cached export holds the same weights as this module.
        if not plain.exists():
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (x,), str(plain))  # the exporter's defaults (dynamo, opset 18)
        if not ours.exists():
            export(model, ours)
        variants += [
            Variant(model, "torch", f"{name} eager"),
            Variant(plain, "onnxruntime", f"{name} plain"),
            Variant(ours, "onnxruntime", f"{name} ours"),
        ]
        if name != "resnet50":
            blocked = work / f"{name}.ort-cpu.onnx"
            if not blocked.exists():
                # Static shape: ORT folds the gate's Resize scales only then (a dynamic batch is slower).
                export(model, blocked, input_shape=(1, 3, 224, 224), dynamic_batch=False, optimize_for="ort-cpu")
            variants.append(Variant(blocked, "onnxruntime", f"{name} ours ort-cpu"))
        print(f"exported {name}", file=sys.stderr)
    report = benchmark(
        variants, batch_sizes=[1], iterations=args.iterations, warmup=args.warmup, rounds=args.rounds,
        threads=args.threads, input_size=(3, 224, 224), spinning=args.spinning,
    )
    profiles = {}
    for name in ("se_resnet50", "cbam_resnet50"):
        profiles[name] = profile_blocks(work / f"{name}.onnx", iterations=20, threads=args.threads).to_dict()
        profiles[f"{name} ort-cpu"] = profile_blocks(work / f"{name}.ort-cpu.onnx", iterations=20, threads=args.threads).to_dict()

    load_after = os.getloadavg()
    p50 = {r.variant: r.stats.p50_ms for r in report.results if r.stats}
    # The minimum is the least disturbed by other processes: shown beside the median.
    low = {r.variant: r.stats.min_ms for r in report.results if r.stats}
    cpu = {r.variant: r.cpu_ms for r in report.results if r.stats}
    rows = []
    for name in MODELS:
        rows.append({
            "model": name,
            "eager_ms": p50[f"{name} eager"],
            "plain_ms": p50[f"{name} plain"],
            "ours_ms": p50[f"{name} ours"],
            "ours_vs_eager": p50[f"{name} ours"] / p50[f"{name} eager"],
            "ours_vs_plain": p50[f"{name} ours"] / p50[f"{name} plain"],
            "ours_vs_eager_min": low[f"{name} ours"] / low[f"{name} eager"],
            "ours_vs_plain_min": low[f"{name} ours"] / low[f"{name} plain"],
            "macs": macs[name],
        })
    overhead = {}
    for name, target in (("se_resnet50", 1.05), ("cbam_resnet50", 1.10)):
        overhead[name] = {
            "ours": p50[f"{name} ours"] / p50["resnet50 ours"],
            "plain": p50[f"{name} plain"] / p50["resnet50 plain"],
            "eager": p50[f"{name} eager"] / p50["resnet50 eager"],
            "ours_min": low[f"{name} ours"] / low["resnet50 ours"],
            "ours_cpu": cpu[f"{name} ours"] / cpu["resnet50 ours"],
            "ort_cpu": p50[f"{name} ours ort-cpu"] / p50["resnet50 ours"],
            "ort_cpu_cpu": cpu[f"{name} ours ort-cpu"] / cpu["resnet50 ours"],
            "flops": macs[name] / macs["resnet50"],
            "target": target,
        }
    lines = [
        "# CPU latency: PyTorch eager vs plain ONNX export vs edgeattn export (ORT CPU)",
        "",
        f"Batch 1, 3x224x224, {args.threads} threads, p50 of {args.iterations} runs per variant in {args.rounds} "
        f"interleaved rounds after {args.warmup} warm-up runs; random weights; "
        f"{'thread spinning ON (ORT and OpenMP defaults)' if args.spinning else 'ORT spinning off, OMP_WAIT_POLICY=' + str(os.environ.get('OMP_WAIT_POLICY'))}. "
        f"CPU: {report.environment.get('cpu')} ({report.environment.get('cpu_isa')}), "
        f"{os.cpu_count()} logical cores; 1-minute load average {load_before[0]:.1f} before, {load_after[0]:.1f} after"
        + (" -- the machine was busy with other work: absolute figures are inflated, ratios less reliable."
           if max(load_before[0], load_after[0]) > (os.cpu_count() or 1) + 0.5 else "."),
        "",
        "| model | eager ms | plain ORT ms | ours ms | ours / eager (target <= 0.55) | ours / plain | same, from min: ours / eager | ours / plain |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['model']} | {row['eager_ms']:.2f} | {row['plain_ms']:.2f} | {row['ours_ms']:.2f} | "
            f"{row['ours_vs_eager']:.3f} | {row['ours_vs_plain']:.3f} | {row['ours_vs_eager_min']:.3f} | {row['ours_vs_plain_min']:.3f} |"
        )
    lines += [
        "",
        "| attention overhead vs resnet50 ours | ours (p50) | ours ort-cpu (p50) | plain ORT (p50) | eager (p50) | ours from min | ours, CPU time | ours ort-cpu, CPU time | FLOP (MAC) ratio | target |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, o in overhead.items():
        lines.append(
            f"| {name} | {o['ours']:.3f} | {o['ort_cpu']:.3f} | {o['plain']:.3f} | {o['eager']:.3f} | {o['ours_min']:.3f} | "
            f"{o['ours_cpu']:.3f} | {o['ort_cpu_cpu']:.3f} | {o['flops']:.4f} | <= {o['target']:.2f} |"
        )
    lines += ["", "| variant | CPU ms per run (median) |", "|---|---|"]
    lines += [f"| {v} | {ms:.2f} |" for v, ms in cpu.items()]
    lines += ["", "| attention blocks (ORT profile) | time share | FLOP share |", "|---|---|---|"]
    for name, prof in profiles.items():
        lines.append(f"| {name} | {100 * prof['attention_time_share']:.1f}% | {100 * prof['attention_flop_share']:.2f}% |")
        for kind, entry in prof["by_type"].items():
            lines.append(f"| {name} {kind} ({entry['count']}) | {100 * entry['time_share']:.1f}% | {100 * entry['flop_share']:.2f}% |")
    lines += ["", "All variants (ms):", "", report.to_markdown()]
    markdown = "\n".join(lines) + "\n"
    args.out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(args.out / "cpu_latency.json", {"load_average": [load_before, load_after], "rows": rows, "overhead": overhead, "cpu_ms": cpu, "profiles": profiles, "report": report.to_dict()})
    write_text_atomic(args.out / "cpu_latency.md", markdown)
    print(markdown)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
