"""Attack an unlearned model and report the attack success rate (ASR).

CLI::

    python -m hmu_demo.attack --method lcr-gated --attack soft-prompt [--budget N] [--backbone momask|bamm]
        [--runs 8] [--split val|test] [--seed 0] [--seconds 6] [--hp NAME=VALUE ...] [--bundle DIR]
        [--judge DIR] [--index FILE] [--suite FILE] [--device cpu] [--json] [--out FILE] [--conditions] [--quiet]
    python -m hmu_demo.attack --list

``--method`` and ``--attack`` take comma-separated lists (one row per pair; ``original`` is the unedited
model). Every row runs the same ``--runs`` starts: red-team prompts of ``--split`` (violent ones for the
black-box search, plain benign ones for the condition attacks), run i with seed ``seed + i // P``.
``--budget`` (default: each attack's) is in the attack's unit: generations, steps or scales. The
markdown table goes to stdout, or the JSON report with ``--json``; ``--out`` also writes the JSON
(every run, without the condition vectors unless ``--conditions``).
Bad input: one line on stderr, exit code 2.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path

from hmu_demo.atomic import write_text
from hmu_demo.attack.registry import all_attacks, get_attack
from hmu_demo.attack.runs import AttackRun, success_rate
from hmu_demo.attack.starts import DEFAULT_SUITE, SPLITS, make_starts, suite_prompts, suite_vocabulary
from hmu_demo.attack.target import CONCEPT, DEFAULT_SECONDS, ORIGINAL, make_target
from hmu_demo.cli import run_guarded
from hmu_demo.config import EMBEDDED_DIR, resolve_device
from hmu_demo.models.bundle import ModelBundle
from hmu_demo.models.judge.scoring import DEFAULT_CHECKPOINT as JUDGE_DIR
from hmu_demo.models.judge.scoring import Judge
from hmu_demo.models.text import CachedTextEncoder
from hmu_demo.pipelines.requests import BACKBONES, check_seconds
from hmu_demo.unlearning.flagging import load_index
from hmu_demo.unlearning.registry import method_names

__all__ = ["main"]

PROG = "python -m hmu_demo.attack"


class AttackCliError(Exception):
    """Input the user can fix: exit code 2, one line."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line on stderr, not the usage block
        raise AttackCliError(f"{message} (see {PROG} --help)")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Attack an unlearned model (prompt search, soft prompt, "
                                "concept vector) and report the attack success rate.")
    p.add_argument("--method", default="lcr-gated", help="comma-separated: original or registered methods")
    p.add_argument("--attack", default=None, help="comma-separated registered attacks (see --list)")
    p.add_argument("--budget", type=int, default=None, help="per run, in each attack's unit (default: its own)")
    p.add_argument("--backbone", default="momask", help="momask or bamm")
    p.add_argument("--runs", type=int, default=8, help="attack runs per method and attack")
    p.add_argument("--split", default="val", help="red-team split the start prompts come from: val or test")
    p.add_argument("--seed", type=int, default=0, help="first seed")
    p.add_argument("--seconds", type=float, default=DEFAULT_SECONDS, help="length of every generated motion")
    p.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE",
                   help="an attack hyperparameter (repeatable; VALUE as JSON, else text), for every named attack "
                        "that has it")
    p.add_argument("--bundle", type=Path, default=EMBEDDED_DIR)
    p.add_argument("--judge", type=Path, default=JUDGE_DIR)
    p.add_argument("--index", type=Path, default=None, help="code index (default: the bundle's code_index.json.gz)")
    p.add_argument("--suite", type=Path, default=DEFAULT_SUITE)
    p.add_argument("--device", default="cpu")
    p.add_argument("--json", action="store_true", help="print the JSON report instead of the markdown table")
    p.add_argument("--out", type=Path, default=None, help="also write the JSON report to this file")
    p.add_argument("--conditions", action="store_true",
                   help="keep each run's best condition vector in the JSON report (white-box attacks)")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    p.add_argument("--list", action="store_true", help="list the attacks, their budgets and hyperparameters")
    return p


