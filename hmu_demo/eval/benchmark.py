"""The one evaluation entry point: ``--preset full`` (default, the forget/retain benchmark), ``quick`` or ``quality``.

    python -m hmu_demo.eval.benchmark [--preset full] --data DIR --backbones momask,bamm \\
        --methods original,uce,rece,lcr,lcr-orth,lcr-nearest,lcr-gated [--repeats 20 | --short | --quick] --out DIR
        [--samples N|all] [--batches N] [--resamples 2000] [--bundle DIR | --official DIR]
        [--evaluator embedded|official] [--evaluator-path P] [--dr DIR] [--judge DIR] [--mm-texts K]
        [--concept violence] [--seed 0] [--device cpu]
    torchrun --nproc_per_node 2 -m hmu_demo.eval.benchmark ...   # the same run shared by 2 processes
    python -m hmu_demo.eval.benchmark --preset quick ...     # = python -m hmu_demo.eval.quick ...
    python -m hmu_demo.eval.benchmark --preset quality ...   # = python -m hmu_demo.eval.quality ...

The full benchmark (the published HMU protocol, :mod:`hmu_demo.eval.replications`; sets:
:mod:`hmu_demo.eval.protocol`): each method's edit is applied once to the bundle (``original`` =
no edit, default methods: ``original`` and every registered one; ``D_r`` = the bundle retrained
without the concept, when ``--dr`` or ``checkpoints/embedded_dr`` exists), then ``--repeats``
replications generate and score the forget and retain sets, with ``real`` rows (the real windows
in place of generations) as the data's own reference. MultiModality (``--mm-texts K``: K captions
× 30 generations) is off by default: the official protocol uses 96 texts.

Sample size: N captions per set and replication, drawn motion first (``--samples``; default: every
motion of the set once and at least 600 captions where the set has them; ``all`` = every caption,
as published; ``--batches N`` = 32·N, the old flag). FID's real-vs-real noise floor at that N is
reported next to the FID column. Intervals: :mod:`hmu_demo.eval.summary` (a cluster bootstrap over
motions for the per-caption metrics, mean ± 1.96·std/√R for FID and Diversity). ``--short`` = 5
replications (of the protocol's 20, and the tables say so), for CPUs; ``--quick`` = 2 replications
of 32 captions, a smoke test. Under ``torchrun`` every process generates a share of every
replication (:mod:`hmu_demo.eval.sharding`) and rank 0 writes the report: the same numbers as one process.

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
from hmu_demo.eval.presets import JUDGE_DIR, Preset, csv_list, parse_hp, run_preset
from hmu_demo.eval.replications import BenchmarkConfig, run_benchmark
from hmu_demo.eval.report import write_outputs
from hmu_demo.eval.sharding import Shard, join, leave
from hmu_demo.pipelines.requests import BACKBONES

__all__ = ["DEFAULT_DR", "FULL", "PRESETS", "PROTOCOL_REPEATS", "SHORT_REPEATS", "main"]

DEFAULT_DR = CHECKPOINTS_DIR / "embedded_dr"
PROG = "python -m hmu_demo.eval.benchmark"
PROTOCOL_REPEATS = 20       # §2.1
SHORT_REPEATS = 5


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
    p.add_argument("--repeats", type=int, default=None,
                   help=f"replications (default {PROTOCOL_REPEATS}, the protocol's; --short {SHORT_REPEATS}; "
                        "--quick 2)")
    runs = p.add_mutually_exclusive_group()
    runs.add_argument("--short", action="store_true",
                      help=f"{SHORT_REPEATS} replications of the default sample size (for CPUs; the tables say so)")
    runs.add_argument("--quick", action="store_true", help="2 replications of 32 captions per set (a smoke test)")
    p.add_argument("--samples", default=None, metavar="N|all",
                   help="captions per set and replication, motion first (default: every motion once, at least "
                        "600 captions where the set has them; all = every caption, as published)")
    p.add_argument("--batches", type=int, default=None, help="the old sample size flag: --samples 32*N")
    p.add_argument("--resamples", type=int, default=2000, help="cluster bootstrap resamples (default 2000)")
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


def _samples(text: str | None) -> int | str | None:
    if text is None or text == "all":
        return text
    try:
        value = int(text)
    except ValueError:
        raise EvalError(f"--samples takes a number or 'all', got {text!r}") from None
    if value < 32:
        raise EvalError("--samples must be at least 32 (one batch of R-precision)")
    return value


def _config(args: argparse.Namespace) -> BenchmarkConfig:
    """The run's settings from the options, checked before anything is loaded."""
    repeats = args.repeats if args.repeats is not None else (
        2 if args.quick else SHORT_REPEATS if args.short else PROTOCOL_REPEATS)
    batches = args.batches if args.batches is not None else (1 if args.quick else None)
    if repeats < 2:
        raise EvalError("--repeats must be at least 2 (a confidence interval needs two replications)")
    if batches is not None and batches < 1 or args.batch_size < 1 or args.mm_texts < 0 or args.resamples < 100:
        raise EvalError("--batches and --batch-size must be at least 1, --mm-texts at least 0, "
                        "--resamples at least 100")
    if args.samples is not None and args.batches is not None:
        raise EvalError("give --samples or --batches, not both")
    backbones, methods = csv_list(args.backbones), csv_list(args.methods)
    if not backbones or not methods:
        raise EvalError("--backbones and --methods must name at least one each")
    return BenchmarkConfig(data=args.data, backbones=backbones, methods=methods, repeats=repeats, batches=batches,
                           samples=_samples(args.samples), concept=args.concept, seed=args.seed, split=args.split,
                           mm_texts=args.mm_texts, batch_size=args.batch_size, device=args.device,
                           resamples=args.resamples, hyperparameters=parse_hp(args.hp))


