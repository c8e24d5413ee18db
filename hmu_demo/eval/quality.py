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

Generations are seeded per prompt (see :mod:`hmu_demo.generate`), so a (caption, length) pair that
serves both metrics is generated once. Caption spans shorter than ``MIN_FRAMES`` are skipped, as in
training (:class:`hmu_demo.train.data.MotionSplit`).

CLI::

    python -m hmu_demo.eval.quality [--data DIR] [--bundle checkpoints/embedded] [--judge checkpoints/judge]
        [--backbones momask bamm] [--split test] [--limit N] [--seed 0] [--batch-size 64] [--device cpu] [--json]

Exit code 2 (one line on stderr) when the bundle or judge folder is missing or corrupt, or the
corpus has no labels.jsonl.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from hmu_demo.eval.judge import DEFAULT_CHECKPOINT, DEFAULT_DATA, STAND
from hmu_demo.generate import BACKBONES, EMBEDDED_DIR
from hmu_demo.train.data import MIN_FRAMES  # caption spans shorter than this are skipped, as in training

if TYPE_CHECKING:  # heavy imports stay lazy so `--help` and CLI errors are fast
    from hmu_demo.eval.judge import Judge
    from hmu_demo.generate import Generator, Motion
    from hmu_demo.models.bundle import ModelBundle

__all__ = ["QualityError", "PromptCase", "wilson_interval", "caption_actions", "single_action",
           "load_cases", "load_models", "generate_motions", "generate_joints", "check_backbones", "add_evaluation_arguments", "resolve_data", "evaluate_quality", "evaluate_loaded", "main"]

Z95 = 1.959963984540054


class QualityError(Exception):
    """Bad input the user can fix (missing/corrupt bundle or judge, unlabelled corpus): exit code 2."""


@dataclass(frozen=True)
class PromptCase:
    """One caption of the split, with what its ground truth says about it."""

    motion_id: str
    text: str
    frames: int                 # ground-truth crop length
    actions: tuple[str, ...]    # distinct labelled actions its span overlaps ("stand" excluded)
    violent: bool
    implicit: bool

    @property
    def action(self) -> str | None:
        """The captioned action when the caption describes exactly one action, else None."""
        return self.actions[0] if len(self.actions) == 1 else None


# -- statistics ------------------------------------------------------------------------------------

