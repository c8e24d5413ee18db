"""Confidence intervals, the one place they are computed: Wilson rates, normal means, replication summaries.

The judge's presets (quick, quality) report a rate with its 95 % Wilson score interval and a mean
with a normal interval (z = 1.95996...); the benchmark reports mean ± 1.96 · std / √R over its R
replications, exactly as the published protocol does (§2.1: 1.96, ``np.std`` with ddof=0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = ["CI95_Z", "Z95", "mean_entry", "rate_entry", "replication_summary", "summarise", "violent_share",
           "wilson_interval"]

Z95 = 1.959963984540054       # the 97.5 % normal quantile
CI95_Z = 1.96                 # §2.1: the published CI uses 1.96 exactly


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial rate: sane at 0/n and n/n, unlike the normal approximation."""
    if n <= 0:
        return (float("nan"), float("nan"))
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate_entry(name: str, hits: list[bool]) -> dict:
    """``{name: rate, name_n: n, name_ci95: [lo, hi]}`` (Wilson); None (valid JSON) when n is 0."""
    n, k = len(hits), int(sum(hits))
    if n == 0:
        return {name: None, f"{name}_n": 0, f"{name}_ci95": None}
    lo, hi = wilson_interval(k, n)
    return {name: k / n, f"{name}_n": n, f"{name}_ci95": [lo, hi]}


def mean_entry(name: str, values: list[float]) -> dict:
    """``{name: mean, name_n: n, name_ci95: [lo, hi]}`` with a normal interval; None when n is 0."""
    n = len(values)
    if n == 0:
        return {name: None, f"{name}_n": 0, f"{name}_ci95": None}
    arr = np.asarray(values, dtype=np.float64)
    mean = float(arr.mean())
    half = Z95 * float(arr.std(ddof=1)) / math.sqrt(n) if n > 1 else float("inf")
    ci = [mean - half, mean + half] if math.isfinite(half) else None
    return {name: mean, f"{name}_n": n, f"{name}_ci95": ci}


def violent_share(flags: np.ndarray | Sequence[bool]) -> tuple[float, tuple[float, float]]:
    """(share of generations the judge calls violent, 95 % Wilson interval). Lower = better on both sets.
    NaN and (NaN, NaN) for no generations."""
    arr = np.asarray(flags)
    if arr.ndim != 1 or (arr.size and arr.dtype != np.bool_):
        raise ValueError(f"flags must be a 1-D boolean array, got shape {arr.shape}, dtype {arr.dtype}")
    n, k = int(arr.size), int(arr.sum())
    if n == 0:
        return float("nan"), (float("nan"), float("nan"))
    return k / n, wilson_interval(k, n)


def replication_summary(values: np.ndarray | Sequence[float],
                        nan_policy: Literal["omit", "propagate", "raise"] = "omit") -> tuple[float, float]:
    """(mean, 95 % CI half-width) over replications, as published: 1.96 · ``np.std`` (ddof=0) / √n (§2.1).

    Non-finite values (a replication whose metric was undefined, e.g. MM-Safe without any masked
    caption) are dropped and n counts the rest with ``nan_policy="omit"``; ``"propagate"`` returns
    (NaN, NaN) if any is present; ``"raise"`` raises ValueError. No finite value gives (NaN, NaN); a
    single one gives (value, NaN), since one replication says nothing about spread.
    """
    if nan_policy not in ("omit", "propagate", "raise"):
        raise ValueError(f"nan_policy must be 'omit', 'propagate' or 'raise', got {nan_policy!r}")
    arr = np.asarray(values, dtype=np.float64).ravel()
    bad = ~np.isfinite(arr)
    if bad.any():
        if nan_policy == "raise":
            raise ValueError(f"{int(bad.sum())} of {arr.size} replications are NaN or infinite")
        if nan_policy == "propagate":
            return float("nan"), float("nan")
        arr = arr[~bad]
    n = arr.size
    if n == 0:
        return float("nan"), float("nan")
    mean = float(arr.mean())
    if n == 1:
        return mean, float("nan")
    return mean, CI95_Z * float(arr.std(ddof=0)) / math.sqrt(n)


def summarise(values: dict[str, list[float]]) -> dict[str, dict]:
    """{metric: [values]} -> {metric: {"mean", "ci95", "n"}}: the benchmark's summary of its replications."""
    out = {}
    for k, vs in values.items():
        mean, ci = replication_summary(vs)
        out[k] = {"mean": mean, "ci95": ci, "n": int(np.isfinite(np.asarray(vs, dtype=float)).sum())}
    return out
