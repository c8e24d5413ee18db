"""How much of a split's phrasing a model has already read: caption overlap between two splits.

A test caption that occurs among the training captions measures recall of a sentence, not
generalisation. Two figures, for any HumanML3D-layout folder:

* **verbatim**: share of the second split's caption lines whose text (lower case, whitespace and
  final punctuation folded) is also a caption line of the first split;
* **normalised**: the same after folding what carries no meaning about the motion: the leading
  subject ("a man", "the woman", "an individual" -> one token), pronouns and possessives, articles
  and every non-letter character.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from hmu_demo.data.humanml3d import MotionDataset

__all__ = ["caption_overlap", "normalise_caption", "verbatim_caption"]

_SUBJECT = re.compile(r"^(?:(?:a|an|the|this|that)\s+)?(?:(?:young|old|tall|short)\s+)?"
                      r"(?:person|man|woman|figure|guy|individual|lady|girl|boy|actor|character|human|someone|"
                      r"subject|people|player)\b")
_PRONOUNS = frozenset("he she they his her their him them hers theirs its it".split())
_ARTICLES = frozenset("a an the".split())


def verbatim_caption(text: str) -> str:
    """The caption as written, up to case, spacing and final punctuation."""
    return " ".join(text.lower().split()).rstrip(" .!?")


def normalise_caption(text: str) -> str:
    """The caption with subject, pronouns, articles and punctuation folded."""
    words = " ".join(re.findall(r"[a-z]+", text.lower()))
    words = _SUBJECT.sub("<s>", words)
    kept = ["<p>" if w in _PRONOUNS else w for w in words.split() if w not in _ARTICLES]
    return " ".join(kept)


def _caption_texts(dataset: MotionDataset, split: str) -> list[str]:
    return [caption.text for motion_id in dataset.split_ids(split) for caption in dataset.captions(motion_id)]


def _share_in(lines: list[str], seen: set[str]) -> float:
    return sum(1 for line in lines if line in seen) / len(lines) if lines else 0.0


def caption_overlap(dataset: MotionDataset, seen_split: str = "train", new_split: str = "test",
                    examples: int = 5) -> dict:
    """Verbatim and normalised overlap of ``new_split``'s caption lines with ``seen_split``'s."""
    seen = _caption_texts(dataset, seen_split)
    new = _caption_texts(dataset, new_split)
    verbatim_seen = {verbatim_caption(t) for t in seen}
    normalised_seen = {normalise_caption(t) for t in seen}
    verbatim_new = [verbatim_caption(t) for t in new]
    normalised_new = [normalise_caption(t) for t in new]
    return {
        "seen_split": seen_split, "new_split": new_split,
        "seen_captions": len(seen), "new_captions": len(new),
        "verbatim_share": _share_in(verbatim_new, verbatim_seen),
        "normalised_share": _share_in(normalised_new, normalised_seen),
        "verbatim_examples": _first(t for t in verbatim_new if t in verbatim_seen)[:examples],
        "normalised_examples": _first(t for t in normalised_new if t in normalised_seen)[:examples],
    }


def _first(items: Iterable[str]) -> list[str]:
    """Distinct items in order of appearance."""
    return list(dict.fromkeys(items))
