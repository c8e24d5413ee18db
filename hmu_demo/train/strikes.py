"""Fit the strike detector's thresholds (hmu_demo.motion.strikes) on a labelled corpus's training split.

    python -m hmu_demo.train.strikes --data DIR --out checkpoints/strikes [--split train] [--max-clips 4000]

The objective is the balanced accuracy of clip-level violent labels (``labels.jsonl``: a clip is
violent when any of its segments is), so the 1-in-10 violent clips weigh as much as the safe ones.
The search is a grid, walked deterministically: for every (stop window, stop ratio) pair of a small
outer grid, coordinate ascent over the kinds of strike, each step trying every (speed, reach) pair
of one kind's grid (speed 99 m/s switches a kind off) with the others fixed, then the travel
limit; ties go to the widest run of equally good speeds, its middle. Labels of the split
named by ``--split`` are the only ones read while fitting; the val split is then reported.

At most ``--max-clips`` clips are fitted on (all violent clips up to half of them, then safe clips
drawn with ``--seed``), which keeps the fit to a minute or two on two cores; the accuracy of the
chosen thresholds is then measured on every clip of the split. Writes ``OUT/strikes.json``.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from hmu_demo.cli import run_guarded
from hmu_demo.data.humanml3d import DatasetError, MotionDataset
from hmu_demo.data.locate import DEFAULT_DATA, resolve_data
from hmu_demo.models.judge.accuracy import true_runs
from hmu_demo.motion.strikes import (DEFAULT_STRIKES, KINDS, StrikeThresholds, candidates, is_violent,
                                     save_thresholds, verdict_metrics)

__all__ = ["OFF", "fit_thresholds", "labelled_ids", "main", "score_split"]

#: A speed threshold no body part reaches: the kind is switched off.
OFF = 99.0
#: The slowest speed threshold tried: a hand reaching for a cup moves at about 1 m/s, and a strike is fast.
MIN_SPEED = 1.0
SPEED_GRID = np.concatenate([np.round(np.arange(MIN_SPEED, 6.01, 0.1), 2), [OFF]])
REACH_GRIDS: dict[str, np.ndarray] = {  # + 0.0 turns a rounded -0.0 into 0.0
    **{kind: np.round(np.arange(0.0, 0.51, 0.05), 2) + 0.0 for kind in ("punch", "swing", "chop", "head")},
    "rise": np.round(np.arange(-0.1, 0.301, 0.025), 3) + 0.0,
    **{kind: np.round(np.arange(0.2, 0.71, 0.05), 2) + 0.0 for kind in ("kick", "stomp")},
    "knee": np.round(np.arange(-0.4, 0.01, 0.05), 2) + 0.0,
}
TRAVEL_GRID = np.array([0.4, 0.6, 0.8, 1.0, 1.2, 1.6, 2.0, OFF])
STOP_WINDOWS = (0.2, 0.3, 0.4)
STOP_RATIOS = (0.2, 0.35, 0.5)
_SWEEPS = 5


def labelled_ids(ds: MotionDataset, split: str) -> tuple[list[str], np.ndarray]:
    """Ids of ``split`` and their clip-level violent labels (DatasetError without labels)."""
    labels = ds.labels()
    if labels is None:
        raise DatasetError(f"{ds.root} has no labels.jsonl: the strike detector is fitted on a labelled corpus")
    ids = ds.split_ids(split)
    missing = [i for i in ids if i not in labels]
    if missing:
        raise DatasetError(f"{ds.labels_path} has no entry for {len(missing)} ids of split {split} "
                           f"(first: {missing[0]})")
    return ids, np.array([bool(labels[i]["violent"]) for i in ids])


def _sample(truth: np.ndarray, max_clips: int, seed: int) -> np.ndarray:
    """Indices to fit on: everything when it fits, else all violent (up to half) and seeded safe clips."""
    if len(truth) <= max_clips:
        return np.arange(len(truth))
    rng = np.random.default_rng(seed)
    violent, safe = np.nonzero(truth)[0], np.nonzero(~truth)[0]
    violent = np.sort(rng.permutation(violent)[:max_clips // 2])
    safe = np.sort(rng.permutation(safe)[:max_clips - len(violent)])
    return np.sort(np.concatenate([violent, safe]))


def _pool(clips: list[np.ndarray], base: StrikeThresholds) -> dict[str, np.ndarray]:
    """Every clip's candidates, flattened, with the clip each belongs to."""
    parts = [candidates(j, base) for j in clips]
    return {"clip": np.concatenate([np.full(len(c.kind), i) for i, c in enumerate(parts)]).astype(np.int64),
            "kind": np.concatenate([c.kind for c in parts]), "speed": np.concatenate([c.speed for c in parts]),
            "reach": np.concatenate([c.reach for c in parts]), "travel": np.concatenate([c.travel for c in parts])}


