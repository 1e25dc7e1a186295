"""Latency benchmark: several models / artifacts / backends side by side, rounds interleaved.

Shared machines drift (2x within an hour here), so variants are never timed one after the
other: after each variant's warm-up, the iterations are split into rounds and every round runs
each variant in turn (the order rotates by round). Ratios between variants measured this way
are meaningful even when the absolute numbers move. Only the backend call is timed
(``Runner.last_inference_time``), not input checking.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..errors import EdgeattnError, InputError
from ..platform.memory import check_allocation
from .environment import collect_environment
from .stats import LatencyStats, latency_stats

# typing.Callable: the alias is evaluated, and collections.abc.Callable[...] needs Python 3.9.
Progress = Callable[[str, int, int], None]


@dataclass
class Variant:
    """One thing to time: a target (artifact path, model spec or module) on one backend."""

    target: Any
    backend: str = "auto"
    label: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    def name(self) -> str:
        return self.label or _label(self.target)


@dataclass
class BenchResult:
    variant: str
    target: str
    backend: str
    batch_size: int
    stats: LatencyStats | None = None
    runner: dict[str, Any] = field(default_factory=dict)
    skipped: str | None = None
    # Median CPU time of this process per run (all its threads), ms. On a machine shared with
    # other work the wall-clock time includes waiting for a core; the CPU time mostly does not.
    cpu_ms: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "cpu_ms": self.cpu_ms,
            "variant": self.variant,
            "target": self.target,
            "backend": self.backend,
            "batch_size": self.batch_size,
            "stats": self.stats.to_dict() if self.stats else None,
            "runner": self.runner,
            "skipped": self.skipped,
        }


@dataclass
class BenchmarkReport:
    settings: dict[str, Any]
    environment: dict[str, Any]
    results: list[BenchResult] = field(default_factory=list)
    per_block: list[dict[str, Any]] = field(default_factory=list)

    def result(self, variant: str, batch_size: int) -> BenchResult | None:
        return next((r for r in self.results if r.variant == variant and r.batch_size == batch_size), None)

    def ratio(self, variant: str, baseline: str, batch_size: int = 1, stat: str = "p50_ms") -> float | None:
        """Latency of ``variant`` / ``baseline`` (same run, interleaved)."""
        a, b = self.result(variant, batch_size), self.result(baseline, batch_size)
        if not (a and b and a.stats and b.stats):
            return None
        return getattr(a.stats, stat) / getattr(b.stats, stat)

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "environment": self.environment,
            "results": [r.to_dict() for r in self.results],
            "per_block": self.per_block,
        }

    def to_markdown(self) -> str:
        from .report import benchmark_markdown

        return benchmark_markdown(self)


def _resolve_variants(targets: Sequence[Any], backend: str | Sequence[str]) -> list[Variant]:
    """One variant per (target, backend that can read it); labels made unique."""
    backends = _backends(backend)
    variants: list[Variant] = []
    for target in targets:
        variants.extend([target] if isinstance(target, Variant) else _variants_for(target, backends))
    names = [v.name() for v in variants]
    dupes = {n for n in names if names.count(n) > 1}
    for i, v in enumerate(variants):  # two files with the same name in different folders
        if v.name() in dupes:
            v.label = f"{v.name()} #{i + 1}"
    return variants


def _backends(backend: str | Sequence[str]) -> list[str]:
    """The requested backends, aliases resolved ("auto" when none)."""
    from ..runtime.selection import ALIASES, BACKENDS

    backends = [backend] if isinstance(backend, str) else list(backend)
    backends = [ALIASES.get(b.lower(), b.lower()) for b in backends] or ["auto"]
    for b in backends:
        if b != "auto" and b not in BACKENDS:
            raise InputError(f"backend: received {b!r}, expected 'auto' or one of {sorted(BACKENDS)}")
    return backends


def _variants_for(target: Any, backends: list[str]) -> list[Variant]:
    """The variants of one target: ``path@backend`` names its own, else each requested backend that reads it."""
    from ..runtime.selection import ALIASES, ONNX_READERS, backend_for

    explicit = None
    if isinstance(target, str) and "@" in target and not Path(target).exists():
        target, explicit = target.rsplit("@", 1)
        explicit = ALIASES.get(explicit.lower(), explicit.lower())
    natural = backend_for(target)
    readers = ONNX_READERS if natural == "onnxruntime" else (natural,)
    # A backend runs the targets it can read: .onnx on onnxruntime or openvino, engines on
    # tensorrt, models on torch; --backend onnxruntime,torch over an .onnx and a model spec
    # times each once.
    chosen = [explicit] if explicit else [b for b in backends if b == "auto" or b in readers]
    if not chosen:
        raise InputError(f"no requested backend ({', '.join(backends)}) can run {target}")
    variants = []
    for b in chosen:
        # auto alone over an .onnx path stays auto: load() may time both ONNX readers and pick one
        # (runtime/auto_backend.py); the result names the backend it ran on.
        if b != "auto" or natural != "onnxruntime" or len(chosen) > 1 or not isinstance(target, (str, os.PathLike)):
            b = natural if b == "auto" else b
        label = _label(target)
        if len(chosen) > 1 or (explicit and explicit != natural):
            label = f"{label} [{b}]"
        variants.append(Variant(target, b, label))
    return variants


def _label(target: Any) -> str:
    if isinstance(target, (str, os.PathLike)):
        path = Path(os.fspath(target))
        return path.name if path.suffix else str(target)
    return type(target).__name__


def _activations_per_sample(target: Any, cache: dict[str, int]) -> int:
    """Activation bytes per sample of an ONNX target (0 where unknown: engines, PyTorch models)."""
    if not isinstance(target, (str, os.PathLike)) or not os.fspath(target).endswith(".onnx"):
        return 0
    key = os.fspath(target)
    if key not in cache:
        from ..graph.footprint import activation_bytes_per_sample

        cache[key] = activation_bytes_per_sample(key) or 0
    return cache[key]


def _input_size_for(runner: Any, target: Any, input_size: Sequence[int] | None) -> tuple[int, ...]:
    """``--input-size`` > the artifact's input size (:class:`edgeattn.artifact.ArtifactInfo`'s
    precedence) > what the loaded runner reports > a PyTorch model's default size."""
    if input_size is not None:
        return tuple(int(d) for d in input_size)
    from ..artifact import ENGINE_SUFFIXES, ArtifactInfo

    if isinstance(target, (str, os.PathLike)) and Path(target).suffix.lower() in (".onnx", *ENGINE_SUFFIXES):
        recorded = ArtifactInfo.read(target).input_size
        if recorded is not None:
            return recorded
    spec = runner.inputs[0]
    dims = spec.shape[1:]
    if dims and all(isinstance(d, int) and d > 0 for d in dims):
        return tuple(int(d) for d in dims)
    size = getattr(runner, "default_input_size", None)
    if size:
        return tuple(int(d) for d in size)
    raise InputError(f"cannot tell the input size of {spec.describe()}", hint="pass --input-size C,H,W")


