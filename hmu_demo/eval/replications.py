"""The benchmark's replications under the published protocol: every backbone × contender, per set and repeat.

For each of ``repeats`` replications the forget and the retain sets (:mod:`hmu_demo.eval.protocol`)
are drawn again (N captions per set, motion first; fresh order, so fresh batches of 32), every
contender generates one motion per caption (ground-truth length, per-prompt seeds that change with
the replication: every contender sees the same noise for the same caption), and the evaluator
embeds captions, real windows and generations. The generation work is cut into units
(:mod:`hmu_demo.eval.scoring`) that the processes of a ``torchrun`` group share
(:mod:`hmu_demo.eval.sharding`); rank 0 computes every metric.

Per set and replication: FID (generations against the real windows of the same draw), R-precision
top-1/2/3 and MM-Dist (batches of 32), Diversity (300 pairs: the protocol's two draws without
replacement when N > 300, with replacement otherwise), and on the forget set MM-Safe, toxic distance
and notox accuracy (captions with the concept's words masked, :func:`hmu_demo.eval.protocol.mask_caption`),
NCS@k (retrieval over the evaluated split's motions, flagged when a caption names the concept, with
the evaluator's motion embedding standing in for TMR; a real motion's own entry is left out of its
list), the judge's violent share; on both sets the jerk at transitions of composed captions
(:mod:`hmu_demo.eval.smoothness`, boundaries from the judge). MultiModality (``mm_texts`` captions ×
30 generations, 10 pairs) is optional. ``real`` rows score the real windows in place of generations
(no FID), the data's own reference; FID's real-vs-real noise floor at N
(:mod:`hmu_demo.eval.metrics.noise_floor`) stands in their FID cell. Intervals: :mod:`hmu_demo.eval.summary`.
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
from hmu_demo.eval.generation import ORIGINAL, Contender
from hmu_demo.eval.metrics import (DIVERSITY_TIMES, diversity, fid, first_concept_rank, matching_score, mm_safe,
                                   multimodality, ncs_at_k, notox_accuracy, r_precision_hits, toxic_distance)
from hmu_demo.eval.metrics.intervals import ClusterResamples
from hmu_demo.eval.metrics.noise_floor import fid_floor_at
from hmu_demo.eval.metrics.per_sample import distance_terms, hmu_terms, r_precision_terms
from hmu_demo.eval.protocol import MAX_FRAMES, UNIT, Draw, EvalSet, load_eval_sets, mask_caption
from hmu_demo.eval.scoring import Score, is_composed, plan_units, run_unit
from hmu_demo.eval.sharding import Shard
from hmu_demo.eval.summary import Terms, summarise_set
from hmu_demo.models.evaluators.base import TextMotionEvaluator
from hmu_demo.models.judge.scoring import Judge

__all__ = ["BenchmarkConfig", "MotionDatabase", "diversity_draw", "motion_database", "run_benchmark"]

SETS = ("forget", "retain")
FLOOR_DRAWS = 20                    # draws of the noise floor (at least; more when there are more replications)


@dataclass
class BenchmarkConfig:
    """What to run; every field is recorded in the output."""

    data: Path
    backbones: list[str]
    methods: list[str]
    repeats: int = 20
    batches: int | None = None          # kept for old commands: samples = 32 x batches
    samples: int | str | None = None    # captions per set and replication; "all"; None = each set's default
    concept: str = "violence"
    seed: int = 0
    split: str = "test"
    mm_texts: int = 0
    batch_size: int = 16                # generation batch: small, length-sorted batches pad little
    device: str = "cpu"
    resamples: int = 2000               # cluster bootstrap resamples
    hyperparameters: dict[str, dict] = field(default_factory=dict)

    def samples_for(self, eval_set: EvalSet) -> int:
        """N of ``eval_set``: ``samples`` (or 32 x ``batches``) capped at the set, else its default."""
        if self.samples == "all":
            return len(eval_set)
        wanted = self.samples if self.samples is not None else (None if self.batches is None else 32 * self.batches)
        return eval_set.default_samples() if wanted is None else min(wanted, len(eval_set))


def diversity_draw(n: int, pairs: int = DIVERSITY_TIMES) -> dict:
    """How Diversity draws its ``pairs`` pairs from ``n`` generations (recorded with the results)."""
    replace = n <= pairs
    how = (f"with replacement: N = {n} <= {pairs} cannot give {pairs} without" if replace else
           f"two independent draws of {pairs} without replacement (the protocol's)"
           + ("; N < 600, so a caption can sit in two pairs" if n < 2 * pairs else ""))
    return {"pairs": pairs, "samples": n, "replace": replace, "draw": how}


def _diversity(emb: np.ndarray, rng: np.random.Generator) -> float:
    return diversity(emb, DIVERSITY_TIMES, rng=rng, replace=emb.shape[0] <= DIVERSITY_TIMES)


@dataclass
class _SetContext:
    """One set's draw for one replication, with what does not depend on the model (rank 0 only)."""

    eval_set: EvalSet
    draw: Draw
    keys: list[tuple[str, int]]
    real: np.ndarray
    text: np.ndarray
    clean: np.ndarray | None
    masked: np.ndarray | None
    composed: np.ndarray

    @property
    def motions(self) -> list[str]:
        return [s.motion_id for s in self.draw.samples]