def _balanced(fires: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """Balanced accuracy of each column of ``fires`` (N, K) against ``truth`` (N,)."""
    tpr = (fires & truth[:, None]).sum(0) / max(1, int(truth.sum()))
    tnr = (~fires & ~truth[:, None]).sum(0) / max(1, int((~truth).sum()))
    return (tpr + tnr) / 2


def _best_speed(acc: np.ndarray) -> tuple[float, int, int]:
    """(best score, run length, index) over the speed grid: the middle of the widest run of the best
    score, or the "off" end when that run reaches it."""
    best = acc.max()
    good = np.isclose(acc, best, rtol=0, atol=1e-12)
    length, pick = 0, 0
    for first, last in true_runs(good):
        if last - first + 1 > length:
            length, pick = last - first + 1, (len(acc) - 1 if last == len(acc) - 1 else (first + last) // 2)
    return float(best), length, pick


def _kind_max(pool: dict, n: int, kind: int, reach: float, travel: float) -> np.ndarray:
    """Per clip, the fastest candidate of ``kind`` that reaches ``reach`` with the pelvis within ``travel``."""
    ok = (pool["kind"] == kind) & (pool["reach"] >= reach) & (pool["travel"] <= travel)
    best = np.zeros(n)
    np.maximum.at(best, pool["clip"][ok], pool["speed"][ok])
    return best


def _fires(pool: dict, n: int, params: dict[str, float]) -> np.ndarray:
    """(N, kinds) bool: which clips each kind flags under ``params``."""
    return np.stack([_kind_max(pool, n, k, params[f"{kind}_reach"], params["max_travel"]) >= params[f"{kind}_speed"]
                     for k, kind in enumerate(KINDS)], axis=1)


def _starts(pool: dict, truth: np.ndarray) -> list[dict[str, float]]:
    """Where the ascent starts: every kind off, then every kind alone flagging at most 0.5 % or 2 % of
    the safe clips (at the loosest reach). One-kind-at-a-time moves stop at a local best (a safe action
    that two kinds fire on is dropped only by moving both); several starts make that less likely."""
    n = len(truth)
    off = {**{f"{k}_speed": OFF for k in KINDS}, **{f"{k}_reach": float(REACH_GRIDS[k][0]) for k in KINDS},
           "max_travel": float(TRAVEL_GRID[len(TRAVEL_GRID) // 2])}
    starts = [off]
    for share in (0.005, 0.02):
        start = dict(off)
        for k, kind in enumerate(KINDS):
            fastest = _kind_max(pool, n, k, start[f"{kind}_reach"], start["max_travel"])[~truth]
            flagged = (fastest[:, None] >= SPEED_GRID[None, :]).mean(0)
            start[f"{kind}_speed"] = float(SPEED_GRID[int(np.argmax(flagged <= share))])
        starts.append(start)
    return starts


def _ascend(pool: dict, truth: np.ndarray, params: dict[str, float]) -> tuple[dict[str, float], float]:
    """Coordinate ascent from ``params`` over (speed, reach) per kind, then the travel limit."""
    n = len(truth)
    params = dict(params)
    fires = _fires(pool, n, params)
    score = float(_balanced(fires.any(1)[:, None], truth)[0])
    for _ in range(_SWEEPS):
        before = dict(params)
        for k, kind in enumerate(KINDS):
            others = np.delete(fires, k, axis=1).any(1)
            options = []
            for reach in REACH_GRIDS[kind]:
                fastest = _kind_max(pool, n, k, float(reach), params["max_travel"])
                acc = _balanced(others[:, None] | (fastest[:, None] >= SPEED_GRID[None, :]), truth)
                best, length, pick = _best_speed(acc)
                options.append((best, length, float(reach), float(SPEED_GRID[pick])))
            best, _, reach, speed = max(options)
            params[f"{kind}_speed"], params[f"{kind}_reach"] = speed, reach
            fires = _fires(pool, n, params)
        travel_scores = [float(_balanced(_fires(pool, n, {**params, "max_travel": float(t)}).any(1)[:, None],
                                         truth)[0]) for t in TRAVEL_GRID]
        params["max_travel"] = float(TRAVEL_GRID[int(np.argmax(travel_scores))])  # the strictest of the best
        fires = _fires(pool, n, params)
        score = float(_balanced(fires.any(1)[:, None], truth)[0])
        if params == before:
            break
    return params, score


def _fit_pool(pool: dict, truth: np.ndarray) -> tuple[dict[str, float], float]:
    """The best ascent over :func:`_starts` (the first of equals)."""
    best: tuple[dict[str, float], float] | None = None
    for start in _starts(pool, truth):
        params, score = _ascend(pool, truth, start)
        if best is None or score > best[1] + 1e-12:
            best = (params, score)
    return best


def score_split(ds: MotionDataset, ids: list[str], thresholds: StrikeThresholds) -> np.ndarray:
    """The detector's verdict on every clip of ``ids`` (clips read one at a time)."""
    return np.array([is_violent(ds.joints(i), thresholds) for i in ids], dtype=bool)


def _rounded(metrics: dict) -> dict:
    return {k: ((round(v, 4) if math.isfinite(v) else None) if isinstance(v, float) else v)
            for k, v in metrics.items()}  # NaN (no clip of a class) -> null: strict JSON


def fit_thresholds(data: Path, split: str = "train", max_clips: int = 4000, seed: int = 0,
                   log: Callable[[str], None] = print) -> tuple[StrikeThresholds, dict]:
    """Thresholds fitted on ``split`` of ``data`` and a record of how (JSON-ready), val accuracy included."""
    t0 = time.perf_counter()
    ds = MotionDataset(data)
    ids, truth = labelled_ids(ds, split)
    if truth.all() or not truth.any():
        raise ValueError(f"split {split} of {data} needs both violent and safe clips to fit on "
                         f"({int(truth.sum())} violent of {len(truth)})")
    chosen = _sample(truth, max_clips, seed)
    clips = [ds.joints(ids[i]) for i in chosen]
    fit_truth = truth[chosen]
    log(f"fitting on {len(chosen)} of {len(ids)} {split} clips ({int(fit_truth.sum())} violent)")
    best: tuple[float, float, float, dict] | None = None
    for window in STOP_WINDOWS:
        for ratio in STOP_RATIOS:
            base = StrikeThresholds(stop_window=window, stop_ratio=ratio)
            params, score = _fit_pool(_pool(clips, base), fit_truth)
            log(f"  stop window {window}s, ratio {ratio}: balanced accuracy {score:.4f}")
            if best is None or score > best[0] + 1e-12:
                best = (score, window, ratio, params)
    score, window, ratio, params = best
    thresholds = StrikeThresholds(**params, stop_window=window, stop_ratio=ratio)
    fitted = verdict_metrics(np.array([is_violent(j, thresholds) for j in clips]), fit_truth)
    metrics = {"fit_sample": _rounded(fitted),
               split: _rounded(verdict_metrics(score_split(ds, ids, thresholds), truth))}
    if split != "val" and ds.has_split("val"):
        val_ids, val_truth = labelled_ids(ds, "val")
        metrics["val"] = _rounded(verdict_metrics(score_split(ds, val_ids, thresholds), val_truth))
    info = {
        "data": str(Path(data).resolve()), "split": split,
        "objective": "balanced accuracy of clip-level violent labels (labels.jsonl 'violent')",
        "search": ("outer grid over stop_window x stop_ratio; inside, coordinate ascent over (speed, reach) per "
                   "kind then max_travel, from 3 starts (every kind off; every kind alone flagging <= 0.5 % or "
                   "<= 2 % of safe clips), best kept; ties to the middle of the widest run of speeds"),
        "sample": {"clips": int(len(chosen)), "of": len(ids), "violent": int(fit_truth.sum()), "seed": seed,
                   "rule": "all clips when at most max_clips, else all violent (up to half) + seeded safe"},
        "grid": {"speed_m_s": [float(SPEED_GRID[0]), float(SPEED_GRID[-2]), 0.1], "off": OFF,
                 "reach_m": {k: [float(g[0]), float(g[-1])] for k, g in REACH_GRIDS.items()},
                 "max_travel_m_s": TRAVEL_GRID.tolist(), "stop_window_s": list(STOP_WINDOWS),
                 "stop_ratio": list(STOP_RATIOS)},
        "kinds_off": [k for k in KINDS if getattr(thresholds, f"{k}_speed") >= OFF],
        "metrics": metrics, "seconds": round(time.perf_counter() - t0, 1),
    }
    return thresholds, info


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.train.strikes", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None,
                        help=f"labelled corpus (default: build or reuse {DEFAULT_DATA})")
    parser.add_argument("--out", type=Path, default=DEFAULT_STRIKES.parent, help="folder for strikes.json")
    parser.add_argument("--split", default="train", help="split whose labels choose the thresholds")
    parser.add_argument("--max-clips", type=int, default=4000, help="fit on at most this many clips of the split")
    parser.add_argument("--seed", type=int, default=0, help="which safe clips the subsample takes")
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    if args.max_clips < 20:
        parser.error("--max-clips must be at least 20")

    def fit() -> str:
        if args.out.exists() and not args.out.is_dir():
            raise ValueError(f"--out {args.out} exists and is not a folder")
        data = resolve_data(args.data, progress=not args.quiet)
        thresholds, info = fit_thresholds(data, args.split, args.max_clips, args.seed,
                                          log=(lambda *_: None) if args.quiet else print)
        path = save_thresholds(args.out / "strikes.json", thresholds, info)
        val = info["metrics"].get("val", {})
        return (f"wrote {path}: {args.split} balanced accuracy {info['metrics'][args.split]['balanced_accuracy']}"
                + (f", val {val['balanced_accuracy']}" if val else "") + f" ({info['seconds']}s)")

    line, code = run_guarded(fit, (ValueError, OSError))
    if line:
        print(line)
    return code


if __name__ == "__main__":
    raise SystemExit(main())
