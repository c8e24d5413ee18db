"""The project's hand-written red-team prompt suite (``assets/redteam/prompts.jsonl``) and its loader.

The suite measures unlearning on prompts the corpus never phrased: violence named with words the
lexicons lack, movement paraphrases, obfuscated spellings, compositions of benign and violent parts,
benign traps that share words with violence, and plain benign prompts. Each prompt lists its parts in
order with the SynthMotion actions any of which counts as a match, so a composed prompt's benign parts
can be checked too. ``assets/redteam/README.md`` describes the format and the kinds.

The val/test split is a fixed seeded draw per kind (:func:`seeded_val_ids`), so that tuning on val
never touches the prompts a report quotes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from hmu_demo.config import REPO_ROOT
from hmu_demo.data.synth.actions import ACTIONS
from hmu_demo.prompt import PromptError, clean_prompt

__all__ = [
    "DEFAULT_SUITE",
    "KINDS",
    "SPLITS",
    "SPLIT_SEED",
    "VAL_SHARE",
    "SuitePart",
    "SuitePrompt",
    "load_suite",
    "seeded_val_ids",
]

KINDS: tuple[str, ...] = ("explicit", "paraphrase", "obfuscated", "composed", "trap", "benign")
SPLITS: tuple[str, ...] = ("val", "test")
DEFAULT_SUITE: Path = REPO_ROOT / "assets" / "redteam" / "prompts.jsonl"
SPLIT_SEED = 17      # the number; changing it re-deals val and test
VAL_SHARE = 0.3

_PROMPT_KEYS = {"id", "kind", "split", "text", "parts"}
_PART_KEYS = {"text", "violent", "actions"}


@dataclass(frozen=True)
class SuitePart:
    """One action of a prompt, in order: its words and the actions that would render it faithfully."""

    text: str
    violent: bool
    actions: tuple[str, ...]


@dataclass(frozen=True)
class SuitePrompt:
    """One red-team prompt: what a user types, and what each of its parts should become."""

    id: str
    kind: str
    split: str
    text: str
    parts: tuple[SuitePart, ...]

    @property
    def violent(self) -> bool:
        """A prompt is violent when any of its parts is."""
        return any(part.violent for part in self.parts)


def seeded_val_ids(ids: Sequence[str], share: float = VAL_SHARE, seed: int = SPLIT_SEED) -> set[str]:
    """The ids of one kind that go to val: the ``round(share * n)`` first by sha256("seed:id").

    A hash rather than a random generator keeps the draw the same on every platform and library
    version, and adding a prompt moves at most one other prompt between splits.
    """
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{seed}:{i}".encode()).hexdigest())
    return set(ranked[: round(share * len(ranked))])


def _fold(text: str) -> str:
    return " ".join(text.lower().split())


def _part(raw: object, where: str) -> SuitePart:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: a part must be an object with text, violent and actions")
    if set(raw) != _PART_KEYS:
        raise ValueError(f"{where}: a part has keys {sorted(raw)}; expected {sorted(_PART_KEYS)}")
    text, violent, actions = raw["text"], raw["violent"], raw["actions"]
    if not isinstance(text, str) or not text.strip():
        raise ValueError(f"{where}: a part's text must be non-empty text")
    if not isinstance(violent, bool):
        raise ValueError(f"{where}: part {text!r}: violent must be true or false")
    if not isinstance(actions, list) or not actions or not all(isinstance(a, str) for a in actions):
        raise ValueError(f"{where}: part {text!r}: actions must be a non-empty list of action names")
    unknown = [a for a in actions if a not in ACTIONS]
    if unknown:
        raise ValueError(f"{where}: part {text!r}: unknown action(s) {', '.join(unknown)} "
                         f"(known: the SynthMotion actions of hmu_demo.data.synth.actions)")
    if len(set(actions)) != len(actions):
        raise ValueError(f"{where}: part {text!r}: an action is listed twice")
    disagree = [a for a in actions if ACTIONS[a].violent != violent]
    if disagree:
        raise ValueError(f"{where}: part {text!r} is marked violent={str(violent).lower()} but lists "
                         f"{'safe' if violent else 'violent'} action(s) {', '.join(disagree)}")
    return SuitePart(text, violent, tuple(actions))


def _prompt(raw: object, where: str) -> SuitePrompt:
    if not isinstance(raw, dict):
        raise ValueError(f"{where}: expected a JSON object per line")
    if set(raw) != _PROMPT_KEYS:
        raise ValueError(f"{where}: keys {sorted(raw)}; expected {sorted(_PROMPT_KEYS)}")
    for key in ("id", "kind", "split", "text"):
        if not isinstance(raw[key], str) or not raw[key].strip():
            raise ValueError(f"{where}: {key} must be non-empty text")
    if raw["kind"] not in KINDS:
        raise ValueError(f"{where}: unknown kind {raw['kind']!r} (expected one of {', '.join(KINDS)})")
    if raw["split"] not in SPLITS:
        raise ValueError(f"{where}: unknown split {raw['split']!r} (expected one of {', '.join(SPLITS)})")
    try:
        cleaned = clean_prompt(raw["text"])
    except PromptError as exc:
        raise ValueError(f"{where}: text is not a usable prompt: {exc}") from exc
    if cleaned != raw["text"]:
        raise ValueError(f"{where}: text has control characters or extra whitespace")
    if not isinstance(raw["parts"], list) or not raw["parts"]:
        raise ValueError(f"{where}: parts must be a non-empty list")
    parts = tuple(_part(p, f"{where}, part {k + 1}") for k, p in enumerate(raw["parts"]))
    return SuitePrompt(raw["id"], raw["kind"], raw["split"], raw["text"], parts)


def _check_filter(name: str, values: Iterable[str], known: tuple[str, ...]) -> set[str]:
    chosen = set(values)
    unknown = sorted(chosen - set(known))
    if unknown:
        raise ValueError(f"unknown {name} {', '.join(unknown)} (expected one of {', '.join(known)})")
    return chosen


def load_suite(path: Path = DEFAULT_SUITE, split: str | None = None,
               kinds: Iterable[str] | None = None) -> list[SuitePrompt]:
    """The suite's prompts in file order, validated, optionally only one split and some kinds.

    Raises ValueError naming the file and line for anything malformed: bad JSON, unknown kind,
    split or action, a violent flag that disagrees with the actions, empty parts, a repeated id or
    text (texts compared case- and whitespace-insensitively), or an unknown filter value.
    """
    splits = _check_filter("split", [split], SPLITS) if split is not None else set(SPLITS)
    if isinstance(kinds, str):
        kinds = [kinds]
    wanted = _check_filter("kind", kinds, KINDS) if kinds is not None else set(KINDS)
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"red-team suite {path} cannot be read: {exc}") from exc
    prompts: list[SuitePrompt] = []
    seen_ids: dict[str, int] = {}
    seen_texts: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        where = f"{path}, line {number}"
        try:
            raw = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ValueError(f"{where}: not valid JSON ({exc.msg})") from exc
        prompt = _prompt(raw, where)
        if prompt.id in seen_ids:
            raise ValueError(f"{where}: id {prompt.id!r} already used on line {seen_ids[prompt.id]}")
        folded = _fold(prompt.text)
        if folded in seen_texts:
            raise ValueError(f"{where}: text {prompt.text!r} repeats line {seen_texts[folded]}")
        seen_ids[prompt.id] = seen_texts[folded] = number
        prompts.append(prompt)
    if not prompts:
        raise ValueError(f"red-team suite {path} has no prompts")
    return [p for p in prompts if p.split in splits and p.kind in wanted]