def _keys(draw: Draw) -> list[tuple[str, int]]:
    return [(s.caption.text, n) for s, n in zip(draw.samples, draw.lengths)]


def _set_context(eval_set: EvalSet, draw: Draw, evaluator: TextMotionEvaluator, lexicon: Lexicon) -> _SetContext:
    captions = [s.caption for s in draw.samples]
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
    return _SetContext(eval_set, draw, _keys(draw), real, text, clean, masked, composed)


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


def _score(ctx: _SetContext, gen: np.ndarray, rng: np.random.Generator, database: MotionDatabase,
           scores: list[Score] | None, real: bool = False) -> tuple[dict, dict]:
    """(per-replication values, per-caption terms) of one model (or of the real windows) on one draw."""
    rp = r_precision_terms(ctx.text, gen, top_k=3)
    hits = r_precision_hits(ctx.text, gen, top_k=3)
    dist = distance_terms(ctx.text, gen)
    values = {"r_precision_top1": hits[0], "r_precision_top2": hits[1], "r_precision_top3": hits[2],
              "mm_dist": matching_score(ctx.text, gen), "diversity": _diversity(gen, rng)}
    terms = {"r_precision_top1": rp[:, 0], "r_precision_top2": rp[:, 1], "r_precision_top3": rp[:, 2],
             "mm_dist": dist}
    if not real:
        values["fid"] = fid(ctx.real, gen)
    if ctx.masked is not None:
        d_clean = distance_terms(ctx.clean, gen)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = dist / d_clean
        values.update(mm_safe=mm_safe(ctx.clean, gen, ctx.masked),
                      toxic_distance=toxic_distance(ctx.text, ctx.clean, gen, ctx.masked),
                      notox_accuracy=notox_accuracy(ctx.text, ctx.clean, gen, ctx.masked))
        terms.update(mm_safe=hmu_terms(d_clean, ctx.masked), toxic_distance=hmu_terms(ratio, ctx.masked),
                     notox_accuracy=hmu_terms((d_clean < dist).astype(np.float64), ctx.masked))
        # a real motion would find itself first: it is left out of its own list
        ranks = first_concept_rank(gen, database.embeddings, database.is_concept,
                                   exclude=database.rows(ctx.motions) if real else None)
        values.update(ncs_at_k(ranks))
        terms.update({k: (ranks <= int(k[4:])).astype(np.float64) for k in values if k.startswith("ncs@")})
        terms["ncs_mean_rank"] = ranks.astype(np.float64)
    if scores is not None and scores[0].violent is not None:
        violent = np.array([s.violent for s in scores], dtype=np.float64)
        jerks = np.array([s.jerk for s in scores], dtype=np.float64)
        finite = np.isfinite(jerks)
        values.update(violent_share=float(violent.mean()),
                      transition_jerk=float(jerks[finite].mean()) if finite.any() else float("nan"))
        terms.update(violent_share=violent, transition_jerk=jerks)
    return values, terms