def benchmark(
    targets: Sequence[Any] | Any,
    *,
    backend: str | Sequence[str] = "auto",
    batch_sizes: Sequence[int] = (1,),
    iterations: int | None = None,
    duration: float | None = None,
    warmup: int = 10,
    rounds: int = 10,
    threads: int | None = None,
    input_size: Sequence[int] | None = None,
    runner_options: Mapping[str, Any] | None = None,
    per_block: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
    checkpoint: str | os.PathLike[str] | None = None,
    spinning: bool = False,
) -> BenchmarkReport:
    """Time every target on its backend(s) for each batch size; see the module docstring.

    ``iterations`` (per variant and batch size) or ``duration`` (seconds per variant and batch
    size); default 50 iterations. ``threads`` sets the CPU threads of every backend and is
    recorded. ``per_block`` adds an ORT-profiled attention-block breakdown of each folded .onnx.
    ``checkpoint`` is loaded into the PyTorch (model-spec) targets only. ``spinning=False``
    (default) keeps idle worker threads from busy-waiting while another variant is timed: ORT's
    ``allow_spinning`` off and ``OMP_WAIT_POLICY=PASSIVE`` for PyTorch when torch is not imported
    yet (``runtime/spinning.py``); the setting in effect is recorded.
    """
    from ..runtime.spinning import passive_openmp

    targets = _as_targets(targets)
    plan = _check_settings(batch_sizes, iterations, duration, warmup, rounds)
    openmp = passive_openmp() if not spinning else {"omp_wait_policy": os.environ.get("OMP_WAIT_POLICY"), "applies": True}
    variants = _resolve_variants(targets, backend)
    runners: list[Any] = []
    try:  # inside: runners loaded before a failing one are closed too
        for v in variants:
            runners.append(_load_runner(v, runner_options, spinning, threads, input_size, checkpoint))
        report = BenchmarkReport(settings=_settings(plan, threads, spinning, openmp), environment=collect_environment(threads))
        rng = np.random.default_rng(seed)
        activation_cache: dict[str, int] = {}
        for batch in plan.batch_sizes:
            active = _prepare_batch(report, variants, runners, batch, input_size, rng, activation_cache)
            _time_interleaved(report, runners, active, batch, plan, progress)
    finally:
        for runner in runners:
            runner.close()
    if per_block:
        _profile_blocks(report, variants, [r.backend for r in runners], plan, threads)
    return report


