"""The labelled captions the judge presets evaluate on: one case per caption of a SynthMotion split.

A case carries what the corpus labels say about its caption span: the distinct actions it overlaps
("stand" padding excluded, as the judge never reports it), and whether it is violent (explicitly or
only implicitly). Spans shorter than ``MIN_FRAMES`` are skipped, as in training. The quick preset
groups the cases by what unlearning should do with them (:func:`split_groups`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.labelled import STAND
from hmu_demo.data.lexicon import load_lexicon
from hmu_demo.data.limits import MIN_FRAMES
from hmu_demo.eval.loading import EvalError

__all__ = ["CaseGroups", "PromptCase", "caption_actions", "load_cases", "one_per_motion", "single_action", "split_groups",
           "spread"]


@dataclass(frozen=True)
class PromptCase:
    """One caption of the split, with what its ground truth says about it."""

    motion_id: str
    text: str
    frames: int                 # ground-truth crop length
    actions: tuple[str, ...]    # distinct labelled actions its span overlaps ("stand" excluded)
    violent: bool
    implicit: bool

    @property
    def action(self) -> str | None:
        """The captioned action when the caption describes exactly one action, else None."""
        return self.actions[0] if len(self.actions) == 1 else None


def caption_actions(label: dict, span: tuple[int, int], n_frames: int) -> tuple[str, ...]:
    """Distinct actions of the labelled segments overlapping frames ``[first, stop)``, in time order.

    Segments are clipped to the clip as :func:`hmu_demo.data.labelled.frame_labels` does; "stand" is
    padding that the judge never reports as a clip action, so it does not count.
    """
    first, stop = span
    out: list[str] = []
    for seg in label.get("segments", []):
        s, e = max(0, int(seg["start"])), min(n_frames, int(seg["end"]))
        if e <= s or seg["action"] == STAND:
            continue
        if max(s, first) < min(e, stop) and seg["action"] not in out:
            out.append(seg["action"])
    return tuple(out)


def single_action(label: dict, span: tuple[int, int], n_frames: int) -> str | None:
    """The one action a caption span shows, or None when it shows none or several."""
    actions = caption_actions(label, span, n_frames)
    return actions[0] if len(actions) == 1 else None


def load_cases(data: Path, split: str) -> tuple[list[str], list[PromptCase]]:
    """(split ids, one case per caption line in split order) of a labelled corpus."""
    ds = MotionDataset(data)
    labels = ds.labels()
    if labels is None:
        raise EvalError(f"{data} has no labels.jsonl: the judge needs a labelled (SynthMotion) corpus")
    ids = ds.split_ids(split)
    if not ids:
        raise EvalError(f"split {split!r} of {data} is empty")
    cases: list[PromptCase] = []
    for motion_id in ids:
        if motion_id not in labels:
            raise EvalError(f"{data}/labels.jsonl has no entry for id {motion_id} of split {split}")
        label = labels[motion_id]
        n_frames = int(ds.features(motion_id).shape[0])
        flags = {c["text"]: c for c in label.get("captions", [])}
        for caption in ds.captions(motion_id):
            span = caption.frame_span(n_frames)
            if span[1] - span[0] < MIN_FRAMES:
                continue
            info = flags.get(caption.text, {})
            cases.append(PromptCase(motion_id, caption.text, span[1] - span[0],
                                    caption_actions(label, span, n_frames),
                                    bool(info.get("violent", False)), bool(info.get("implicit", False))))
    return ids, cases


@dataclass(frozen=True)
class CaseGroups:
    """The quick preset's caption groups (:func:`split_groups`)."""

    forget: list[PromptCase]
    forget_implicit: list[PromptCase]
    retain: list[PromptCase]
    composed: list[PromptCase]

    def keys(self) -> list[tuple[str, int]]:
        """Distinct (caption, frames) pairs to generate, in a stable order."""
        cases = self.forget + self.forget_implicit + self.retain + self.composed
        return list(dict.fromkeys((c.text, c.frames) for c in cases))

    def sizes(self) -> dict[str, int]:
        return {"forget": len(self.forget), "forget_implicit": len(self.forget_implicit),
                "retain": len(self.retain), "composed": len(self.composed)}


def spread(items: list, limit: int | None) -> list:
    """At most ``limit`` items spread evenly over the list (not the first ones: those are few motions)."""
    if limit is None or len(items) <= limit:
        return list(items)
    picks = np.linspace(0, len(items) - 1, num=limit).round().astype(int)
    return [items[i] for i in dict.fromkeys(picks.tolist())]


def one_per_motion(cases: list[PromptCase]) -> list[PromptCase]:
    """The first case of each motion: the captions of one motion are one sample, not several."""
    seen: set[str] = set()
    out = []
    for case in cases:
        if case.motion_id not in seen:
            seen.add(case.motion_id)
            out.append(case)
    return out


def split_groups(cases: list[PromptCase], limit: int | None, concept: str = "violence") -> CaseGroups:
    """A split's cases in four groups, one caption per motion in each, spread to ``limit``: **forget**
    (captions matching the concept's keywords, the word matching that splits the code index for LCR),
    **forget_implicit** (labelled violent but without a keyword: what keyword-driven methods can miss),
    **retain** (exactly one labelled action, not violent, no keyword) and **composed** (two or more
    labelled actions). One caption per motion keeps a group's samples independent, so a binomial
    interval over them is honest (the ~4 captions of one motion share their clip and length)."""
    lexicon = load_lexicon(concept)
    keyword = {c.text: lexicon.matches_prompt(c.text) for c in cases}
    forget = [c for c in cases if keyword[c.text]]
    implicit = [c for c in cases if c.violent and not keyword[c.text]]
    retain = [c for c in cases if c.action is not None and not c.violent and not keyword[c.text]]
    composed = [c for c in cases if len(c.actions) >= 2]
    groups = [spread(one_per_motion(group), limit) for group in (forget, implicit, retain, composed)]
    return CaseGroups(*groups)
