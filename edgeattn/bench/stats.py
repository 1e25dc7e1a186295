"""Latency statistics of one benchmark variant (milliseconds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np


@dataclass(frozen=True)
class LatencyStats:
    count: int
    min_ms: float
    mean_ms: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    std_ms: float
    throughput: float  # samples per second at the mean latency

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def latency_stats(seconds: Sequence[float], batch_size: int) -> LatencyStats:
    """Percentiles with numpy's linear interpolation (the same as ``numpy.percentile`` default)."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    if ms.size == 0:
        raise ValueError("no timings")
    p50, p90, p99 = np.percentile(ms, [50, 90, 99])
    mean = float(ms.mean())
    return LatencyStats(
        count=int(ms.size),
        min_ms=float(ms.min()),
        mean_ms=mean,
        p50_ms=float(p50),
        p90_ms=float(p90),
        p99_ms=float(p99),
        max_ms=float(ms.max()),
        std_ms=float(ms.std()),
        throughput=float(batch_size * 1e3 / mean) if mean > 0 else float("inf"),
    )
