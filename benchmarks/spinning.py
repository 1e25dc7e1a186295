"""What thread spinning costs and buys: one model alone vs several models in one process.

ONNX Runtime's worker threads (and PyTorch's OpenMP threads) busy-wait after each run. Alone on
the machine that saves the wake-up of the next operator; in a process hosting several models
(a service, an interleaved benchmark) the idle sessions steal the cores of the one running.
Every measurement runs in its own child process, and the children for ``spinning on`` and
``spinning off`` alternate (``--repeats`` times), so neither setting gets the quieter minutes:

- ``alone``: one ORT session of each model in turn (a process per model and setting);
- ``shared``: all models' sessions in one process, run in interleaved rounds (what
  ``edgeattn bench`` does), the latency of each model taken while the others sit idle.

Prints median latency per model and setting and the ratio off/on; writes JSON with ``--out``.

    python benchmarks/spinning.py --work /tmp/exports [--models resnet50 se_resnet50 cbam_resnet50]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path


def child(paths: list[str], spinning: bool, threads: int, iters: int, rounds: int) -> dict[str, float]:
    import numpy as np
    import onnxruntime as ort

    sessions = {}
    for path in paths:
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.log_severity_level = 3
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if spinning else "0")
        sessions[Path(path).stem] = ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, 224, 224)).astype(np.float32)
    times: dict[str, list[float]] = {name: [] for name in sessions}
    for session in sessions.values():
        for _ in range(3):
            session.run(None, {"input": x})
    for _ in range(rounds):
        for name, session in sessions.items():
            for _ in range(iters):
                start = time.perf_counter()
                session.run(None, {"input": x})
                times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["resnet50", "se_resnet50", "cbam_resnet50"])
    parser.add_argument("--work", type=Path, help="Folder holding (or receiving) MODEL.onnx exports.")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--iters", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=3, help="Alternations of the on/off children.")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--spin", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.spin, args.threads, args.iters, args.rounds)))
        return 0

    if args.work is None:
        parser.error("--work is required")
    from edgeattn.bench.environment import cpu_isa, cpu_model

    args.work.mkdir(parents=True, exist_ok=True)
    paths = []
    for name in args.models:
        path = args.work / f"{name}.onnx"
        if not path.exists():
            from edgeattn.exporter import export

            export(name, path, input_shape=(1, 3, 224, 224), dynamic_batch=False)
        paths.append(str(path))
    runs: dict[str, dict[str, list[float]]] = {}
    load = [os.getloadavg()[0]]
    for repeat in range(args.repeats):
        for spin in (repeat % 2 == 0, repeat % 2 == 1):  # alternate which setting goes first
            for mode, groups in (("alone", [[p] for p in paths]), ("shared", [paths])):
                for group in groups:
                    cmd = [sys.executable, __file__, "--child", *group, "--threads", str(args.threads),
                           "--iters", str(args.iters), "--rounds", str(args.rounds)] + (["--spin"] if spin else [])
                    result = json.loads(subprocess.run(cmd, capture_output=True, text=True, check=True).stdout)
                    for name, ms in result.items():
                        runs.setdefault(f"{mode}/{name}/{'on' if spin else 'off'}", []).append(ms)
            print(f"repeat {repeat + 1}/{args.repeats}, spinning {'on' if spin else 'off'} done", file=sys.stderr)
        load.append(os.getloadavg()[0])
    summary = {key: statistics.median(v) for key, v in runs.items()}
    print(f"\nCPU: {cpu_model()} ({cpu_isa()}), {os.cpu_count()} logical cores, {args.threads} ORT threads, batch 1; "
          f"1-minute load average {min(load):.1f}-{max(load):.1f}; median of {args.repeats} child processes per cell\n")
    print("| mode | model | spinning on ms | spinning off ms | off / on |")
    print("|---|---|---|---|---|")
    for mode in ("alone", "shared"):
        for name in args.models:
            on, off = summary[f"{mode}/{name}/on"], summary[f"{mode}/{name}/off"]
            print(f"| {mode} | {name} | {on:.2f} | {off:.2f} | {off / on:.3f} |")
    if args.out:
        from edgeattn._io import write_json_atomic

        write_json_atomic(args.out, {"cpu": cpu_model(), "cpu_isa": cpu_isa(), "load_average": load, "args": {k: str(v) for k, v in vars(args).items()}, "runs_ms": runs, "median_ms": summary})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
