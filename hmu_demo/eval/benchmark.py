"""The forget/retain benchmark: every backbone × method under the published protocol, with 95 % CIs.

    python -m hmu_demo.eval.benchmark --data DIR --backbones momask,bamm \\
        --methods original,uce,rece,lcr,lcr-orth,lcr-nearest,lcr-gated --repeats 20 [--quick] --out DIR
        [--batches N] [--bundle DIR | --official DIR] [--evaluator embedded|official] [--evaluator-path P]
        [--dr DIR] [--judge DIR] [--mm-texts K] [--concept violence] [--seed 0] [--device cpu]

Protocol (reference/evaluation.md §2-§4; sets: :mod:`hmu_demo.eval.protocol`): each method's edit is
applied once to the bundle (``original`` = no edit; ``D_r`` = the bundle retrained without the concept,
when ``--dr`` or ``checkpoints/embedded_dr`` exists). Then, for each of ``--repeats`` replications, the
forget and the retain sets are shuffled again into batches of 32, every model generates one motion per
caption (ground-truth length, per-prompt seeds that change with the replication: every method sees
the same noise for the same caption), and the evaluator embeds captions, real windows and generations.
Per set and replication: FID (generations against the real windows of the same draw), R-precision
top-1/2/3 and MM-Dist (batches of 32), Diversity (300 pairs; 100, or N when fewer, for small draws),
and on the forget set MM-Safe, toxic distance and notox accuracy (captions with the concept's words
masked, :func:`hmu_demo.eval.protocol.mask_caption`), NCS@k (retrieval over the evaluated split's motions,
flagged when a caption names the concept, with the evaluator's motion embedding standing in for TMR;
a real motion's own entry is left out of its list), the judge's violent share; on both
sets the jerk at transitions of composed captions (:mod:`hmu_demo.eval.smoothness`, boundaries from
the judge). MultiModality (``--mm-texts K``: K captions × 30 generations, 10 pairs) is off by default:
the official protocol uses 96 texts. Reported: mean ± 1.96·std/√R over the R replications, with
``real`` rows (the real windows in place of generations; no FID) as the data's own reference.

``--batches N`` keeps N batches of 32 per set and replication (fresh ones each time) instead of the
whole set: the protocol's full sets are thousands of captions, which a CPU cannot generate 20 times
for every method; every table says the sample size it used. ``--quick`` = 2 replications of 1 batch.

Outputs in ``--out``: ``benchmark.json`` (everything, per-replication values included),
``benchmark.csv`` (one row per backbone, method, set and metric), ``benchmark.md`` (the paper's
tables: forget FID → / MM-Safe ↓ / Diversity → / R@1 →; retain FID ↓ / MM-Dist ↓ / Diversity → /
R@1 ↑; plus the extra metrics) and ``tradeoff.png`` (forget suppression against retain FID).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hmu_demo.cli import run_guarded
from hmu_demo.eval.quality import QualityError, check_backbones
from hmu_demo.generate import BACKBONES, EMBEDDED_DIR

if TYPE_CHECKING:
    from hmu_demo.eval.evaluator import TextMotionEvaluator
    from hmu_demo.eval.judge import Judge
    from hmu_demo.eval.protocol import Draw, EvalSet
    from hmu_demo.models.bundle import ModelBundle

__all__ = ["BenchmarkConfig", "Contender", "MotionDatabase", "motion_database", "run_benchmark", "summarise", "main", "DEFAULT_METHODS", "DR_NAME"]

DEFAULT_METHODS = ("original", "uce", "rece", "lcr", "lcr-orth", "lcr-nearest", "lcr-gated")
DR_NAME = "D_r"
DEFAULT_DR = Path(__file__).resolve().parents[2] / "checkpoints" / "embedded_dr"
MM_GENERATIONS = 30
JERK_WINDOW = 5
MIN_SEGMENT = 4


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


@dataclass
class Contender:
    """One row of the tables: a model variant (an edit of the bundle, the bundle itself, or D_r)."""

    name: str
    bundle: "ModelBundle"
    info: dict


# -- models ----------------------------------------------------------------------------------------

def prepare_contenders(bundle: "ModelBundle", cfg: BenchmarkConfig, encoder, index=None,
                       dr_bundle: "ModelBundle | None" = None, dr_source: str | None = None) -> list[Contender]:
    """Apply every method once (the registry's defaults or ``cfg.hyperparameters``)."""
    from hmu_demo.unlearning.registry import METHODS, apply

    out = []
    for method in cfg.methods:
        if method == "original":
            out.append(Contender("original", bundle, {"method": "original", "seconds": 0.0}))
            continue
        if method not in METHODS:
            raise QualityError(f"unknown method {method!r}; choose from original, {', '.join(METHODS)}")
        edited, report = apply(bundle, cfg.concept, method, text_encoder=encoder, index=index,
                               **cfg.hyperparameters.get(method, {}))
        out.append(Contender(method, edited, {"method": method, "seconds": round(report.seconds, 4),
                                              "hyperparameters": report.hyperparameters,
                                              "flagged_codes": report.codes or None}))
    if dr_bundle is not None:
        out.append(Contender(DR_NAME, dr_bundle, {"method": "retrained from scratch without the concept",
                                                  "bundle": dr_source}))
    return out


# -- one replication -------------------------------------------------------------------------------

def _set_metrics(real: np.ndarray, gen: np.ndarray, text: np.ndarray, rng: np.random.Generator) -> dict:
    from hmu_demo.eval.metrics import diversity, fid, matching_score, r_precision_hits

    hits = r_precision_hits(text, gen, top_k=3)
    n = gen.shape[0]
    out = {"r_precision_top1": hits[0], "r_precision_top2": hits[1], "r_precision_top3": hits[2],
           "mm_dist": matching_score(text, gen), "diversity": diversity(gen, rng=rng, small_times=min(100, n))}
    if real is not None:
        out["fid"] = fid(real, gen)
    return out


def _forget_metrics(text: np.ndarray, clean: np.ndarray, masked: np.ndarray, gen: np.ndarray) -> dict:
    from hmu_demo.eval.metrics import mm_safe, notox_accuracy, toxic_distance

    return {"mm_safe": mm_safe(clean, gen, masked), "toxic_distance": toxic_distance(text, clean, gen, masked),
            "notox_accuracy": notox_accuracy(text, clean, gen, masked)}


def _judge_metrics(judge: "Judge", joints: list[np.ndarray], composed: np.ndarray, batch_size: int) -> dict:
    from hmu_demo.eval.metrics import segment_boundaries, transition_smoothness

    verdicts = judge.score(joints, batch_size=batch_size)
    out = {"violent_share": float(np.mean([v.violent for v in verdicts]))}
    jerks = []
    for clip, verdict, is_composed in zip(joints, verdicts, composed):
        if not is_composed or clip.shape[0] < 4:
            continue
        report = transition_smoothness(clip, segment_boundaries(verdict.segments(), MIN_SEGMENT), window=JERK_WINDOW)
        if report.transition_jerk is not None:
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

    eval_set: "EvalSet"
    draw: "Draw"
    keys: list[tuple[str, int]]
    real: np.ndarray
    text: np.ndarray
    clean: np.ndarray | None
    masked: np.ndarray | None
    composed: np.ndarray


def _set_context(eval_set: "EvalSet", draw: "Draw", evaluator: "TextMotionEvaluator", lexicon) -> _SetContext:
    from hmu_demo.eval.protocol import mask_caption

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


def _ncs(gen: np.ndarray, database: "MotionDatabase | None", exclude: np.ndarray | None = None) -> dict:
    from hmu_demo.eval.metrics import first_concept_rank, ncs_at_k

    if database is None:
        return {}
    return ncs_at_k(first_concept_rank(gen, database.embeddings, database.is_concept, exclude=exclude))


def _real_rows(ctx: _SetContext, rng: np.random.Generator, database: "MotionDatabase") -> dict:
    """The real windows scored like generations: the data's own reference values (no FID: it compares
    generations with exactly these windows)."""
    out = _set_metrics(None, ctx.real, ctx.text, rng)
    if ctx.masked is not None:
        out.update(_forget_metrics(ctx.text, ctx.clean, ctx.masked, ctx.real))
        # a real motion would find itself first: it is left out of its own list
        out.update(_ncs(ctx.real, database, database.rows([s.motion_id for s in ctx.draw.samples])))
    return out


def _multimodality(gen, ctx: _SetContext, evaluator, backbone: str, seed: int, n_texts: int,
                   batch_size: int, rng: np.random.Generator) -> float:
    from hmu_demo.eval.metrics import multimodality
    from hmu_demo.eval.quality import generate_motions

    keys = ctx.keys[:n_texts]
    per_text = np.zeros((len(keys), MM_GENERATIONS, evaluator.dim))
    for g in range(MM_GENERATIONS):
        motions = generate_motions(gen, keys, backbone, seed * 1000 + 100 + g, batch_size)
        per_text[:, g] = evaluator.embed_motions([motions[k].features for k in keys])
    return multimodality(per_text, rng=rng)


# -- the run ---------------------------------------------------------------------------------------

@dataclass
class MotionDatabase:
    """NCS retrieval database: the evaluated split's motions (first MAX_FRAMES frames), each flagged
    when one of its captions names the concept (reference/evaluation.md §4: "whose description
    contains a forget keyword")."""

    ids: list[str]
    embeddings: np.ndarray
    is_concept: np.ndarray

    def rows(self, motion_ids: list[str]) -> np.ndarray:
        where = {m: i for i, m in enumerate(self.ids)}
        return np.array([where.get(m, -1) for m in motion_ids], dtype=np.int64)


def motion_database(data: Path, split: str, evaluator: "TextMotionEvaluator", lexicon, concept: str) -> MotionDatabase:
    from hmu_demo.data.humanml3d import MotionDataset
    from hmu_demo.data.splits import build_splits
    from hmu_demo.eval.protocol import MAX_FRAMES, UNIT

    ds = MotionDataset(data)
    rule = build_splits(ds, concept, lexicon, splits=(split,))
    ids = rule.forget[split] + rule.retain[split]
    feats = []
    for i in ids:
        f = ds.features(i)[:MAX_FRAMES]
        feats.append(f[: f.shape[0] // UNIT * UNIT] if f.shape[0] >= UNIT else np.repeat(f[:1], UNIT, axis=0))
    concept_ids = set(rule.forget[split])
    return MotionDatabase(ids, evaluator.embed_motions(feats), np.array([i in concept_ids for i in ids], dtype=bool))


def _gated_split(contender: Contender, keys: list[tuple[str, int]], encoder, original: dict | None
                 ) -> tuple[list[tuple[str, int]], dict]:
    """(keys to generate, motions reused from the original model): an LCR-gated model generates exactly
    what the original generates for every prompt its gate lets through, so those are not generated twice."""
    gate = getattr(contender.bundle, "gate", None)
    if gate is None or original is None:
        return keys, {}
    texts = list(dict.fromkeys(t for t, _ in keys))
    about = {t: d.about for t, d in zip(texts, gate.decide(texts, encoder.encode(texts)))}
    return [k for k in keys if about[k[0]]], {k: original[k] for k in keys if not about[k[0]]}


def run_benchmark(cfg: BenchmarkConfig, contenders: list[Contender], encoder, evaluator: "TextMotionEvaluator",
                  judge: "Judge | None", progress: bool = True) -> dict:
    """Every replication of every backbone × contender; returns the raw per-replication values."""
    from tqdm import tqdm

    from hmu_demo.data.lexicon import load_lexicon
    from hmu_demo.eval.protocol import load_eval_sets
    from hmu_demo.eval.quality import generate_motions
    from hmu_demo.generate import Generator

    t0 = time.perf_counter()
    lexicon = load_lexicon(cfg.concept)
    forget, retain, set_info = load_eval_sets(cfg.data, cfg.concept, lexicon, cfg.split)
    database = motion_database(cfg.data, cfg.split, evaluator, lexicon, cfg.concept)
    generators = {c.name: Generator(c.bundle, encoder, device=cfg.device) for c in contenders}
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
                todo, reused = _gated_split(c, keys, encoder, made.get("original"))
                motions = generate_motions(generators[c.name], todo, backbone, seed, cfg.batch_size)
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
                        m["multimodality"] = _multimodality(generators[c.name], ctx, evaluator, backbone, seed,
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


def summarise(values: dict) -> dict:
    """{metric: [values]} -> {metric: {"mean", "ci95", "n"}} (reference/evaluation.md §2.1)."""
    from hmu_demo.eval.metrics import replication_summary

    out = {}
    for k, vs in values.items():
        mean, ci = replication_summary(vs)
        out[k] = {"mean": mean, "ci95": ci, "n": int(np.isfinite(np.asarray(vs, dtype=float)).sum())}
    return out


# -- CLI -------------------------------------------------------------------------------------------

def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parents[2])
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=Path(__file__).resolve().parents[2])
        if out.returncode != 0:
            return None
        return out.stdout.strip() + ("+modified" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _parser() -> argparse.ArgumentParser:
    from hmu_demo.eval.judge import DEFAULT_CHECKPOINT as JUDGE_DIR

    p = argparse.ArgumentParser(prog="python -m hmu_demo.eval.benchmark",
                                description="Forget/retain benchmark of unlearning methods (HMU protocol).")
    p.add_argument("--data", type=Path, default=None, help="HumanML3D-layout folder (default: the SynthMotion corpus)")
    p.add_argument("--backbones", default=",".join(BACKBONES))
    p.add_argument("--methods", default=",".join(DEFAULT_METHODS))
    p.add_argument("--repeats", type=int, default=None, help="replications (default 20; --quick: 2)")
    p.add_argument("--batches", type=int, default=None,
                   help="batches of 32 per set and replication (default: the whole set; --quick: 1)")
    p.add_argument("--quick", action="store_true", help="2 replications of 1 batch of 32 per set")
    p.add_argument("--out", type=Path, required=True)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--bundle", type=Path, default=None, help=f"model bundle (default {EMBEDDED_DIR})")
    src.add_argument("--official", type=Path, default=None, help="official MoMask/BAMM checkpoints/t2m folder")
    p.add_argument("--text-weights", type=Path, default=None, help="local text-encoder folder (CLIP for official models)")
    p.add_argument("--evaluator", choices=("embedded", "official"), default="embedded")
    p.add_argument("--evaluator-path", type=Path, default=None,
                   help="embedded: its folder (default checkpoints/evaluator); official: the root holding "
                        "checkpoints/t2m/text_mot_match and glove/")
    p.add_argument("--dr", type=Path, default=None, help=f"D_r bundle (default {DEFAULT_DR} when it exists)")
    p.add_argument("--judge", type=Path, default=JUDGE_DIR, help="violence/action judge folder ('none' to skip)")
    p.add_argument("--index", type=Path, default=None, help="code index for LCR (default: the bundle's)")
    p.add_argument("--hp", action="append", default=[], metavar="METHOD.NAME=VALUE")
    p.add_argument("--mm-texts", type=int, default=0, help="MultiModality texts (x30 generations); 0 = skip")
    p.add_argument("--concept", default="violence")
    p.add_argument("--split", default="test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=16,
                   help="generation batch (captions sorted by length first: small batches pad little)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def _load(args) -> tuple:
    from hmu_demo.eval.evaluator import EvaluatorError
    from hmu_demo.models.bundle import BundleError, ModelBundle
    from hmu_demo.models.text import CachedTextEncoder

    try:
        if args.official is not None:
            bundle, source = ModelBundle.from_official(args.official, device=args.device), str(args.official)
        else:
            folder = args.bundle or EMBEDDED_DIR
            bundle, source = ModelBundle.load(folder, device=args.device), str(folder)
    except (BundleError, RuntimeError, OSError) as err:
        raise QualityError(f"cannot load the models: {err}") from err
    try:
        encoder = CachedTextEncoder(bundle.make_text_encoder(args.device, args.text_weights))
    except (OSError, ValueError) as err:  # missing CLIP weights, an encoder the bundle was not trained with
        raise QualityError(f"cannot load the text encoder: {err}") from err
    try:
        if args.evaluator == "official":
            from hmu_demo.eval.t2m_official import OfficialT2MEvaluator

            if args.evaluator_path is None:
                raise QualityError("--evaluator official needs --evaluator-path (the folder holding "
                                   "checkpoints/t2m/text_mot_match and glove/)")
            evaluator = OfficialT2MEvaluator.load(args.evaluator_path, device=args.device)
        else:
            from hmu_demo.eval.embedded_evaluator import DEFAULT_EVALUATOR, EmbeddedEvaluator

            evaluator = EmbeddedEvaluator.load(args.evaluator_path or DEFAULT_EVALUATOR, device=args.device,
                                               text_encoder=encoder)  # shares the generators' caption memo
    except EvaluatorError as err:
        raise QualityError(str(err)) from err
    judge = None
    if str(args.judge).lower() != "none":
        from hmu_demo.eval.judge import Judge

        try:
            judge = Judge.load(args.judge, device=args.device)
        except Exception as err:  # missing/corrupt files: say so, the rest of the benchmark still runs
            raise QualityError(f"cannot load the judge from {args.judge}: {type(err).__name__}: {err} "
                               "(pass --judge none to skip its metrics)") from err
    dr_path = args.dr if args.dr is not None else (DEFAULT_DR if (DEFAULT_DR / "bundle.json").is_file() else None)
    dr_bundle = None
    if dr_path is not None:
        try:
            dr_bundle = ModelBundle.load(dr_path, device=args.device)
        except (BundleError, RuntimeError, OSError) as err:
            raise QualityError(f"cannot load the D_r bundle {dr_path}: {err}") from err
    return bundle, source, evaluator, judge, dr_bundle, dr_path, encoder


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 ok, 2 bad input (one line on stderr), 1 other errors."""
    args = _parser().parse_args(argv)

    def run() -> dict:
        from hmu_demo.eval.quality import resolve_data
        from hmu_demo.eval.quick import _parse_hp
        from hmu_demo.eval.report import write_outputs
        from hmu_demo.unlearning.lcr import load_index

        repeats = args.repeats if args.repeats is not None else (2 if args.quick else 20)
        batches = args.batches if args.batches is not None else (1 if args.quick else None)
        if repeats < 2:
            raise QualityError("--repeats must be at least 2 (a confidence interval needs two replications)")
        if batches is not None and batches < 1 or args.batch_size < 1 or args.mm_texts < 0:
            raise QualityError("--batches and --batch-size must be at least 1, --mm-texts at least 0")
        backbones, methods = _csv(args.backbones), _csv(args.methods)
        if not backbones or not methods:
            raise QualityError("--backbones and --methods must name at least one each")
        hp = _parse_hp(args.hp)
        bundle, source, evaluator, judge, dr_bundle, dr_path, encoder = _load(args)
        check_backbones(bundle, backbones)
        if dr_bundle is not None:
            check_backbones(dr_bundle, backbones)
        data = resolve_data(args.data, progress=not args.quiet)
        cfg = BenchmarkConfig(data=data, backbones=backbones, methods=methods, repeats=repeats, batches=batches,
                              concept=args.concept, seed=args.seed, split=args.split, mm_texts=args.mm_texts,
                              batch_size=args.batch_size, device=args.device, hyperparameters=hp)
        index_path = args.index or Path(source) / "code_index.json.gz"
        index = load_index(index_path) if Path(index_path).is_file() else None
        if index is None:
            if any(m.startswith("lcr") for m in methods):
                raise QualityError(f"no code index at {index_path}; LCR methods need one (--index FILE)")
            for method in ("uce", "rece"):  # no index of this bundle's data: erase/preserve the keywords only
                hp.setdefault(method, {}).setdefault("erase_motions", 0)
                hp[method].setdefault("preserve_motions", 0)
        contenders = prepare_contenders(bundle, cfg, encoder, index, dr_bundle, str(dr_path) if dr_path else None)
        raw = run_benchmark(cfg, contenders, encoder, evaluator, judge, progress=not args.quiet)
        result = {
            "command": "python -m hmu_demo.eval.benchmark " + " ".join(argv if argv is not None else sys.argv[1:]),
            "commit": _commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
            "config": {**{k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()}},
            "bundle": source, "evaluator": {"name": evaluator.name, "description": evaluator.describe()},
            "judge": str(args.judge) if judge is not None else None,
            "contenders": {c.name: c.info for c in contenders},
            **{k: raw[k] for k in ("sets", "samples_per_repeat", "ncs_database", "seconds", "generation_seconds")},
            "summary": {b: {c: {s: summarise(v) for s, v in per_set.items()} for c, per_set in per_c.items()}
                        for b, per_c in raw["values"].items()},
            "real": {s: summarise(v) for s, v in raw["real"].items()},
            "values": raw["values"],
        }
        table = write_outputs(result, args.out)
        print(table)
        return result

    # ValueError: corrupt data files or impossible settings the user can fix
    _, code = run_guarded(run, (QualityError, ValueError))
    return code


if __name__ == "__main__":
    raise SystemExit(main())
