"""Timing helpers shared by the benchmark scripts (imported as ``timing``: scripts run from this folder)."""

from __future__ import annotations

import os
import statistics
import time
from collections.abc import Callable


def load_average() -> float:
    """1-minute load average (NaN where the OS has none): a busy machine makes every figure too slow."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def median_seconds(fn: Callable[[], object], repeats: int, sync: Callable[[], object]) -> float:
    """Median wall time of ``repeats`` calls of ``fn``, with ``sync`` (e.g. CUDA synchronise) around each."""
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)