@dataclass(frozen=True)
class _Plan:
    """The checked timing settings: ``iterations`` or ``duration`` (exactly one is set)."""

    batch_sizes: list[int]
    iterations: int | None
    duration: float | None
    warmup: int
    rounds: int


def _as_targets(targets: Sequence[Any] | Any) -> list[Any]:
    if isinstance(targets, (str, os.PathLike)) or not isinstance(targets, Sequence):
        targets = [targets]
    if not targets:
        raise InputError("no model or artifact to benchmark")
    return list(targets)


def _check_settings(
    batch_sizes: Sequence[int], iterations: int | None, duration: float | None, warmup: int, rounds: int
) -> _Plan:
    """Refuse impossible settings; 50 iterations when neither iterations nor a duration is given."""
    if iterations is not None and duration is not None:
        raise InputError("give either iterations or a duration, not both")
    if iterations is None and duration is None:
        iterations = 50
    if iterations is not None and iterations < 1:
        raise InputError(f"iterations: received {iterations}, expected >= 1")
    if duration is not None and duration <= 0:
        raise InputError(f"duration: received {duration}, expected > 0 seconds")
    sizes = [int(b) for b in batch_sizes]
    if not sizes or any(b < 1 for b in sizes):
        raise InputError(f"batch sizes: received {sizes}, expected positive integers")
    if warmup < 0 or rounds < 1:
        raise InputError(f"warm-up must be >= 0 and rounds >= 1 (received {warmup}, {rounds})")
    return _Plan(sizes, iterations, duration, warmup, rounds)


def _load_runner(
    variant: Variant,
    runner_options: Mapping[str, Any] | None,
    spinning: bool,
    threads: int | None,
    input_size: Sequence[int] | None,
    checkpoint: str | os.PathLike[str] | None,
) -> Any:
    """The variant's runner, with the options its backend takes (explicit options win)."""
    from ..runtime import load

    opts = {**dict(runner_options or {}), **variant.options}
    if variant.backend == "onnxruntime" or (variant.backend == "auto" and spinning):
        # For auto, spinning=False is the ONNX Runtime runner's default already; passing it would
        # read as an ONNX-Runtime-only option and rule out OpenVINO.
        opts.setdefault("spinning", spinning)
    if threads is not None and variant.backend in ("onnxruntime", "openvino", "torch", "auto"):
        opts.setdefault("threads", threads)
    if input_size is not None and variant.backend == "torch":
        opts.setdefault("input_shape", ("batch", *(int(d) for d in input_size)))
    if checkpoint is not None and variant.backend == "torch":
        opts.setdefault("checkpoint", checkpoint)
    return load(variant.target, backend=variant.backend, **opts)


def _settings(plan: _Plan, threads: int | None, spinning: bool, openmp: Mapping[str, Any]) -> dict[str, Any]:
    """The report's record of how it was timed."""
    return {
        "batch_sizes": plan.batch_sizes,
        "iterations": plan.iterations,
        "duration_s": plan.duration,
        "warmup": plan.warmup,
        "rounds": plan.rounds,
        "threads": threads,
        "interleaved": True,
        "spinning": {"onnxruntime": spinning, "openmp_wait_policy": openmp["omp_wait_policy"],
                     "openmp_policy_applies": openmp["applies"]},
        "timed": "backend call only (Runner.last_inference_time)",
    }


