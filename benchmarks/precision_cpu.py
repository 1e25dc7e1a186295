"""CPU latency of FP32 vs FP16 vs INT8 (attention-aware policy and --quantize-attention) vs OpenVINO.

Same process, batch 1, 224x224, 2 threads, se_resnet50 and cbam_resnet50 (random weights:
latency does not depend on them). Each model is exported once with folded attention blocks
(edgeattn export); every variant runs on that ONNX. OpenVINO gets the same graph with the
``edgeattn::`` functions inlined (its ONNX frontend cannot convert model-local functions). Rounds are interleaved (every variant runs
``--iters`` times per round, ``--rounds`` rounds) because absolute timings on shared machines
drift by 2x within the hour; ratios are against our ORT FP32 median from the same rounds.

    .venv/bin/python benchmarks/precision_cpu.py [--models se_resnet50 cbam_resnet50] [--rounds 7]

Targets (issue 4): our INT8 <= 0.55x our FP32, and faster than OpenVINO's default CPU path.
Writes ``benchmarks/results/precision_cpu.{json,md}``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any, Callable

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results"


def ort_runner(path: Path, threads: int) -> Callable[[np.ndarray], Any]:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    return lambda x: session.run(None, {name: x})


def openvino_runner(path: Path, threads: int) -> Callable[[np.ndarray], Any]:
    import openvino as ov

    core = ov.Core()
    # The default CPU path (on a bf16-capable CPU that means bf16 inference); only threads pinned.
    compiled = core.compile_model(str(path), "CPU", {"INFERENCE_NUM_THREADS": threads})
    request = compiled.create_infer_request()
    return lambda x: request.infer({0: x})


def inlined(path: Path) -> Path:
    """The same FP32 graph with the ``edgeattn::`` functions inlined: OpenVINO's ONNX frontend has
    no conversion rule for model-local functions in a custom domain."""
    import onnx

    from edgeattn._io import atomic_path
    from edgeattn.export.quantize._graph import inline_attention_functions

    out = path.with_name(path.stem + "_inlined.onnx")
    if not out.exists():  # reused by later runs, so never left half-written
        with atomic_path(out) as tmp:
            onnx.save(inline_attention_functions(onnx.load(str(path))), str(tmp))
    return out


def prepare(model_name: str, work: Path, calib: int) -> dict[str, Path]:
    from edgeattn.export import export
    from edgeattn.export.quantize import quantize

    fp32 = work / f"{model_name}.onnx"
    if not fp32.exists():
        export(model_name, fp32, input_shape=(1, 3, 224, 224), dynamic_batch=False)
    paths = {"ort fp32": fp32}
    # Calibration content does not change latency; a fixed random set keeps the script self-contained.
    data = np.random.default_rng(0).standard_normal((calib, 3, 224, 224)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, kwargs in {
            "ort fp16": {"precision": "fp16"},
            "ort int8 (gates fp32)": {"precision": "int8", "calibration": data},
            "ort int8 --quantize-attention": {"precision": "int8", "calibration": data, "quantize_attention": True},
        }.items():
            out = work / f"{model_name}_{label.split()[1]}{'_qa' if 'attention' in label else ''}.onnx"
            if not out.exists():
                quantize(fp32, out, num_calibration=calib, progress=False, use_cache=False, **kwargs)
            paths[label] = out
    return paths


def bench(runners: dict[str, Callable[[np.ndarray], Any]], rounds: int, iters: int, warmup: int) -> dict[str, list[float]]:
    x = np.random.default_rng(1).standard_normal((1, 3, 224, 224)).astype(np.float32)
    for run in runners.values():
        for _ in range(warmup):
            run(x)
    times: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(rounds):
        for label, run in runners.items():
            for _ in range(iters):
                start = time.perf_counter()
                run(x)
                times[label].append((time.perf_counter() - start) * 1e3)
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["se_resnet50", "cbam_resnet50"])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--calibration-samples", type=int, default=8)
    parser.add_argument("--work", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "edgeattn-precision-bench")
    parser.add_argument("--no-write", action="store_true", help="print only")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)

    results: dict[str, Any] = {
        "machine": {"platform": platform.platform(), "processor": platform.processor() or platform.machine(),
                    "cpus": os.cpu_count(), "threads": args.threads},
        "settings": {"batch": 1, "input": [3, 224, 224], "rounds": args.rounds, "iters": args.iters},
        "models": {},
    }
    lines = ["| model | variant | median ms | p90 ms | vs our FP32 |", "|---|---|---|---|---|"]
    for name in args.models:
        print(f"[{name}] exporting and converting ...", file=sys.stderr, flush=True)
        paths = prepare(name, args.work, args.calibration_samples)
        runners = {label: ort_runner(path, args.threads) for label, path in paths.items()}
        try:
            runners["openvino default (fp32 onnx)"] = openvino_runner(inlined(paths["ort fp32"]), args.threads)
        except Exception as exc:  # report, do not hide, an OpenVINO failure
            print(f"[{name}] OpenVINO could not compile the ONNX: {exc}", file=sys.stderr)
        print(f"[{name}] timing {len(runners)} variants ...", file=sys.stderr, flush=True)
        times = bench(runners, args.rounds, args.iters, args.warmup)
        base = statistics.median(times["ort fp32"])
        rows = {}
        for label, values in times.items():
            median = statistics.median(values)
            p90 = float(np.percentile(values, 90))
            rows[label] = {"median_ms": round(median, 2), "p90_ms": round(p90, 2), "ratio_vs_fp32": round(median / base, 3)}
            lines.append(f"| {name} | {label} | {median:.1f} | {p90:.1f} | {median / base:.2f}x |")
        results["models"][name] = rows
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        from edgeattn._io import write_json_atomic, write_text_atomic

        write_json_atomic(RESULTS / "precision_cpu.json", results)
        write_text_atomic(RESULTS / "precision_cpu.md", table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
