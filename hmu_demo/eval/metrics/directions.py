"""Which way each benchmark metric is better (§5 of the published protocol), and the tables' arrows.

On the forget set the reference is D_r, the model retrained without the concept: matching it is
the goal, so the quality metrics read "closer to reference" there; on the retain set the usual
directions hold. The entries §5 does not state are listed in :data:`INFERRED_DIRECTIONS`.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["ARROWS", "BETTER", "CLOSER", "Direction", "HIGHER", "INFERRED_DIRECTIONS", "LOWER", "better_direction"]


Direction = Literal["lower", "higher", "closer to reference"]
LOWER: Direction = "lower"
HIGHER: Direction = "higher"
CLOSER: Direction = "closer to reference"
ARROWS: dict[str, str] = {LOWER: "↓", HIGHER: "↑", CLOSER: "→"}

#: Which way is better, per evaluation set ("forget", "retain") and metric name. On the forget set the
#: reference is D_r, the model retrained without the concept (§5): matching it is the goal, so FID,
#: Diversity and R-precision read "closer to reference" there.
BETTER: dict[str, dict[str, Direction]] = {
    "forget": {
        "fid": CLOSER, "diversity": CLOSER, "r_precision_top1": CLOSER, "mm_safe": LOWER,
        "ncs@1": LOWER, "ncs@2": LOWER, "ncs@3": LOWER, "ncs@5": LOWER, "ncs@10": LOWER,
        # not in the §5 table (see INFERRED_DIRECTIONS)
        "r_precision_top2": CLOSER, "r_precision_top3": CLOSER, "mm_dist": CLOSER, "multimodality": CLOSER,
        "ncs_mean_rank": HIGHER, "ncs_median_rank": HIGHER, "toxic_distance": HIGHER, "notox_accuracy": HIGHER,
        "violent_share": LOWER, "transition_jerk": LOWER, "transition_ratio": LOWER,
    },
    "retain": {
        "fid": LOWER, "mm_dist": LOWER, "diversity": CLOSER, "r_precision_top1": HIGHER,
        # not in the §5 table (see INFERRED_DIRECTIONS)
        "r_precision_top2": HIGHER, "r_precision_top3": HIGHER, "multimodality": HIGHER,
        "violent_share": LOWER, "transition_jerk": LOWER, "transition_ratio": LOWER,
    },
}

#: (set, metric) entries of :data:`BETTER` that §5 of the published protocol does not state, with the reason:
#: R@2/R@3 read like R@1; forget MM-Dist and MultiModality like the other forget quality metrics
#: (match D_r); retain MultiModality "higher = more varied" (§2); NCS ranks are the opposite of NCS@k
#: (the first concept neighbour further away = better suppression); toxic_distance (distance to the
#: toxic caption over distance to the clean one) and notox_accuracy (share closer to the clean
#: caption) grow as the motion leaves the toxic words behind; violent share and transition jerk are
#: this project's additions (the judge; smoothness.py). NCS@k itself is marked inferred in §4 too.
INFERRED_DIRECTIONS: frozenset[tuple[str, str]] = frozenset(
    [("forget", m) for m in ("r_precision_top2", "r_precision_top3", "mm_dist", "multimodality", "ncs_mean_rank",
                             "ncs_median_rank", "toxic_distance", "notox_accuracy", "violent_share",
                             "transition_jerk", "transition_ratio", "ncs@1", "ncs@2", "ncs@3", "ncs@5", "ncs@10")]
    + [("retain", m) for m in ("r_precision_top2", "r_precision_top3", "multimodality", "violent_share",
                               "transition_jerk", "transition_ratio")])


def better_direction(metric: str, eval_set: str) -> Direction | None:
    """Which way ``metric`` is better on ``eval_set`` ("forget" or "retain"); None when it is not read there."""
    if eval_set not in BETTER:
        raise ValueError(f"eval_set must be one of {sorted(BETTER)}, got {eval_set!r}")
    return BETTER[eval_set].get(metric)

