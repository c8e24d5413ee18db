"""Benchmark outputs: the paper's tables (markdown), a CSV, the JSON record and the trade-off plot.

The tables follow the HMU paper's layout: forget set FID →, MM-Safe ↓,
Diversity →, R@1 →; retain set FID ↓, MM-Dist ↓, Diversity →, R@1 ↑. A cell is the mean over the
replications with its 95 % interval: ``mean ± half-width`` over replications for FID and Diversity,
``mean [lo, hi]`` by cluster bootstrap over motions for the per-caption metrics
(:mod:`hmu_demo.eval.summary`). The "real motions" row holds FID's real-vs-real noise floor at the
N used in its FID cell. A second table per backbone holds the metrics the paper does not tabulate
(the judge's violent share, NCS@k, R@3, transition jerk). Every file says which evaluator and data
made the numbers, the sample sizes, the replications run against the protocol's, the command and
the commit. The app's benchmark tab reads
``benchmark.json``. Every file is written atomically (:mod:`hmu_demo.atomic`): a reader never sees
half of one.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import matplotlib

from hmu_demo import atomic
from hmu_demo.eval.metrics.directions import ARROWS, better_direction

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the file-only backend)

__all__ = ["write_outputs", "markdown_tables", "write_csv", "plot_tradeoff", "PAPER_COLUMNS", "EXTRA_COLUMNS"]

#: (metric key, column title) per set, in the paper's order
PAPER_COLUMNS: dict[str, list[tuple[str, str]]] = {
    "forget": [("fid", "FID"), ("mm_safe", "MM-Safe"), ("diversity", "Diversity"), ("r_precision_top1", "R@1")],
    "retain": [("fid", "FID"), ("mm_dist", "MM-Dist"), ("diversity", "Diversity"), ("r_precision_top1", "R@1")],
}
EXTRA_COLUMNS: list[tuple[str, str, str]] = [
    ("forget", "violent_share", "forget violent share (judge)"), ("forget", "ncs@5", "NCS@5"),
    ("forget", "notox_accuracy", "notox acc."), ("retain", "violent_share", "retain violent share (judge)"),
    ("retain", "r_precision_top3", "retain R@3"), ("forget", "transition_jerk", "forget trans. jerk"),
    ("retain", "transition_jerk", "retain trans. jerk"), ("retain", "multimodality", "retain MModality"),
]


def _cell(entry: dict | None, digits: int = 3) -> str:
    if not entry or entry.get("mean") is None or not math.isfinite(entry["mean"]):
        return "–"
    interval = entry.get("interval")
    if entry.get("interval_method") == "cluster bootstrap" and interval and all(map(math.isfinite, interval)):
        return f"{entry['mean']:.{digits}f} [{interval[0]:.{digits}f}, {interval[1]:.{digits}f}]"
    ci = entry.get("ci95")
    ci_text = f" ± {ci:.{digits}f}" if ci is not None and math.isfinite(ci) else ""
    return f"{entry['mean']:.{digits}f}{ci_text}"


def _digits(metric: str) -> int:
    return 1 if metric in ("transition_jerk",) else 3


def _header(title: str, metric: str, eval_set: str) -> str:
    direction = better_direction(metric, eval_set)
    return f"{title} {ARROWS[direction]}" if direction else title


def _floor_line(result: dict) -> str:
    floors = result.get("noise_floor")
    if not floors:
        return "- FID noise floor: not measured by this run"
    parts = []
    for name, f in floors.items():
        how = (f"measured with {f['measured']['n']} motions a side and scaled by k/N" if f.get("extrapolated")
               else "measured")
        parts.append(f"{name} {f['mean']:.3f} ± {f['ci95']:.3f} at N = {f['n']} ({f.get('distinct', f['n'])} "
                     f"distinct motions; {how})")
    return ("- FID noise floor (two disjoint draws of N real clips, disjoint by motion; in the FID cell of the "
            "real-motions row): " + "; ".join(parts) + ". The benchmark's FID is paired (each generation against "
            "its own captions' clips), so a value below the floor means close to those clips, not a better "
            "distribution")


def _protocol_lines(result: dict) -> list[str]:
    cfg = result["config"]
    sizes = result["samples_per_repeat"]
    reps = result.get("replications", {"run": cfg["repeats"], "protocol": 20})
    run_text = (f"{reps['run']} replications" if reps["run"] == reps["protocol"]
                else f"replications: {reps['run']} of {reps['protocol']} (the published protocol's)")
    sample = result.get("sample_sizes", {})
    n_text = ", ".join(f"{s} N = {sizes[s]}" + (f" of {sample[s]['set_captions']} captions "
                                                 f"({sample[s]['distinct_motions']} distinct motions of "
                                                 f"{sample[s]['set_motions']})" if s in sample else "")
                       for s in sizes)
    div = result.get("diversity", {})
    intervals = result.get("intervals")
    return [
        f"- protocol: {run_text}, each a fresh draw of captions (motion first) and fresh generations: {n_text}; "
        "ground-truth lengths; NCS retrieves with the evaluator's motion embedding in place of TMR",
        ("- intervals (95 %): " + f"per-caption metrics: {intervals['clustered']}, shown as mean [lo, hi]; "
         f"{intervals['set_level']}, shown as mean ± half-width") if intervals else
        f"- intervals: mean ± 1.96·std/√{cfg['repeats']} over the replications",
        "- Diversity: " + ("; ".join(f"{s}: {d['pairs']} pairs, {d['draw']}" for s, d in div.items()) if div
                           else "300 pairs (100 when N ≤ 300)"),
        _floor_line(result),
        "- generation: " + ", ".join(f"{b} {g['sec_per_clip']} s/clip ({g['clips']} clips)"
                                      for b, g in result.get("generation", {}).items() if g.get("sec_per_clip"))
        + f" over {result.get('world_size', 1)} process(es)" if result.get("generation") else "- generation: –",
    ]


def markdown_tables(result: dict) -> str:
    """The report in markdown: provenance, then per backbone the forget/retain tables and the extras."""
    cfg = result["config"]
    lines = [
        f"# Unlearning benchmark: concept '{cfg['concept']}'",
        "",
        f"- data: `{cfg['data']}` [{cfg['split']}], sets: {result['sets']['source']} "
        f"(forget {result['sets']['forget_captions']} captions of {result['sets']['forget_motions']} motions, "
        f"retain {result['sets']['retain_captions']} of {result['sets']['retain_motions']})",
        f"- evaluator: {result['evaluator']['description']}",
        *_protocol_lines(result),
        f"- judge (violent share, transition boundaries): `{result['judge']}`" if result.get("judge") else
        "- judge: not used",
        f"- command: `{result['command']}`",
        f"- commit: `{result.get('commit')}`, {result.get('date')}, {result['seconds']:.0f} s",
        "",
        "Arrows: ↓ lower is better, ↑ higher is better, → closer to the reference (D_r on the forget set, real "
        "data on the retain set) is better.",
    ]
    if "D_r" not in result.get("contenders", {}):
        lines += ["", "D_r, the forget set's reference (the models retrained without the concept), is not in this run: "
                      "its checkpoints were not found (train them with `python -m hmu_demo.train.embedded "
                      f"--retain-only {cfg['concept']}`, then pass `--dr checkpoints/embedded_dr`)."]
    real = result.get("real", {})
    for backbone, per_method in result["summary"].items():
        for eval_set in ("forget", "retain"):
            cols = PAPER_COLUMNS[eval_set]
            lines += ["", f"## {backbone}: {eval_set} set", "",
                      "| Method | " + " | ".join(_header(t, k, eval_set) for k, t in cols) + " |",
                      "|---|" + "---|" * len(cols)]
            if real.get(eval_set):
                floor = result.get("noise_floor", {}).get(eval_set)
                cells = [_cell(floor if k == "fid" else real[eval_set].get(k), _digits(k)) for k, _ in cols]
                label = "real motions (FID: real-vs-real floor)" if floor else "real motions"
                lines.append(f"| {label} | " + " | ".join(cells) + " |")
            for method, sets in per_method.items():
                lines.append(f"| {method} | " + " | ".join(_cell(sets[eval_set].get(k), _digits(k))
                                                           for k, _ in cols) + " |")
        present = [(s, k, t) for s, k, t in EXTRA_COLUMNS
                   if any(k in sets[s] for sets in per_method.values())]
        if present:
            lines += ["", f"## {backbone}: more metrics", "",
                      "| Method | " + " | ".join(_header(t, k, s) for s, k, t in present) + " |",
                      "|---|" + "---|" * len(present)]
            for method, sets in per_method.items():
                lines.append(f"| {method} | " + " | ".join(_cell(sets[s].get(k), _digits(k))
                                                           for s, k, _ in present) + " |")
    return "\n".join(lines) + "\n"


def write_csv(result: dict, path: Path) -> None:
    """One row per backbone, method, set and metric (real-data rows have backbone "real")."""
    evaluator = result["evaluator"]["name"]
    data = result["config"]["data"]
    with atomic.atomic_path(path) as tmp, open(tmp, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["backbone", "method", "set", "metric", "mean", "ci95", "replications", "evaluator", "data",
                    "interval_lo", "interval_hi", "interval_method"])
        rows = [("real", "real motions", s, per) for s, per in result.get("real", {}).items()]
        rows += [("real", "real-vs-real floor", s, {"fid": {**f, "n": f["repeats"], "interval_method": "replications"}})
                 for s, f in result.get("noise_floor", {}).items()]
        rows += [(b, m, s, per) for b, per_m in result["summary"].items() for m, sets in per_m.items()
                 for s, per in sets.items()]
        for backbone, method, eval_set, per_metric in rows:
            for metric, e in per_metric.items():
                lo, hi = e.get("interval") or (None, None)
                w.writerow([backbone, method, eval_set, metric, e["mean"], e["ci95"], e["n"], evaluator, data,
                            lo, hi, e.get("interval_method", "replications")])


def plot_tradeoff(result: dict, path: Path) -> None:
    """Forget suppression (judge's violent share, else forget R@1) against retain FID, one point per method."""
    backbones = list(result["summary"])
    fig, axes = plt.subplots(1, len(backbones), figsize=(5.2 * len(backbones), 4.2), squeeze=False)
    for ax, backbone in zip(axes[0], backbones):
        per_method = result["summary"][backbone]
        y_key = "violent_share" if any("violent_share" in s["forget"] for s in per_method.values()) \
            else "r_precision_top1"
        for method, sets in per_method.items():
            x, y = sets["retain"].get("fid"), sets["forget"].get(y_key)
            if not x or not y or not math.isfinite(x["mean"]) or not math.isfinite(y["mean"]):
                continue
            ax.errorbar(x["mean"], y["mean"], xerr=_error(x), yerr=_error(y), fmt="o", capsize=3)
            ax.annotate(method, (x["mean"], y["mean"]), textcoords="offset points", xytext=(5, 4), fontsize=8)
        ax.set_xlabel("retain FID (lower = quality kept)")
        ax.set_ylabel("forget violent share (judge)" if y_key == "violent_share" else "forget R@1")
        ax.set_title(f"{backbone}: suppression vs retained quality")
        ax.grid(alpha=0.3)
    fig.suptitle(f"evaluator: {result['evaluator']['name']}; 95 % intervals ({result['config']['repeats']} "
                 "replications; violent share: cluster bootstrap); best = bottom left", fontsize=9)
    fig.tight_layout()
    with atomic.atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=120, format="png")
    plt.close(fig)


def _finite(v: float | None) -> float:
    return v if v is not None and math.isfinite(v) else 0.0


def _error(entry: dict) -> list[list[float]]:
    """Error bar lengths below and above the mean: the interval where there is one (it can be
    asymmetric), else the half-width."""
    lo, hi = entry.get("interval") or (None, None)
    if lo is not None and hi is not None and math.isfinite(lo) and math.isfinite(hi):
        return [[max(entry["mean"] - lo, 0.0)], [max(hi - entry["mean"], 0.0)]]
    half = _finite(entry.get("ci95"))
    return [[half], [half]]


def write_outputs(result: dict, out: str | Path) -> str:
    """Write benchmark.json/.csv/.md and tradeoff.png under ``out``; return the markdown."""
    out = Path(out)
    atomic.write_text(out / "benchmark.json", json.dumps(result, indent=1, default=float) + "\n")
    write_csv(result, out / "benchmark.csv")
    text = markdown_tables(result)
    atomic.write_text(out / "benchmark.md", text)
    plot_tradeoff(result, out / "tradeoff.png")
    return text
