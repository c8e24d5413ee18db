"""How the kinematic strike detector does on labelled clips, and how often it agrees with the learned judge.

    python -m hmu_demo.eval.strikes [--data DIR] [--split test] [--thresholds FILE] [--judge DIR]
                                    [--limit N] [--no-judge] [--json]

Reports, on one split of a labelled (SynthMotion) corpus: the detector's clip-level accuracy,
balanced accuracy, precision and recall against ``labels.jsonl``; the judge's on the same clips
and the two verdicts' agreement (share of clips agreeing, Cohen's kappa, who flags what the other
does not); per action, the share of labelled segments holding a strike peak (recall for violent
actions; false positives for safe actions, counted on safe clips only, with the kinds of strike
that fired); and the detector's speed in clips per second.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch

from hmu_demo.cli import run_guarded
from hmu_demo.data.labelled import STAND, load_labelled_split
from hmu_demo.data.locate import DEFAULT_DATA, resolve_data
from hmu_demo.models.judge.scoring import DEFAULT_CHECKPOINT, Judge
from hmu_demo.motion.strikes import (DEFAULT_STRIKES, KINDS, StrikeThresholds, candidates, load_thresholds,
                                     verdict_metrics)

__all__ = ["agreement", "per_action", "strikes_report", "main"]


def agreement(a: np.ndarray, b: np.ndarray) -> dict[str, float | int]:
    """Share of clips on which two violent/safe verdicts agree, Cohen's kappa, and the disagreements."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    observed = float((a == b).mean()) if len(a) else float("nan")
    chance = float(a.mean() * b.mean() + (1 - a.mean()) * (1 - b.mean())) if len(a) else float("nan")
    kappa = (observed - chance) / (1 - chance) if len(a) and chance < 1 else float("nan")
    return {"clips": len(a), "agree": round(observed, 4) if math.isfinite(observed) else None,
            "kappa": round(kappa, 4) if math.isfinite(kappa) else None,
            "both_violent": int((a & b).sum()), "both_safe": int((~a & ~b).sum()),
            "detector_only": int((a & ~b).sum()), "judge_only": int((~a & b).sum())}


def per_action(peaks: list[tuple[np.ndarray, np.ndarray]], labels: list[dict]) -> dict[str, dict]:
    """Per action: segments, share holding a strike peak, and (safe actions) which kinds fired.

    ``peaks`` holds, per clip, the frames and kinds of its strikes' peaks. Violent actions count
    every segment; safe actions only the segments of safe clips (a strike next door is not theirs).
    """
    table: dict[str, dict] = {}
    for (frames, kinds), label in zip(peaks, labels):
        for seg in label["segments"]:
            if seg["action"] == STAND or (not seg["violent"] and label["violent"]):
                continue
            inside = (frames >= seg["start"]) & (frames < seg["end"])
            row = table.setdefault(seg["action"], {"violent": bool(seg["violent"]), "segments": 0, "hit": 0,
                                                   "kinds": {}})
            row["segments"] += 1
            row["hit"] += int(inside.any())
            for k in sorted(set(kinds[inside].tolist())):
                row["kinds"][KINDS[k]] = row["kinds"].get(KINDS[k], 0) + 1
    for row in table.values():
        row["rate"] = round(row["hit"] / row["segments"], 4)
        row["kinds"] = dict(sorted(row["kinds"].items(), key=lambda kv: -kv[1]))
    return dict(sorted(table.items(), key=lambda kv: (not kv[1]["violent"], -kv[1]["rate"] if kv[1]["violent"]
                                                       else kv[1]["rate"], kv[0])))


def _round(metrics: dict) -> dict:
    return {k: ((round(v, 4) if math.isfinite(v) else None) if isinstance(v, float) else v)
            for k, v in metrics.items()}  # NaN (no clip of a class) -> null: strict JSON


