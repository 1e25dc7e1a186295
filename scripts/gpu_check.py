"""The GPU check behind scripts/gpu-check.sh: build, compare, time; one JSON and one Markdown summary.

For se_resnet50 and cbam_resnet50 (random weights: the check is parity, not accuracy): export,
quantize to FP16 and INT8 (Q/DQ for TensorRT), build an engine from each, compare every engine with
its own ONNX run by ONNX Runtime on the CPU (same inputs; tolerances of the engine's precision),
time the engine with edgeattn's runner and, when trtexec is on PATH, with ``trtexec --loadEngine``
(the same engine), and, when Polygraphy is installed, run ``polygraphy run model.onnx --trt --onnxrt``
as an independent check. Every step is recorded with its outcome; a failed step does not stop the
others. Nothing here has been run by the project on a GPU yet.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

MODELS = ("se_resnet50", "cbam_resnet50")


def _step(results: list[dict[str, Any]], name: str, fn: Any) -> Any:
    started = time.perf_counter()
    entry: dict[str, Any] = {"step": name}
    try:
        value = fn()
        entry.update(ok=True, result=value)
    except Exception as exc:  # noqa: BLE001 - recorded, the next step still runs
        entry.update(ok=False, error=f"{type(exc).__name__}: {exc}")
        value = None
    entry["seconds"] = round(time.perf_counter() - started, 2)
    results.append(entry)
    print(f"[{'ok' if entry['ok'] else 'FAILED'}] {name} ({entry['seconds']} s)" + ("" if entry["ok"] else f": {entry['error']}"), flush=True)
    return value


def _compare(onnx_path: Path, engine: Path, precision: str) -> dict[str, Any]:
    import edgeattn
    from edgeattn.validation import infer_precision
    from edgeattn.compare import DEFAULT_TOLERANCES, compare_output

    x = np.random.default_rng(0).standard_normal((4, 3, 224, 224)).astype(np.float32)
    with edgeattn.load(str(onnx_path), backend="onnxruntime") as ref, edgeattn.load(str(engine), backend="tensorrt") as trt:
        name = ref.inputs[0].name
        expected, got = ref.run({name: x}), trt.run({name: x})
    tol = DEFAULT_TOLERANCES[infer_precision(engine) if precision == "fp32" else precision]
    out = {}
    for key, value in expected.items():
        c = compare_output(key, value, got[key], tol)
        out[key] = {"passed": c.passed, "max_abs": c.max_abs, "cosine": c.cosine, "top1_agreement": c.top1_agreement}
    if not all(v["passed"] for v in out.values()):
        raise AssertionError(f"engine differs from its ONNX on ONNX Runtime: {out}")
    return out


def _time_runner(engine: Path, iterations: int) -> dict[str, float]:
    import edgeattn

    x = np.zeros((1, 3, 224, 224), np.float32)
    with edgeattn.load(str(engine), backend="tensorrt") as runner:
        for _ in range(20):
            runner.run(x)
        compute = []
        for _ in range(iterations):
            runner.run(x)
            compute.append(runner.last_timing["compute_ms"])
    return {"compute_ms_median": float(np.median(compute)), "compute_ms_p90": float(np.percentile(compute, 90))}


def _trtexec(engine: Path) -> dict[str, float]:
    exe = shutil.which("trtexec")
    if exe is None:
        raise FileNotFoundError("trtexec is not on PATH")
    proc = subprocess.run([exe, f"--loadEngine={engine}", "--shapes=input:1x3x224x224", "--iterations=200"],
                          capture_output=True, text=True, timeout=300, check=True)
    m = re.search(r"GPU Compute Time: min = ([\d.]+) ms, max = ([\d.]+) ms, mean = ([\d.]+) ms, median = ([\d.]+) ms", proc.stdout)
    if not m:
        raise ValueError("no 'GPU Compute Time' line in trtexec's output")
    return {"compute_ms_median": float(m.group(4)), "compute_ms_mean": float(m.group(3))}


def _polygraphy(onnx_path: Path) -> str:
    exe = shutil.which("polygraphy")
    if exe is None:
        raise FileNotFoundError("polygraphy is not installed")
    proc = subprocess.run([exe, "run", str(onnx_path), "--trt", "--onnxrt", "--input-shapes", "input:[1,3,224,224]",
                           "--atol", "1e-3", "--rtol", "1e-3"], capture_output=True, text=True, timeout=600)
    if proc.returncode != 0:
        raise AssertionError(proc.stdout[-2000:] + proc.stderr[-2000:])
    return "PASSED"


def _cli(*args: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-m", "edgeattn", *args, "--json"], capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError((proc.stdout + proc.stderr).strip().splitlines()[-1] if (proc.stdout + proc.stderr).strip() else "failed")
    return json.loads(proc.stdout) if proc.stdout.strip().startswith("{") else {"output": proc.stdout[-500:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    from edgeattn.graph import PRECISIONS

    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    results: list[dict[str, Any]] = []
    doctor = _step(results, "doctor", lambda: _cli("doctor"))
    for model in MODELS:
        onnx = {"fp32": out / f"{model}.onnx", "fp16": out / f"{model}.fp16.onnx", "int8": out / f"{model}.int8.onnx"}
        _step(results, f"{model} export", lambda: _cli("export", model, "-o", str(onnx["fp32"])))
        _step(results, f"{model} quantize fp16", lambda: _cli("quantize", str(onnx["fp32"]), "-p", "fp16", "-o", str(onnx["fp16"])))
        _step(results, f"{model} quantize int8", lambda: _cli("quantize", str(onnx["fp32"]), "-p", "int8", "--target", "tensorrt", "-o", str(onnx["int8"])))
        for precision in PRECISIONS:
            engine = out / f"{model}.{precision}.engine"
            built = _step(results, f"{model} {precision} build", lambda: _cli(
                "build", str(onnx[precision]), "-o", str(engine), "--max-batch", "4", "--timing-cache", str(out / "timing.cache")))
            if built is None:
                continue
            _step(results, f"{model} {precision} parity vs ONNX Runtime", lambda: _compare(onnx[precision], engine, precision))
            _step(results, f"{model} {precision} runner timing", lambda: _time_runner(engine, args.iterations))
            _step(results, f"{model} {precision} trtexec timing", lambda: _trtexec(engine))
        _step(results, f"{model} polygraphy --trt --onnxrt", lambda: _polygraphy(onnx["fp32"]))
    tests = _step(results, "pytest -m gpu", lambda: subprocess.run(
        [sys.executable, "-m", "pytest", "-m", "gpu", "tests/tensorrt/gpu", "-q"], capture_output=True, text=True).stdout[-1500:])
    summary = {"machine": platform.node(), "python": platform.python_version(), "doctor": doctor, "steps": results, "pytest_gpu": tests}
    (out / "summary.json").write_text(json.dumps(summary, indent=2, default=str))
    lines = ["# edgeattn GPU check", "", f"Machine: `{platform.node()}`; GPU: {((doctor or {}).get('cuda') or {}).get('gpu_name')}; "
             f"TensorRT: {((doctor or {}).get('tensorrt') or {}).get('version')}", "", "| step | ok | seconds | result |", "|---|---|---|---|"]
    for r in results:
        detail = r.get("error") or json.dumps(r.get("result"), default=str)
        lines.append(f"| {r['step']} | {'yes' if r['ok'] else 'NO'} | {r['seconds']} | {detail[:160].replace('|', '/')} |")
    (out / "summary.md").write_text("\n".join(lines) + "\n")
    print(f"wrote {out / 'summary.json'} and {out / 'summary.md'}")
    return 0 if all(r["ok"] or r["step"].endswith(("trtexec timing", "polygraphy --trt --onnxrt")) for r in results) else 1


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    raise SystemExit(main())
