"""The one evaluation entry point: ``--preset full`` (default, the forget/retain benchmark), ``quick`` or ``quality``.

    python -m hmu_demo.eval.benchmark [--preset full] --data DIR --backbones momask,bamm \\
        --methods original,uce,rece,lcr,lcr-orth,lcr-nearest,lcr-gated --repeats 20 [--quick] --out DIR
        [--batches N] [--bundle DIR | --official DIR] [--evaluator embedded|official] [--evaluator-path P]
        [--dr DIR] [--judge DIR] [--mm-texts K] [--concept violence] [--seed 0] [--device cpu]
    python -m hmu_demo.eval.benchmark --preset quick ...     # = python -m hmu_demo.eval.quick ...
    python -m hmu_demo.eval.benchmark --preset quality ...   # = python -m hmu_demo.eval.quality ...

The full benchmark (the published HMU protocol, :mod:`hmu_demo.eval.replications`; sets:
:mod:`hmu_demo.eval.protocol`): each method's edit is applied once to the bundle (``original`` =
no edit, default methods: ``original`` and every registered one; ``D_r`` = the bundle retrained
without the concept, when ``--dr`` or ``checkpoints/embedded_dr`` exists), then ``--repeats``
replications generate and score the forget and retain sets. Reported: mean ± 1.96·std/√R over the
R replications, with ``real`` rows (the real windows in place of generations; no FID) as the data's
own reference. MultiModality (``--mm-texts K``: K captions × 30 generations) is off by default: the
official protocol uses 96 texts.

``--batches N`` keeps N batches of 32 per set and replication (fresh ones each time) instead of the
whole set: the protocol's full sets are thousands of captions, which a CPU cannot generate 20 times
for every method; every table says the sample size it used. ``--quick`` = 2 replications of 1 batch.

Outputs in ``--out`` (:mod:`hmu_demo.eval.report`): ``benchmark.json`` (everything, per-replication
values included), ``benchmark.csv`` (one row per backbone, method, set and metric), ``benchmark.md``
(the paper's tables plus the extra metrics) and ``tradeoff.png`` (forget suppression against retain FID).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

from hmu_demo.config import CHECKPOINTS_DIR, EMBEDDED_DIR, REPO_ROOT, resolve_device
from hmu_demo.data.locate import resolve_data
from hmu_demo.eval import quality, quick
from hmu_demo.eval.generation import check_methods, default_methods, make_contenders, needing_index
from hmu_demo.eval.loading import (EvalError, check_backbones, load_bundle, load_code_index, load_evaluator,
                                   load_judge, load_text_encoder)
from hmu_demo.eval.metrics.intervals import summarise
from hmu_demo.eval.presets import JUDGE_DIR, Preset, csv_list, parse_hp, run_preset
from hmu_demo.eval.replications import BenchmarkConfig, run_benchmark
from hmu_demo.eval.report import write_outputs
from hmu_demo.pipelines.requests import BACKBONES

__all__ = ["DEFAULT_DR", "FULL", "PRESETS", "main"]

DEFAULT_DR = CHECKPOINTS_DIR / "embedded_dr"
PROG = "python -m hmu_demo.eval.benchmark"


def _commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, cwd=REPO_ROOT)
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=5, cwd=REPO_ROOT)
        if out.returncode != 0:
            return None
        return out.stdout.strip() + ("+modified" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", type=Path, default=None, help="HumanML3D-layout folder (default: the SynthMotion corpus)")
    p.add_argument("--backbones", default=",".join(BACKBONES))
    p.add_argument("--methods", default=",".join(default_methods()))
    p.add_argument("--repeats", type=int, default=None, help="replications (default 20; --quick: 2)")
    p.add_argument("--batches", type=int, default=None,
                   help="batches of 32 per set and replication (default: the whole set; --quick: 1)")
    p.add_argument("--quick", action="store_true", help="2 replications of 1 batch of 32 per set")
    p.add_argument("--out", type=Path, required=True)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--bundle", type=Path, default=None, help=f"model bundle (default {EMBEDDED_DIR})")
    src.add_argument("--official", type=Path, default=None, help="official MoMask/BAMM checkpoints/t2m folder")
    p.add_argument("--text-weights", type=Path, default=None,
                   help="local text-encoder folder (CLIP for official models)")
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


def _config(args: argparse.Namespace) -> BenchmarkConfig:
    """The run's settings from the options, checked before anything is loaded."""
    repeats = args.repeats if args.repeats is not None else (2 if args.quick else 20)
    batches = args.batches if args.batches is not None else (1 if args.quick else None)
    if repeats < 2:
        raise EvalError("--repeats must be at least 2 (a confidence interval needs two replications)")
    if batches is not None and batches < 1 or args.batch_size < 1 or args.mm_texts < 0:
        raise EvalError("--batches and --batch-size must be at least 1, --mm-texts at least 0")
    backbones, methods = csv_list(args.backbones), csv_list(args.methods)
    if not backbones or not methods:
        raise EvalError("--backbones and --methods must name at least one each")
    return BenchmarkConfig(data=args.data, backbones=backbones, methods=methods, repeats=repeats, batches=batches,
                           concept=args.concept, seed=args.seed, split=args.split, mm_texts=args.mm_texts,
                           batch_size=args.batch_size, device=args.device, hyperparameters=parse_hp(args.hp))


