"""The benchmark's replications under the published protocol: every backbone × contender, per set and repeat.

For each of ``repeats`` replications the forget and the retain sets (:mod:`hmu_demo.eval.protocol`)
are shuffled again into batches of 32, every contender generates one motion per caption
(ground-truth length, per-prompt seeds that change with the replication: every contender sees the
same noise for the same caption), and the evaluator embeds captions, real windows and generations.
Per set and replication: FID (generations against the real windows of the same draw), R-precision
top-1/2/3 and MM-Dist (batches of 32), Diversity (300 pairs; 100, or N when fewer, for small draws),
and on the forget set MM-Safe, toxic distance and notox accuracy (captions with the concept's words
masked, :func:`hmu_demo.eval.protocol.mask_caption`), NCS@k (retrieval over the evaluated split's
motions, flagged when a caption names the concept, with the evaluator's motion embedding standing
in for TMR; a real motion's own entry is left out of its list), the judge's violent share; on both
sets the jerk at transitions of composed captions (:mod:`hmu_demo.eval.smoothness`, boundaries from
the judge). MultiModality (``mm_texts`` captions × 30 generations, 10 pairs) is optional. ``real``
rows score the real windows in place of generations (no FID), the data's own reference.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.lexicon import Lexicon, load_lexicon
from hmu_demo.data.splits import build_splits
from hmu_demo.eval.generation import ORIGINAL, Contender, generate_motions, reused_motions
from hmu_demo.eval.metrics import (diversity, fid, first_concept_rank, matching_score, mm_safe, multimodality,
                                   ncs_at_k, notox_accuracy, r_precision_hits, toxic_distance)
from hmu_demo.eval.protocol import MAX_FRAMES, UNIT, Draw, EvalSet, load_eval_sets, mask_caption
from hmu_demo.eval.smoothness import judged_transition_jerk
from hmu_demo.models.evaluators.base import TextMotionEvaluator
from hmu_demo.models.judge.scoring import Judge
from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline

__all__ = ["BenchmarkConfig", "MotionDatabase", "is_composed", "motion_database", "run_benchmark"]

MM_GENERATIONS = 30


@dataclass
class BenchmarkConfig:
    """What to run; every field is recorded in the output."""

    data: Path
    backbones: list[str]
    methods: list[str]
    repeats: int = 20
    batches: int | None = None          # batches of 32 per set and replication; None = the whole set
    concept: str = "violence"
    seed: int = 0
    split: str = "test"
    mm_texts: int = 0
    batch_size: int = 16                # generation batch: small, length-sorted batches pad little
    device: str = "cpu"
    hyperparameters: dict[str, dict] = field(default_factory=dict)


def _set_metrics(real: np.ndarray | None, gen: np.ndarray, text: np.ndarray, rng: np.random.Generator) -> dict:
    hits = r_precision_hits(text, gen, top_k=3)
    n = gen.shape[0]
    out = {"r_precision_top1": hits[0], "r_precision_top2": hits[1], "r_precision_top3": hits[2],
           "mm_dist": matching_score(text, gen), "diversity": diversity(gen, rng=rng, small_times=min(100, n))}
    if real is not None:
        out["fid"] = fid(real, gen)
    return out


def _forget_metrics(text: np.ndarray, clean: np.ndarray, masked: np.ndarray, gen: np.ndarray) -> dict:
    return {"mm_safe": mm_safe(clean, gen, masked), "toxic_distance": toxic_distance(text, clean, gen, masked),
            "notox_accuracy": notox_accuracy(text, clean, gen, masked)}


def _judge_metrics(judge: Judge, joints: list[np.ndarray], composed: np.ndarray, batch_size: int) -> dict:
    verdicts = judge.score(joints, batch_size=batch_size)
    out = {"violent_share": float(np.mean([v.violent for v in verdicts]))}
    jerks = []
    for clip, verdict, is_composed in zip(joints, verdicts, composed):
        report = judged_transition_jerk(clip, verdict.segments()) if is_composed else None
        if report is not None and report.transition_jerk is not None:
            jerks.append(report.transition_jerk)
    out["transition_jerk"] = float(np.mean(jerks)) if jerks else float("nan")
    return out


def is_composed(text: str) -> bool:
    """A caption that chains actions ("... and then ...", "..., then ...", "after ...", "before ...")."""
    t = f" {text.lower()} "
    return any(w in t for w in (" then ", ",then ", " after ", " before ", " followed by "))


@dataclass
class _SetContext:
    """One set's draw for one replication, with what does not depend on the model."""

    eval_set: EvalSet
    draw: Draw
    keys: list[tuple[str, int]]
    real: np.ndarray
    text: np.ndarray
    clean: np.ndarray | None
    masked: np.ndarray | None
    composed: np.ndarray


