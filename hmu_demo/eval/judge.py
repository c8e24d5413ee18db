"""How accurate the judge is on a labelled corpus: the command behind the judge's published accuracy.

    python -m hmu_demo.eval.judge [--data DIR] [--checkpoint DIR] [--split test] [--limit N] [--json]

Reports violent/safe accuracy (with recall, precision and the threshold), action top-1 per labelled
segment, frame and clip action accuracy, the weakest actions and the scoring speed on a split of a
labelled (SynthMotion) corpus; the judge itself is :mod:`hmu_demo.models.judge`.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

from hmu_demo.cli import run_guarded
from hmu_demo.data.labelled import load_labelled_split
from hmu_demo.data.locate import DEFAULT_DATA, resolve_data
from hmu_demo.models.judge.accuracy import evaluate
from hmu_demo.models.judge.scoring import DEFAULT_CHECKPOINT, Judge

__all__ = ["judge_report", "main"]


def judge_report(data: Path, checkpoint: Path, split: str = "test", limit: int | None = None) -> dict:
    """The accuracy report of the judge at ``checkpoint`` on ``split`` of ``data`` (JSON-ready)."""
    judge = Judge.load(checkpoint)
    ids, joints, labels = load_labelled_split(data, split, limit)
    t0 = time.perf_counter()
    report = evaluate(judge, joints, labels)
    elapsed = time.perf_counter() - t0
    report.pop("_scores")
    report.update({"split": split, "data": str(data), "checkpoint": str(Path(checkpoint).resolve()),
                   "clips_per_second": round(len(ids) / max(elapsed, 1e-9), 1)})
    return report


def _print_report(report: dict) -> None:
    print(f"judge {report['checkpoint']} on {report['data']} [{report['split']}], {report['clips']} clips "
          f"({report['violent_clips']} violent)")
    print(f"  violent/safe accuracy {report['violent_accuracy']:.4f} "
          f"(recall {report['violent_recall']:.3f}, precision {report['violent_precision']:.3f}, "
          f"threshold {report['threshold']:.3f})")
    print(f"  action top-1 (per segment) {report['action_top1']:.4f}; frame {report['frame_action_accuracy']:.4f}; "
          f"clip action among labelled {report['clip_action_hit']:.4f}")
    print("  weakest actions: " + ", ".join(f"{a} {v:.2f}" for a, v in report["weakest_actions"].items()))
    print(f"  {report['clips_per_second']} clips/s")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.eval.judge",
                                     description="Evaluate the judge (violent/safe accuracy, action top-1) "
                                                 "on a split of a labelled SynthMotion corpus.")
    parser.add_argument("--data", type=Path, default=None,
                        help=f"corpus folder (default: build or reuse {DEFAULT_DATA})")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips of the split")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    report, code = run_guarded(lambda: judge_report(resolve_data(args.data, progress=not args.json),
                                                    args.checkpoint, args.split, args.limit),
                               (FileNotFoundError, ValueError))
    if report is not None and args.json:
        print(json.dumps(report))
    elif report is not None:
        _print_report(report)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
