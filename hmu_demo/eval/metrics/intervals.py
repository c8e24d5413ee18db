"""Confidence intervals, the one place they are computed: Wilson rates, normal means, replication
summaries, cluster bootstraps.

The judge's presets (quick, quality) report a rate with its 95 % Wilson score interval and a mean
with a normal interval (z = 1.95996...): right for independent samples only. The captions of one
motion are not independent (they share its clip and usually its judged action), so where samples
come in clusters the interval is a **cluster bootstrap** (:func:`cluster_bootstrap`): whole clusters
(motions) are resampled with replacement, 2000 times by default, seeded, and the 2.5-97.5 %
percentiles of the resampled means are the interval. The benchmark uses it for every metric that
is a mean over captions (rates included), pooling its replications; set-level metrics (FID,
Diversity) keep mean ± 1.96 · std / √R over the R replications, exactly as the published protocol
does (§2.1: 1.96, ``np.std`` with ddof=0).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

__all__ = ["BOOTSTRAP_RESAMPLES", "CI95_Z", "Z95", "ClusterResamples", "cluster_bootstrap", "cluster_entry",
           "mean_entry", "rate_entry", "replication_summary", "summarise", "violent_share", "wilson_interval"]

Z95 = 1.959963984540054       # the 97.5 % normal quantile
CI95_Z = 1.96                 # §2.1: the published CI uses 1.96 exactly
BOOTSTRAP_RESAMPLES = 2000


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
    """``{name: rate, name_n: n, name_ci95: [lo, hi]}`` (Wilson); None (valid JSON) when n is 0. For
    independent samples only: clustered ones (captions of one motion) take :func:`cluster_entry`."""
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


# -- clustered samples ------------------------------------------------------------------------------

class ClusterResamples:
    """``resamples`` draws of whole clusters with replacement, as weights (how often each cluster was
    drawn): made once per set of clusters, so every method is resampled alike (a paired reading)."""

    def __init__(self, clusters: Sequence, resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0) -> None:
        if resamples < 1:
            raise ValueError(f"resamples must be >= 1, got {resamples}")
        self.names = list(dict.fromkeys(clusters))
        if not self.names:
            raise ValueError("a cluster bootstrap needs at least one cluster")
        self._index = {c: i for i, c in enumerate(self.names)}
        m = len(self.names)
        rng = np.random.default_rng([seed, 0xB007])
        self.weights = rng.multinomial(m, np.full(m, 1.0 / m), size=resamples).astype(np.float64)

    def interval(self, values: np.ndarray | Sequence[float], clusters: Sequence,
                 level: float = 0.95) -> tuple[float, float, float]:
        """(mean, lo, hi): the mean of the finite ``values`` and the percentile interval of the means of
        the resampled clusters (NaN when no value is finite). ``clusters[i]`` names value i's cluster."""
        v = np.asarray(values, dtype=np.float64).ravel()
        if len(clusters) != v.size:
            raise ValueError(f"need one cluster per value, got {len(clusters)} for {v.size}")
        try:
            idx = np.fromiter((self._index[c] for c in clusters), dtype=np.int64, count=v.size)
        except KeyError as err:
            raise ValueError(f"cluster {err.args[0]!r} is not among the resampled clusters") from None
        ok = np.isfinite(v)
        if not ok.any():
            return float("nan"), float("nan"), float("nan")
        m = len(self.names)
        sums = np.bincount(idx[ok], weights=v[ok], minlength=m)
        counts = np.bincount(idx[ok], minlength=m).astype(np.float64)
        num, den = self.weights @ sums, self.weights @ counts
        means = num[den > 0] / den[den > 0]
        tail = (1.0 - level) / 2 * 100
        lo, hi = np.percentile(means, [tail, 100 - tail])
        return float(v[ok].mean()), float(lo), float(hi)


def cluster_bootstrap(values: np.ndarray | Sequence[float], clusters: Sequence, resamples: int = BOOTSTRAP_RESAMPLES,
                      seed: int = 0, level: float = 0.95) -> tuple[float, float, float]:
    """(mean, lo, hi) of ``values`` whose samples come in ``clusters`` (e.g. the captions of one motion):
    the percentile interval of the mean over ``resamples`` resamplings of whole clusters."""
    return ClusterResamples(clusters, resamples, seed).interval(values, clusters, level)


def cluster_entry(name: str, values: Sequence[float], clusters: Sequence, resamples: int = BOOTSTRAP_RESAMPLES,
                  seed: int = 0) -> dict:
    """:func:`rate_entry`/:func:`mean_entry`'s shape for clustered samples: ``{name: mean, name_n: n,
    name_clusters: k, name_ci95: [lo, hi]}`` by cluster bootstrap (booleans count as 0/1); None when n is 0."""
    v = np.asarray(values, dtype=np.float64)
    n = int(np.isfinite(v).sum())
    if n == 0:
        return {name: None, f"{name}_n": 0, f"{name}_clusters": 0, f"{name}_ci95": None}
    mean, lo, hi = cluster_bootstrap(v, clusters, resamples, seed)
    k = len({c for c, x in zip(clusters, v) if math.isfinite(x)})
    return {name: mean, f"{name}_n": n, f"{name}_clusters": k, f"{name}_ci95": [lo, hi]}
