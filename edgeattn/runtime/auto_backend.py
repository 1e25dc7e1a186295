"""``auto`` for an ``.onnx`` on an x86 CPU: ONNX Runtime or OpenVINO, whichever is faster here.

Neither library wins everywhere: on an Intel Xeon with AVX-512 VNNI/AMX (2 threads, batch 1)
se_resnet50 FP32 took 30.7 ms on ONNX Runtime and 25.7 ms on OpenVINO, and its INT8 Q/DQ
artifact 16.4 ms and 5.2 ms; on an AMD EPYC OpenVINO's FP32 was the slower one. So ``auto``
measures, per machine and artifact, instead of assuming:

- both runners are loaded with the same options (only ``threads`` reaches both; OpenVINO stays
  at its ``f32`` default precision, so both run the artifact's own numerics), a random batch of 1
  is made from the input spec (:func:`edgeattn.runtime.base.random_input`), each is warmed up,
  then timed in alternating rounds (drift on a shared machine hits both) and the medians of the
  backend call (``Runner.last_inference_time``) are compared. ONNX Runtime's threads do not spin
  (its runner's default) while OpenVINO is timed. The winner is returned already loaded.
- an OpenVINO runner that fails to load or run (an op its ONNX frontend cannot convert) means
  ONNX Runtime, with the reason recorded.
- the decision is cached as JSON under ``$EDGEATTN_CACHE_DIR/auto-backend/`` (default
  ``~/.cache/edgeattn``), keyed by the artifact's sha256, the CPU model and SIMD extension
  (:mod:`edgeattn.bench.environment`), the threads and both libraries' versions, so a service
  pays the measurement once. An unreadable cache file is measured again.
- ``EDGEATTN_AUTO_BACKEND=onnxruntime`` switches the measurement off (``auto`` is ONNX Runtime
  for every ``.onnx``, as before); ``measure`` (or unset) measures.

Where it does not apply (``auto`` stays ONNX Runtime, nothing measured): bytes rather than a
path, a CPU that is not x86-64, no ``openvino`` package (checked with ``find_spec`` only), or an
option only ONNX Runtime takes (``providers`` and the rest: the caller asked for ONNX Runtime).
The medians are single-request latency: the OpenVINO runner serialises concurrent ``run`` calls
(one infer request), so a service answering many requests at once should ask for onnxruntime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import platform
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

import numpy as np

from ..errors import InputError
from .base import Runner

ENV = "EDGEATTN_AUTO_BACKEND"
ENV_VALUES = ("measure", "onnxruntime")
X86 = ("x86_64", "amd64")
# The options both runners take; anything else belongs to one of them and fixes the backend.
SHARED_OPTIONS = ("threads",)
CACHE_FOLDER = "auto-backend"
CACHE_VERSION = 1

# Timing plan: enough runs for a stable median of a 5-50 ms model, and a bound on what a large
# model costs at start-up.
WARMUP = 3
MIN_ROUNDS = 3
MAX_ROUNDS = 10
PER_ROUND = 2
BUDGET_S = 3.0

_log = logging.getLogger("edgeattn.runtime")


@dataclass(frozen=True)
class BackendSelection:
    """Why ``auto`` picked ``backend`` for an ``.onnx``: measured, cached, or a fixed rule."""

    backend: str
    how: str  # "measured", "cached" or "rule" (nothing measured)
    reason: str
    onnxruntime_ms: float | None = None
    openvino_ms: float | None = None
    cache_file: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def applies(artifact: Any, opts: Mapping[str, Any], openvino_installed: Callable[[], bool]) -> str | None:
    """None when ``auto`` should measure ``artifact``; otherwise why not (ONNX Runtime then)."""
    setting = os.environ.get(ENV, "").strip().lower() or "measure"
    if setting not in ENV_VALUES:
        raise InputError(f"{ENV}: received {os.environ.get(ENV)!r}, expected one of {list(ENV_VALUES)}")
    if setting == "onnxruntime":
        return f"{ENV}=onnxruntime"
    if not isinstance(artifact, (str, os.PathLike)):
        return "the model was given as bytes"
    machine = platform.machine().lower()
    if machine not in X86:
        return f"not an x86-64 CPU ({machine or 'unknown'})"
    given = sorted(k for k, v in opts.items() if v is not None and k not in SHARED_OPTIONS)
    if given:
        return f"option(s) {', '.join(given)} given (ONNX Runtime's)"
    if not openvino_installed():
        return "OpenVINO is not installed"
    return None


def cache_dir() -> Path:
    """``$EDGEATTN_CACHE_DIR/auto-backend``, else ``$XDG_CACHE_HOME`` or ``~/.cache``, ``/edgeattn/auto-backend``
    (the calibration cache's rule)."""
    root = os.environ.get("EDGEATTN_CACHE_DIR")
    if root:
        return Path(root) / CACHE_FOLDER
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "edgeattn" / CACHE_FOLDER


def cache_key_fields(path: str | os.PathLike[str], threads: int | None) -> dict[str, Any]:
    """What the decision depends on: the artifact's bytes, the CPU, the threads, both libraries."""
    from .._io import sha256_file
    from ..bench.environment import cpu_isa, cpu_model
    from .selection import _version

    return {
        "version": CACHE_VERSION,
        "artifact_sha256": sha256_file(path),
        "cpu_model": cpu_model(),
        "cpu_isa": cpu_isa(),
        "threads": threads,
        "onnxruntime": _version("onnxruntime"),
        "openvino": _version("openvino"),
    }


def cache_path(fields: Mapping[str, Any], folder: Path | None = None) -> Path:
    key = hashlib.sha256(json.dumps(dict(fields), sort_keys=True, default=str).encode()).hexdigest()[:32]
    return (folder or cache_dir()) / f"{key}.json"


def read_cached(file: Path, fields: Mapping[str, Any]) -> BackendSelection | None:
    """The cached decision, or None when there is none or it cannot be read (then it is measured again)."""
    try:
        record = json.loads(file.read_text(encoding="utf-8"))
        if record.get("key") != dict(fields) or record.get("backend") not in ("onnxruntime", "openvino"):
            return None
        return BackendSelection(
            backend=record["backend"], how="cached", reason=str(record.get("reason", "")),
            onnxruntime_ms=_ms(record.get("onnxruntime_ms")), openvino_ms=_ms(record.get("openvino_ms")),
            cache_file=os.fspath(file),
        )
    except (OSError, ValueError, TypeError, AttributeError, KeyError):
        return None


def _ms(value: Any) -> float | None:
    return None if value is None else float(value)


def write_cached(file: Path, fields: Mapping[str, Any], selection: BackendSelection) -> None:
    """Atomically; a cache that cannot be written (read-only home) costs a measurement next time, no more."""
    from .._io import write_json_atomic

    record = {"key": dict(fields), "backend": selection.backend, "reason": selection.reason,
              "onnxruntime_ms": selection.onnxruntime_ms, "openvino_ms": selection.openvino_ms,
              "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    try:
        file.parent.mkdir(parents=True, exist_ok=True)
        write_json_atomic(file, record)
    except OSError as exc:
        _log.info("auto backend: decision not cached (%s: %s)", file, exc)


def call_seconds(runner: Runner, feed: dict[str, np.ndarray]) -> float:
    """One timed call: the backend call only (``Runner.last_inference_time``), as ``edgeattn bench`` times it."""
    runner.run(feed)
    return float(runner.last_inference_time or 0.0)


def time_pair(ort: Runner, ov: Runner, feed: dict[str, np.ndarray],
              timer: Callable[[Runner, dict[str, np.ndarray]], float] | None = None) -> tuple[float, float]:
    """Median seconds per call of ``ort`` and ``ov``: warm-up, then alternating rounds (the order
    swaps each round) until ``MIN_ROUNDS`` are done and ``BUDGET_S`` is spent, at most ``MAX_ROUNDS``."""
    timer = timer or call_seconds
    for runner in (ort, ov):
        for _ in range(WARMUP):
            timer(runner, feed)
    times: dict[int, list[float]] = {0: [], 1: []}
    start = time.perf_counter()
    for r in range(MAX_ROUNDS):
        order = ((0, ort), (1, ov)) if r % 2 == 0 else ((1, ov), (0, ort))
        for index, runner in order:
            for _ in range(PER_ROUND):
                times[index].append(timer(runner, feed))
        if r + 1 >= MIN_ROUNDS and time.perf_counter() - start >= BUDGET_S:
            break
    return statistics.median(times[0]), statistics.median(times[1])


def measure(path: str | os.PathLike[str], opts: Mapping[str, Any], factories: Mapping[str, Callable[..., Runner]],
            ) -> tuple[BackendSelection, Runner, bool]:
    """Load both runners, time them, close the slower one: (decision, the loaded winner, cacheable).

    ONNX Runtime failing to load raises (as ``auto`` always did). OpenVINO failing to load or to
    run the first call means ONNX Runtime, cached (it fails the same way next time); any other
    failure while timing means ONNX Runtime, not cached."""
    from .base import random_input

    shared = {k: v for k, v in opts.items() if k in SHARED_OPTIONS}
    ort = factories["onnxruntime"](path, **opts).load()
    try:
        ov = factories["openvino"](path, **shared).load()
    except Exception as exc:  # noqa: BLE001 - any OpenVINO failure means ONNX Runtime, with the reason
        return _onnxruntime(f"OpenVINO failed to load: {_first_line(exc)}"), ort, True
    try:
        try:
            if len(ort.inputs) != 1:
                raise InputError(f"{len(ort.inputs)} inputs, timing feeds one")
            name, x = random_input(ort, path)
        except Exception as exc:  # noqa: BLE001 - several or unsized inputs: nothing to time with
            ov.close()
            return _onnxruntime(f"no input to time with: {_first_line(exc)}"), ort, False
        try:
            ov.run({name: x})
        except Exception as exc:  # noqa: BLE001
            ov.close()
            return _onnxruntime(f"OpenVINO failed to run: {_first_line(exc)}"), ort, True
        try:
            ort_s, ov_s = time_pair(ort, ov, {name: x})
        except Exception as exc:  # noqa: BLE001
            ov.close()
            return _onnxruntime(f"timing failed: {_first_line(exc)}"), ort, False
    except BaseException:  # an interrupt: release both
        ov.close()
        ort.close()
        raise
    ort_ms, ov_ms = round(ort_s * 1e3, 3), round(ov_s * 1e3, 3)
    if ov_s < ort_s:
        ort.close()
        chosen, winner, other = "openvino", ov, "onnxruntime"
    else:  # a tie keeps ONNX Runtime, the choice before measuring
        ov.close()
        chosen, winner, other = "onnxruntime", ort, "openvino"
    reason = f"faster: {min(ort_ms, ov_ms):.2f} ms vs {max(ort_ms, ov_ms):.2f} ms on {other} (median batch-1 call)"
    return BackendSelection(chosen, "measured", reason, ort_ms, ov_ms), winner, True


def _onnxruntime(reason: str) -> BackendSelection:
    return BackendSelection("onnxruntime", "measured", reason)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


def select(path: str | os.PathLike[str], opts: Mapping[str, Any], factories: Mapping[str, Callable[..., Runner]],
           ) -> tuple[BackendSelection, Runner | None]:
    """The cached decision (runner None: the caller loads it), or a measured one with its loaded runner."""
    fields = cache_key_fields(path, opts.get("threads"))
    file = cache_path(fields)
    cached = read_cached(file, fields)
    if cached is not None:
        return cached, None
    _log.info("auto backend: timing onnxruntime and openvino on %s (once; cached in %s)", os.fspath(path), file.parent)
    selection, runner, cacheable = measure(path, opts, factories)
    if cacheable:
        write_cached(file, fields, selection)
        selection = BackendSelection(**{**selection.to_dict(), "cache_file": os.fspath(file)})
    _log.info("auto backend: %s (%s)", selection.backend, selection.reason)
    return selection, runner
