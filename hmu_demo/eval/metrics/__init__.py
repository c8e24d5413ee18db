"""Metrics on evaluator embeddings and judge verdicts: the T2M standard set, the HMU ones, NCS, intervals.

Every function works on plain arrays, so any text-motion evaluator can feed it; only numpy and
scipy are imported, so numbers can be computed without loading torch. The § marks number the
parts of the published evaluation protocol (summarised in docs/evaluation.md): §2 the T2M standard
metrics (FID, R-precision, MM-Dist, Diversity, MultiModality), §2.1 replications and their 95 %
interval, §4 the HMU metrics (MM-Safe, toxic distance, notox accuracy, NCS@k), §5 which way each
metric is better. Where the published code is ambiguous or accidental, the choice made here is
written in the function's docstring (R-precision ties, the MM-Safe batch quirk, NCS misses, NaN
replications).

Modules: :mod:`~.distribution` (FID, Diversity, MultiModality), :mod:`~.safety` (§4),
:mod:`~.directions` (§5), :mod:`~.intervals` (every confidence interval), :mod:`~.noise_floor` (FID's
real-vs-real floor at a sample size), :mod:`~.per_sample` (the per-caption terms of the mean metrics,
for cluster intervals); R-precision and MM-Dist
live with the evaluators (:mod:`hmu_demo.models.evaluators.retrieval`, their trainer selects by
them) and are part of this namespace.
"""

from __future__ import annotations

from hmu_demo.eval.metrics.directions import (ARROWS, BETTER, CLOSER, HIGHER, INFERRED_DIRECTIONS, LOWER, Direction,
                                              better_direction)
from hmu_demo.eval.metrics.distribution import (DIVERSITY_SMALL_TIMES, DIVERSITY_TIMES, MM_TIMES, diversity,
                                                embedding_statistics, euclidean_distance_matrix, fid,
                                                frechet_distance, multimodality)
from hmu_demo.eval.metrics.intervals import (BOOTSTRAP_RESAMPLES, CI95_Z, Z95, ClusterResamples, cluster_bootstrap,
                                             cluster_entry, mean_entry, rate_entry, replication_summary, summarise,
                                             violent_share, wilson_interval)
from hmu_demo.eval.metrics.noise_floor import fid_floor_at, fid_noise_floor, group_first
from hmu_demo.eval.metrics.safety import (NCS_KS, NCS_MAX_RANK, first_concept_rank, min_rank_per_group, mm_safe,
                                          ncs_at_k, notox_accuracy, toxic_distance)
from hmu_demo.models.evaluators.retrieval import R_PRECISION_BATCH, matching_score, r_precision_hits

__all__ = [
    "Direction", "LOWER", "HIGHER", "CLOSER", "BETTER", "INFERRED_DIRECTIONS", "ARROWS", "better_direction",
    "embedding_statistics", "frechet_distance", "fid", "euclidean_distance_matrix", "r_precision_hits",
    "matching_score", "diversity", "multimodality", "mm_safe", "toxic_distance", "notox_accuracy",
    "first_concept_rank", "min_rank_per_group", "ncs_at_k", "violent_share", "replication_summary", "summarise",
    "wilson_interval", "rate_entry", "mean_entry", "Z95", "CI95_Z", "BOOTSTRAP_RESAMPLES", "ClusterResamples",
    "cluster_bootstrap", "cluster_entry", "fid_noise_floor", "fid_floor_at", "group_first",
    "R_PRECISION_BATCH", "DIVERSITY_TIMES", "DIVERSITY_SMALL_TIMES", "MM_TIMES", "NCS_MAX_RANK", "NCS_KS",
]
