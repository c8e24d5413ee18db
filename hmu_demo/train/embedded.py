"""Train every model of a bundle on a corpus and assemble it: the recipe of ``checkpoints/embedded``.

    python -m hmu_demo.train.embedded [--data DIR] [--work WORK] [--out checkpoints/embedded] \\
        [--preset embedded] [--vq-minutes M] [--minutes M] [--parallel] [--resume] [--retain-only CONCEPT]

Stages, each in its own folder under WORK with its log and resumable state:
1. caption embeddings (``WORK/captions.npz``, the bundle's text encoder; reused when present);
2. the RVQ-VAE (``WORK/vq``) and its token tables;
3. the masked, residual and BAMM transformers and the length estimator (``WORK/<model>``), one
   after another or, with ``--parallel``, as concurrent processes sharing the GPU (the models are
   small, one alone leaves most of a large GPU idle);
4. the bundle (``OUT``: safetensors, ``bundle.json`` with a training summary, model mean/std),
   weights stored at ``--dtype`` (float16 by default: half the size, float32 when loaded);
5. the code index of the training split (``OUT/code_index.json.gz``), unless ``--no-code-index``
   (default for ``--retain-only``).

A finished stage (``WORK/<stage>/done.json``) is skipped on a re-run; an interrupted one continues
from its state with ``--resume``. ``--init-from BUNDLE`` starts every stage from that bundle's weights
(fine-tuning, or more training after the resumable states are gone).

``--retain-only CONCEPT`` trains HMU's reference model D_r (the model the paper compares unlearned ones
with: trained without the forget set; docs/unlearning.md): every model
from scratch on the retain part of the train and val splits. A motion is forget when one of its
caption lines matches the concept's lexicon, by the rule of ``python -m hmu_demo.data.splits``'s
defaults and of LCR (:func:`hmu_demo.data.splits.build_splits`: the concept's default list, whole-word
match, min occurrence 1). The split files are written to ``WORK/kw_splits/{train,val}-{w,wo}-CONCEPT.txt``
(the corpus is left untouched; the files record what was trained on, and each stage's ``<model>.json``
names the ``-wo`` files it used). ``bundle.json``'s info gets ``retain_only``: the concept, the rule
and the motions kept and excluded per split. For a D_r run ``--out`` defaults to
``checkpoints/embedded_dr``, ``--work`` to ``outputs/train_embedded_dr``, the code index is skipped
(nothing unlearns from the reference; ``--code-index`` builds it on the full train split anyway),
``--init-from`` is refused (from scratch), and ``WORK/captions.npz`` starts as a copy of
``outputs/train_embedded/captions.npz`` when that exists (the retain captions are among its texts).
``WORK/run.json`` records which kind of run a work folder holds: a D_r run never reuses or resumes
stages trained on the full splits, nor the reverse.

``--vq-from BUNDLE`` takes that bundle's RVQ-VAE (weights, normaliser) as the finished VQ stage instead
of training one: the VQ reads motions only, never captions, so a corpus whose captions changed (the
held-out phrasing of corpus version 2) needs new transformers, length estimator and code index but not a
new tokenizer, and reusing it keeps the bundle's token vocabulary, and hours of CPU time. Refused for D_r
(its VQ must not have seen the forget motions).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hmu_demo.atomic import write_text
from hmu_demo.config import resolve_device
from hmu_demo.data.humanml3d import DatasetError, MotionDataset
from hmu_demo.data.lexicon import LexiconError, load_lexicon
from hmu_demo.data.locate import resolve_data
from hmu_demo.data.splits import build_splits, write_splits
from hmu_demo.models.bundle import MODEL_FILES, BundleConfig, ModelBundle
from hmu_demo.train.config import TrainConfig
from hmu_demo.train.loop import STATE_FILE, export_weights, read_stage
from hmu_demo.train.state_io import load_state
from hmu_demo.train.transformer import token_tables
from hmu_demo.train.vq import train_vq
from hmu_demo.unlearning.code_index import CodeIndex

__all__ = ["STAGES", "train_all", "retain_splits", "assemble", "main"]

STAGES = ("masked", "residual", "bamm", "length")
DONE = "done.json"
DEFAULT_OUT = Path("checkpoints/embedded")
DEFAULT_WORK = Path("outputs/train_embedded")
DEFAULT_DR_OUT = Path("checkpoints/embedded_dr")
DEFAULT_DR_WORK = Path("outputs/train_embedded_dr")
RUN_FILE = "run.json"


def _done(folder: Path) -> dict | None:
    path = folder / DONE
    return json.loads(path.read_text()) if path.is_file() else None


def _mark_done(folder: Path, summary: dict) -> None:
    write_text(folder / DONE, json.dumps(summary, indent=1, default=float) + "\n")


def _claim_work(work: Path, retain_only: str | None) -> None:
    """Refuse a work folder whose stages were trained on other splits; record this run's kind there."""
    path = work / RUN_FILE
    if not any((work / stage).is_dir() for stage in ("vq",) + STAGES):
        before = retain_only  # nothing trained yet
    elif path.is_file():
        before = json.loads(path.read_text()).get("retain_only")
    else:
        before = None  # a work folder from before run.json: the full splits
    if before != retain_only:
        held = f"the retain split of {before!r}" if before else "the full splits"
        raise SystemExit(f"{work} holds stages trained on {held}; use another --work")
    write_text(path, json.dumps({"retain_only": retain_only}) + "\n")