class _Record:
    """Rank 0's record of every replication: values, per-caption terms, generation costs."""

    def __init__(self, backbones: list[str], names: list[str]) -> None:
        self.values: dict = {b: {c: {s: {} for s in SETS} for c in names} for b in backbones}
        self.real: dict = {s: {} for s in SETS}
        self.terms = {b: {c: {s: Terms() for s in SETS} for c in names} for b in backbones}
        self.real_terms = {s: Terms() for s in SETS}
        self.cost = {b: {"clips": 0, "seconds": 0.0} for b in backbones}
        self.units_per_rank: list[int] = []

    @staticmethod
    def _put(store: dict, terms: Terms, motions: list[str], result: tuple[dict, dict]) -> None:
        values, per_caption = result
        for k, v in values.items():
            store.setdefault(k, []).append(float(v))
        terms.add(motions, per_caption)


def _replication(r: int, cfg: BenchmarkConfig, sets: list[EvalSet], contenders: list[Contender],
                 evaluator: TextMotionEvaluator, judge: Judge | None, shard: Shard, database: MotionDatabase | None,
                 lexicon: Lexicon, record: _Record | None, bar: tqdm) -> None:
    rng = np.random.default_rng([cfg.seed, r])
    draws = [s.draw(rng, cfg.samples_for(s)) for s in sets]
    keys = list(dict.fromkeys(k for d in draws for k in _keys(d)))
    mm_keys = [_keys(d)[:cfg.mm_texts] for d in draws] if cfg.mm_texts > 0 else None
    units, reused = plan_units(contenders, cfg.backbones, keys, cfg.seed * 1000 + r, cfg.batch_size, mm_keys)
    by_name = {c.name: c for c in contenders}
    mine, todo = {}, shard.mine(units)
    bar.total += len(todo)
    bar.refresh()
    for i, unit in todo:
        bar.set_postfix_str(f"repeat {r + 1} {unit.backbone} {unit.contender}")
        mine[i] = run_unit(unit, by_name[unit.contender], evaluator, judge, cfg.batch_size)
        bar.update(1)
    gathered = shard.gather(mine)
    if record is None:
        return
    results: dict[int, tuple] = {i: res for part in gathered for i, res in part.items()}
    record.units_per_rank = [a + len(part) for a, part in zip(record.units_per_rank or [0] * len(gathered), gathered)]
    contexts = [_set_context(s, d, evaluator, lexicon) for s, d in zip(sets, draws)]

    def pair_rng(set_index: int) -> np.random.Generator:
        """Diversity's random pairs: the same for every model of a replication (a paired comparison)."""
        return np.random.default_rng([cfg.seed, r, 1 + set_index])

    for i, ctx in enumerate(contexts):
        name = ctx.eval_set.name
        record._put(record.real[name], record.real_terms[name], ctx.motions,
                    _score(ctx, ctx.real, pair_rng(i), database, None, real=True))
    for backbone in cfg.backbones:
        scores: dict[str, dict] = {c.name: {} for c in contenders}
        mm: dict[tuple[str, int], dict[int, np.ndarray]] = {}
        for i, unit in enumerate(units):
            if unit.backbone != backbone:
                continue
            out, seconds = results[i]
            record.cost[backbone]["seconds"] += seconds
            record.cost[backbone]["clips"] += len(unit.keys)
            if unit.mm is None:
                scores[unit.contender].update(zip(unit.keys, out))
            else:
                mm.setdefault((unit.contender, unit.mm[0]), {})[unit.mm[1]] = out
        for c in contenders:
            own = scores[c.name]
            own.update({k: scores[ORIGINAL][k] for k in reused[c.name]})
            for i, ctx in enumerate(contexts):
                per_key = [own[k] for k in ctx.keys]
                gen = np.stack([s.embedding for s in per_key])
                values, terms = _score(ctx, gen, pair_rng(i), database, per_key)
                if (c.name, i) in mm:
                    rounds = mm[(c.name, i)]
                    values["multimodality"] = multimodality(np.stack([rounds[g] for g in sorted(rounds)], axis=1),
                                                            rng=pair_rng(i))
                record._put(record.values[backbone][c.name][ctx.eval_set.name],
                            record.terms[backbone][c.name][ctx.eval_set.name], ctx.motions, (values, terms))


