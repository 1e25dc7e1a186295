"""Latency benchmarks (``edgeattn bench``): interleaved rounds, percentiles, per-block costs."""

from __future__ import annotations

from .._lazy import lazy_attributes
from .core import BenchmarkReport, BenchResult, Variant, benchmark
from .environment import collect_environment
from .stats import LatencyStats, latency_stats

__all__ = ["BenchResult", "BenchmarkReport", "LatencyStats", "Variant", "benchmark", "collect_environment", "latency_stats", "profile_blocks"]
# The per-block profile is imported on first use.
__getattr__, __dir__ = lazy_attributes(__name__, {"profile_blocks": ".profile"})