def _run(args: argparse.Namespace, argv: list[str]) -> str:
    cfg = _config(args)
    device = resolve_device(args.device)
    source = args.official if args.official is not None else (args.bundle or EMBEDDED_DIR)
    bundle = load_bundle(source, device, official=args.official is not None, what="the models")
    encoder = load_text_encoder(bundle, device, args.text_weights)
    evaluator = load_evaluator(args.evaluator, args.evaluator_path, device, encoder)
    judge = None if str(args.judge).lower() == "none" else load_judge(args.judge, device, skippable=True)
    dr_path = args.dr if args.dr is not None else (DEFAULT_DR if (DEFAULT_DR / "bundle.json").is_file() else None)
    dr_bundle = None if dr_path is None else load_bundle(dr_path, device, what="the D_r bundle")
    check_backbones(bundle, cfg.backbones)
    if dr_bundle is not None:
        check_backbones(dr_bundle, cfg.backbones)
    cfg.data = resolve_data(args.data, progress=not args.quiet)
    check_methods(cfg.methods)
    index = load_code_index(args.index or Path(source) / "code_index.json.gz", needing_index(cfg.methods))
    if index is None:
        for method in ("uce", "rece"):  # no index of this bundle's data: erase/preserve the keywords only
            cfg.hyperparameters.setdefault(method, {}).setdefault("erase_motions", 0)
            cfg.hyperparameters[method].setdefault("preserve_motions", 0)
    contenders = make_contenders(bundle, encoder, cfg.methods, cfg.concept, device, index, cfg.hyperparameters,
                                 None if dr_bundle is None else (dr_bundle, str(dr_path)))
    raw = run_benchmark(cfg, contenders, evaluator, judge, progress=not args.quiet)
    result = {
        "command": f"{PROG} " + " ".join(argv),
        "commit": _commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
        "bundle": str(source), "evaluator": {"name": evaluator.name, "description": evaluator.describe()},
        "judge": str(args.judge) if judge is not None else None,
        "contenders": {c.name: c.info for c in contenders},
        **{k: raw[k] for k in ("sets", "samples_per_repeat", "ncs_database", "seconds", "generation_seconds")},
        "summary": {b: {c: {s: summarise(v) for s, v in per_set.items()} for c, per_set in per_c.items()}
                    for b, per_c in raw["values"].items()},
        "real": {s: summarise(v) for s, v in raw["real"].items()},
        "values": raw["values"],
    }
    return write_outputs(result, args.out)


FULL = Preset("full", PROG, "Forget/retain benchmark of unlearning methods (HMU protocol); --preset quick|quality "
                            "runs the judge's evaluations instead.", _arguments, _run)
PRESETS: dict[str, Preset] = {p.name: p for p in (FULL, quick.PRESET, quality.PRESET)}


def main(argv: list[str] | None = None) -> int:
    """``--preset NAME`` (default full) picks the evaluation; the other options are that preset's.
    Exit codes: 0 ok, 2 bad input (one line on stderr), 1 other errors, 130 interrupted."""
    argv = list(sys.argv[1:] if argv is None else argv)
    chooser = argparse.ArgumentParser(prog=PROG, add_help=False, allow_abbrev=False)
    chooser.add_argument("--preset", choices=list(PRESETS), default=FULL.name)
    chosen, rest = chooser.parse_known_args(argv)
    preset = PRESETS[chosen.preset]
    return run_preset(preset, rest, prog=PROG if preset is FULL else f"{PROG} --preset {preset.name}")


if __name__ == "__main__":
    raise SystemExit(main())
