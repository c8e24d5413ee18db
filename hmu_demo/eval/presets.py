"""The evaluation presets and how each runs as a command: one parser per preset, errors through
:func:`hmu_demo.cli.run_guarded`, the report printed on stdout.

``python -m hmu_demo.eval.benchmark --preset quick|quality|full`` is the one entry point
(:mod:`hmu_demo.eval.benchmark`); ``python -m hmu_demo.eval.quick`` and ``python -m
hmu_demo.eval.quality`` run the same presets under their own names, with the same flags.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hmu_demo.cli import run_guarded
from hmu_demo.config import EMBEDDED_DIR
from hmu_demo.data.locate import DEFAULT_DATA
from hmu_demo.eval.loading import EvalError
from hmu_demo.models.judge.scoring import DEFAULT_CHECKPOINT as JUDGE_DIR

__all__ = ["JUDGE_DIR", "Preset", "add_evaluation_arguments", "csv_list", "parse_hp", "run_preset"]


@dataclass(frozen=True)
class Preset:
    """One evaluation: its name, its own command's name, its options and what it does with them.

    ``run(args, argv)`` returns the text to print (``argv``: the options as given, for the record);
    ``user_errors``: the exceptions that are the user's to fix (exit code 2)."""

    name: str
    prog: str
    description: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace, list[str]], str]
    user_errors: tuple[type[BaseException], ...] = (EvalError, ValueError)

    def parser(self, prog: str | None = None) -> argparse.ArgumentParser:
        p = argparse.ArgumentParser(prog=prog or self.prog, description=self.description)
        self.add_arguments(p)
        return p


def run_preset(preset: Preset, argv: Sequence[str] | None = None, prog: str | None = None) -> int:
    """Parse ``argv`` (default: the command line) with the preset's options and run it: 0 ok, 2 bad
    input (one line on stderr), 1 other errors, 130 interrupted."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = preset.parser(prog).parse_args(argv)
    text, code = run_guarded(lambda: preset.run(args, argv), preset.user_errors)
    if code:
        return code
    if text:             # a torchrun process other than rank 0 has nothing to print
        print(text)
    return 0


def add_evaluation_arguments(p: argparse.ArgumentParser) -> None:
    """The options every judge-based preset shares: data, models, split, seed, batching, device."""
    p.add_argument("--data", type=Path, default=None, help=f"labelled corpus (default: build or reuse {DEFAULT_DATA})")
    p.add_argument("--bundle", type=Path, default=EMBEDDED_DIR)
    p.add_argument("--judge", type=Path, default=JUDGE_DIR)
    p.add_argument("--split", default="test")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")


def csv_list(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``."""
    return [part.strip() for part in text.split(",") if part.strip()]


def parse_hp(items: list[str]) -> dict[str, dict]:
    """``--hp METHOD.NAME=VALUE`` options -> {method: {name: value}}; values are JSON where they parse."""
    out: dict[str, dict] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        method, dot, name = key.strip().rpartition(".")
        if not sep or not dot or not method or not name:
            raise EvalError(f"--hp expects METHOD.NAME=VALUE (e.g. lcr.k=32), got {item!r}")
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(method, {})[name] = value
    return out