def seed_vq_stage(bundle_dir: Path, vq_dir: Path, preset: str) -> dict:
    """Write ``vq_dir`` as a finished VQ stage holding ``bundle_dir``'s VQ and normaliser; returns its summary."""
    bundle = ModelBundle.load(bundle_dir)
    expected = BundleConfig.preset(preset).vq
    if bundle.config.vq != expected:
        raise SystemExit(f"--vq-from {bundle_dir}: its VQ is not the {preset!r} preset's architecture")
    vq_dir.mkdir(parents=True, exist_ok=True)
    meta = json.loads((Path(bundle_dir) / "bundle.json").read_text())
    trained = (meta.get("info") or {}).get("training", {}).get("vq") or {}
    export_weights(vq_dir, "vq", bundle.vq.float(), {"config": expected.to_dict(), "reused_from": str(bundle_dir),
                                                     "metrics": {"mpjpe_cm": trained.get("best")}})
    np.save(vq_dir / "mean.npy", bundle.mean.astype(np.float32))
    np.save(vq_dir / "std.npy", bundle.std.astype(np.float32))
    summary = {**trained, "reused_from": str(bundle_dir),
               "why": "the VQ reads motions only; reused so that the captions' change retrains what reads them"}
    _mark_done(vq_dir, summary)
    return summary


def retain_splits(data: Path, concept: str, work: Path) -> tuple[tuple[str, str], dict]:
    """Write ``WORK/kw_splits/{train,val}-{w,wo}-CONCEPT.txt`` (the keyword rule of hmu_demo.data.splits);
    returns the (train, val) retain files, absolute, and the summary recorded in bundle.json."""
    lexicon = load_lexicon(concept)
    result = build_splits(MotionDataset(data), concept, lexicon, splits=("train", "val"))
    files = write_splits(result, work.resolve())
    summary = {"reference": "D_r", "concept": concept, "lexicon": lexicon.name, "match": result.match,
               "min_occurrence": result.min_occurrence,
               "excluded": {**{s: len(ids) for s, ids in result.forget.items()}, "total": result.total_forget},
               "kept": {s: len(ids) for s, ids in result.retain.items()},
               "split_files": {s: f"kw_splits/{paths['retain'].name}" for s, paths in files.items()}}
    return (str(files["train"]["retain"]), str(files["val"]["retain"])), summary


