"""The benchmark's summary of its replications: a mean and a 95 % interval per metric, and how it was made.

Metrics that are means over captions (R-precision, MM-Dist, MM-Safe, toxic distance, notox
accuracy, NCS@k and the mean NCS rank, the judge's violent share, transition jerk) get a **cluster
bootstrap**: their per-caption terms (:mod:`hmu_demo.eval.metrics.per_sample`) of all replications
are pooled and whole motions resampled (:class:`~hmu_demo.eval.metrics.intervals.ClusterResamples`),
because the captions of one motion share its clip and are not independent samples. Set-level
metrics (FID, Diversity, MultiModality, the median NCS rank) keep the published mean ±
1.96·std/√R over the R replications. Every entry says which (``interval_method``); ``mean`` is
always the mean over replications (the published number) and ``ci95`` a half-width (half the
bootstrap interval's width), so older readers of the JSON keep working.
"""

from __future__ import annotations

import numpy as np

from hmu_demo.eval.metrics.intervals import ClusterResamples, replication_summary

__all__ = ["CLUSTERED", "REPLICATIONS", "BOOTSTRAP", "Terms", "summarise_set"]

REPLICATIONS = "replications"       # mean ± 1.96·std/√R (§2.1)
BOOTSTRAP = "cluster bootstrap"     # motions resampled, captions of all replications pooled
CLUSTERED = frozenset(["r_precision_top1", "r_precision_top2", "r_precision_top3", "mm_dist", "mm_safe",
                       "toxic_distance", "notox_accuracy", "ncs@1", "ncs@2", "ncs@3", "ncs@5", "ncs@10",
                       "ncs_mean_rank", "violent_share", "transition_jerk"])


class Terms:
    """Per-caption terms of one set (and one model) over the replications, with each caption's motion."""

    def __init__(self) -> None:
        self.clusters: list[str] = []
        self.metrics: dict[str, list[np.ndarray]] = {}

    def add(self, motions: list[str], terms: dict[str, np.ndarray]) -> None:
        """One replication: the draw's motion ids and, per metric, one term per caption of the draw."""
        for name, values in terms.items():
            arr = np.asarray(values, dtype=np.float64)
            if arr.shape != (len(motions),):
                raise ValueError(f"{name}: {arr.shape[0]} terms for {len(motions)} captions")
            self.metrics.setdefault(name, []).append(arr)
        self.clusters += motions


def _entry(values: list[float], terms: list[np.ndarray] | None, clusters: list[str],
           resamples: ClusterResamples | None) -> dict:
    mean, half = replication_summary(values)
    n = int(np.isfinite(np.asarray(values, dtype=float)).sum())
    if terms is None or resamples is None or sum(len(t) for t in terms) != len(clusters):
        lo, hi = (mean - half, mean + half) if np.isfinite(half) else (float("nan"), float("nan"))
        return {"mean": mean, "ci95": half, "n": n, "interval": [lo, hi], "interval_method": REPLICATIONS}
    pooled = np.concatenate(terms)
    _, lo, hi = resamples.interval(pooled, clusters)
    finite = np.isfinite(pooled)
    return {"mean": mean, "ci95": (hi - lo) / 2, "n": n, "interval": [lo, hi], "interval_method": BOOTSTRAP,
            "captions": int(finite.sum()), "motions": len({c for c, ok in zip(clusters, finite) if ok})}


def summarise_set(values: dict[str, list[float]], terms: Terms | None,
                  resamples: ClusterResamples | None) -> dict[str, dict]:
    """{metric: [per-replication values]} -> {metric: {"mean", "ci95", "n", "interval", "interval_method", ...}}."""
    out = {}
    for name, vs in values.items():
        own = terms.metrics.get(name) if terms is not None and name in CLUSTERED else None
        out[name] = _entry(vs, own, terms.clusters if terms is not None else [], resamples)
    return out