def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval of a binomial rate: sane at 0/n and n/n, unlike the normal approximation."""
    if n <= 0:
        return (float("nan"), float("nan"))
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, {n}], got {successes}")
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z / denom * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return (max(0.0, centre - half), min(1.0, centre + half))


def rate_entry(name: str, hits: list[bool]) -> dict:
    """``{name: rate, name_n: n, name_ci95: [lo, hi]}``; None (valid JSON) when n is 0."""
    n, k = len(hits), int(sum(hits))
    if n == 0:
        return {name: None, f"{name}_n": 0, f"{name}_ci95": None}
    lo, hi = wilson_interval(k, n)
    return {name: k / n, f"{name}_n": n, f"{name}_ci95": [lo, hi]}


# -- captions and labels ---------------------------------------------------------------------------

def caption_actions(label: dict, span: tuple[int, int], n_frames: int) -> tuple[str, ...]:
    """Distinct actions of the labelled segments overlapping frames ``[first, stop)``, in time order.

    Segments are clipped to the clip as :func:`hmu_demo.eval.judge.frame_labels` does; "stand" is
    padding that the judge never reports as a clip action, so it does not count.
    """
    first, stop = span
    out: list[str] = []
    for seg in label.get("segments", []):
        s, e = max(0, int(seg["start"])), min(n_frames, int(seg["end"]))
        if e <= s or seg["action"] == STAND:
            continue
        if max(s, first) < min(e, stop) and seg["action"] not in out:
            out.append(seg["action"])
    return tuple(out)


def single_action(label: dict, span: tuple[int, int], n_frames: int) -> str | None:
    """The one action a caption span shows, or None when it shows none or several."""
    actions = caption_actions(label, span, n_frames)
    return actions[0] if len(actions) == 1 else None


def load_cases(data: Path, split: str) -> tuple[list[str], list[PromptCase]]:
    """(split ids, one case per caption line in split order) of a labelled corpus."""
    from hmu_demo.data.humanml3d import MotionDataset

    ds = MotionDataset(data)
    labels = ds.labels()
    if labels is None:
        raise QualityError(f"{data} has no labels.jsonl: quality needs a labelled (SynthMotion) corpus")
    ids = ds.split_ids(split)
    if not ids:
        raise QualityError(f"split {split!r} of {data} is empty")
    cases: list[PromptCase] = []
    for motion_id in ids:
        if motion_id not in labels:
            raise QualityError(f"{data}/labels.jsonl has no entry for id {motion_id} of split {split}")
        label = labels[motion_id]
        n_frames = int(ds.features(motion_id).shape[0])
        flags = {c["text"]: c for c in label.get("captions", [])}
        for caption in ds.captions(motion_id):
            span = caption.frame_span(n_frames)
            if span[1] - span[0] < MIN_FRAMES:
                continue
            info = flags.get(caption.text, {})
            cases.append(PromptCase(motion_id, caption.text, span[1] - span[0],
                                    caption_actions(label, span, n_frames),
                                    bool(info.get("violent", False)), bool(info.get("implicit", False))))
    return ids, cases


# -- models ----------------------------------------------------------------------------------------

def load_models(bundle_folder: str | Path, judge_folder: str | Path,
                device: str = "cpu") -> tuple["ModelBundle", "Judge"]:
    """Load the bundle and the judge, turning every way they can be missing or corrupt into QualityError."""
    from hmu_demo.eval.judge import Judge
    from hmu_demo.models.bundle import BundleError, ModelBundle

    try:
        bundle = ModelBundle.load(bundle_folder, device=device)
    except BundleError as err:
        raise QualityError(f"cannot load the model bundle: {err}") from err
    try:
        judge = Judge.load(judge_folder, device=device)
    except Exception as err:  # missing files, bad JSON, missing keys, corrupt safetensors
        raise QualityError(f"cannot load the judge from {judge_folder}: {type(err).__name__}: {err}") from err
    return bundle, judge


def generate_motions(gen: "Generator", keys: list[tuple[str, int]], backbone: str, seed: int,
                     batch_size: int) -> dict[tuple[str, int], "Motion"]:
    """(prompt, frames) -> generated motion, in batches of similar lengths (a batch is padded to its
    longest motion); each prompt's motion is independent of its batch, so the grouping changes nothing."""
    ordered = sorted(dict.fromkeys(keys), key=lambda key: key[1])
    out: dict[tuple[str, int], "Motion"] = {}
    for s in range(0, len(ordered), batch_size):
        chunk = ordered[s:s + batch_size]
        motions = gen.generate([t for t, _ in chunk], lengths=[f for _, f in chunk], seed=seed, backbone=backbone)
        out.update(zip(chunk, motions))
    return out


def generate_joints(gen: "Generator", keys: list[tuple[str, int]], backbone: str, seed: int,
                    batch_size: int) -> dict[tuple[str, int], np.ndarray]:
    """(prompt, frames) -> generated joints (see :func:`generate_motions`)."""
    return {key: m.joints for key, m in generate_motions(gen, keys, backbone, seed, batch_size).items()}


def recon_mpjpe(bundle: "ModelBundle", data: Path, ids: list[str], batch_size: int) -> tuple[float, float]:
    """VQ reconstruction MPJPE (cm) of whole clips: pelvis-aligned (the published protocol) and global."""
    from hmu_demo.data.humanml3d import MotionDataset
    from hmu_demo.eval.reconstruction import reconstruction_mpjpe_cm

    ds = MotionDataset(data)
    clips = [bundle.normalizer.normalize(ds.features(i)).astype(np.float32) for i in ids]
    return reconstruction_mpjpe_cm(bundle.vq, bundle.normalizer, clips, batch_size)