def strikes_report(data: Path, split: str = "test", thresholds_path: Path = DEFAULT_STRIKES,
                   judge_dir: Path | None = DEFAULT_CHECKPOINT, limit: int | None = None) -> dict:
    """The detector's report on ``split`` of ``data`` (JSON-ready); ``judge_dir=None`` skips the judge."""
    thresholds: StrikeThresholds = load_thresholds(thresholds_path)
    judge = Judge.load(judge_dir) if judge_dir is not None else None
    ids, joints, labels = load_labelled_split(data, split, limit)
    if not ids:
        raise ValueError(f"split {split} of {data} has no clips")
    truth = np.array([bool(label["violent"]) for label in labels])
    t0 = time.perf_counter()
    peaks, verdicts = [], []
    for clip in joints:
        cand = candidates(clip, thresholds)
        ok = cand.passing(thresholds)
        peaks.append((cand.frame[ok], cand.kind[ok]))
        verdicts.append(bool(ok.any()))
    elapsed = time.perf_counter() - t0
    detector = np.array(verdicts)
    report = {"split": split, "data": str(Path(data).resolve()), "thresholds": str(Path(thresholds_path).resolve()),
              "detector": _round(verdict_metrics(detector, truth)),
              "clips_per_second": round(len(ids) / max(elapsed, 1e-9), 1),
              "per_action": per_action(peaks, labels),
              "per_action_definition": ("share of labelled segments holding the peak of a detected strike; "
                                        "safe actions counted on safe clips only")}
    if judge is not None:
        judged = np.array([r.violent for r in judge.score(joints)])
        report["judge"] = {"checkpoint": str(Path(judge_dir).resolve()), **_round(verdict_metrics(judged, truth))}
        report["agreement"] = agreement(detector, judged)
    return report


def _f(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def _print_report(report: dict) -> None:
    d = report["detector"]
    print(f"strike detector {report['thresholds']} on {report['data']} [{report['split']}], {d['clips']} clips "
          f"({d['violent_clips']} violent), {report['clips_per_second']} clips/s")
    print(f"  accuracy {_f(d['accuracy'], 4)}, balanced {_f(d['balanced_accuracy'], 4)}, precision "
          f"{_f(d['precision'])}, recall {_f(d['recall'])}, "
          f"false positives {_f(d['false_positive_rate'])} of safe clips")
    if "judge" in report:
        j, a = report["judge"], report["agreement"]
        print(f"  judge: accuracy {_f(j['accuracy'], 4)}, balanced {_f(j['balanced_accuracy'], 4)}; agreement "
              f"{_f(a['agree'], 4)}, kappa {_f(a['kappa'])} (detector only {a['detector_only']}, "
              f"judge only {a['judge_only']})")
    print(f"  {'action':18s} {'segments':>8s} {'rate':>6s}  kinds")
    for action, row in report["per_action"].items():
        kinds = ", ".join(f"{k} {n}" for k, n in row["kinds"].items())
        tag = "recall" if row["violent"] else "fp"
        print(f"  {action:18s} {row['segments']:8d} {row['rate']:6.3f}  {tag}  {kinds}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.eval.strikes",
                                     description="Evaluate the kinematic strike detector against labels and the judge.")
    parser.add_argument("--data", type=Path, default=None,
                        help=f"labelled corpus (default: build or reuse {DEFAULT_DATA})")
    parser.add_argument("--split", default="test")
    parser.add_argument("--thresholds", type=Path, default=DEFAULT_STRIKES, help="strikes.json to use")
    parser.add_argument("--judge", type=Path, default=DEFAULT_CHECKPOINT, help="judge checkpoint folder")
    parser.add_argument("--no-judge", action="store_true", help="skip the comparison with the judge")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips of the split")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    if args.limit is not None and args.limit < 1:
        parser.error("--limit must be at least 1")
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    report, code = run_guarded(lambda: strikes_report(resolve_data(args.data, progress=not args.json), args.split,
                                                      args.thresholds, None if args.no_judge else args.judge,
                                                      args.limit),
                               (FileNotFoundError, ValueError))
    if report is not None and args.json:
        print(json.dumps(report))
    elif report is not None:
        _print_report(report)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
