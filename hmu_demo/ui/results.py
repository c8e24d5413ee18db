"""What the app's service calls return: the motions, verdicts, files and timings of one call."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hmu_demo.pipelines.text_to_motion import Motion
from hmu_demo.unlearning.report import EditReport

__all__ = ["CompareResult", "GenerateResult", "Timings", "timed"]


@dataclass
class Timings:
    """Seconds spent per stage of one call (edit is ~0 on a cache hit)."""

    edit: float = 0.0
    generation: float = 0.0
    judging: float = 0.0
    rendering: float = 0.0
    export: float = 0.0

    @property
    def total(self) -> float:
        return self.edit + self.generation + self.judging + self.rendering + self.export


@contextmanager
def timed(timings: Timings, stage: str) -> Iterator[None]:
    """Add the block's wall time to ``timings.<stage>``."""
    start = time.perf_counter()
    try:
        yield
    finally:
        setattr(timings, stage, getattr(timings, stage) + time.perf_counter() - start)


@dataclass
class CompareResult:
    """One original-vs-unlearned comparison. Under safe mode every ``original*`` field is None."""

    prompt: str
    backbone: str
    method: str
    concept: str
    seed: int
    hyperparameters: dict
    original: Motion | None
    unlearned: Motion
    original_judge: Any | None             # the judge's JudgeResult (hmu_demo/models/judge/scoring.py)
    unlearned_judge: Any
    report: EditReport
    edit_cached: bool
    safe_mode: bool
    timings: Timings
    folder: Path | None = None
    side_by_side_video: Path | None = None
    original_video: Path | None = None
    unlearned_video: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)  # original_npy/bvh, unlearned_npy/bvh, edit_dir
    render_error: str | None = None        # why there are no videos (the motion files are still written)
    notes: list[str] = field(default_factory=list)  # e.g. "GPU out of memory: generation ran on the CPU"
    edited_bundle: Any = field(default=None, repr=False)  # the edit that made ``unlearned`` (for the inspector)

    @property
    def changed(self) -> bool:
        """Whether the edit changed this motion (None-safe: False without an original)."""
        return self.original is not None and not np.array_equal(self.original.joints, self.unlearned.joints)


@dataclass
class GenerateResult:
    """One motion from the original (method None) or an unlearned model."""

    prompt: str
    backbone: str
    method: str
    concept: str | None
    seed: int
    motion: Motion
    judge: Any
    report: EditReport | None
    edit_cached: bool
    timings: Timings
    folder: Path | None = None
    video: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)   # npy, bvh (+ edit_dir)
    render_error: str | None = None        # why there is no video (the motion files are still written)
    notes: list[str] = field(default_factory=list)  # e.g. "GPU out of memory: generation ran on the CPU"
