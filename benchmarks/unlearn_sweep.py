"""Hyperparameter sweep of the unlearning methods on the *val* split (the defaults come from here).

Each configuration is applied to the embedded bundle and judged exactly as ``python -m
hmu_demo.eval.quick`` does (same caption groups, same seeds), on the validation split so that the
test split reported in the closing notes is not used for tuning. Writes one JSON line per
configuration to ``benchmarks/results/unlearn_sweep.jsonl`` (appending) and prints it.

    python benchmarks/unlearn_sweep.py --backbone momask --limit 100 \
        --config lcr:k=32 --config lcr-gated:k=64 --config uce:lam=0.01,mode=tensor
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from hmu_demo.config import EMBEDDED_DIR, resolve_device  # noqa: E402
from hmu_demo.data.locate import DEFAULT_DATA  # noqa: E402
from hmu_demo.eval.loading import load_bundle, load_judge  # noqa: E402
from hmu_demo.eval.quick import evaluate_methods  # noqa: E402
from hmu_demo.models.judge.scoring import DEFAULT_CHECKPOINT  # noqa: E402


def parse_config(text: str) -> tuple[str, dict]:
    """``lcr-gated:k=64,threshold=0.3`` -> ("lcr-gated", {"k": 64, "threshold": 0.3})."""
    method, _, rest = text.partition(":")
    hp = {}
    for item in filter(None, (p.strip() for p in rest.split(","))):
        name, _, raw = item.partition("=")
        try:
            hp[name.strip()] = json.loads(raw)
        except json.JSONDecodeError:
            hp[name.strip()] = raw
    return method.strip(), hp


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", action="append", required=True, help="METHOD[:NAME=VALUE,...]; repeatable")
    p.add_argument("--backbone", default="momask")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA)
    p.add_argument("--split", default="val")
    p.add_argument("--limit", type=int, default=100)
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "unlearn_sweep.jsonl")
    args = p.parse_args()
    device = resolve_device("cpu")
    bundle, judge = load_bundle(EMBEDDED_DIR, device), load_judge(DEFAULT_CHECKPOINT, device)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for text in args.config:
        method, hp = parse_config(text)
        t0 = time.perf_counter()
        report = evaluate_methods(bundle, judge, args.data, [args.backbone], [method], split=args.split,
                                  limit=args.limit, hyperparameters={method: hp})
        m = report["backbones"][args.backbone][method]
        row = {"config": text, "backbone": args.backbone, "split": args.split, "limit": args.limit,
               "groups": report["groups"], "edit": report["edits"][method],
               **{k: m[k] for k in ("violent_share_forget", "violent_share_forget_ci95",
                                    "violent_share_forget_implicit", "action_top1_retain",
                                    "action_top1_retain_ci95", "violent_share_retain", "transition_jerk",
                                    "transition_ratio")},
               "seconds": round(time.perf_counter() - t0, 1)}
        print(json.dumps(row), flush=True)
        with args.out.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
