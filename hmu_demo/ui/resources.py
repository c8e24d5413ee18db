"""The app's shared models, loaded with whatever is available.

A live demo must not refuse to start because one checkpoint is missing or corrupt: each part loads on
its own, and a part that fails becomes a :class:`Problem` (which file, what it disables, how to fix
it) that the server logs at start and the page shows in a banner. What each failure costs:

* BAMM weights: the BAMM backbone; the length estimator: automatic lengths (give seconds);
* the bundle's core (bundle.json, mean/std, VQ, masked or residual transformer) or the text encoder:
  every generation (the app still starts, shows the banner and answers every action with it);
* the judge: the violence verdicts (motions are still generated and rendered);
* the code index: every unlearning method (they all choose their concept's motions from it).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hmu_demo.cli import one_line
from hmu_demo.models.bundle import OPTIONAL_MODELS, ModelBundle
from hmu_demo.models.judge.scoring import DEFAULT_CHECKPOINT, Judge
from hmu_demo.unlearning.flagging import load_index

log = logging.getLogger(__name__)

BUNDLE_FIX = ("restore the file (the shipped models: `git checkout -- checkpoints/embedded`, or retrain them with "
              "`python -m hmu_demo.train.embedded`), or point `--bundle` at a complete bundle folder "
              "(README: Official checkpoints)")
JUDGE_FIX = ("restore `checkpoints/judge` (`git checkout -- checkpoints/judge`) or retrain it "
             "(`python -m hmu_demo.train.judge --data data/synthmotion --out checkpoints/judge`)")
INDEX_FIX = ("restore the file (the shipped index: `git checkout -- checkpoints/embedded`), rebuild it "
             "(`python -m hmu_demo.train.embedded ... --code-index`), or give one with `--index`")


@dataclass(frozen=True)
class Problem:
    """One part that could not be loaded: the error (it names the file), what it disables, the fix."""

    part: str
    error: str
    disables: str
    fix: str

    def message(self) -> str:
        return f"{self.part}: {self.error}. Unavailable: {self.disables}. Fix: {self.fix}."


@dataclass
class Resources:
    """Loaded parts (None where a part failed) and the problems that explain each None."""

    device: Any
    bundle: Any | None = None
    encoder: Any | None = None
    judge: Any | None = None
    index: Any | None = None
    problems: list[Problem] = field(default_factory=list)

    def problem(self, part: str) -> Problem | None:
        return next((p for p in self.problems if p.part == part), None)


INDEX_FILE = "code_index.json.gz"  # the code index's place in a bundle folder (default --index)
MODELS = "models"
JUDGE = "judge"
INDEX = "code index"
OPTIONAL_PARTS = {"bamm": ("BAMM weights", "the BAMM backbone"),
                  "length_estimator": ("length estimator", "automatic lengths (set the length in seconds)")}


def load_resources(bundle_dir: Path, judge_dir: Path | None, index: Path | None, device: Any) -> Resources:
    """Every part that loads; a failure is recorded (and logged) instead of raised."""
    found = Resources(device)
    fix = BUNDLE_FIX
    try:
        found.bundle = ModelBundle.load(bundle_dir, device=device, optional=OPTIONAL_MODELS)
        found.encoder = found.bundle.make_text_encoder(device)
    except (OSError, ValueError, RuntimeError, ImportError) as err:
        found.bundle = None
        found.problems.append(Problem(MODELS, one_line(err), "every generation", fix))
    if found.bundle is not None:
        for attr, error in found.bundle.unavailable.items():
            part, disables = OPTIONAL_PARTS[attr]
            found.problems.append(Problem(part, error, disables, fix))
    try:
        found.judge = Judge.load(judge_dir or DEFAULT_CHECKPOINT, device=device)
    except (OSError, ValueError, RuntimeError, KeyError) as err:
        found.problems.append(Problem(JUDGE, one_line(err), "the violence verdicts", JUDGE_FIX))
    try:
        found.index = load_index(index or Path(bundle_dir) / INDEX_FILE)
    except (OSError, ValueError, RuntimeError) as err:
        found.problems.append(Problem(INDEX, one_line(err), "every unlearning method", INDEX_FIX))
    for problem in found.problems:
        log.warning("checkpoint problem: %s", problem.message())
    return found