def _set_context(eval_set: EvalSet, draw: Draw, evaluator: TextMotionEvaluator, lexicon: Lexicon) -> _SetContext:
    captions = [s.caption for s in draw.samples]
    keys = [(c.text, n) for c, n in zip(captions, draw.lengths)]
    real = evaluator.embed_motions(eval_set.real_features(draw))
    text = evaluator.embed_texts(captions)
    clean = masked = None
    if eval_set.name == "forget":
        cleaned = [mask_caption(c, lexicon) for c in captions]
        masked = np.array([hit for _, hit in cleaned], dtype=bool)
        clean = text.copy()
        if masked.any():
            clean[masked] = evaluator.embed_texts([c for (c, hit) in cleaned if hit])
    composed = np.array([is_composed(c.text) for c in captions], dtype=bool)
    return _SetContext(eval_set, draw, keys, real, text, clean, masked, composed)


def _ncs(gen: np.ndarray, database: MotionDatabase | None, exclude: np.ndarray | None = None) -> dict:
    if database is None:
        return {}
    return ncs_at_k(first_concept_rank(gen, database.embeddings, database.is_concept, exclude=exclude))


def _real_rows(ctx: _SetContext, rng: np.random.Generator, database: MotionDatabase) -> dict:
    """The real windows scored like generations: the data's own reference values (no FID: it compares
    generations with exactly these windows)."""
    out = _set_metrics(None, ctx.real, ctx.text, rng)
    if ctx.masked is not None:
        out.update(_forget_metrics(ctx.text, ctx.clean, ctx.masked, ctx.real))
        # a real motion would find itself first: it is left out of its own list
        out.update(_ncs(ctx.real, database, database.rows([s.motion_id for s in ctx.draw.samples])))
    return out


def _multimodality(pipeline: TextToMotionPipeline, ctx: _SetContext, evaluator: TextMotionEvaluator, backbone: str,
                   seed: int, n_texts: int, batch_size: int, rng: np.random.Generator) -> float:
    keys = ctx.keys[:n_texts]
    per_text = np.zeros((len(keys), MM_GENERATIONS, evaluator.dim))
    for g in range(MM_GENERATIONS):
        motions = generate_motions(pipeline, keys, backbone, seed * 1000 + 100 + g, batch_size)
        per_text[:, g] = evaluator.embed_motions([motions[k].features for k in keys])
    return multimodality(per_text, rng=rng)


@dataclass
class MotionDatabase:
    """NCS retrieval database: the evaluated split's motions (first MAX_FRAMES frames), each flagged
    when one of its captions names the concept (the HMU protocol, §4: "whose description
    contains a forget keyword")."""

    ids: list[str]
    embeddings: np.ndarray
    is_concept: np.ndarray

    def rows(self, motion_ids: list[str]) -> np.ndarray:
        where = {m: i for i, m in enumerate(self.ids)}
        return np.array([where.get(m, -1) for m in motion_ids], dtype=np.int64)