def _stage_command(stage: str, args: argparse.Namespace, data: Path, work: Path, splits: tuple[str, str]
                   ) -> list[str]:
    if stage == "length":
        cmd = [sys.executable, "-m", "hmu_demo.train.length"]
    else:
        cmd = [sys.executable, "-m", "hmu_demo.train.transformer", "--model", stage]
    cmd += ["--data", str(data), "--vq", str(work / "vq"), "--out", str(work / stage), "--preset", args.preset,
            "--captions", str(work / "captions.npz"), "--seed", str(args.seed), "--val-every",
            str(args.val_every if stage != "length" else max(100, args.val_every // 2)), "--splits", *splits]
    minutes = args.minutes
    if stage == "length":
        minutes = args.length_minutes if minutes is None else min(minutes, args.length_minutes)
    steps = args.steps if stage != "length" else args.length_steps
    steps = dict(args.steps_of or ()).get(stage, steps)
    if steps is not None:
        cmd += ["--steps", str(steps)]
    if minutes is not None:
        cmd += ["--max-minutes", str(minutes)]
    for flag, value in (("--device", args.device), ("--limit", args.limit), ("--threads", args.threads)):
        if value is not None:
            cmd += [flag, str(value)]
    if args.resume:
        cmd.append("--resume")
    if args.init_from is not None:
        cmd += ["--init", str(args.init_from / MODEL_FILES["length_estimator" if stage == "length" else stage])]
    if args.quiet:
        cmd.append("--quiet")
    return cmd


def train_all(args: argparse.Namespace, data: Path, splits: tuple[str, str] = ("train", "val")) -> dict:
    """Run the stages that are not done yet on the (train, val) ``splits``; returns {stage: summary}."""
    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    preset = BundleConfig.preset(args.preset)
    summaries: dict[str, dict] = {}
    vq_dir = work / "vq"
    if _done(vq_dir) is None and getattr(args, "vq_from", None) is not None:
        seed_vq_stage(args.vq_from, vq_dir, args.preset)
    if _done(vq_dir) is None:
        config = TrainConfig(out=vq_dir, data=data, steps=args.vq_steps, max_minutes=args.vq_minutes,
                             device=args.device, resume=args.resume, val_every=args.val_every, limit=args.limit,
                             splits=splits, init=args.init_from / MODEL_FILES["vq"] if args.init_from else None,
                             seed=args.seed, quiet=args.quiet)
        summary = train_vq(config, preset.vq)
        _mark_done(vq_dir, summary)
    summaries["vq"] = _done(vq_dir)
    t0 = time.perf_counter()
    device = resolve_device(args.device)
    tables, _ = token_tables(data, vq_dir, work / "captions.npz", device, args.limit, progress=not args.quiet,
                             splits=splits)
    summaries["tokens"] = {"seconds": round(time.perf_counter() - t0, 1),
                           "train_views": int(tables["train"].ids.shape[0])}
    todo = [s for s in STAGES if _done(work / s) is None]
    if args.parallel and len(todo) > 1:
        procs = {}
        if args.threads is None:  # one process per model: share the cores instead of oversubscribing them
            args.threads = max(1, (os.cpu_count() or 1) // len(todo))
        for stage in todo:
            (work / stage).mkdir(parents=True, exist_ok=True)
            log = open(work / stage / "stdout.log", "a")
            procs[stage] = (subprocess.Popen(_stage_command(stage, args, data, work, splits) + ["--quiet"],
                                             stdout=log, stderr=subprocess.STDOUT,
                                             env={**os.environ, "PYTHONUNBUFFERED": "1"}), log)
        failed = []
        for stage, (proc, log) in procs.items():
            if proc.wait() != 0:
                failed.append(stage)
            log.close()
        if failed:
            raise RuntimeError(f"stage(s) {', '.join(failed)} failed; see {work}/<stage>/stdout.log and train.log")
        for stage in todo:
            _mark_done(work / stage, _stage_summary(work / stage, stage))
    else:
        for stage in todo:
            result = subprocess.run(_stage_command(stage, args, data, work, splits), check=False)
            if result.returncode != 0:
                raise RuntimeError(f"stage {stage} failed (exit {result.returncode}); see {work / stage}/train.log")
            _mark_done(work / stage, _stage_summary(work / stage, stage))
    for stage in STAGES:
        summaries[stage] = _done(work / stage)
    return summaries


def _stage_summary(folder: Path, stage: str) -> dict:
    """The stage's exported metrics plus its training time and step count (from its state file)."""
    _, meta = read_stage(folder, stage)
    state = load_state(folder / STATE_FILE)
    return {"steps": int(state["step"]), "seconds": round(float(state["seconds"]), 1),
            "best_step": meta["metrics"].get("step"), "metrics": meta["metrics"]}


def assemble(work: Path, out: Path, preset: str, dtype: torch.dtype | None, info: dict) -> ModelBundle:
    """Build the bundle from the stage folders and save it to ``out``."""
    config = BundleConfig.preset(preset)
    mean, std = np.load(work / "vq" / "mean.npy"), np.load(work / "vq" / "std.npy")
    bundle = ModelBundle(config, mean, std)
    for attr, stage in (("vq", "vq"), ("masked", "masked"), ("residual", "residual"), ("bamm", "bamm"),
                        ("length_estimator", "length")):
        state, _ = read_stage(work / stage, stage)
        getattr(bundle, attr).load_state_dict(state)
    bundle.save(out, dtype=dtype, extra=info)
    return bundle


def _stage_steps(text: str) -> tuple[str, int]:
    stage, _, count = text.partition("=")
    if stage not in STAGES or not count.isdigit() or int(count) < 1:
        raise argparse.ArgumentTypeError(f"expected MODEL=N with MODEL one of {', '.join(STAGES)}, got {text!r}")
    return stage, int(count)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.train.embedded", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="corpus (default: build or reuse the default)")
    parser.add_argument("--work", type=Path, default=None,
                        help=f"stage folders (default {DEFAULT_WORK}; {DEFAULT_DR_WORK} for D_r)")
    parser.add_argument("--out", type=Path, default=None,
                        help=f"bundle folder (default {DEFAULT_OUT}; {DEFAULT_DR_OUT} for D_r)")
    parser.add_argument("--retain-only", metavar="CONCEPT", default=None,
                        help="train the D_r reference: every model from scratch without the concept's forget motions")
    parser.add_argument("--preset", default="embedded", choices=("embedded", "tiny"))
    parser.add_argument("--vq-steps", type=int, default=None)
    parser.add_argument("--vq-minutes", type=float, default=None)
    parser.add_argument("--steps", type=int, default=None, help="steps of each transformer")
    parser.add_argument("--minutes", type=float, default=None, help="time budget of each transformer")
    parser.add_argument("--steps-of", type=_stage_steps, action="append", metavar="MODEL=N",
                        help="steps of one model, over --steps (repeatable; e.g. masked=8187 residual=2630 "
                             "bamm=5827: the shipped bundle's counts)")
    parser.add_argument("--length-steps", type=int, default=3000)
    parser.add_argument("--length-minutes", type=float, default=2.0)
    parser.add_argument("--val-every", type=int, default=1000)
    parser.add_argument("--parallel", action="store_true", help="train the four models concurrently")
    parser.add_argument("--dtype", default="float16", choices=("float16", "float32"))
    parser.add_argument("--code-index", action=argparse.BooleanOptionalAction, default=None,
                        help="build OUT/code_index.json.gz (default: yes, except for D_r)")
    parser.add_argument("--device", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="a bundle folder of the same preset to fine-tune from (fresh optimisers)")
    parser.add_argument("--vq-from", type=Path, default=None, metavar="BUNDLE",
                        help="reuse this bundle's VQ (it reads no captions) instead of training one")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.vq_steps is None and args.vq_minutes is None and args.vq_from is None:
        parser.error("give --vq-steps and/or --vq-minutes")
    if args.steps is None and args.minutes is None and {s for s, _ in args.steps_of or ()} < set(STAGES[:3]):
        parser.error("give --steps and/or --minutes")
    if args.retain_only is not None and args.vq_from is not None:
        parser.error("--retain-only trains from scratch; --vq-from would reuse a VQ that saw the forget motions")
    if args.retain_only is not None and args.init_from is not None:
        parser.error("--retain-only trains from scratch; --init-from would start from weights that saw "
                     "the forget motions")
    args.work = args.work or (DEFAULT_DR_WORK if args.retain_only else DEFAULT_WORK)
    args.out = args.out or (DEFAULT_DR_OUT if args.retain_only else DEFAULT_OUT)
    if args.threads:
        torch.set_num_threads(args.threads)
    args.data = resolve_data(args.data, progress=not args.quiet)
    t0 = time.perf_counter()
    _claim_work(args.work, args.retain_only)
    splits, retain = ("train", "val"), None
    if args.retain_only is not None:
        try:
            splits, retain = retain_splits(args.data, args.retain_only, args.work)
        except (DatasetError, LexiconError, ValueError) as exc:
            parser.error(str(exc))
        print(f"D_r for {args.retain_only!r}: {retain['kept']['train']} train / {retain['kept']['val']} val retain "
              f"motions; {retain['excluded']['total']} forget motions excluded ({args.work / 'kw_splits'})")
        seed_cache = DEFAULT_WORK / "captions.npz"
        if not (args.work / "captions.npz").is_file() and seed_cache.is_file():
            shutil.copyfile(seed_cache, args.work / "captions.npz")
    summaries = train_all(args, args.data, splits)
    device = resolve_device(args.device)
    info = {"training": summaries, "preset": args.preset, "data": str(args.data),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "wall_seconds": round(time.perf_counter() - t0, 1)}
    if retain is not None:
        info["retain_only"] = retain
    bundle = assemble(args.work, args.out, args.preset, getattr(torch, args.dtype), info)
    print(f"bundle written to {args.out}")
    if args.code_index if args.code_index is not None else args.retain_only is None:
        index = CodeIndex.build(bundle, args.data, split="train")
        index.save(args.out / "code_index.json.gz")
        print(f"code index: {len(index)} motions -> {args.out / 'code_index.json.gz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
