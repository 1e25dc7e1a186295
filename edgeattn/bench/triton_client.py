"""Client-side load against a running Triton Inference Server: latency percentiles and throughput.

For each concurrency ``c``, ``c`` threads (one ``tritonclient`` client each, HTTP or gRPC) send
requests back to back for a fixed count or time; every request's round-trip latency is kept, and
throughput is the samples answered divided by the wall time of the whole run (with several
requests in flight, ``batch / mean latency`` would undercount it). The result is a
:class:`~edgeattn.bench.core.BenchmarkReport`, printed and written like ``edgeattn bench``'s.
The server's own view (queue and compute time per request) is in its metrics endpoint.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import BackendUnavailableError, InputError
from .core import BenchmarkReport, BenchResult
from .stats import latency_stats

_NUMPY = {"FP32": np.float32, "FP16": np.float16, "FP64": np.float64, "INT64": np.int64, "INT32": np.int32,
          "INT8": np.int8, "UINT8": np.uint8, "BOOL": np.bool_}


def parse_url(url: str) -> tuple[str, str]:
    """``grpc://host:port`` / ``http://host:port`` / ``host:port`` (HTTP) -> (protocol, host:port)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return "http", url
    if scheme not in ("http", "grpc"):
        raise InputError(f"--triton: received {url!r}, expected http://HOST:PORT or grpc://HOST:PORT")
    return scheme, rest


def _client_module(protocol: str) -> Any:
    try:
        if protocol == "grpc":
            import tritonclient.grpc as module
        else:
            import tritonclient.http as module
    except ImportError as exc:
        raise BackendUnavailableError(f"tritonclient is not installed ({exc})", hint='pip install "edgeattn[serving]"') from None
    return module


def _input_specs(client: Any, protocol: str, model: str) -> list[tuple[str, str, list[int]]]:
    """(name, Triton datatype, dims without batch) of each model input, from the server."""
    if protocol == "grpc":
        meta = client.get_model_metadata(model, as_json=True)
        config = client.get_model_config(model, as_json=True)["config"]
    else:
        meta = client.get_model_metadata(model)
        config = client.get_model_config(model)
    batched = int(config.get("max_batch_size", 0)) > 0
    specs = []
    for entry in meta["inputs"]:
        shape = [int(d) for d in entry["shape"]]
        specs.append((entry["name"], entry["datatype"], shape[1:] if batched else shape))
    return specs


def _payloads(specs: list[tuple[str, str, list[int]]], batch: int, images: Sequence[Path], count: int = 8) -> list[dict[str, np.ndarray]]:
    """A few request bodies to cycle through: encoded images for BYTES inputs, random data otherwise."""
    rng = np.random.default_rng(0)
    bodies = []
    for k in range(count):
        body = {}
        for name, datatype, dims in specs:
            if datatype == "BYTES":
                if not images:
                    raise InputError(f"input {name!r} takes encoded bytes: received no --inputs, expected an image folder")
                chosen = [images[(k * batch + i) % len(images)].read_bytes() for i in range(batch)]
                body[name] = np.array(chosen, dtype=object).reshape(batch, *([1] * len(dims)))
                continue
            if any(d < 0 for d in dims):
                raise InputError(f"input {name!r} has a dynamic dimension {dims}; cannot make random data for it")
            dtype = _NUMPY.get(datatype)
            if dtype is None:
                raise InputError(f"input {name!r}: datatype {datatype} is not supported by the load generator")
            body[name] = rng.standard_normal((batch, *dims)).astype(dtype)
        bodies.append(body)
    return bodies


