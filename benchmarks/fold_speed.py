"""Folded vs plain export on ONNX Runtime CPU, and the canonical-body alternatives.

For each model (default: resnet50, se_resnet50, cbam_resnet50 from the zoo, random weights),
batch 1, 224x224, one process, rounds interleaved across variants (the shared machines drift by
2x within an hour, so only ratios measured in the same run mean anything):

- ``eager``: PyTorch eager FP32
- ``plain``: ``torch.onnx.export(dynamo=True)`` as is, ORT defaults (the baseline)
- ``functions``: ours (folded into edgeattn:: local functions, onnxsim), default bodies
- ``inline``: ours with the canonical bodies inlined as standard ops
- ``ca_twice``: the CBAM MLP evaluated on avg and max separately
- ``full`` / ``ca_twice_full``: every gate repeated to X's shape before the Mul
  (``gate_layout="full"``), which keeps ORT's NCHWc blocked layout through the block;
  ``ca_twice_full`` is what ``export --optimize-for ort-cpu`` emits for CBAM

Prints a Markdown table of median latency and ratios vs ``plain`` of the same model and vs
``resnet50`` (attention overhead), and writes JSON with ``--out``.

    python benchmarks/fold_speed.py --threads 2 --rounds 7 --iters 10 --out fold_speed.json
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path


def _session(proto, threads: int):
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Idle sessions must not spin their thread pools while the next variant runs (interleaving
    # many sessions in one process would otherwise measure their interference).
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(proto.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _variants(model_name: str, workdir: Path) -> tuple[object, dict[str, object]]:
    import onnx
    import onnx_ir as ir
    import torch

    from edgeattn.exporter import export
    from edgeattn.exporter.fold import BodyOptions, fold_attention
    from edgeattn.exporter.simplify import simplify
    from edgeattn.models import create_model

    torch.manual_seed(0)
    model = create_model(model_name).eval()
    raw_path = workdir / f"{model_name}_raw.onnx"
    # The plain export: dynamo, no folding, no simplification (what a user gets by default).
    export(model, raw_path, input_shape=(1, 3, 224, 224), dynamic_batch=False, fold="none", simplify=False, check=False)
    raw = onnx.load(str(raw_path))
    out: dict[str, object] = {"plain": raw}
    options = {
        "functions": ("functions", BodyOptions()),
        "inline": ("inline", BodyOptions()),
        "ca_twice": ("functions", BodyOptions(channel_form="twice")),
        "full": ("functions", BodyOptions(gate_layout="full")),
        "ca_twice_full": ("functions", BodyOptions(channel_form="twice", gate_layout="full")),
    }
    for name, (mode, opts) in options.items():
        if name in ("ca_twice", "ca_twice_full") and not model_name.startswith("cbam_"):
            continue
        if name == "full" and model_name == "resnet50":
            continue
        m = ir.from_proto(raw)
        fold_attention(m, mode, options=opts)
        proto, _ = simplify(ir.to_proto(m))
        out[name] = proto
    return model, out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["resnet50", "se_resnet50", "cbam_resnet50"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--no-eager", action="store_true")
    parser.add_argument("--stat", choices=["median", "min"], default="median")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)

    from edgeattn.runtime.spinning import passive_openmp

    passive_openmp()  # idle PyTorch threads sleep too (set before torch loads OpenMP)
    import numpy as np
    import onnxruntime as ort
    import torch

    from edgeattn._io import write_json_atomic

    torch.set_num_threads(args.threads)
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    xt = torch.from_numpy(x)
    runners: dict[tuple[str, str], object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for model_name in args.models:
            print(f"exporting {model_name} ...", file=sys.stderr)
            model, protos = _variants(model_name, Path(tmp))
            if not args.no_eager:
                runners[(model_name, "eager")] = lambda m=model: m(xt)
            for variant, proto in protos.items():
                session = _session(proto, args.threads)
                runners[(model_name, variant)] = lambda s=session: s.run(None, {"input": x})

        times: dict[tuple[str, str], list[float]] = {k: [] for k in runners}
        with torch.no_grad():
            for fn in runners.values():
                for _ in range(args.warmup):
                    fn()
            for r in range(args.rounds):
                print(f"round {r + 1}/{args.rounds}", file=sys.stderr)
                for key, fn in runners.items():
                    for _ in range(args.iters):
                        t0 = time.perf_counter()
                        fn()
                        times[key].append((time.perf_counter() - t0) * 1e3)
                if args.out:  # partial results survive an interrupted run
                    partial = {f"{m}/{v}": statistics.median(t) for (m, v), t in times.items()}
                    write_json_atomic(args.out, {"rounds_done": r + 1, "median_ms": partial})

    # --stat min: on a contended machine the fastest iteration is the better estimate of cost.
    reducer = min if args.stat == "min" else statistics.median
    median = {k: reducer(v) for k, v in times.items()}
    base_model = "resnet50" if "resnet50" in args.models else None
    rows = []
    for (model_name, variant), ms in median.items():
        plain = median.get((model_name, "plain"))
        eager = median.get((model_name, "eager"))
        same_variant_base = median.get((base_model, variant)) if base_model else None
        rows.append(
            {
                "model": model_name,
                "variant": variant,
                "ms": round(ms, 3),
                "vs_plain": round(ms / plain, 3) if plain else None,
                "vs_eager": round(ms / eager, 3) if eager else None,
                "vs_resnet50_same_variant": round(ms / same_variant_base, 3) if same_variant_base else None,
            }
        )
    print(f"\nORT {ort.__version__}, torch {torch.__version__}, {args.threads} threads, batch 1, 224x224, "
          f"{args.rounds} interleaved rounds x {args.iters} iters, {platform.processor() or platform.machine()}\n")
    print(f"statistic: {args.stat} per variant\n")
    print("| model | variant | ms | vs plain export | vs PyTorch eager | vs resnet50 (same variant) |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print(
            f"| {row['model']} | {row['variant']} | {row['ms']:.2f} | {row['vs_plain'] or '-'} | "
            f"{row['vs_eager'] or '-'} | {row['vs_resnet50_same_variant'] or '-'} |"
        )
    if args.out:
        all_times = {f"{m}/{v}": t for (m, v), t in times.items()}
        write_json_atomic(args.out, {"args": {k: str(v) for k, v in vars(args).items()}, "rows": rows, "times_ms": all_times})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
