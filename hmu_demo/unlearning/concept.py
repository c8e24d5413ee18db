"""What to unlearn: a :class:`Concept` (forget keywords, preserve words, target text).

A concept comes from the project's lexicon table (``assets/lexicons.json`` through
:mod:`hmu_demo.data.lexicon`) or is typed by a user at run time (:meth:`Concept.from_text`).
The closed-form editors (UCE, RECE) encode every forget keyword
*alone* and map it to the target text's output; the preserve words are held fixed.

``target`` is the guide text the erased keywords are mapped to. The default is the neutral caption
``"a person stands still"`` (the UCE paper's neutral-target alternative). HMU's choice, the empty
string ``""`` (its UCE scripts), is supported, but on the embedded models the empty prompt is far outside what
the transformers were trained on and UCE towards it left 74-81 % of forget generations violent (val
sweep, docs/unlearning.md "Tuning"); towards the neutral caption, 28 % with keywords alone and 0 % with
the forget motions' captions erased too.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from hmu_demo.data.lexicon import LexiconError, concept_lists, known_concepts, load_lexicon, resolve_concept

__all__ = ["DEFAULT_PRESERVE", "DEFAULT_TARGET", "MAX_ITEMS", "MAX_TEXT", "Concept"]

# HMU's preserve set for violence (its UCE scripts): common motion words.
DEFAULT_PRESERVE: tuple[str, ...] = (
    "walk", "walking", "run", "running", "jog", "step", "turn", "dance", "dancing", "move", "moving",
    "steps", "raise", "arm", "leg", "forward", "front", "backward", "sit", "dodge", "moves",
)
DEFAULT_TARGET = "a person stands still"
MAX_TEXT = 200  # characters of one keyword / preserve word / target text
MAX_ITEMS = 256  # keywords or preserve words per concept


def _clean(text: object, what: str) -> str:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a string, got {type(text).__name__}")
    text = " ".join(text.split())
    if len(text) > MAX_TEXT:
        raise ValueError(f"{what} is {len(text)} characters long; at most {MAX_TEXT} are allowed")
    return text


def _clean_list(items: object, what: str) -> tuple[str, ...]:
    if isinstance(items, str) or not isinstance(items, Iterable):
        raise ValueError(f"{what} must be a list/tuple of strings, got {type(items).__name__}")
    out: list[str] = []
    for item in items:
        text = _clean(item, f"each of {what}")
        if text and text not in out:
            out.append(text)
    if len(out) > MAX_ITEMS:
        raise ValueError(f"{what} has {len(out)} entries; at most {MAX_ITEMS} are allowed")
    return tuple(out)


def _split_csv(text: object, what: str) -> tuple[str, ...]:
    if not isinstance(text, str):
        raise ValueError(f"{what} must be a comma-separated string, got {type(text).__name__}")
    if len(text) > MAX_TEXT * MAX_ITEMS:
        raise ValueError(f"{what} is {len(text)} characters long; at most {MAX_TEXT * MAX_ITEMS} are allowed")
    return _clean_list([part for part in text.split(",")], what)


@dataclass(frozen=True)
class Concept:
    """A concept to unlearn.

    ``forget``: keywords whose text embeddings are erased (at least one); ``preserve``: words held
    fixed (a word that is also a forget keyword is dropped from it); ``target``: the guide text the
    forget keywords are mapped to ("" = the empty prompt, HMU's choice).
    Whitespace is collapsed and duplicates removed; bad input raises ValueError.
    """

    name: str
    forget: tuple[str, ...]
    preserve: tuple[str, ...] = ()
    target: str = DEFAULT_TARGET

    def __post_init__(self) -> None:
        name = _clean(self.name, "concept name")
        if not name:
            raise ValueError("concept name is empty")
        forget = _clean_list(self.forget, "forget keywords")
        if not forget:
            raise ValueError(f"concept {name!r} has no forget keywords (give at least one, e.g. 'kick, punch')")
        lowered = {f.lower() for f in forget}
        preserve = tuple(p for p in _clean_list(self.preserve, "preserve words") if p.lower() not in lowered)
        target = _clean(self.target, "target text")
        if target.lower() in lowered:
            raise ValueError(f"target text {target!r} is one of the forget keywords")
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "forget", forget)
        object.__setattr__(self, "preserve", preserve)
        object.__setattr__(self, "target", target)

    @classmethod
    def from_lexicon(cls, name: str, which: str | None = None, preserve: Iterable[str] | None = None,
                     target: str = DEFAULT_TARGET) -> "Concept":
        """A concept of the project's table (``known_concepts()``; aliases work, e.g. "violent").

        ``which`` picks one of the concept's lists (default: its default list, see
        :func:`hmu_demo.data.lexicon.load_lexicon`); ``preserve`` defaults to HMU's motion words.
        """
        if not isinstance(name, str):
            raise ValueError(f"concept name must be a string, got {type(name).__name__}")
        key = resolve_concept(name)
        if key is None:
            raise ValueError(f"unknown concept {name!r}; known concepts: {', '.join(known_concepts())}")
        if which is not None and which not in concept_lists(key):
            raise ValueError(f"concept {key!r} has no list {which!r}; lists: {', '.join(concept_lists(key))}")
        try:
            lexicon = load_lexicon(key, which)
        except LexiconError as exc:
            raise ValueError(str(exc)) from exc
        return cls(key, lexicon.keywords, DEFAULT_PRESERVE if preserve is None else tuple(preserve), target)

    @classmethod
    def from_text(cls, name: str, forget_csv: str, preserve_csv: str = "", target: str = DEFAULT_TARGET) -> "Concept":
        """A concept typed by a user: ``from_text("jumping", "jump, hop, leap", "walk, run")``."""
        return cls(name, _split_csv(forget_csv, "forget keywords"), _split_csv(preserve_csv, "preserve words"),
                   target)

    def to_dict(self) -> dict:
        return {"name": self.name, "forget": list(self.forget), "preserve": list(self.preserve),
                "target": self.target}