def _run(args: argparse.Namespace, argv: list[str]) -> str:
    cfg = _config(args)
    shard = join(resolve_device(args.device))
    text = _run_shard(args, argv, cfg, shard)
    leave(shard)         # on an error there is no goodbye: torchrun stops the other processes
    return text


def _run_shard(args: argparse.Namespace, argv: list[str], cfg: BenchmarkConfig, shard: Shard) -> str:
    device = shard.device
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
    cfg.data = resolve_data(args.data, progress=not args.quiet and shard.root)
    check_methods(cfg.methods)
    index = load_code_index(args.index or Path(source) / "code_index.json.gz", needing_index(cfg.methods))
    if index is None:
        for method in ("uce", "rece"):  # no index of this bundle's data: erase/preserve the keywords only
            cfg.hyperparameters.setdefault(method, {}).setdefault("erase_motions", 0)
            cfg.hyperparameters[method].setdefault("preserve_motions", 0)
    contenders = make_contenders(bundle, encoder, cfg.methods, cfg.concept, device, index, cfg.hyperparameters,
                                 None if dr_bundle is None else (dr_bundle, str(dr_path)))
    raw = run_benchmark(cfg, contenders, evaluator, judge, progress=not args.quiet, shard=shard)
    if raw is None:      # not rank 0: its share went to rank 0, which reports
        return ""
    result = {
        "command": f"{PROG} " + " ".join(argv),
        "commit": _commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S"),
        "config": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(cfg).items()},
        "replications": {"run": cfg.repeats, "protocol": PROTOCOL_REPEATS},
        "bundle": str(source), "evaluator": {"name": evaluator.name, "description": evaluator.describe()},
        "judge": str(args.judge) if judge is not None else None,
        "contenders": {c.name: c.info for c in contenders},
        **{k: raw[k] for k in ("sets", "samples_per_repeat", "sample_sizes", "noise_floor", "diversity", "intervals",
                               "ncs_database", "world_size", "units_per_rank", "generation", "seconds",
                               "generation_seconds")},
        "summary": raw["summary"],
        "real": raw["real_summary"],
        "real_values": raw["real"],
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
