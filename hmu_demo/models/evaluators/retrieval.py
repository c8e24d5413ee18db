"""Retrieval scores of paired evaluator embeddings: R-precision and MM-Dist (the T2M protocol).

Row i of a text array is paired with row i of a motion array. These two scores are what the
evaluator's trainer selects its weights by and what the benchmark reports, so they live with the
evaluators (the metrics package imports them from here). Only numpy: no torch is loaded.
"""

from __future__ import annotations

import numpy as np

__all__ = ["R_PRECISION_BATCH", "as_matrix", "as_pairs", "matching_score", "r_precision_hits"]

R_PRECISION_BATCH = 32        # R-precision and MM-Dist are computed per test batch of 32 (T2M protocol)


def as_matrix(x: np.ndarray, name: str, min_rows: int = 1) -> np.ndarray:
    """(N, D) float64 with finite values, or a ValueError that names the argument."""
    arr = np.asarray(x, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D (N, D) array, got shape {arr.shape}")
    if arr.shape[0] < min_rows:
        raise ValueError(f"{name} needs at least {min_rows} rows, got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} contains NaN or infinite values")
    return arr


def as_pairs(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> tuple[np.ndarray, np.ndarray]:
    """Two :func:`as_matrix` arrays of the same shape (paired rows)."""
    a, b = as_matrix(a, names[0]), as_matrix(b, names[1])
    if a.shape != b.shape:
        raise ValueError(f"{names[0]} and {names[1]} must have the same shape (paired rows), "
                         f"got {a.shape} and {b.shape}")
    return a, b


def _direct_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise distances from explicit differences: exact zeros and exact ties, for small batches."""
    return np.linalg.norm(a[:, None, :] - b[None, :, :], axis=-1)


def r_precision_hits(text_emb: np.ndarray, motion_emb: np.ndarray, top_k: int = 3,
                     batch_size: int = R_PRECISION_BATCH) -> np.ndarray:
    """R-precision top-1..top_k: (top_k,) share of texts whose paired motion is among the k nearest
    motions of its batch (cumulative in k). Higher = better retrieval (retain set).

    Batches are consecutive runs of ``batch_size`` rows in the given order (the caller shuffles, one
    shuffle per replication); the last, smaller batch counts too (HMU's fork, ``drop_last=False``),
    and hits are summed over batches and divided by N.

    Ties: the official code ranks with ``np.argsort``, which breaks exact distance ties in an
    implementation-defined order. Here a text whose paired motion is tied with ``t − 1`` other motions
    after ``s`` strictly closer ones scores ``clip((k − s) / t, 0, 1)`` at top-k: the expected hit
    under a uniformly random tie order. Without ties this is the usual 0/1 hit; with collapsed,
    identical motion embeddings it gives chance level (k/B) rather than 1 or 0.
    """
    text_emb, motion_emb = as_pairs(text_emb, motion_emb, ("text_emb", "motion_emb"))
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    n = text_emb.shape[0]
    ks = np.arange(1, top_k + 1, dtype=np.float64)
    hits = np.zeros(top_k)
    for start in range(0, n, batch_size):
        t, m = text_emb[start:start + batch_size], motion_emb[start:start + batch_size]
        dist = _direct_distances(t, m)                          # (B, B)
        own = np.diagonal(dist)[:, None]
        closer = (dist < own).sum(axis=1)                        # s
        tied = (dist == own).sum(axis=1)                         # t, includes the pair itself
        hits += np.clip((ks[None, :] - closer[:, None]) / tied[:, None], 0.0, 1.0).sum(axis=0)
    return hits / n


def matching_score(text_emb: np.ndarray, motion_emb: np.ndarray) -> float:
    """MM-Dist: mean distance between each text and its paired motion. Lower = better (retain set).

    The official per-batch traces summed and divided by N are exactly this mean, whatever the batching.
    """
    text_emb, motion_emb = as_pairs(text_emb, motion_emb, ("text_emb", "motion_emb"))
    return float(np.linalg.norm(text_emb - motion_emb, axis=1).mean())
