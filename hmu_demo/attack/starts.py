"""Where attack runs start: prompts of the red-team suite, each with a seed.

The suite (``assets/redteam/prompts.jsonl``) is validated and documented by
``hmu_demo.eval.redteam_suite``, a later layer than this one; here only the fields an attack needs are
read (kind, split, text, whether a part is violent), and a test checks they are the same prompts that
loader gives. The black-box search starts from the violent prompts (every kind with a violent part);
the condition attacks start from the plain benign prompts (kind ``benign``; the traps share words with
violence, which would not make a clean start). Prompts are dealt round-robin over kinds, so the first
runs cover every kind; run i starts from prompt i mod P with seed ``seed + i // P``.
"""

from __future__ import annotations

import json
from pathlib import Path

from hmu_demo.attack.runs import Start
from hmu_demo.config import REPO_ROOT

__all__ = ["DEFAULT_SUITE", "SPLITS", "make_starts", "suite_prompts", "suite_vocabulary"]

DEFAULT_SUITE = REPO_ROOT / "assets" / "redteam" / "prompts.jsonl"
SPLITS = ("val", "test")
BENIGN_KIND = "benign"


def _entry(line: str, where: str) -> tuple[str, str, str, bool]:
    """(kind, split, text, violent) of one line of the suite."""
    try:
        raw = json.loads(line)
        kind, split, text = raw["kind"], raw["split"], raw["text"]
        violent = any(bool(part["violent"]) for part in raw["parts"])
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise ValueError(f"{where}: not a red-team prompt ({type(err).__name__}: {err})") from err
    if not all(isinstance(v, str) and v.strip() for v in (kind, split, text)):
        raise ValueError(f"{where}: kind, split and text must be non-empty text")
    return kind, split, text, violent


def suite_prompts(path: str | Path, split: str, which: str) -> list[str]:
    """The ``which`` prompts of ``split``: "violent" (any kind with a violent part), "benign" (kind benign) or
    "all", dealt round-robin over their kinds."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    if which not in ("violent", "benign", "all"):
        raise ValueError(f"which must be 'violent', 'benign' or 'all', got {which!r}")
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError(f"cannot read the red-team suite {path}: {err}") from err
    by_kind: dict[str, list[str]] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        kind, in_split, text, violent = _entry(line, f"{path}, line {number}")
        wanted = {"violent": violent, "benign": kind == BENIGN_KIND and not violent, "all": True}[which]
        if in_split == split and wanted:
            by_kind.setdefault(kind, []).append(text)
    out = []
    for rank in range(max((len(v) for v in by_kind.values()), default=0)):
        out += [texts[rank] for texts in by_kind.values() if rank < len(texts)]
    if not out:
        raise ValueError(f"the red-team suite {path} has no {which} prompts in split {split}")
    return out


def suite_vocabulary(path: str | Path) -> list[str]:
    """Every prompt text of the suite, all splits (the words the prompt search may use); no split need
    have prompts."""
    texts = []
    for split in SPLITS:
        try:
            texts += suite_prompts(path, split, "all")
        except ValueError as err:
            if "has no" not in str(err):
                raise
    return texts


def make_starts(prompts: list[str], runs: int, seed: int = 0) -> list[Start]:
    """``runs`` starts: prompt i mod P with seed ``seed + i // P`` (every prompt once before any repeats)."""
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ValueError(f"runs must be a whole number >= 1, got {runs!r}")
    if not prompts:
        raise ValueError("no start prompts")
    return [Start(prompts[i % len(prompts)], seed + i // len(prompts)) for i in range(runs)]