def _noise_floors(sets: list[EvalSet], sizes: dict[str, int], evaluator: TextMotionEvaluator,
                  cfg: BenchmarkConfig) -> dict:
    """FID between two disjoint draws of real clips of each set at the N used (one window per caption)."""
    out = {}
    for s in sets:
        draw = s.draw(np.random.default_rng([cfg.seed, 0xF1]), None)
        emb = evaluator.embed_motions(s.real_features(draw))
        floor = fid_floor_at(emb, [x.motion_id for x in draw.samples], sizes[s.name], max(cfg.repeats, FLOOR_DRAWS),
                             cfg.seed)
        floor.pop("values", None)
        out[s.name] = floor
    return out


def _warm_text_memo(contenders: list[Contender], sets: list[EvalSet], lexicon: Lexicon, chunk: int = 64) -> None:
    """Encode every caption the run can ask for (and its masked form) once, sorted, in batches of
    ``chunk``, on every process. A text encoder's output moves in the last bits with the batch it
    comes in, and the caption memo keeps the first answer: filled this way, the memo holds the same
    encodings whichever process generates which captions, and in whatever order."""
    texts = {s.caption.text for es in sets for s in es.samples}
    texts |= {mask_caption(s.caption, lexicon)[0].text for s in sets[0].samples}
    ordered = sorted(texts)
    for encoder in {id(c.pipeline.text_encoder): c.pipeline.text_encoder for c in contenders}.values():
        for i in range(0, len(ordered), chunk):
            encoder.encode(ordered[i:i + chunk])


def run_benchmark(cfg: BenchmarkConfig, contenders: list[Contender], evaluator: TextMotionEvaluator,
                  judge: Judge | None, progress: bool = True, shard: Shard | None = None) -> dict | None:
    """Every replication of every backbone × contender; on rank 0 the raw per-replication values, their
    summary and the run's facts, None on the other ranks."""
    shard = shard or Shard()
    t0 = time.perf_counter()
    lexicon = load_lexicon(cfg.concept)
    forget, retain, set_info = load_eval_sets(cfg.data, cfg.concept, lexicon, cfg.split)
    sets = [forget, retain]
    _warm_text_memo(contenders, sets, lexicon)
    database = motion_database(cfg.data, cfg.split, evaluator, lexicon, cfg.concept) if shard.root else None
    names = [c.name for c in contenders]
    record = _Record(cfg.backbones, names) if shard.root else None
    bar = tqdm(total=0, desc="benchmark", unit="batch", disable=not progress or not shard.root, dynamic_ncols=True)
    for r in range(cfg.repeats):
        _replication(r, cfg, sets, contenders, evaluator, judge, shard, database, lexicon, record, bar)
    bar.close()
    if record is None:
        return None
    sizes = {s.name: cfg.samples_for(s) for s in sets}
    resamples = {s: ClusterResamples(record.real_terms[s].clusters, cfg.resamples, cfg.seed) for s in SETS}
    summary = {b: {c: {s: summarise_set(record.values[b][c][s], record.terms[b][c][s], resamples[s]) for s in SETS}
                   for c in names} for b in cfg.backbones}
    cost = {b: {**v, "seconds": round(v["seconds"], 1),
                "sec_per_clip": round(v["seconds"] / v["clips"], 4) if v["clips"] else None}
            for b, v in record.cost.items()}
    return {"values": record.values, "real": record.real, "summary": summary,
            "real_summary": {s: summarise_set(record.real[s], record.real_terms[s], resamples[s]) for s in SETS},
            "sets": set_info, "samples_per_repeat": sizes,
            "sample_sizes": {s.name: {"captions": sizes[s.name], "set_captions": len(s), "set_motions": s.motions,
                                      "distinct_motions": min(sizes[s.name], s.motions)} for s in sets},
            "diversity": {s: diversity_draw(n) for s, n in sizes.items()},
            "noise_floor": _noise_floors(sets, sizes, evaluator, cfg),
            "intervals": {"clustered": f"cluster bootstrap over motions, {cfg.resamples} resamples, seed {cfg.seed}, "
                                       "captions of all replications pooled",
                          "set_level": "mean ± 1.96·std/√R over the R replications (FID, Diversity, MultiModality, "
                                       "median NCS rank)"},
            "ncs_database": {"split": cfg.split, "motions": len(database.ids),
                             "concept_motions": int(database.is_concept.sum())},
            "world_size": shard.world, "units_per_rank": record.units_per_rank, "generation": cost,
            "seconds": round(time.perf_counter() - t0, 1),
            "generation_seconds": round(sum(v["seconds"] for v in record.cost.values()), 1)}