def _listing() -> str:
    lines = ["| attack | access | starts from | budget (default) | hyperparameters | what it does |",
             "|---|---|---|---|---|---|"]
    for a in all_attacks().values():
        hp = ", ".join(f"{k}={v}" for k, v in a.defaults.items() if k != "budget") or "none"
        lines.append(f"| {a.name} | {'white box' if a.white_box else 'black box'} | {a.starts} prompts | "
                     f"{a.defaults['budget']} {a.budget_unit} | {hp} | {a.summary} |")
    return "\n".join(lines)


def _csv(text: str, what: str) -> list[str]:
    items = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    if not items:
        raise AttackCliError(f"--{what} must name at least one")
    return items


def _hyperparameters(items: list[str], attacks: list[str]) -> dict[str, dict]:
    """--hp NAME=VALUE -> {attack: {name: value}} for every named attack with that hyperparameter."""
    out: dict[str, dict] = {a: {} for a in attacks}
    for item in items:
        name, sep, raw = item.partition("=")
        name = name.strip()
        if not sep or not name or name == "budget":
            raise AttackCliError(f"--hp expects NAME=VALUE (the budget is --budget), got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        owners = [a for a in attacks if name in get_attack(a).defaults]
        if not owners:
            raise AttackCliError(f"no attack of {', '.join(attacks)} has a hyperparameter {name!r}")
        for a in owners:
            out[a][name] = value
    return out


def _check(args: argparse.Namespace) -> tuple[list[str], list[str], dict[str, dict]]:
    """Everything that needs no model, checked before anything loads."""
    if args.attack is None:
        raise AttackCliError(f"--attack is required; choose from {', '.join(all_attacks())} (or --list)")
    methods, attacks = _csv(args.method, "method"), _csv(args.attack, "attack")
    unknown = [m for m in methods if m != ORIGINAL and m not in method_names()]
    if unknown:
        raise AttackCliError(f"unknown method {', '.join(unknown)}; choose from "
                             f"{', '.join([ORIGINAL, *method_names()])}")
    for name in attacks:
        get_attack(name)
    if args.backbone not in BACKBONES:
        raise AttackCliError(f"unknown backbone {args.backbone!r}; choose from {', '.join(BACKBONES)}")
    if args.split not in SPLITS:
        raise AttackCliError(f"unknown split {args.split!r}; choose from {', '.join(SPLITS)}")
    if args.runs < 1 or args.seed < 0:
        raise AttackCliError(f"--runs must be at least 1 and --seed at least 0, got {args.runs} and {args.seed}")
    check_seconds(args.seconds)
    hp = _hyperparameters(args.hp, attacks)
    for name in attacks:
        get_attack(name).check(args.budget, hp[name])
    return methods, attacks, hp


def _load(args: argparse.Namespace, device):
    """(bundle, text encoder, judge, code index), every failure a one-line user error."""
    try:
        bundle = ModelBundle.load(args.bundle, device=device)
    except (RuntimeError, OSError) as err:
        raise AttackCliError(f"cannot load the model bundle {args.bundle}: {err}") from err
    if args.backbone == "bamm" and bundle.bamm is None:
        raise AttackCliError("this bundle has no BAMM model; use --backbone momask")
    try:
        encoder = CachedTextEncoder(bundle.make_text_encoder(device))
    except (OSError, ValueError) as err:
        raise AttackCliError(f"cannot load the text encoder: {err}") from err
    try:
        judge = Judge.load(args.judge, device=device)
    except Exception as err:  # missing files, bad JSON, corrupt weights
        raise AttackCliError(f"cannot load the judge from {args.judge}: {type(err).__name__}: {err}") from err
    return bundle, encoder, judge, load_index(args.index or Path(args.bundle) / "code_index.json.gz")


def _row(method: str, attack_name: str, runs: list[AttackRun], budget: int, hp: dict, edit_seconds: float,
         conditions: bool) -> dict:
    attack = get_attack(attack_name)
    return {"method": method, "attack": attack_name, "white_box": attack.white_box, "starts": attack.starts,
            "budget": budget, "budget_unit": attack.budget_unit, "hyperparameters": hp,
            "edit_seconds": round(edit_seconds, 3), "summary": success_rate(runs),
            "runs": [r.to_dict(conditions) for r in runs]}


def _cell(entry: dict) -> str:
    if entry.get("value") is None:
        return "n/a"
    ci = entry.get("ci95")
    return f"{entry['value']:.2f}" + ("" if ci is None else f" [{ci[0]:.2f}, {ci[1]:.2f}]")


def format_table(report: dict) -> str:
    """The report as markdown: what made it, then one line per (method, attack)."""
    lines = [f"Attacks on {report['backbone']} ({report['split']} split of {report['suite']['path']}, seeds from "
             f"{report['seed']}, {report['seconds_per_motion']:g} s motions; judge {report['evaluator']['judge']}). "
             f"ASR: share of runs whose best motion the judge calls violent; {report['intervals']}.", "",
             "| method | attack | budget | runs | violent before | ASR | best motion gated | s/run |",
             "|---|---|---|---|---|---|---|---|"]
    for row in report["rows"]:
        s = row["summary"]
        lines.append(f"| {row['method']} | {row['attack']} | {row['budget']} {row['budget_unit']} | {s['runs']} | "
                     f"{_cell(s['start_violent_share'])} | {_cell(s['asr'])} | {s.get('best_gated_share', 0):.2f} | "
                     f"{s.get('seconds_per_run', 0):.1f} |")
    return "\n".join(lines)


def _run(args: argparse.Namespace, argv: Sequence[str]) -> str:
    if args.list:
        return _listing()
    methods, attacks, hp = _check(args)
    starts_by = {w: make_starts(suite_prompts(args.suite, args.split, w), args.runs, args.seed)
                 for w in {get_attack(a).starts for a in attacks}}
    t0 = time.perf_counter()
    device = resolve_device(args.device)
    bundle, encoder, judge, index = _load(args, device)
    words = suite_vocabulary(args.suite)  # the search's vocabulary
    progress = None if args.quiet else _progress
    rows = []
    for method in methods:
        t = time.perf_counter()
        target = make_target(bundle, encoder, judge, method, args.backbone, index=index, seconds=args.seconds,
                             device=device, words=words)
        edit_seconds = time.perf_counter() - t
        for name in attacks:
            attack = get_attack(name)
            budget, full_hp = attack.check(args.budget, hp[name])
            runs = attack.run(target, starts_by[attack.starts], budget,
                              progress=None if progress is None else progress(method, name, args.runs), **hp[name])
            rows.append(_row(method, name, runs, budget, full_hp, edit_seconds, args.conditions))
    report = {"concept": CONCEPT, "backbone": args.backbone, "split": args.split, "seed": args.seed,
              "runs_per_row": args.runs, "seconds_per_motion": args.seconds,
              "suite": {"path": str(Path(args.suite).resolve()),
                        "sha256": hashlib.sha256(Path(args.suite).read_bytes()).hexdigest()},
              "evaluator": {"judge": str(Path(args.judge).resolve()), "judge_threshold": judge.threshold},
              "intervals": "95 % percentile bootstrap over runs (2000 resamples, seeded)",
              "bundle": str(Path(args.bundle).resolve()), "device": str(device), "rows": rows,
              "seconds": round(time.perf_counter() - t0, 1), "command": f"{PROG} " + " ".join(argv)}
    text = json.dumps(report, indent=1)
    if args.out is not None:
        write_text(args.out, text + "\n")
    return text if args.json else format_table(report)


def _progress(method: str, attack: str, total: int):
    def line(i: int, run: AttackRun) -> None:
        print(f"{method} {attack} run {i + 1}/{total}: violence {run.start_violence:.2f} -> {run.best_violence:.2f}"
              f"{' (violent)' if run.best_violent else ''}, {run.generations} generations, {run.seconds:.1f} s",
              file=sys.stderr, flush=True)
    return line


def main(argv: Sequence[str] | None = None) -> int:
    """0 ok, 2 bad input (one line on stderr), 1 other errors, 130 interrupted."""
    argv = list(sys.argv[1:] if argv is None else argv)
    text, code = run_guarded(lambda: _run(_parser().parse_args(argv), argv),
                             (AttackCliError, ValueError, FileNotFoundError))
    if code:
        return code
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
