"""Throughput of models served by a real Triton Inference Server, from the client side.

Per model (the trained digits CBAM network, 1x32x32; se_resnet50 with random weights, 3x224x224)
a repository is written with ``edgeattn.serving.write_repository`` (``--backend python``: the
artifact on edgeattn's ONNX Runtime runner inside Triton's Python backend, one instance) twice:
with dynamic batching (preferred 4/8, 2 ms queue delay) and without. One local ``tritonserver``
(scripts/setup_triton.sh) serves both; the load generator (``edgeattn.bench.triton_client``)
sends batch-1 requests over HTTP at concurrency 1, 4 and 16, the two repositories' models
interleaved level by level so that their ratio is taken from the same minutes. For digits the
image-bytes ensemble (PNG in, logits out) is timed too, against the model fed the preprocessed
tensor: the difference is what the preprocessing step costs a request.

Client and server share this machine's cores: the absolute numbers are those of one small box,
the ratios (batching on / off, ensemble / tensor) are what carries over. The CPU is printed with
every table. Writes ``benchmarks/results/triton_serving.{json,md}``.

Usage: python benchmarks/triton_serving.py [--requests 200] [--models digits,se_resnet50]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = Path(__file__).parent / "results"
LEVELS = (1, 4, 16)


def _digits(work: Path) -> tuple[Path, Path]:
    import importlib.util

    from edgeattn.exporter import export

    spec = importlib.util.spec_from_file_location("digits_train", ROOT / "examples" / "digits" / "train.py")
    train = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train)
    _, heldout = train.export_data(work / "data")
    onnx_path = work / "digits.onnx"
    example = ROOT / "examples" / "digits"
    export(f"{example / 'model.py'}:create", onnx_path, checkpoint=example / "digits_cbam.safetensors")
    return onnx_path, heldout


def _se_resnet50(work: Path) -> Path:
    from edgeattn.exporter import export

    onnx_path = work / "se_resnet50.onnx"
    export("se_resnet50", onnx_path)
    return onnx_path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="Requests per row.")
    parser.add_argument("--models", default="digits,se_resnet50")
    parser.add_argument("--threads", type=int, default=2, help="ONNX Runtime threads inside the served model.")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--triton-home", type=Path, default=Path(os.environ.get("EDGEATTN_TRITON_HOME") or ROOT / ".triton"))
    args = parser.parse_args()

    from edgeattn.bench.environment import collect_environment
    from edgeattn.bench.triton_client import benchmark_triton
    from edgeattn.serving import RepositoryOptions, TritonServer, write_repository

    env = collect_environment(args.threads)
    print(f"CPU: {env['cpu']} ({env['logical_cores']} logical cores); client and server on this machine", flush=True)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        repo = work / "repo"
        images = None
        for model in args.models.split(","):
            if model == "digits":
                artifact, images = _digits(work)
            elif model == "se_resnet50":
                artifact = _se_resnet50(work)
            else:
                print(f"unknown model {model}", file=sys.stderr)
                return 2
            common = dict(backend="python", max_batch=16, threads=args.threads, warmup=True)
            write_repository(repo, [artifact], RepositoryOptions(name=f"{model}_batched", preferred_batch=(4, 8),
                                                                 queue_delay_us=2000, with_preprocessing=model == "digits", **common))
            write_repository(repo, [artifact], RepositoryOptions(name=f"{model}_unbatched", dynamic_batching=False, **common))
        with TritonServer(repo, home=args.triton_home) as server:
            url = f"http://{server.http_url}"
            for model in args.models.split(","):
                variants = [f"{model}_batched", f"{model}_unbatched"]
                for level in LEVELS:
                    for name in variants:
                        report = benchmark_triton(url, name, concurrency=(level,), requests=args.requests, warmup=5)
                        (result,) = report.results
                        rows.append({"model": model, "variant": name, "concurrency": level, **result.stats.to_dict()})
                        print(f"{name:24s} c={level:<3d} p50 {result.stats.p50_ms:8.2f} ms  p99 {result.stats.p99_ms:8.2f} ms  "
                              f"{result.stats.throughput:8.1f} samples/s", flush=True)
                if model == "digits" and images is not None:
                    for name in ("digits_batched_ensemble", "digits_batched"):
                        report = benchmark_triton(url, name, concurrency=(1,), requests=args.requests, warmup=5, inputs=images)
                        (result,) = report.results
                        rows.append({"model": model, "variant": name, "concurrency": 1, **result.stats.to_dict()})
                        print(f"{name:24s} c=1   p50 {result.stats.p50_ms:8.2f} ms  (ensemble cost check)", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "triton_serving.json").write_text(json.dumps({"environment": env, "rows": rows}, indent=2, default=str) + "\n")
    lines = [
        "# Triton serving throughput (client side, batch-1 requests over HTTP)",
        "",
        f"CPU: {env['cpu']} ({env['logical_cores']} logical cores), client and server on the same machine; "
        f"{args.requests} requests per row; Python backend over edgeattn's ONNX Runtime runner ({args.threads} threads), one instance.",
        "",
        "| model | concurrency | batched samples/s | unbatched samples/s | ratio | batched p50 ms | unbatched p50 ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for model in args.models.split(","):
        for level in LEVELS:
            on = next(r for r in rows if r["variant"] == f"{model}_batched" and r["concurrency"] == level)
            off = next(r for r in rows if r["variant"] == f"{model}_unbatched" and r["concurrency"] == level)
            lines.append(f"| {model} | {level} | {on['throughput']:.1f} | {off['throughput']:.1f} | "
                         f"{on['throughput'] / off['throughput']:.2f}x | {on['p50_ms']:.2f} | {off['p50_ms']:.2f} |")
    ens = next((r for r in rows if r["variant"] == "digits_batched_ensemble"), None)
    plain = next((r for r in rows if r["variant"] == "digits_batched" and r["concurrency"] == 1), None)
    if ens and plain:
        lines += ["", f"Ensemble (PNG bytes -> preprocess -> model) at concurrency 1: p50 {ens['p50_ms']:.2f} ms vs "
                  f"{plain['p50_ms']:.2f} ms for the preprocessed tensor: {ens['p50_ms'] - plain['p50_ms']:.2f} ms per request."]
    (args.out / "triton_serving.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
