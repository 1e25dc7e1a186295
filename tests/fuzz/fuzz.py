"""Mutation fuzzing of the files edgeattn reads: ONNX models, JSON sidecars, safetensors and
``.pt`` checkpoints (zip, legacy and a malicious pickle), through the public API.

Cases run in worker subprocesses (``python -m tests.fuzz.fuzz --worker``); a worker that dies
(a signal, an abort) counts the case as a crash and is replaced. Per case the result is one of:
ok (accepted), handled (an EdgeattnError: the one-line error), traceback (any other exception),
crash, timeout. After every case the harness also checks that no code named by the file ran
(``code executed``: a canary file a payload would create) and that the case's output folder holds
no partial file (a ``*.tmp``, or a model without its sidecar).

    python -m tests.fuzz.fuzz --cases 300 --seed 0          # the fast tier (.ci/run)
    python -m tests.fuzz.fuzz --cases 10000 --seed 0 --json fuzz.json

Exit 0 when crashes, tracebacks, timeouts, code executed and partial files are all 0.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import selectors
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
KINDS = ("onnx", "sidecar", "safetensors", "pt_zip", "pt_legacy", "pt_pickle")
CANARY = "CANARY_RAN"
INTERESTING = [0x00, 0xFF, 0x7F, 0x80, 0x01, 0xFE, 0x3F, 0x40]
JSON_VALUES = [None, True, 0, -1, 1e308, "", "\udcff", [], {}, "payload.py:create", "os:abort", [[[[[]]]]], "x" * 5000]


# ------------------------------------------------------------------------------------ the seeds
def make_seeds(folder: Path) -> dict[str, bytes]:
    """Valid files of each kind (mutated afterwards), plus the payloads a mutation must never run."""
    import onnx
    import torch
    from safetensors.torch import save_file

    from tests.tiny_onnx import tiny_classifier

    provenance = {"source": "payload.py:create", "model_sha256": "0" * 64, "preprocessing": {"mean": [0.5, 0.5, 0.5], "std": [0.2, 0.2, 0.2], "input_size": [3, 8, 8]}}
    model = tiny_classifier(metadata={"edgeattn.provenance": provenance, "edgeattn.precision": "fp32"})
    seeds = {"onnx": model.SerializeToString()}
    bare = onnx.ModelProto()
    bare.CopyFrom(model)
    del bare.metadata_props[:]
    seeds["sidecar_model"] = bare.SerializeToString()
    seeds["sidecar"] = json.dumps({"provenance": provenance, "precision": "fp32", "blocks": [{"name": "se", "kind": "SqueezeExcite"}]}).encode()
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
    state = net.state_dict()
    save_file(state, folder / "s.safetensors")
    seeds["safetensors"] = (folder / "s.safetensors").read_bytes()
    torch.save(state, folder / "z.pt")
    seeds["pt_zip"] = (folder / "z.pt").read_bytes()
    torch.save(state, folder / "l.pt", _use_new_zipfile_serialization=False)
    seeds["pt_legacy"] = (folder / "l.pt").read_bytes()
    torch.save({"state_dict": state, "payload": _Payload()}, folder / "p.pt")
    seeds["pt_pickle"] = (folder / "p.pt").read_bytes()
    return seeds


class _Payload:
    """Unpickling this touches the canary: it must never happen (weights_only=True refuses it)."""

    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(CANARY),))


# ------------------------------------------------------------------------------------ mutations
def mutate(data: bytes, rng: random.Random, kind: str) -> bytes:
    if kind == "sidecar" and rng.random() < 0.5:
        structured = _mutate_json(data, rng)
        if structured is not None:
            return structured
    buf = bytearray(data)
    for _ in range(rng.choice([1, 1, 2, 3, 8])):
        op = rng.randrange(7)
        n = len(buf)
        if n == 0:
            buf += bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
            continue
        pos = rng.randrange(n)
        if op == 0:  # flip a bit
            buf[pos] ^= 1 << rng.randrange(8)
        elif op == 1:  # an interesting byte
            buf[pos] = rng.choice(INTERESTING)
        elif op == 2:  # random bytes in place
            for i in range(pos, min(n, pos + rng.randrange(1, 32))):
                buf[i] = rng.randrange(256)
        elif op == 3:  # truncate
            del buf[pos:]
        elif op == 4:  # delete a range
            del buf[pos : pos + rng.randrange(1, 64)]
        elif op == 5:  # insert random bytes
            buf[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 64)))
        else:  # duplicate a chunk
            start = rng.randrange(n)
            buf[pos:pos] = buf[start : start + rng.randrange(1, 256)]
    return bytes(buf)


def _mutate_json(data: bytes, rng: random.Random) -> bytes | None:
    try:
        obj = json.loads(data)
    except ValueError:
        return None
    paths: list[tuple[object, object]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for k in list(node):
                paths.append((node, k))
                walk(node[k])
        elif isinstance(node, list):
            for i in range(len(node)):
                paths.append((node, i))
                walk(node[i])

    walk(obj)
    for _ in range(rng.randrange(1, 4)):
        if not paths:
            break
        parent, key = rng.choice(paths)
        value = rng.choice(JSON_VALUES)
        if value == "\udcff":
            return json.dumps(obj).encode().replace(b'"fp32"', b'"fp\xff\xfe"', 1) + b"\n"
        parent[key] = value  # type: ignore[index]
    if rng.random() < 0.1:  # nesting deeper than Python's json recursion limit
        return b'{"provenance": ' + b"[" * 3000 + b"]" * 3000 + b', "rest": ' + json.dumps(obj).encode() + b"}"
    return json.dumps(obj).encode()


# --------------------------------------------------------------------------------------- worker
def run_case(kind: str, case_dir: Path) -> tuple[str, str]:
    """Feed one mutated file to each public API step that reads it; the worst outcome counts:
    ('ok'|'handled'|'traceback', detail). Steps run independently, so a file refused by one
    reader still reaches the others."""
    import traceback

    from edgeattn.errors import EdgeattnError

    status, details = "ok", []
    for name, step in _steps(kind, case_dir):
        try:
            step()
        except EdgeattnError as exc:
            if status == "ok":
                status = "handled"
            details.append(f"{name}: {type(exc).__name__}")
        except Exception as exc:  # noqa: BLE001 - what the fuzzer is for
            frame = traceback.extract_tb(exc.__traceback__)[-1]
            return "traceback", f"{name}: {type(exc).__name__}: {str(exc)[:200]} ({Path(frame.filename).name}:{frame.lineno})"
    return status, "; ".join(details)


def _steps(kind: str, case_dir: Path) -> list[tuple[str, Any]]:
    import numpy as np

    if kind in ("onnx", "sidecar"):
        from edgeattn.artifact import ArtifactInfo
        from edgeattn.data import Preprocessing
        from edgeattn.exporter.quantize import quantize
        from edgeattn.runtime import load
        from edgeattn.validation.core import infer_precision
        from edgeattn.validation.reference import resolve_reference

        path = case_dir / "m.onnx"

        def run() -> None:
            with load(path, backend="onnxruntime", threads=1) as runner:
                spec = runner.inputs[0]
                shape = [d if isinstance(d, int) and 0 < d <= 64 else 1 for d in spec.shape]
                runner.run(np.zeros(shape, dtype=np.float32))

        return [
            ("ArtifactInfo.read", lambda: ArtifactInfo.read(path)),
            ("infer_precision", lambda: infer_precision(path)),
            ("Preprocessing.from_onnx", lambda: Preprocessing.from_onnx(path)),
            ("resolve_reference", lambda: resolve_reference(ArtifactInfo.read(path).provenance, path, trust_provenance=False)),
            # trusted: only a file whose sha256 is the recorded one may run (the payload's is not)
            ("resolve_reference(trust)", lambda: resolve_reference(ArtifactInfo.read(path).provenance, path, trust_provenance=True)),
            ("runtime.load+run", run),
            ("quantize fp16", lambda: quantize(path, case_dir / "out" / "m.fp16.onnx", precision="fp16", progress=False, use_cache=False)),
        ]
    import torch

    from edgeattn.models import load_checkpoint
    from edgeattn.models.checkpoint import read_checkpoint

    suffix = ".safetensors" if kind == "safetensors" else ".pt"
    path = case_dir / f"c{suffix}"

    def into_model() -> None:
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4), torch.nn.Linear(4, 2))
        load_checkpoint(net, path)

    return [("read_checkpoint", lambda: read_checkpoint(path)), ("load_checkpoint", into_model)]


def worker() -> None:
    """Read case lines (kind, folder) on stdin, answer one JSON line each on stdout."""
    import warnings

    warnings.simplefilter("ignore")
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(1)
    out = sys.stdout
    sys.stdout = sys.stderr  # libraries' prints must not break the protocol
    for line in sys.stdin:
        kind, folder = json.loads(line)
        os.chdir(folder)  # the canary a payload would touch lands in the case folder
        status, detail = run_case(kind, Path(folder))
        out.write(json.dumps([status, detail]) + "\n")
        out.flush()


# --------------------------------------------------------------------------------------- driver
class Worker:
    def __init__(self) -> None:
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "tests.fuzz.fuzz", "--worker"],
            cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env,
        )

    def ask(self, kind: str, folder: Path, timeout: float) -> tuple[str, str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            self.proc.stdin.write(json.dumps([kind, str(folder)]) + "\n")
            self.proc.stdin.flush()
        except BrokenPipeError:
            return "crash", f"worker gone (exit {self.proc.wait()})"
        selector = selectors.DefaultSelector()
        selector.register(self.proc.stdout, selectors.EVENT_READ)
        if not selector.select(timeout):
            self.proc.kill()
            self.proc.wait()
            return "timeout", f"no answer in {timeout:.0f} s"
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait()
            return "crash", f"worker exited {code}" + (f" (signal {-code})" if code < 0 else "")
        status, detail = json.loads(line)
        return status, detail

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            self.proc.wait(timeout=30)


def partial_files(folder: Path) -> list[str]:
    out = folder / "out"
    if not out.is_dir():
        return []
    names = {p.name for p in out.iterdir()}
    bad = sorted(n for n in names if n.endswith(".tmp"))
    bad += sorted(n for n in names if n.endswith(".onnx") and n + ".json" not in names)
    return bad


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds per case")
    parser.add_argument("--json", type=Path, default=None, help="write the summary here")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        worker()
        return 0
    started = time.perf_counter()
    base = Path(tempfile.mkdtemp(prefix="edgeattn-fuzz-"))
    try:
        return _drive(args, base, started)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def _drive(args: argparse.Namespace, base: Path, started: float) -> int:
    import threading

    seeds = make_seeds(base)
    counts: Counter[str] = Counter()
    per_kind: Counter[tuple[str, str]] = Counter()
    findings: list[dict[str, str]] = []
    code_executed = partial = 0
    lock = threading.Lock()
    next_case = iter(range(args.cases))

    def prepare(index: int) -> tuple[str, Path]:
        rng = random.Random(args.seed * 1_000_003 + index)
        kind = KINDS[index % len(KINDS)]
        folder = base / f"case{index:05d}"
        folder.mkdir()
        (folder / "payload.py").write_text(f"from pathlib import Path\ndef create(**kw):\n    Path({str(folder / CANARY)!r}).touch()\n")
        if kind == "onnx":
            (folder / "m.onnx").write_bytes(mutate(seeds["onnx"], rng, kind))
        elif kind == "sidecar":
            (folder / "m.onnx").write_bytes(seeds["sidecar_model"])
            (folder / "m.onnx.json").write_bytes(mutate(seeds["sidecar"], rng, kind))
        else:
            suffix = ".safetensors" if kind == "safetensors" else ".pt"
            (folder / f"c{suffix}").write_bytes(mutate(seeds[kind], rng, kind))
        return kind, folder

    def loop() -> None:
        nonlocal code_executed, partial
        current = Worker()
        while True:
            with lock:
                index = next(next_case, None)
            if index is None:
                break
            kind, folder = prepare(index)
            status, detail = current.ask(kind, folder, args.timeout)
            if status in ("crash", "timeout"):
                current = Worker()
            ran = (folder / CANARY).exists() or Path(ROOT / CANARY).exists()
            bad = partial_files(folder)
            with lock:
                counts[status] += 1
                per_kind[(kind, status)] += 1
                code_executed += int(ran)
                partial += int(bool(bad))
                if status in ("crash", "timeout", "traceback") or ran or bad:
                    findings.append({"case": str(index), "kind": kind, "status": status, "detail": detail,
                                     "code_executed": str(ran), "partial": ",".join(bad)})
                done = sum(counts.values())
                if done % 100 == 0:
                    print(f"  {done}/{args.cases} cases, {dict(counts)}", file=sys.stderr, flush=True)
            shutil.rmtree(folder, ignore_errors=True)
        current.close()

    threads = [threading.Thread(target=loop) for _ in range(max(1, args.workers))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    summary = {
        "command": "python -m tests.fuzz.fuzz " + " ".join(a for a in sys.argv[1:]),
        "cases": sum(counts.values()),
        "seed": args.seed,
        "results": dict(counts),
        "per_kind": {f"{k}:{s}": n for (k, s), n in sorted(per_kind.items())},
        "crashes": counts["crash"],
        "timeouts": counts["timeout"],
        "tracebacks": counts["traceback"],
        "code_executed": code_executed,
        "partial_files": partial,
        "findings": findings[:200],
        "seconds": round(time.perf_counter() - started, 1),
    }
    if args.json is not None:
        args.json.write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(
        f"fuzz: {summary['cases']} cases (seed {args.seed}): crashes {summary['crashes']}, timeouts {summary['timeouts']}, "
        f"tracebacks {summary['tracebacks']}, code executed {code_executed}, partial files {partial}; {dict(counts)}; "
        f"{summary['seconds']} s"
    )
    for finding in findings[:20]:
        print(f"  case {finding['case']} {finding['kind']}: {finding['status']} {finding['detail']}")
    clean = not (summary["crashes"] or summary["timeouts"] or summary["tracebacks"] or code_executed or partial)
    return 0 if clean else 1


if __name__ == "__main__":
    sys.exit(main())