def benchmark_triton(
    url: str,
    model: str,
    *,
    concurrency: Sequence[int] = (1,),
    batch_sizes: Sequence[int] = (1,),
    requests: int | None = None,
    duration: float | None = None,
    warmup: int = 10,
    inputs: str | os.PathLike[str] | None = None,
    progress: Any = None,
) -> BenchmarkReport:
    """Time ``model`` on the server at ``url`` at each concurrency and batch size."""
    from .environment import collect_environment

    protocol, address = parse_url(url)
    module = _client_module(protocol)
    if requests is None and duration is None:
        requests = 200
    images = sorted(p for p in Path(inputs).rglob("*") if p.is_file()) if inputs else []
    try:
        probe = module.InferenceServerClient(address)
        if not probe.is_server_ready():
            raise InputError(f"Triton at {url} is not ready")
        if not probe.is_model_ready(model):
            raise InputError(f"model {model!r} is not ready on the Triton server at {url}")
        specs = _input_specs(probe, protocol, model)
    except InputError:
        raise
    except Exception as exc:  # noqa: BLE001 - connection refused, DNS, HTTP errors from tritonclient
        raise InputError(f"cannot reach Triton at {url}: {type(exc).__name__}: {exc}") from None
    report = BenchmarkReport(
        settings={
            "triton": url, "model": model, "concurrency": list(concurrency), "batch_sizes": list(batch_sizes),
            "iterations": requests, "duration_s": duration, "warmup": warmup, "rounds": 1, "threads": None,
        },
        environment=collect_environment(None),
    )
    for batch in batch_sizes:
        bodies = _payloads(specs, batch, images)
        for level in concurrency:
            if progress is not None:
                progress(f"{model} batch {batch} concurrency {level}", 0, 1)
            seconds, elapsed, answered = _load(module, address, model, specs, bodies, level, requests, duration, warmup)
            stats = latency_stats(seconds, batch)
            stats = dataclasses.replace(stats, throughput=answered * batch / elapsed)
            report.results.append(
                BenchResult(
                    variant=f"{model} c={level}", target=url, backend=f"triton-{protocol}", batch_size=batch, stats=stats,
                    runner={"concurrency": level, "requests": answered, "elapsed_s": elapsed},
                )
            )
    return report


def _load(module: Any, address: str, model: str, specs: Any, bodies: list[dict[str, np.ndarray]], level: int,
          requests: int | None, duration: float | None, warmup: int) -> tuple[list[float], float, int]:
    """Run ``level`` threads; return (per-request seconds, wall seconds, answered requests)."""
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[BaseException] = []
    remaining = [requests if requests is not None else -1]
    start_barrier = threading.Barrier(level + 1)
    stop_at = [0.0]

    def make_inputs(body: dict[str, np.ndarray]) -> list[Any]:
        out = []
        for name, datatype, _ in specs:
            tensor = module.InferInput(name, list(body[name].shape), datatype)
            tensor.set_data_from_numpy(body[name])
            out.append(tensor)
        return out

    def worker(seed: int) -> None:
        try:
            client = module.InferenceServerClient(address)
            prepared = [make_inputs(body) for body in bodies]
            for k in range(warmup):
                client.infer(model, prepared[k % len(prepared)])
        except BaseException as exc:  # reported after the barrier
            errors.append(exc)
            prepared, client = [], None
        start_barrier.wait()
        k = seed
        while client is not None and not errors:
            with lock:
                if remaining[0] == 0 or (duration is not None and time.perf_counter() >= stop_at[0]):
                    return
                if remaining[0] > 0:
                    remaining[0] -= 1
            began = time.perf_counter()
            try:
                client.infer(model, prepared[k % len(prepared)])
            except BaseException as exc:  # noqa: BLE001 - the first failure stops the run
                errors.append(exc)
                return
            took = time.perf_counter() - began
            with lock:
                latencies.append(took)
            k += 1

    threads = [threading.Thread(target=worker, args=(i,), daemon=True) for i in range(level)]
    for thread in threads:
        thread.start()
    start_barrier.wait()
    began = time.perf_counter()
    stop_at[0] = began + (duration or 0.0)
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise InputError(f"requests to {model!r} failed: {type(errors[0]).__name__}: {errors[0]}")
    if not latencies:
        raise InputError(f"no request to {model!r} completed")
    return latencies, elapsed, len(latencies)
