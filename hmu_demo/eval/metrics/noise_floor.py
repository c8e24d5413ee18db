"""FID's noise floor: the FID between two disjoint random draws of *real* embeddings of one set.

FID on N samples is biased upwards by about k/N even when both sides come from one distribution
(the covariance of N points in D dimensions has rank ≤ N − 1): on the SynthMotion test split, two
draws of 32 real retain clips differ by FID ≈ 18. A method's FID says something about its
distribution only where it is large against this floor, so the benchmark reports the floor at the
N it uses.

Draws are disjoint by group (a motion: its captions share its clip, and two draws that shared a
clip would agree more than two independent samples) and go group first (:func:`group_first`), as
the benchmark's draws do. What sets the floor is the number of distinct clips on each side; a set
of M motions gives two disjoint sides of at most M/2 each, so the floor of a draw with more
distinct clips than that is measured at M/2 and scaled by the k/N law (:func:`fid_floor_at`,
marked ``extrapolated``; the law holds within about 15 % on the SynthMotion test split from 32 to
686 clips, ``python -m hmu_demo.eval.sample_size``).

The benchmark's FID is *paired* (each generation is compared with the clips of its own captions),
so a model that copies its captions' clips scores below the floor; the floor is the scale below
which FID differences say more about per-caption copying than about the distribution.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hmu_demo.eval.metrics.distribution import fid
from hmu_demo.eval.metrics.intervals import replication_summary

__all__ = ["disjoint_halves", "fid_floor_at", "fid_noise_floor", "group_first", "largest_disjoint_n"]


def group_first(groups: Sequence | np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` row indices (one group label per row) in random order, group first: one random row of
    every group (groups in random order) before any group's second row, and so on."""
    order = rng.permutation(len(groups))
    seen: dict = {}
    tier = np.empty(len(order), dtype=np.int64)
    for pos, i in enumerate(order):
        g = groups[int(i)]
        tier[pos] = seen.get(g, 0)
        seen[g] = tier[pos] + 1
    chosen = order[np.argsort(tier, kind="stable")[:n]]
    return chosen[rng.permutation(len(chosen))]


def disjoint_halves(groups: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Row indices of two halves that share no group and hold half the groups each (random split)."""
    names, inverse = np.unique(groups, return_inverse=True)
    side = np.zeros(len(names), dtype=bool)
    side[rng.permutation(len(names))[: len(names) // 2]] = True
    rows = side[inverse]
    return np.flatnonzero(rows), np.flatnonzero(~rows)


def _groups(n_rows: int, groups: Sequence | np.ndarray | None) -> np.ndarray:
    if groups is None:
        return np.arange(n_rows)
    arr = np.asarray(groups)
    if arr.shape != (n_rows,):
        raise ValueError(f"need one group per embedding, got {arr.shape[0] if arr.ndim else 0} for {n_rows}")
    return arr


def largest_disjoint_n(groups: Sequence | np.ndarray) -> int:
    """Distinct groups on each side of the largest two disjoint draws of distinct groups: ⌊M/2⌋."""
    return len(np.unique(np.asarray(groups))) // 2


def fid_noise_floor(embeddings: np.ndarray, n: int, repeats: int = 20, seed: int = 0,
                    groups: Sequence | np.ndarray | None = None) -> dict:
    """FID between two disjoint random draws of ``n`` rows of ``embeddings`` (real clips of one set),
    ``repeats`` times: ``{"n", "repeats", "mean", "ci95", "spread95", "values", "disjoint_by"}``.

    ``ci95`` is the half-width of the mean's interval as the benchmark reports its FID (1.96·std/√R),
    so the two columns compare directly; ``spread95`` the 2.5-97.5 % range of a single draw. Each
    repeat splits the groups (every row its own group when ``groups`` is None) into two random
    halves and draws ``n`` rows from each, group first (:func:`group_first`); ValueError when a half
    has fewer than ``n`` rows.
    """
    emb = np.asarray(embeddings, dtype=np.float64)
    if emb.ndim != 2:
        raise ValueError(f"embeddings must be (N, D), got shape {emb.shape}")
    if n < 2 or repeats < 1:
        raise ValueError(f"need n >= 2 and repeats >= 1, got n={n}, repeats={repeats}")
    g = _groups(emb.shape[0], groups)
    values = []
    for r in range(repeats):
        rng = np.random.default_rng([seed, r])
        a, b = disjoint_halves(g, rng)
        if min(len(a), len(b)) < n:
            raise ValueError(f"two disjoint draws of {n} need {2 * n} rows in disjoint groups; this split of "
                             f"{emb.shape[0]} rows gives halves of {len(a)} and {len(b)}")
        values.append(fid(emb[a[group_first(g[a], n, rng)]], emb[b[group_first(g[b], n, rng)]]))
    mean, ci = replication_summary(values)
    lo, hi = np.percentile(values, [2.5, 97.5])
    return {"n": int(n), "repeats": int(repeats), "mean": mean, "ci95": ci, "spread95": [float(lo), float(hi)],
            "values": [float(v) for v in values], "disjoint_by": "row" if groups is None else "group"}


def fid_floor_at(embeddings: np.ndarray, groups: Sequence | np.ndarray, n: int, repeats: int = 20,
                 seed: int = 0) -> dict:
    """The floor for a benchmark draw of ``n`` rows, group first: it holds min(n, M) distinct groups of
    the set's M. Measured directly when that is at most M/2 (``n`` itself when n ≤ M/2); else
    measured with M/2 distinct groups a side and scaled by k/N to min(n, M) (``extrapolated``: True,
    ``measured`` the entry it came from). The entry's ``n`` is always ``n``; ``distinct`` the
    distinct groups the floor stands for."""
    g = np.asarray(groups)
    distinct = min(n, len(np.unique(g)))
    half = largest_disjoint_n(g)
    if distinct <= half:
        out = fid_noise_floor(embeddings, distinct, repeats, seed, g)
        out.update(n=int(n), distinct=distinct, extrapolated=False)
        return out
    measured = fid_noise_floor(embeddings, half, repeats, seed, g)
    scale = half / distinct
    out = {k: measured[k] for k in ("repeats", "disjoint_by")}
    out.update(n=int(n), distinct=distinct, mean=measured["mean"] * scale, ci95=measured["ci95"] * scale,
               spread95=[v * scale for v in measured["spread95"]], extrapolated=True,
               measured={k: measured[k] for k in ("n", "mean", "ci95", "spread95")})
    return out
