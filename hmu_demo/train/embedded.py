"""Train every model of a bundle on a corpus and assemble it: the recipe of ``checkpoints/embedded``.

    python -m hmu_demo.train.embedded [--data DIR] [--work WORK] [--out checkpoints/embedded] \\
        [--preset embedded] [--vq-minutes M] [--minutes M] [--parallel] [--resume]

Stages, each in its own folder under WORK with its log and resumable state:
1. caption embeddings (``WORK/captions.npz``, the bundle's text encoder; reused when present);
2. the RVQ-VAE (``WORK/vq``) and its token tables;
3. the masked, residual and BAMM transformers and the length estimator (``WORK/<model>``), one
   after another or, with ``--parallel``, as concurrent processes sharing the GPU (the models are
   small, one alone leaves most of a large GPU idle);
4. the bundle (``OUT``: safetensors, ``bundle.json`` with a training summary, model mean/std),
   weights stored at ``--dtype`` (float16 by default: half the size, float32 when loaded);
5. the code index of the training split (``OUT/code_index.json.gz``), unless ``--no-code-index``.

A finished stage (``WORK/<stage>/done.json``) is skipped on a re-run; an interrupted one continues
from its state with ``--resume``. ``--init-from BUNDLE`` starts every stage from that bundle's weights
(fine-tuning, or more training after the resumable states are gone).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

from hmu_demo.models.bundle import MODEL_FILES, BundleConfig, ModelBundle
from hmu_demo.train.loop import read_stage, resolve_device

__all__ = ["STAGES", "train_all", "assemble", "main"]

STAGES = ("masked", "residual", "bamm", "length")
DONE = "done.json"
DEFAULT_OUT = Path("checkpoints/embedded")
DEFAULT_WORK = Path("outputs/train_embedded")


def _done(folder: Path) -> dict | None:
    path = folder / DONE
    return json.loads(path.read_text()) if path.is_file() else None


def _mark_done(folder: Path, summary: dict) -> None:
    (folder / DONE).write_text(json.dumps(summary, indent=1, default=float) + "\n")


def _stage_command(stage: str, args: argparse.Namespace, data: Path, work: Path) -> list[str]:
    if stage == "length":
        cmd = [sys.executable, "-m", "hmu_demo.train.length"]
    else:
        cmd = [sys.executable, "-m", "hmu_demo.train.transformer", "--model", stage]
    cmd += ["--data", str(data), "--vq", str(work / "vq"), "--out", str(work / stage), "--preset", args.preset,
            "--captions", str(work / "captions.npz"), "--seed", str(args.seed), "--val-every",
            str(args.val_every if stage != "length" else max(100, args.val_every // 2))]
    minutes = args.minutes
    if stage == "length":
        minutes = args.length_minutes if minutes is None else min(minutes, args.length_minutes)
    steps = args.steps if stage != "length" else args.length_steps
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


def train_all(args: argparse.Namespace, data: Path) -> dict:
    """Run the stages that are not done yet; returns {stage: summary}."""
    from hmu_demo.train.transformer import token_tables
    from hmu_demo.train.vq import train_vq

    work: Path = args.work
    work.mkdir(parents=True, exist_ok=True)
    preset = BundleConfig.preset(args.preset)
    summaries: dict[str, dict] = {}
    vq_dir = work / "vq"
    if _done(vq_dir) is None:
        summary = train_vq(data, vq_dir, preset.vq, args.vq_steps, args.vq_minutes, device=args.device,
                           resume=args.resume, val_every=args.val_every, limit=args.limit, seed=args.seed,
                           quiet=args.quiet, init=args.init_from / MODEL_FILES["vq"] if args.init_from else None)
        _mark_done(vq_dir, summary)
    summaries["vq"] = _done(vq_dir)
    t0 = time.perf_counter()
    device = resolve_device(args.device)
    tables, _ = token_tables(data, vq_dir, work / "captions.npz", device, args.limit, progress=not args.quiet)
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
            procs[stage] = (subprocess.Popen(_stage_command(stage, args, data, work) + ["--quiet"], stdout=log,
                                             stderr=subprocess.STDOUT, env={**os.environ, "PYTHONUNBUFFERED": "1"}),
                            log)
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
            result = subprocess.run(_stage_command(stage, args, data, work), check=False)
            if result.returncode != 0:
                raise RuntimeError(f"stage {stage} failed (exit {result.returncode}); see {work / stage}/train.log")
            _mark_done(work / stage, _stage_summary(work / stage, stage))
    for stage in STAGES:
        summaries[stage] = _done(work / stage)
    return summaries


def _stage_summary(folder: Path, stage: str) -> dict:
    """The stage's exported metrics plus its training time and step count (from its state file)."""
    _, meta = read_stage(folder, stage)
    state = torch.load(folder / "train_state.pt", map_location="cpu", weights_only=True)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.train.embedded", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help="corpus (default: build or reuse the default)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--preset", default="embedded", choices=("embedded", "tiny"))
    parser.add_argument("--vq-steps", type=int, default=None)
    parser.add_argument("--vq-minutes", type=float, default=None)
    parser.add_argument("--steps", type=int, default=None, help="steps of each transformer")
    parser.add_argument("--minutes", type=float, default=None, help="time budget of each transformer")
    parser.add_argument("--length-steps", type=int, default=3000)
    parser.add_argument("--length-minutes", type=float, default=2.0)
    parser.add_argument("--val-every", type=int, default=1000)
    parser.add_argument("--parallel", action="store_true", help="train the four models concurrently")
    parser.add_argument("--dtype", default="float16", choices=("float16", "float32"))
    parser.add_argument("--no-code-index", action="store_true")
    parser.add_argument("--device", default=None)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--init-from", type=Path, default=None,
                        help="a bundle folder of the same preset to fine-tune from (fresh optimisers)")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.vq_steps is None and args.vq_minutes is None:
        parser.error("give --vq-steps and/or --vq-minutes")
    if args.steps is None and args.minutes is None:
        parser.error("give --steps and/or --minutes")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.data is None:
        from hmu_demo.data.synth.corpus import ensure_corpus
        from hmu_demo.eval.judge import DEFAULT_DATA

        args.data = ensure_corpus(DEFAULT_DATA, progress=not args.quiet)
    t0 = time.perf_counter()
    summaries = train_all(args, args.data)
    device = resolve_device(args.device)
    info = {"training": summaries, "preset": args.preset, "data": str(args.data),
            "device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
            "wall_seconds": round(time.perf_counter() - t0, 1)}
    bundle = assemble(args.work, args.out, args.preset, getattr(torch, args.dtype), info)
    print(f"bundle written to {args.out}")
    if not args.no_code_index:
        from hmu_demo.models.code_index import CodeIndex

        index = CodeIndex.build(bundle, args.data, split="train")
        index.save(args.out / "code_index.json.gz")
        print(f"code index: {len(index)} motions -> {args.out / 'code_index.json.gz'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
