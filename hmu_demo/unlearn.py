"""Unlearn a concept from a model bundle and write the edit (weights that changed + report).

CLI::

    python -m hmu_demo.unlearn --method lcr --concept violence [--backbone momask|bamm] [--k 16]
        [--alpha A] [--lam L] [--epochs N] [--threshold T] [--hp NAME=VALUE ...]
        [--forget "kick, punch" [--preserve "walk, run"] [--target TEXT]]
        [--bundle FOLDER] [--index code_index.json.gz] --out DIR [--json]

``--concept`` names a concept of ``assets/lexicons.json`` (violence, ...); with ``--forget`` it is
the name of a concept typed here. Writes ``DIR/edit.safetensors`` and ``DIR/edit.json``
(:mod:`hmu_demo.unlearning.edit_io`); ``python -m hmu_demo.generate ... --edit DIR`` generates
with it. Methods and their hyperparameters: ``--list``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from pathlib import Path

from hmu_demo.cli import run_guarded
from hmu_demo.config import EMBEDDED_DIR
from hmu_demo.models.bundle import BundleError, ModelBundle
from hmu_demo.pipelines.requests import BACKBONES
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.edit_io import save_edit
from hmu_demo.unlearning.registry import all_methods, apply, get_method

__all__ = ["main"]


class _CliError(Exception):
    def __init__(self, message: str, code: int = 2) -> None:
        super().__init__(message)
        self.code = code


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hmu_demo.unlearn",
                                description="Unlearn a concept (UCE, RECE, LCR and variants) and write the edit.")
    p.add_argument("--method", choices=list(all_methods()), default="lcr")
    p.add_argument("--concept", default="violence", help="lexicon concept name, or the name of --forget's concept")
    p.add_argument("--forget", help="comma-separated forget keywords (a concept typed here)")
    p.add_argument("--preserve", default="", help="comma-separated preserve words (with --forget)")
    p.add_argument("--target", default=None,
                   help="target text the forget keywords map to (UCE/RECE; default 'a person stands still', "
                        "'' for HMU's empty prompt)")
    p.add_argument("--backbone", choices=BACKBONES, default="momask", help="backbone the edit is meant for")
    p.add_argument("--k", type=int, help="LCR: top-k of each score")
    p.add_argument("--alpha", type=float,
                   help="LCR: noise / projection scale; task-vector, esd, ga: the adapters' LoRA alpha")
    p.add_argument("--lam", type=float, help="UCE/RECE: ridge term")
    p.add_argument("--epochs", type=int, help="RECE: adversarial epochs")
    p.add_argument("--threshold", type=float, help="LCR-gated: neighbour share that gates a prompt")
    p.add_argument("--hp", action="append", default=[], metavar="NAME=VALUE",
                   help="any other hyperparameter of the method (repeatable; VALUE as JSON, else a string)")
    p.add_argument("--bundle", type=Path, default=EMBEDDED_DIR)
    p.add_argument("--index", type=Path, default=None, help="code index (default: the bundle's code_index.json.gz)")
    p.add_argument("--out", type=Path, help="edit folder to write (required unless --list)")
    p.add_argument("--list", action="store_true", help="list the methods and their hyperparameters, then exit")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    return p


def _hyperparameters(args: argparse.Namespace) -> dict:
    hp = {name: getattr(args, name) for name in ("k", "alpha", "lam", "epochs", "threshold")
          if getattr(args, name) is not None}
    for item in args.hp:
        name, sep, raw = item.partition("=")
        if not sep or not name.strip():
            raise _CliError(f"--hp expects NAME=VALUE, got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        hp[name.strip()] = value
    return hp


def _list_methods() -> str:
    lines = []
    for m in all_methods().values():
        params = ", ".join(f"{k}={v!r}" for k, v in m.defaults.items())
        lines.append(f"{m.name:<12} {m.summary}\n{'':<12} {params}")
    return "\n".join(lines)


def _run(args: argparse.Namespace) -> dict:
    if args.out is None:
        raise _CliError("--out DIR is required (the folder the edit is written to)")
    hp = _hyperparameters(args)
    try:
        target = {} if args.target is None else {"target": args.target}
        concept = (Concept.from_text(args.concept, args.forget, args.preserve, **target) if args.forget
                   else Concept.from_lexicon(args.concept, **target))
    except ValueError as err:
        raise _CliError(str(err)) from err
    try:
        bundle = ModelBundle.load(args.bundle)
    except BundleError as err:
        raise _CliError(f"cannot load the model bundle: {err}") from err
    if args.backbone == "bamm" and bundle.bamm is None:
        raise _CliError("this bundle has no BAMM model; use --backbone momask")
    index = args.index if args.index is not None else Path(args.bundle) / "code_index.json.gz"
    if not index.is_file() and get_method(args.method).needs_index:
        raise _CliError(f"no code index at {index}; {args.method} needs one (pass --index FILE)")
    t0 = time.perf_counter()
    try:
        edit = apply(bundle, concept, args.method, index=index, **hp)
    except ValueError as err:
        raise _CliError(str(err)) from err
    seconds = time.perf_counter() - t0
    save_edit(bundle, edit, args.out, backbone=args.backbone)
    report = edit.report
    return {"out": str(args.out), "bundle": str(Path(args.bundle).resolve()), "backbone": args.backbone,
            "seconds_total": round(seconds, 3), "concept": concept.to_dict(), "report": report.to_dict()}


def _summary(result: dict) -> str:
    report = result["report"]
    lines = [f"{report['method']} on {report['concept']!r}: {report['seconds']:.3f} s "
             f"({result['seconds_total']:.3f} s with loading the index/encoder)"]
    for layer in report["layers"]:
        lines.append(f"  {layer['name']} {tuple(layer['shape'])}: relative change {layer['rel_change']:.4f}")
    if report["flagged"]:
        codes = ", ".join(str(f["code"]) for f in report["flagged"])
        lines.append(f"  {len(report['flagged'])} flagged codes: {codes}")
    lines.append(f"wrote {result['out']}")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: 0 ok, 2 bad input (one line on stderr), 1 other failures."""
    args = _parser().parse_args(argv)
    if args.list:
        print(_list_methods())
        return 0
    result, code = run_guarded(lambda: _run(args), (_CliError,))
    if code:
        return code
    print(json.dumps(result) if args.json else _summary(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
