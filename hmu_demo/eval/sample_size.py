"""How many captions the benchmark needs: FID's real-vs-real noise floor against N, per set.

    python -m hmu_demo.eval.sample_size [--data DIR] [--split test] [--ns 32,64,128,256,512,all]
        [--repeats 20] [--evaluator embedded|official] [--evaluator-path P] [--seed 0] [--json]

Only real clips are embedded (no generation: seconds on a CPU). For every N: the floor of a
benchmark draw of N captions (motion first), as :func:`hmu_demo.eval.metrics.noise_floor.fid_floor_at`
computes it: measured with two motion-disjoint draws where the set allows, else scaled by k/N
(marked ``*``). Also the k/N check: N × floor for the measured rows, which a pure k/N law keeps
constant. The benchmark's default N (:meth:`hmu_demo.eval.protocol.EvalSet.default_samples`) is marked.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from hmu_demo.cli import run_guarded
from hmu_demo.config import resolve_device
from hmu_demo.data.humanml3d import DatasetError
from hmu_demo.data.lexicon import load_lexicon
from hmu_demo.data.locate import resolve_data
from hmu_demo.eval.loading import EvalError, load_evaluator
from hmu_demo.eval.metrics.noise_floor import fid_floor_at
from hmu_demo.eval.presets import csv_list
from hmu_demo.eval.protocol import load_eval_sets

__all__ = ["floor_table", "format_table", "main"]


def _sizes(text: str) -> list[str]:
    out = csv_list(text)
    for item in out:
        if item != "all" and (not item.isdigit() or int(item) < 2):
            raise EvalError(f"--ns takes numbers of at least 2 or 'all', got {item!r}")
    if not out:
        raise EvalError("--ns must name at least one size")
    return out


def floor_table(data: Path, evaluator, ns: list[str], concept: str = "violence", split: str = "test",
                repeats: int = 20, seed: int = 0) -> dict:
    """{set: {"captions", "motions", "default_n", "rows": [floor entry per N]}} (see the module docstring)."""
    forget, retain, _ = load_eval_sets(data, concept, load_lexicon(concept), split)
    out = {}
    for s in (forget, retain):
        draw = s.draw(np.random.default_rng([seed, 0xF1]), None)
        emb = evaluator.embed_motions(s.real_features(draw))
        groups = [x.motion_id for x in draw.samples]
        rows = []
        for item in ns:
            n = len(s) if item == "all" else min(int(item), len(s))
            entry = fid_floor_at(emb, groups, n, repeats, seed)
            entry.pop("values", None)
            rows.append(entry)
        out[s.name] = {"captions": len(s), "motions": s.motions, "default_n": s.default_samples(), "rows": rows}
    return out


def format_table(table: dict, evaluator_name: str) -> str:
    lines = [f"FID real-vs-real noise floor ({evaluator_name} evaluator), mean ± 95 % CI over the repeats; "
             "* = scaled by k/N from the largest motion-disjoint draws", "",
             "| set | N | distinct motions | floor | single-draw 95 % range | N × floor |", "|---|---|---|---|---|---|"]
    for name, t in table.items():
        for e in t["rows"]:
            mark = "*" if e.get("extrapolated") else ""
            default = " (default)" if e["n"] == t["default_n"] else ""
            k = "" if e.get("extrapolated") else f"{e['n'] * e['mean']:.0f}"
            lines.append(f"| {name} ({t['captions']} captions, {t['motions']} motions) | {e['n']}{default} | "
                         f"{e['distinct']} | {e['mean']:.3f} ± {e['ci95']:.3f}{mark} | "
                         f"{e['spread95'][0]:.3f}-{e['spread95'][1]:.3f} | {k} |")
    return "\n".join(lines)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hmu_demo.eval.sample_size", description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=None)
    p.add_argument("--split", default="test")
    p.add_argument("--concept", default="violence")
    p.add_argument("--ns", default="32,64,128,256,512,all")
    p.add_argument("--repeats", type=int, default=20)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--evaluator", choices=("embedded", "official"), default="embedded")
    p.add_argument("--evaluator-path", type=Path, default=None)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true")
    return p


def main(argv: list[str] | None = None) -> int:
    """0 ok, 2 bad input (one line on stderr), 1 other errors."""
    args = _parser().parse_args(argv)

    def run() -> str:
        ns = _sizes(args.ns)
        if args.repeats < 2:
            raise EvalError("--repeats must be at least 2")
        evaluator = load_evaluator(args.evaluator, args.evaluator_path, resolve_device(args.device), None)
        data = resolve_data(args.data, progress=not args.json)
        table = floor_table(data, evaluator, ns, args.concept, args.split, args.repeats, args.seed)
        if args.json:
            return json.dumps({"data": str(data), "split": args.split, "evaluator": evaluator.name, "sets": table})
        return format_table(table, evaluator.name)

    text, code = run_guarded(run, (EvalError, DatasetError, ValueError))
    if code:
        return code
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