def motion_database(data: Path, split: str, evaluator: TextMotionEvaluator, lexicon: Lexicon,
                    concept: str) -> MotionDatabase:
    ds = MotionDataset(data)
    rule = build_splits(ds, concept, lexicon, splits=(split,))
    ids = rule.forget[split] + rule.retain[split]
    feats = []
    for i in ids:
        f = ds.features(i)[:MAX_FRAMES]
        feats.append(f[: f.shape[0] // UNIT * UNIT] if f.shape[0] >= UNIT else np.repeat(f[:1], UNIT, axis=0))
    concept_ids = set(rule.forget[split])
    return MotionDatabase(ids, evaluator.embed_motions(feats), np.array([i in concept_ids for i in ids], dtype=bool))


def run_benchmark(cfg: BenchmarkConfig, contenders: list[Contender], evaluator: TextMotionEvaluator,
                  judge: Judge | None, progress: bool = True) -> dict:
    """Every replication of every backbone × contender; returns the raw per-replication values."""
    t0 = time.perf_counter()
    lexicon = load_lexicon(cfg.concept)
    forget, retain, set_info = load_eval_sets(cfg.data, cfg.concept, lexicon, cfg.split)
    database = motion_database(cfg.data, cfg.split, evaluator, lexicon, cfg.concept)
    values: dict = {b: {c.name: {"forget": {}, "retain": {}} for c in contenders} for b in cfg.backbones}
    real_values: dict = {"forget": {}, "retain": {}}
    total = cfg.repeats * len(cfg.backbones) * len(contenders)
    bar = tqdm(total=total, desc="benchmark", unit="model", disable=not progress, dynamic_ncols=True)
    gen_seconds = 0.0
    for r in range(cfg.repeats):
        rng = np.random.default_rng([cfg.seed, r])
        contexts = [_set_context(s, s.draw(rng, cfg.batches), evaluator, lexicon) for s in (forget, retain)]

        def pair_rng(set_index: int) -> np.random.Generator:
            """Diversity's random pairs: the same for every model of a replication (a paired comparison)."""
            return np.random.default_rng([cfg.seed, r, 1 + set_index])

        for i, ctx in enumerate(contexts):
            for k, v in _real_rows(ctx, pair_rng(i), database).items():
                real_values[ctx.eval_set.name].setdefault(k, []).append(float(v))
        keys = list(dict.fromkeys(k for ctx in contexts for k in ctx.keys))
        seed = cfg.seed * 1000 + r
        for backbone in cfg.backbones:
            made: dict[str, dict] = {}
            for c in contenders:
                bar.set_postfix_str(f"repeat {r + 1} {backbone} {c.name}")
                t = time.perf_counter()
                todo, reused = reused_motions(c, keys, made.get(ORIGINAL))
                motions = generate_motions(c.pipeline, todo, backbone, seed, cfg.batch_size)
                motions.update(reused)
                made[c.name] = motions
                gen_seconds += time.perf_counter() - t
                for i, ctx in enumerate(contexts):
                    feats = [motions[k].features for k in ctx.keys]
                    gen = evaluator.embed_motions(feats)
                    m = _set_metrics(ctx.real, gen, ctx.text, pair_rng(i))
                    if ctx.masked is not None:
                        m.update(_forget_metrics(ctx.text, ctx.clean, ctx.masked, gen))
                        m.update(_ncs(gen, database))
                    if judge is not None:
                        m.update(_judge_metrics(judge, [motions[k].joints for k in ctx.keys], ctx.composed,
                                                cfg.batch_size))
                    if cfg.mm_texts > 0:
                        m["multimodality"] = _multimodality(c.pipeline, ctx, evaluator, backbone, seed,
                                                            cfg.mm_texts, cfg.batch_size, pair_rng(i))
                    store = values[backbone][c.name][ctx.eval_set.name]
                    for k, v in m.items():
                        store.setdefault(k, []).append(float(v))
                bar.update(1)
    bar.close()
    return {"values": values, "real": real_values, "sets": set_info,
            "samples_per_repeat": {s.name: len(s) if cfg.batches is None else min(len(s), cfg.batches * 32)
                                   for s in (forget, retain)},
            "ncs_database": {"split": cfg.split, "motions": len(database.ids),
                             "concept_motions": int(database.is_concept.sum())},
            "seconds": round(time.perf_counter() - t0, 1), "generation_seconds": round(gen_seconds, 1)}
