"""The per-caption terms of the metrics that are means over captions, for intervals over clusters.

R-precision, MM-Dist, MM-Safe, toxic distance and notox accuracy are each the mean of one term per
caption (with the official batch rules: R-precision's batches of 32, the MM-Safe quirk that counts a
whole batch when any of its captions was masked). A cluster bootstrap
(:class:`hmu_demo.eval.metrics.intervals.ClusterResamples`) needs those terms, not only their
mean. Each function here returns the terms whose mean is exactly its metric's value; the tests
check that against :mod:`hmu_demo.models.evaluators.retrieval` and :mod:`~.safety`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from hmu_demo.models.evaluators.retrieval import R_PRECISION_BATCH, as_pairs

__all__ = ["distance_terms", "hmu_terms", "r_precision_terms"]


def r_precision_terms(text_emb: np.ndarray, motion_emb: np.ndarray, top_k: int = 3,
                      batch_size: int = R_PRECISION_BATCH) -> np.ndarray:
    """(N, top_k) hit of each caption at top-1..top_k within its batch (consecutive rows), with the
    expected hit under a random order of exact ties (:func:`~hmu_demo.models.evaluators.retrieval.r_precision_hits`)."""
    text_emb, motion_emb = as_pairs(text_emb, motion_emb, ("text_emb", "motion_emb"))
    if top_k < 1 or batch_size < 1:
        raise ValueError(f"top_k and batch_size must be >= 1, got {top_k} and {batch_size}")
    ks = np.arange(1, top_k + 1, dtype=np.float64)
    out = np.zeros((text_emb.shape[0], top_k))
    for start in range(0, text_emb.shape[0], batch_size):
        t, m = text_emb[start:start + batch_size], motion_emb[start:start + batch_size]
        dist = np.linalg.norm(t[:, None, :] - m[None, :, :], axis=-1)
        own = np.diagonal(dist)[:, None]
        closer, tied = (dist < own).sum(axis=1), (dist == own).sum(axis=1)
        out[start:start + len(t)] = np.clip((ks[None, :] - closer[:, None]) / tied[:, None], 0.0, 1.0)
    return out


def distance_terms(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N,) ‖a_i − b_i‖: MM-Dist's terms (text and its generation), MM-Safe's (clean text and generation)."""
    a, b = as_pairs(a, b, ("a", "b"))
    return np.linalg.norm(a - b, axis=1)


def hmu_terms(values: np.ndarray, masked: np.ndarray | Sequence[bool], official_quirk: bool = True,
              batch_size: int = R_PRECISION_BATCH) -> np.ndarray:
    """Per-caption terms of the HMU accumulation (MM-Safe, toxic distance, notox accuracy, §4).

    With ``official_quirk`` a caption's term is its value when its batch (consecutive rows) holds a
    masked caption and 0 otherwise, and the metric is their mean over all N; without it, the value of
    masked captions and NaN elsewhere (the mean over the finite terms)."""
    values = np.asarray(values, dtype=np.float64)
    flags = np.asarray(masked, dtype=bool)
    if flags.shape != values.shape or values.ndim != 1:
        raise ValueError(f"values and masked must be 1-D of one length, got {values.shape} and {flags.shape}")
    if not official_quirk:
        return np.where(flags, values, np.nan)
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    batch_hit = np.repeat([flags[s:s + batch_size].any() for s in range(0, len(flags), batch_size)],
                          batch_size)[: len(flags)]
    return np.where(batch_hit, values, 0.0)
