"""Latency benchmarks (``edgeattn bench``): interleaved rounds, percentiles, per-block costs."""

from __future__ import annotations

from .core import BenchmarkReport, BenchResult, Variant, benchmark
from .environment import collect_environment
from .stats import LatencyStats, latency_stats

__all__ = ["BenchResult", "BenchmarkReport", "LatencyStats", "Variant", "benchmark", "collect_environment", "latency_stats", "profile_blocks"]


def __getattr__(name: str):  # type: ignore[no-untyped-def]
    if name == "profile_blocks":
        from .profile import profile_blocks

        return profile_blocks
    raise AttributeError(f"module 'edgeattn.bench' has no attribute {name!r}")
