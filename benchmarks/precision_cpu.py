"""CPU latency, ONNX Runtime and OpenVINO side by side: FP32 / FP16 / BF16 / INT8.

Same process, batch 1, 224x224, 2 threads, se_resnet50 and cbam_resnet50 (random weights:
latency does not depend on them). Each model is exported once with folded attention blocks
(edgeattn export); every variant runs on that ONNX or on what is derived from it:

- ``ort fp32`` / ``ort fp16`` / ``ort int8 --attention-policy gate`` (the default INT8 policy: only the
  gate's Sigmoid and the scaling Mul FP32) / ``ort int8 --attention-policy fp32`` (the whole gate path
  FP32, the default until the CIFAR-10 measurements) / ``ort int8 --attention-policy int8``
  (``--quantize-attention``): our artifacts on ONNX Runtime (edgeattn's runner);
- ``openvino f32`` / ``openvino bf16`` / ``openvino default``: the FP32 ONNX on OpenVINO
  (edgeattn's ``openvino`` runner, functions inlined) at each inference precision;
- ``openvino int8 ... (our Q/DQ)``: the same INT8 artifacts on OpenVINO's
  INT8 kernels (the ops left in float at f32, the runner's default; ``default precision``: at
  OpenVINO's default, bf16 on CPUs that have it);
- ``openvino int8 (NNCF)``: OpenVINO's own post-training INT8 (``nncf.quantize``, default
  preset, same calibration samples) of the FP32 model, the rest at OpenVINO's default precision
  (and at f32: ``f32 precision``), so both INT8 forms are compared at both settings.

Rounds are interleaved (every variant runs ``--iters`` times per round, the order rotating by
round) because absolute timings on shared machines drift by 2x within the hour; ratios are
against our ORT FP32 median from the same rounds. No idle variant spins (ORT
``allow_spinning=0``; OpenVINO's TBB workers sleep on their own). The CPU, its SIMD extension and
the load average are written with the table.

    .venv/bin/python benchmarks/precision_cpu.py [--models se_resnet50 cbam_resnet50] [--rounds 7]

Targets (issue 15): our INT8 <= 8 ms on 2 AVX-512 cores for se_resnet50, and faster than
OpenVINO INT8 (NNCF) on the same machine. Writes ``benchmarks/results/precision_cpu.{json,md}``.
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


def edgeattn_runner(path: Path, backend: str, threads: int, **options: Any) -> Callable[[np.ndarray], Any]:
    from edgeattn.runtime import load

    runner = load(path, backend=backend, threads=threads, **options)
    return runner.run


def nncf_runner(fp32: Path, work: Path, calibration: np.ndarray, threads: int,
                precision: str | None = None) -> Callable[[np.ndarray], Any]:
    """OpenVINO's own INT8: NNCF post-training quantization of the (inlined) FP32 model; the ops
    NNCF leaves unquantized run at OpenVINO's default precision (bf16 where the CPU has it) or at
    ``precision``."""
    import openvino as ov

    core = ov.Core()
    xml = work / f"{fp32.stem}_nncf_int8.xml"
    if not xml.exists():
        import nncf

        model = core.read_model(str(inlined(fp32)))
        dataset = nncf.Dataset([calibration[i : i + 1] for i in range(len(calibration))])
        quantized = nncf.quantize(model, dataset, subset_size=len(calibration))
        ov.save_model(quantized, str(xml))
    config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY"}
    if precision:
        config["INFERENCE_PRECISION_HINT"] = precision
    compiled = core.compile_model(str(xml), "CPU", config)
    request = compiled.create_infer_request()
    return lambda x: request.infer([x])


def inlined(path: Path) -> Path:
    """The same FP32 graph with the ``edgeattn::`` functions inlined: OpenVINO's ONNX frontend has
    no conversion rule for model-local functions in a custom domain."""
    import onnx

    from edgeattn._io import atomic_path
    from edgeattn.graph import inline_functions

    out = path.with_name(path.stem + "_inlined.onnx")
    if not out.exists():  # reused by later runs, so never left half-written
        with atomic_path(out) as tmp:
            onnx.save(inline_functions(onnx.load(str(path))).model, str(tmp))
    return out


def calibration_data(count: int) -> np.ndarray:
    # Calibration content does not change latency; a fixed random set keeps the script self-contained.
    return np.random.default_rng(0).standard_normal((count, 3, 224, 224)).astype(np.float32)


def prepare(model_name: str, work: Path, calib: int) -> dict[str, Path]:
    from edgeattn.exporter import export
    from edgeattn.exporter.quantize import quantize

    fp32 = work / f"{model_name}.onnx"
    if not fp32.exists():
        export(model_name, fp32, input_shape=(1, 3, 224, 224), dynamic_batch=False)
    paths = {"ort fp32": fp32}
    data = calibration_data(calib)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for label, kwargs in {
            "ort fp16": {"precision": "fp16"},
            "ort int8 --attention-policy gate": {"precision": "int8", "calibration": data, "attention": "gate"},
            "ort int8 --attention-policy fp32": {"precision": "int8", "calibration": data, "attention": "fp32"},
            "ort int8 --attention-policy int8": {"precision": "int8", "calibration": data, "attention": "int8"},
        }.items():
            mode = label.split()[-1] if "--attention-policy" in label else ""
            out = work / f"{model_name}_{label.split()[1]}{'_' + mode if mode else ''}.onnx"
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
    order = list(runners.items())
    for r in range(rounds):
        shift = r % len(order)
        for label, run in order[shift:] + order[:shift]:
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
    parser.add_argument("--no-nncf", action="store_true", help="skip OpenVINO's own (NNCF) INT8 variant")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)

    from edgeattn.bench.environment import cpu_isa, cpu_model

    results: dict[str, Any] = {
        "machine": {"cpu": cpu_model(), "cpu_isa": cpu_isa(), "platform": platform.platform(),
                    "cpus": os.cpu_count(), "threads": args.threads},
        "settings": {"batch": 1, "input": [3, 224, 224], "rounds": args.rounds, "iters": args.iters,
                     "ort_spinning": False},
        "load_average": [os.getloadavg()[0]],
        "models": {},
    }
    lines = ["| model | variant | median ms | p90 ms | vs our ORT FP32 |", "|---|---|---|---|---|"]
    for name in args.models:
        print(f"[{name}] exporting and converting ...", file=sys.stderr, flush=True)
        paths = prepare(name, args.work, args.calibration_samples)
        runners = {label: edgeattn_runner(path, "onnxruntime", args.threads) for label, path in paths.items()}
        openvino = {
            "openvino f32": (paths["ort fp32"], {"inference_precision": "f32"}),
            "openvino bf16": (paths["ort fp32"], {"inference_precision": "bf16"}),
            "openvino default": (paths["ort fp32"], {"inference_precision": None}),
            "openvino int8 --attention-policy gate (our Q/DQ)": (paths["ort int8 --attention-policy gate"], {}),
            "openvino int8 --attention-policy fp32 (our Q/DQ)": (paths["ort int8 --attention-policy fp32"], {}),
            "openvino int8 --attention-policy fp32 (our Q/DQ), default precision": (paths["ort int8 --attention-policy fp32"], {"inference_precision": None}),
            "openvino int8 --attention-policy int8 (our Q/DQ)": (paths["ort int8 --attention-policy int8"], {}),
        }
        for label, (path, options) in openvino.items():
            try:
                runners[label] = edgeattn_runner(path, "openvino", args.threads, **options)
            except Exception as exc:  # report, do not hide, an OpenVINO failure
                print(f"[{name}] {label}: {exc}", file=sys.stderr)
        if not args.no_nncf:
            try:
                data = calibration_data(args.calibration_samples)
                runners["openvino int8 (NNCF)"] = nncf_runner(paths["ort fp32"], args.work, data, args.threads)
                runners["openvino int8 (NNCF), f32 precision"] = nncf_runner(paths["ort fp32"], args.work, data, args.threads, "f32")
            except Exception as exc:  # noqa: BLE001
                print(f"[{name}] NNCF quantization failed: {exc}", file=sys.stderr)
        print(f"[{name}] timing {len(runners)} variants ...", file=sys.stderr, flush=True)
        times = bench(runners, args.rounds, args.iters, args.warmup)
        results["load_average"].append(os.getloadavg()[0])
        base = statistics.median(times["ort fp32"])
        rows = {}
        for label, values in times.items():
            median = statistics.median(values)
            p90 = float(np.percentile(values, 90))
            rows[label] = {"median_ms": round(median, 2), "p90_ms": round(p90, 2), "ratio_vs_fp32": round(median / base, 3)}
            lines.append(f"| {name} | {label} | {median:.1f} | {p90:.1f} | {median / base:.2f}x |")
        results["models"][name] = rows
    load = results["load_average"]
    header = (f"CPU: {results['machine']['cpu']} ({results['machine']['cpu_isa']}), {os.cpu_count()} logical cores, "
              f"{args.threads} threads, batch 1, {args.rounds} interleaved rounds x {args.iters} runs; ORT spinning off; "
              f"1-minute load average {min(load):.1f}-{max(load):.1f}.\n\n")
    table = header + "\n".join(lines)
    print(table)
    if not args.no_write:
        from edgeattn._io import write_json_atomic, write_text_atomic

        write_json_atomic(RESULTS / "precision_cpu.json", results)
        write_text_atomic(RESULTS / "precision_cpu.md", table + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
