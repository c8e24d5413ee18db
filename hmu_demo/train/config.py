"""The settings every trainer shares, as one dataclass: what to train on, where to write, for how long.

Each trainer (``train_vq``, ``train_transformer``, ``train_length``, ``train_evaluator``,
``train_judge``) takes a :class:`TrainConfig` plus the few arguments of its own model; each CLI builds
one from its parsed options (:meth:`TrainConfig.from_args`) with its own recipe's defaults.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, fields
from pathlib import Path

from hmu_demo.config import ConfigBase

__all__ = ["TrainConfig"]


@dataclass(frozen=True)
class TrainConfig(ConfigBase):
    """One training run's common settings (a trainer ignores those its recipe has no use for)."""

    out: Path                                 # where the trained weights go
    data: Path | None = None                  # corpus folder; None: the default SynthMotion corpus
    work: Path | None = None                  # train.log and the resumable state; None: ``out``
    steps: int | None = None                  # optimisation steps; None: fitted to ``max_minutes``
    max_minutes: float | None = None          # time budget; the run stops resumably once it is spent
    batch_size: int = 256
    lr: float = 2e-4
    device: str | None = None                 # None: CUDA when available, else CPU
    resume: bool = False                      # continue from the state in ``folder``
    val_every: int = 1000                     # steps between validations (and state saves)
    limit: int | None = None                  # only the first N clips of each split
    splits: tuple[str, str] = ("train", "val")  # split names or files to train and validate on
    init: Path | None = None                  # weights to start from (ignored when a state resumes)
    seed: int = 0
    quiet: bool = False                       # no progress bar or log lines on stdout

    @property
    def folder(self) -> Path:
        """Where ``train.log`` and the resumable state live."""
        return self.work if self.work is not None else self.out

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> TrainConfig:
        """The options of a parsed command line that are settings here (the others keep their defaults)."""
        names = {f.name for f in fields(cls)}
        values = {k: v for k, v in vars(args).items() if k in names}
        if "splits" in values:
            values["splits"] = tuple(values["splits"])
        return cls.from_dict(values)