def backbone_metrics(judge: "Judge", joints: dict[tuple[str, int], np.ndarray],
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


# -- evaluation ------------------------------------------------------------------------------------

def check_backbones(bundle: "ModelBundle", backbones: list[str]) -> None:
    """QualityError unless every backbone is known and present in the bundle."""
    for backbone in backbones:
        if backbone not in BACKBONES:
            raise QualityError(f"unknown backbone {backbone!r}; choose from {', '.join(BACKBONES)}")
        if backbone == "bamm" and bundle.bamm is None:
            raise QualityError("this bundle has no BAMM model; use --backbones momask")


def evaluate_loaded(bundle: "ModelBundle", judge: "Judge", data: Path, backbones: list[str], split: str = "test",
                    limit: int | None = None, seed: int = 0, batch_size: int = 64, device: str = "cpu",
                    text_encoder=None) -> dict:
    """Quality report for already-loaded models (the CLI loads them first to fail fast)."""
    from hmu_demo.generate import Generator

    check_backbones(bundle, backbones)
    t0 = time.perf_counter()
    data = Path(data)
    ids, cases = load_cases(data, split)
    action_cases = [c for c in cases if c.action is not None][:limit]
    violent_cases = [c for c in cases if c.violent][:limit]
    recon_ids = ids[:limit]
    gen = Generator(bundle, text_encoder or bundle.make_text_encoder(device), device=device)
    recon, recon_global = recon_mpjpe(bundle, data, recon_ids, batch_size)
    keys = list(dict.fromkeys((c.text, c.frames) for c in action_cases + violent_cases))
    per_backbone = {}
    for backbone in backbones:
        joints = generate_joints(gen, keys, backbone, seed, batch_size)
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


def evaluate_quality(bundle_folder: str | Path, data: str | Path, judge_folder: str | Path = DEFAULT_CHECKPOINT,
                     backbones: list[str] | tuple[str, ...] = BACKBONES, split: str = "test", limit: int | None = None,
                     seed: int = 0, batch_size: int = 64, device: str = "cpu") -> dict:
    """Load the bundle and judge, then measure quality on ``split`` of the labelled corpus ``data``."""
    t0 = time.perf_counter()
    bundle, judge = load_models(bundle_folder, judge_folder, device)
    report = evaluate_loaded(bundle, judge, Path(data), list(backbones), split, limit, seed, batch_size, device)
    report["bundle"] = str(Path(bundle_folder).resolve())
    report["seconds"] = round(time.perf_counter() - t0, 2)
    return report


# -- CLI -------------------------------------------------------------------------------------------

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


def add_evaluation_arguments(p: argparse.ArgumentParser) -> None:
    """The options every judge-based evaluation CLI shares: data, models, split, seed, batching, device."""
    p.add_argument("--data", type=Path, default=None, help=f"labelled corpus (default: build or reuse {DEFAULT_DATA})")
    p.add_argument("--bundle", type=Path, default=EMBEDDED_DIR)
    p.add_argument("--judge", type=Path, default=DEFAULT_CHECKPOINT)
    p.add_argument("--split", default="test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")


def resolve_data(data: Path | None, progress: bool) -> Path:
    """``--data``, or the default SynthMotion corpus (built on first use)."""
    if data is not None:
        return data
    from hmu_demo.data.synth.corpus import ensure_corpus

    return ensure_corpus(DEFAULT_DATA, progress=progress)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hmu_demo.eval.quality",
                                description="Measure a model bundle's reconstruction, action top-1 and violent "
                                            "share on held-out captions of a labelled SynthMotion corpus.")
    add_evaluation_arguments(p)
    p.add_argument("--backbones", nargs="+", choices=BACKBONES, default=list(BACKBONES))
    p.add_argument("--limit", type=int, default=None, help="at most N captions per metric (first N in split order), "
                                                           "and N clips for reconstruction")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def _one_line(err: BaseException) -> str:
    text = " ".join(part.strip() for part in str(err).splitlines() if part.strip())
    return text or type(err).__name__


def main(argv: list[str] | None = None) -> int:
    """CLI entry point: 0 ok, 2 missing/corrupt models or unlabelled data, 1 other errors (one line each)."""
    args = _parser().parse_args(argv)
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    if args.batch_size < 1:
        print("error: --batch-size must be at least 1", file=sys.stderr)
        return 2
    try:
        t0 = time.perf_counter()
        bundle, judge = load_models(args.bundle, args.judge, args.device)
        args.data = resolve_data(args.data, progress=not args.json)
        report = evaluate_loaded(bundle, judge, args.data, args.backbones, args.split, args.limit, args.seed,
                                 args.batch_size, args.device)
        report["bundle"] = str(Path(args.bundle).resolve())
        report["seconds"] = round(time.perf_counter() - t0, 2)
    except QualityError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    except ValueError as err:  # DatasetError (a ValueError): missing/broken corpus files
        from hmu_demo.data.humanml3d import DatasetError

        if not isinstance(err, DatasetError):
            print(f"error: {type(err).__name__}: {_one_line(err)}", file=sys.stderr)
            return 1
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # every other failure: one line, no traceback
        print(f"error: {type(err).__name__}: {_one_line(err)}", file=sys.stderr)
        return 1
    print(json.dumps(report) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
