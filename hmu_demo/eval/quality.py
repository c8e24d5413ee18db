"""Quality of a trained model bundle on held-out captions of a labelled SynthMotion corpus.

Three numbers per backbone, each with its sample size and a 95 % Wilson score interval (small test
splits make bare rates misleading):

* ``recon_mpjpe_cm``: RVQ-VAE reconstruction MPJPE of the split's whole clips, every pose aligned
  by its pelvis as in the published protocol (``recon_global_mpjpe_cm``: without the alignment, root
  trajectory included); the backbones share the VQ, so it is computed once and reported for both;
* ``action_top1``: for every *single-action* caption (its frame span overlaps labelled segments of
  exactly one action, "stand" padding excluded as the judge excludes it), one generation with the
  caption's ground-truth crop length; correct when the judge's clip action is that action;
* ``violent_share_on_violent_prompts``: for every caption labelled violent, the share of
  generations (ground-truth crop length) that the judge calls violent, split into explicit and
  implicit captions too.

Generations are seeded per prompt (see :mod:`hmu_demo.pipelines.text_to_motion`), so a (caption,
length) pair that serves both metrics is generated once. Caption spans shorter than ``MIN_FRAMES``
are skipped, as in training (:mod:`hmu_demo.eval.cases`).

CLI (the benchmark's ``--preset quality``)::

    python -m hmu_demo.eval.quality [--data DIR] [--bundle checkpoints/embedded] [--judge checkpoints/judge]
        [--backbones momask bamm] [--split test] [--limit N] [--seed 0] [--batch-size 64] [--device cpu] [--json]

Exit code 2 (one line on stderr) when the bundle or judge folder is missing or corrupt, or the
corpus has no labels.jsonl.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from hmu_demo.config import resolve_device
from hmu_demo.data.humanml3d import DatasetError, MotionDataset
from hmu_demo.data.locate import resolve_data
from hmu_demo.eval.cases import PromptCase, load_cases
from hmu_demo.eval.generation import generate_joints
from hmu_demo.eval.loading import EvalError, check_backbones, load_bundle, load_judge
from hmu_demo.eval.metrics.intervals import rate_entry
from hmu_demo.eval.presets import JUDGE_DIR, Preset, add_evaluation_arguments, run_preset
from hmu_demo.models.bundle import ModelBundle
from hmu_demo.models.judge.scoring import Judge
from hmu_demo.models.reconstruction import reconstruction_mpjpe_cm
from hmu_demo.models.text import TextEncoder
from hmu_demo.pipelines.requests import BACKBONES
from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline

__all__ = ["PRESET", "evaluate_loaded", "evaluate_quality", "format_table", "main"]


def recon_mpjpe(bundle: ModelBundle, data: Path, ids: list[str], batch_size: int) -> tuple[float, float]:
    """VQ reconstruction MPJPE (cm) of whole clips: pelvis-aligned (the published protocol) and global."""
    ds = MotionDataset(data)
    clips = [bundle.normalizer.normalize(ds.features(i)).astype(np.float32) for i in ids]
    return reconstruction_mpjpe_cm(bundle.vq, bundle.normalizer, clips, batch_size)


def backbone_metrics(judge: Judge, joints: dict[tuple[str, int], np.ndarray],
                     action_cases: list[PromptCase], violent_cases: list[PromptCase], batch_size: int) -> dict:
    """Judge the generations and turn them into rates with intervals."""
    keys = list(joints)
    verdicts = dict(zip(keys, judge.score([joints[k] for k in keys], batch_size=batch_size)))
    out: dict = {}
    out.update(rate_entry("action_top1", [verdicts[(c.text, c.frames)].action == c.action for c in action_cases]))
    name = "violent_share_on_violent_prompts"
    out.update(rate_entry(name, [verdicts[(c.text, c.frames)].violent for c in violent_cases]))
    for kind, implicit in (("explicit", False), ("implicit", True)):
        out.update(rate_entry(f"{name}_{kind}",
                              [verdicts[(c.text, c.frames)].violent for c in violent_cases if c.implicit == implicit]))
    return out


def evaluate_loaded(bundle: ModelBundle, judge: Judge, data: Path, backbones: list[str], split: str = "test",
                    limit: int | None = None, seed: int = 0, batch_size: int = 64, device: str | torch.device = "cpu",
                    text_encoder: TextEncoder | None = None) -> dict:
    """Quality report for already-loaded models (the CLI loads them first to fail fast)."""
    check_backbones(bundle, backbones)
    t0 = time.perf_counter()
    data = Path(data)
    ids, cases = load_cases(data, split)
    action_cases = [c for c in cases if c.action is not None][:limit]
    violent_cases = [c for c in cases if c.violent][:limit]
    recon_ids = ids[:limit]
    device = resolve_device(device)
    pipeline = TextToMotionPipeline(bundle, text_encoder or bundle.make_text_encoder(device), device=device)
    recon, recon_global = recon_mpjpe(bundle, data, recon_ids, batch_size)
    keys = list(dict.fromkeys((c.text, c.frames) for c in action_cases + violent_cases))
    per_backbone = {}
    for backbone in backbones:
        joints = generate_joints(pipeline, keys, backbone, seed, batch_size)
        metrics = {"recon_mpjpe_cm": recon, "recon_global_mpjpe_cm": recon_global, "recon_clips": len(recon_ids)}
        metrics.update(backbone_metrics(judge, joints, action_cases, violent_cases, batch_size))
        per_backbone[backbone] = metrics
    judge_path = str(Path(judge.folder).resolve()) if judge.folder is not None else "?"
    return {
        "data": str(data), "split": split, "bundle": None, "judge": judge_path, "seed": seed, "limit": limit,
        "evaluator": (f"judge checkpoint {judge_path} (action classifier trained on SynthMotion labels); "
                      "generations use ground-truth crop lengths"),
        "backbones": per_backbone,
        "seconds": round(time.perf_counter() - t0, 2),
    }


def evaluate_quality(bundle_folder: str | Path, data: str | Path, judge_folder: str | Path = JUDGE_DIR,
                     backbones: list[str] | tuple[str, ...] = BACKBONES, split: str = "test", limit: int | None = None,
                     seed: int = 0, batch_size: int = 64, device: str | torch.device = "cpu") -> dict:
    """Load the bundle and judge, then measure quality on ``split`` of the labelled corpus ``data``."""
    t0 = time.perf_counter()
    device = resolve_device(device)
    bundle, judge = load_bundle(bundle_folder, device), load_judge(judge_folder, device)
    report = evaluate_loaded(bundle, judge, Path(data), list(backbones), split, limit, seed, batch_size, device)
    report["bundle"] = str(Path(bundle_folder).resolve())
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return report


def _fmt_rate(m: dict, name: str) -> str:
    if m[name] is None:
        return "n/a (n=0)"
    lo, hi = m[f"{name}_ci95"]
    return f"{m[name]:.3f} [{lo:.3f}, {hi:.3f}] (n={m[f'{name}_n']})"


def format_table(report: dict) -> str:
    """The report as a few readable lines."""
    lines = [f"quality of {report['bundle']} on {report['data']} [{report['split']}], seed {report['seed']}",
             f"evaluator: {report['evaluator']}"]
    rows = [("recon MPJPE (cm)", None), ("action top-1", "action_top1"),
            ("violent share, violent prompts", "violent_share_on_violent_prompts"),
            ("  explicit", "violent_share_on_violent_prompts_explicit"),
            ("  implicit", "violent_share_on_violent_prompts_implicit")]
    for backbone, m in report["backbones"].items():
        lines.append(f"{backbone}:")
        for title, key in rows:
            value = (f"{m['recon_mpjpe_cm']:.2f} pelvis-aligned, {m['recon_global_mpjpe_cm']:.2f} global "
                     f"({m['recon_clips']} clips)" if key is None
                     else _fmt_rate(m, key))
            lines.append(f"  {title:<32} {value}")
    lines.append(f"{report['seconds']} s")
    return "\n".join(lines)


def _arguments(p: argparse.ArgumentParser) -> None:
    add_evaluation_arguments(p)
    p.add_argument("--backbones", nargs="+", choices=BACKBONES, default=list(BACKBONES))
    p.add_argument("--limit", type=int, default=None, help="at most N captions per metric (first N in split order), "
                                                           "and N clips for reconstruction")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _run(args: argparse.Namespace, argv: list[str]) -> str:
    if args.limit is not None and args.limit < 1:
        raise EvalError("--limit must be at least 1")
    if args.batch_size < 1:
        raise EvalError("--batch-size must be at least 1")
    t0 = time.perf_counter()
    device = resolve_device(args.device)
    bundle, judge = load_bundle(args.bundle, device), load_judge(args.judge, device)
    data = resolve_data(args.data, progress=not args.json)
    report = evaluate_loaded(bundle, judge, data, args.backbones, args.split, args.limit, args.seed,
                             args.batch_size, device)
    report["bundle"] = str(Path(args.bundle).resolve())
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return json.dumps(report) if args.json else format_table(report)


# DatasetError: missing/broken corpus files (other ValueErrors are bugs: exit 1)
PRESET = Preset("quality", "python -m hmu_demo.eval.quality",
                "Measure a model bundle's reconstruction, action top-1 and violent share on held-out captions of a "
                "labelled SynthMotion corpus.", _arguments, _run, user_errors=(EvalError, DatasetError))


def main(argv: list[str] | None = None) -> int:
    """The quality preset under its own name: 0 ok, 2 missing/corrupt models or unlabelled data, 1 other errors."""
    return run_preset(PRESET, argv)


if __name__ == "__main__":
    raise SystemExit(main())
