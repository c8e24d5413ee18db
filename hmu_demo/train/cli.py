"""The command line every trainer shares: the common options, one :class:`TrainConfig`, one way to fail.

Each ``python -m hmu_demo.train.<model>`` builds its parser (the common options from here plus its
own) and hands it to :func:`run_trainer`, which parses, checks the run has a length, builds the
config and trains through :func:`hmu_demo.cli.run_guarded` (an error is one line on stderr).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from hmu_demo.cli import run_guarded
from hmu_demo.models.evaluators.base import EvaluatorError
from hmu_demo.models.official import CheckpointError
from hmu_demo.train.config import TrainConfig

__all__ = ["USER_ERRORS", "add_common_arguments", "add_token_arguments", "finished", "run_trainer"]

#: Failures a user can fix (bad folder, missing stage, wrong --init weights): exit 2, one line.
USER_ERRORS: tuple[type[BaseException], ...] = (ValueError, FileNotFoundError, CheckpointError, EvaluatorError)

Train = Callable[[argparse.Namespace, TrainConfig], "str | None"]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every step-based training entry point shares (one spelling for all)."""
    parser.add_argument("--data", type=Path, default=None, help="corpus folder (default: build or reuse the default)")
    parser.add_argument("--preset", default="embedded", choices=("embedded", "tiny", "official"))
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (default: fit --max-minutes)")
    parser.add_argument("--max-minutes", type=float, default=None, help="time budget; stops resumably when spent")
    parser.add_argument("--device", default=None, help="cuda, cpu, ... (default: CUDA when available)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/train_state.safetensors")
    parser.add_argument("--val-every", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips of each split")
    parser.add_argument("--splits", nargs=2, default=("train", "val"), metavar=("TRAIN", "VAL"),
                        help="split names or files (relative to the corpus, or absolute) to train and validate on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from these weights (.safetensors of the same model; ignored with --resume state)")


def add_token_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of the trainers that learn from the VQ's token tables (transformers, length estimator)."""
    parser.add_argument("--vq", type=Path, required=True, help="output folder of hmu_demo.train.vq")
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--captions", type=Path, default=None,
                        help="caption-embedding cache (default VQ/captions.npz; built when missing)")


def finished(name: str, summary: dict, best: str) -> str | None:
    """The line a step-based CLI prints at the end (``best`` formats the best validation score), or None on
    the other ranks of a torchrun launch (they do not validate)."""
    if not summary["main"]:
        return None
    return f"{name}: {summary['steps']} steps in {summary['seconds']}s, best val {best.format(summary['best'])}"


def run_trainer(parser: argparse.ArgumentParser, argv: Sequence[str] | None, train: Train, *,
                default_minutes: float | None = None,
                check: Callable[[argparse.Namespace], str | None] | None = None) -> int:
    """Parse ``argv``, check it, set the torch threads and run ``train(args, config)``; its line is printed.

    A run needs a length: ``--steps``, a time budget, or both (``default_minutes`` stands in when a
    trainer has a default budget). ``check`` returns a message for any other bad combination. The exit
    code is :func:`hmu_demo.cli.run_guarded`'s.
    """
    args = parser.parse_args(argv)
    if hasattr(args, "steps") and args.steps is None and args.max_minutes is None:
        if default_minutes is None:
            parser.error("give --steps, --max-minutes or both")
        args.max_minutes = default_minutes
    problem = check(args) if check is not None else None
    if problem:
        parser.error(problem)
    if getattr(args, "threads", None):
        torch.set_num_threads(args.threads)
    line, code = run_guarded(lambda: train(args, TrainConfig.from_args(args)), USER_ERRORS)
    if line:
        print(line)
    return code
