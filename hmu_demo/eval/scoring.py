"""A replication's generation work cut into units, and what a unit gives back: per-caption scores.

A unit is one generation batch of one backbone × contender (the length-sorted batches
:func:`hmu_demo.eval.generation.generate_motions` would make of the replication's captions) or one
MultiModality round. Its motions are embedded by the evaluator and judged in that same batch and
reduced to small per-caption scores (embedding, violent, transition jerk), so a unit's result
depends only on the unit (per-prompt seeds; every batch computed alike), never on which process of
a ``torchrun`` group did it (:mod:`hmu_demo.eval.sharding`) or on what else it did.

A contender whose only change is a sampling constraint (LCR-gated) generates exactly what the
original model generates for the prompts its constraint leaves alone: those captions are not
planned for it and take the original's scores.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from hmu_demo.eval.generation import ORIGINAL, Contender, constrained, generate_motions
from hmu_demo.eval.smoothness import judged_transition_jerk
from hmu_demo.models.evaluators.base import TextMotionEvaluator
from hmu_demo.models.judge.scoring import Judge

__all__ = ["Key", "MM_GENERATIONS", "Score", "Unit", "is_composed", "plan_units", "reused_keys", "run_unit"]

Key = tuple[str, int]   # (caption, frames)
MM_GENERATIONS = 30


def is_composed(text: str) -> bool:
    """A caption that chains actions ("... and then ...", "..., then ...", "after ...", "before ...")."""
    t = f" {text.lower()} "
    return any(w in t for w in (" then ", ",then ", " after ", " before ", " followed by "))


@dataclass(frozen=True)
class Unit:
    """``keys`` to generate with ``contender`` on ``backbone`` at ``seed``; ``mm``: (set index, round) of
    a MultiModality round (only embeddings come back)."""

    backbone: str
    contender: str
    keys: tuple[Key, ...]
    seed: int
    mm: tuple[int, int] | None = None


@dataclass(frozen=True)
class Score:
    """One generated caption, as the metrics need it."""

    embedding: np.ndarray
    violent: bool | None          # None without a judge
    jerk: float                   # transition jerk of a composed caption; NaN when none


def reused_keys(contender: Contender, keys: list[Key], original_runs: bool) -> set[Key]:
    """The keys ``contender`` takes from the original model (see the module docstring)."""
    edit = contender.pipeline.edit
    if not original_runs or edit is None or edit.tensors or edit.constraint is None:
        return set()
    texts = list(dict.fromkeys(t for t, _ in keys))
    masked = dict(zip(texts, constrained(contender.pipeline, texts)))
    return {k for k in keys if not masked[k[0]]}


def plan_units(contenders: list[Contender], backbones: list[str], keys: list[Key], seed: int, batch_size: int,
               mm_keys: list[list[Key]] | None = None) -> tuple[list[Unit], dict[str, set[Key]]]:
    """Every unit of one replication, in one fixed order, and each contender's reused keys."""
    names = [c.name for c in contenders]
    reused = {c.name: reused_keys(c, keys, ORIGINAL in names and c.name != ORIGINAL) for c in contenders}
    ordered = sorted(dict.fromkeys(keys), key=lambda key: key[1])
    units = []
    for backbone in backbones:
        for c in contenders:
            todo = [k for k in ordered if k not in reused[c.name]]
            units += [Unit(backbone, c.name, tuple(todo[s:s + batch_size]), seed)
                      for s in range(0, len(todo), batch_size)]
            for set_index, texts in enumerate(mm_keys or []):
                units += [Unit(backbone, c.name, tuple(texts), seed * 1000 + 100 + g, (set_index, g))
                          for g in range(MM_GENERATIONS)]
    return units, reused


def run_unit(unit: Unit, contender: Contender, evaluator: TextMotionEvaluator, judge: Judge | None,
             batch_size: int) -> tuple[list[Score] | np.ndarray, float]:
    """(per-key scores, or the (n, D) embeddings of a MultiModality round; seconds spent generating)."""
    t = time.perf_counter()
    keys = list(unit.keys)
    motions = generate_motions(contender.pipeline, keys, unit.backbone, unit.seed, batch_size)
    seconds = time.perf_counter() - t
    emb = evaluator.embed_motions([motions[k].features for k in keys])
    if unit.mm is not None:
        return emb, seconds
    joints = [motions[k].joints for k in keys]
    verdicts = judge.score(joints, batch_size=batch_size) if judge is not None else [None] * len(keys)
    scores = []
    for row, (key, clip, verdict) in enumerate(zip(keys, joints, verdicts)):
        jerk = math.nan
        if verdict is not None and is_composed(key[0]):
            report = judged_transition_jerk(clip, verdict.segments())
            if report is not None and report.transition_jerk is not None:
                jerk = float(report.transition_jerk)
        scores.append(Score(emb[row], None if verdict is None else bool(verdict.violent), jerk))
    return scores, seconds
