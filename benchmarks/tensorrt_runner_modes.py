"""TensorRT runner: plain launches vs CUDA-graph replay vs a context pool, as ratios in one run.

Needs an NVIDIA GPU and TensorRT (exits 1 with the reason otherwise). The baseline is the plain
runner measured in the same process, rounds interleaved so clock drift hits every mode alike;
reports median host wall time and median GPU compute time (CUDA events) per mode.

    python benchmarks/tensorrt_runner_modes.py model.onnx [--batch 1] [--rounds 5] [--iters 200]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("onnx", type=Path)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--iters", type=int, default=200)
    args = ap.parse_args()

    import numpy as np

    from edgeattn.errors import EdgeattnError
    from edgeattn.tensorrt import build
    from edgeattn.tensorrt.runner import TensorRTRunner, backend_status

    ok, reason = backend_status()
    if not ok:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    engine = Path(tempfile.mkdtemp()) / "bench.engine"
    try:
        build(args.onnx, engine, max_batch=max(args.batch, 1))
    except EdgeattnError as exc:
        print(f"build failed: {exc}", file=sys.stderr)
        return 1

    runners = {
        "plain": TensorRTRunner(engine).load(),
        "cuda_graph": TensorRTRunner(engine, cuda_graph=True).load(),
        "pool2_threads2": TensorRTRunner(engine, contexts=2).load(),
    }
    spec = runners["plain"].inputs[0]
    shape = (args.batch, *[int(d) for d in spec.shape[1:]])
    x = np.random.default_rng(0).standard_normal(shape).astype(spec.dtype)
    wall: dict[str, list[float]] = {k: [] for k in runners}
    gpu: dict[str, list[float]] = {k: [] for k in runners}
    for r in runners.values():
        for _ in range(20):  # warm-up (and graph capture)
            r.run(x)
    for _ in range(args.rounds):
        for name, r in runners.items():
            if name.startswith("pool"):
                per_thread = args.iters // 2

                def loop(r: TensorRTRunner = r, per_thread: int = per_thread) -> None:
                    for _ in range(per_thread):
                        r.run(x)

                threads = [threading.Thread(target=loop) for _ in range(2)]
                t0 = time.perf_counter()
                for t in threads:
                    t.start()
                for t in threads:
                    t.join()
                wall[name].append((time.perf_counter() - t0) / (2 * per_thread) * 1e3)
            else:
                t0 = time.perf_counter()
                for _ in range(args.iters):
                    r.run(x)
                wall[name].append((time.perf_counter() - t0) / args.iters * 1e3)
            gpu[name].append(r.last_timing["compute_ms"])
    base = statistics.median(wall["plain"])
    print(f"engine {engine} batch {args.batch}: {runners['plain'].info().device}")
    print(f"{'mode':16s} {'wall ms/inf':>12s} {'vs plain':>9s} {'GPU ms':>8s}")
    for name in runners:
        w = statistics.median(wall[name])
        print(f"{name:16s} {w:12.3f} {w / base:9.2f} {statistics.median(gpu[name]):8.3f}")
    for r in runners.values():
        r.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