def _prepare_batch(
    report: BenchmarkReport,
    variants: list[Variant],
    runners: list[Any],
    batch: int,
    input_size: Sequence[int] | None,
    rng: np.random.Generator,
    activation_cache: dict[str, int],
) -> list[tuple[int, np.ndarray, str]]:
    """A result per variant for this batch size, and the random input of each that can run it.

    A variant whose batch dimension is fixed elsewhere, or whose input size is unknown, is
    recorded as skipped; the memory for the inputs (and an ONNX graph's activations) is checked
    before it is allocated.
    """
    active: list[tuple[int, np.ndarray, str]] = []
    for index, (variant, runner) in enumerate(zip(variants, runners)):
        result = BenchResult(variant.name(), _target_str(variant.target), runner.backend, batch)
        result.runner = runner.report_info()
        report.results.append(result)
        spec = runner.inputs[0]
        fixed = spec.fixed_batch
        if fixed is not None and fixed != batch:
            result.skipped = f"the model's batch dimension is fixed at {fixed}"
            continue
        try:
            size = _input_size_for(runner, variant.target, input_size)
        except EdgeattnError as exc:
            result.skipped = exc.message
            continue
        check_allocation(
            4 * batch * int(np.prod(size, dtype=np.float64)) * (len(active) + 2)
            + batch * _activations_per_sample(variant.target, activation_cache),
            f"batch {batch} of inputs {list(size)} for {len(active) + 1} runner(s)",
            hint="use smaller --batch-sizes",
        )
        x = rng.standard_normal((batch, *size), dtype=np.float32).astype(spec.dtype, copy=False)
        active.append((index, x, spec.name))
    return active


def _profile_blocks(
    report: BenchmarkReport, variants: list[Variant], backends: list[str], plan: _Plan, threads: int | None
) -> None:
    """The ORT-profiled attention-block breakdown of each .onnx timed on onnxruntime (``backends``:
    what each variant's runner ran on, ``auto`` resolved)."""
    from .profile import profile_blocks

    for v, backend in zip(variants, backends):
        if isinstance(v.target, (str, os.PathLike)) and str(v.target).endswith(".onnx") and backend == "onnxruntime":
            try:
                report.per_block.append(
                    profile_blocks(
                        v.target, batch_size=plan.batch_sizes[0], iterations=plan.iterations or 20, threads=threads
                    ).to_dict()
                )
            except EdgeattnError as exc:
                report.per_block.append({"model": _target_str(v.target), "error": exc.message})


def _target_str(target: Any) -> str:
    return os.fspath(target) if isinstance(target, (str, os.PathLike)) else type(target).__name__


def _time_interleaved(
    report: BenchmarkReport,
    runners: list[Any],
    active: list[tuple[int, np.ndarray, str]],
    batch: int,
    plan: _Plan,
    progress: Progress | None,
) -> None:
    """Warm each variant up, then time them in rounds, the order rotating by round."""
    if not active:
        return
    for index, x, name in active:
        for _ in range(plan.warmup):
            runners[index].run({name: x})
    times: dict[int, list[float]] = {index: [] for index, _, _ in active}
    cpu: dict[int, list[float]] = {index: [] for index, _, _ in active}
    iterations = plan.iterations
    rounds = min(plan.rounds, iterations) if iterations is not None else plan.rounds
    per_round = math.ceil(iterations / rounds) if iterations is not None else None
    slice_s = plan.duration / rounds if plan.duration is not None else None
    stage = f"batch {batch}"
    for r in range(rounds):
        shift = r % len(active)
        for index, x, name in active[shift:] + active[:shift]:
            runner, feed = runners[index], {name: x}
            if per_round is not None:
                todo = min(per_round, iterations - len(times[index]))  # type: ignore[operator]
                for _ in range(todo):
                    _time_call(runner, feed, times[index], cpu[index])
            else:
                end = time.perf_counter() + slice_s  # type: ignore[operator]
                while True:
                    _time_call(runner, feed, times[index], cpu[index])
                    if time.perf_counter() >= end:
                        break
        if progress:
            progress(stage, r + 1, rounds)
    # Results of this batch size were appended in variant order.
    batch_results = [res for res in report.results if res.batch_size == batch]
    for index, _, _ in active:
        batch_results[index].stats = latency_stats(times[index], batch)
        batch_results[index].cpu_ms = 1e3 * float(np.median(cpu[index]))


def _time_call(runner: Any, feed: dict[str, np.ndarray], times: list[float], cpu: list[float]) -> None:
    """One run: the backend's own time and this process's CPU time."""
    start = time.process_time()
    runner.run(feed)
    cpu.append(time.process_time() - start)
    times.append(runner.last_inference_time)
