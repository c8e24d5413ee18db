"""The one way to unlearn: ``apply(bundle, concept, method, **hyperparameters) -> (edited, EditReport)``.

Every method returns a *copy* of the bundle that shares each tensor it does not change (the
original is never modified) and an :class:`~hmu_demo.unlearning.report.EditReport`. Methods:

=============  ==========================================================================
``uce``        closed-form edit of every ``cond_emb`` weight (text side)
``rece``       UCE, then adversarial embeddings erased in turn (text side)
``lcr``        flagged base-layer codes replaced by code 0 + α·σ·noise (official LCR)
``lcr-orth``   flagged codes lose their component along the flagged codes' mean (official ``orth``)
``lcr-nearest`` each flagged code replaced by its nearest safe code (SafeMo's benign drift)
``lcr-gated``  no weight changed: flagged codes masked out of sampling for prompts about the concept
=============  ==========================================================================
"""

from __future__ import annotations

import numbers
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hmu_demo.models.code_index import CodeIndex
from hmu_demo.unlearning import gate, lcr, rece, uce
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.index_text import index_motion_text
from hmu_demo.unlearning.report import EditReport

__all__ = ["METHODS", "Method", "apply", "method_names", "resolve_concept"]

#: Code-index motions ``erase_motions`` / ``preserve_motions`` may add (at most, each).
MAX_INDEX_MOTIONS = 100_000
#: UCE/RECE defaults, from the val sweep (see README "Unlearning"): every forget motion of the index
#: (706 for violence) erased, 1024 retain motions preserved; with keywords alone and HMU's target ""
#: 74-81 % of forget generations stayed violent.
DEFAULT_ERASE_MOTIONS = 1024
DEFAULT_PRESERVE_MOTIONS = 1024
#: RECE's extra erasure of adversarial embeddings costs retain accuracy (val: action top-1 0.86 at
#: preserve scale 0.5); a stronger preserve term keeps it (0.97 at 2.0, forget 5 % violent).
RECE_PRESERVE_SCALE = 2.0


@dataclass(frozen=True)
class Method:
    """A registered method: its name, a one-line summary, its hyperparameters with defaults."""

    name: str
    summary: str
    defaults: dict = field(default_factory=dict)
    needs_text_encoder: bool = False
    needs_index: bool = False


METHODS: dict[str, Method] = {m.name: m for m in (
    Method("uce", "closed-form edit of the text-condition projections (cond_emb)",
           {"lam": uce.DEFAULT_LAM, "erase_scale": uce.DEFAULT_ERASE_SCALE, "preserve_scale": uce.DEFAULT_PRESERVE_SCALE,
            "mode": uce.DEFAULT_TARGET_MODE, "erase_motions": DEFAULT_ERASE_MOTIONS,
            "preserve_motions": DEFAULT_PRESERVE_MOTIONS}, needs_text_encoder=True),
    Method("rece", "UCE, then adversarial text embeddings found in closed form and erased",
           {"epochs": rece.DEFAULT_EPOCHS, "lam_r": rece.DEFAULT_LAM_R, "official_variant": False,
            "lam": uce.DEFAULT_LAM, "erase_scale": uce.DEFAULT_ERASE_SCALE,
            "preserve_scale": RECE_PRESERVE_SCALE, "mode": uce.DEFAULT_TARGET_MODE,
            "erase_motions": DEFAULT_ERASE_MOTIONS, "preserve_motions": DEFAULT_PRESERVE_MOTIONS},
           needs_text_encoder=True),
    Method("lcr", "flagged base-layer codes replaced by code 0 plus alpha*sigma noise (official LCR)",
           {"k": lcr.DEFAULT_K, "alpha": lcr.DEFAULT_ALPHA, "seed": 0}, needs_index=True),
    Method("lcr-orth", "flagged codes lose their component along the flagged codes' mean (official orth)",
           {"k": lcr.DEFAULT_K, "alpha": lcr.DEFAULT_ALPHA}, needs_index=True),
    Method("lcr-nearest", "each flagged code replaced by the nearest code that retain motions use",
           {"k": lcr.DEFAULT_NEAREST_K, "alpha": 0.0, "seed": 0}, needs_index=True),
    Method("lcr-gated", "flagged codes never sampled, only for prompts about the concept (no weight changed)",
           {"k": gate.DEFAULT_GATED_K, "neighbours": gate.DEFAULT_NEIGHBOURS, "threshold": gate.DEFAULT_THRESHOLD},
           needs_text_encoder=True, needs_index=True),
)}


def method_names() -> list[str]:
    return list(METHODS)


def resolve_concept(concept: Concept | str) -> Concept:
    """A Concept, the name of one of the project's lexicon concepts ("violence"), or comma-separated
    keywords typed by a user ("jump, hop, leap"; one keyword needs a trailing comma: "kick,"),
    which name their own concept."""
    if isinstance(concept, Concept):
        return concept
    if isinstance(concept, str):
        if "," in concept:
            keywords = ", ".join(dict.fromkeys(" ".join(p.split()).lower() for p in concept.split(",") if p.strip()))
            if not keywords:
                raise ValueError(f"concept {concept!r} has no keywords")
            return Concept.from_text(keywords, keywords)
        return Concept.from_lexicon(concept)
    raise ValueError(f"concept must be a Concept or a concept name, got {type(concept).__name__}")


def _spread_motions(mask: np.ndarray, count: object, forget: bool, what: str) -> list[int]:
    """Indices of ``count`` forget (or retain) motions of the split, evenly spread over the index."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_INDEX_MOTIONS:
        raise ValueError(f"{what} must be an integer in 0..{MAX_INDEX_MOTIONS}, got {count!r}")
    rows = np.flatnonzero(mask == forget)
    if count == 0 or rows.size == 0:
        return []
    picks = np.linspace(0, rows.size - 1, num=min(count, rows.size)).round().astype(int)
    return [int(rows[i]) for i in dict.fromkeys(picks.tolist())]


#: Keywords that match more of the code index's motions than this leave too little to keep.
MAX_FORGET_SHARE = 0.5


def check_split(mask: np.ndarray, concept: Concept, method: str) -> None:
    """Refuse a concept that more than half of the index's motions mention (nothing would be left to
    keep: the edit would unlearn everything), and for the codebook methods one that none mentions
    (no code to flag; UCE/RECE still erase the keywords themselves)."""
    words = ", ".join(concept.forget)
    if METHODS[method].needs_index and not mask.any():
        raise ValueError(f"no training motion's caption mentions {words}; {method} needs a concept the models "
                         "have seen (try other keywords)")
    if mask.mean() > MAX_FORGET_SHARE:
        raise ValueError(f"the keywords {words} match {mask.mean():.0%} of the training motions: nothing would be "
                         "left to keep; use keywords specific to what should be forgotten")


def _check_type(method: str, name: str, value: object, default: object) -> None:
    """A hyperparameter has its default's kind (number, flag or text); each method checks ranges."""
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        ok, kind = isinstance(value, numbers.Real) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "text"
    else:
        return
    if not ok:
        raise ValueError(f"{method}: {name} must be {kind}, got {value!r}")


def apply(bundle, concept: Concept | str, method: str, *, text_encoder=None,
          index: CodeIndex | str | os.PathLike | None = None, **hyperparameters) -> tuple[object, EditReport]:
    """Unlearn ``concept`` from a copy of ``bundle`` with ``method``; returns (edited_bundle, EditReport).

    ``text_encoder``: the bundle's encoder (made from the bundle when a method needs one and none
    is given); ``index``: the code index or its path (default: the embedded one). Unknown
    methods or hyperparameters raise ValueError naming what is allowed.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; choose from {', '.join(METHODS)}")
    spec = METHODS[method]
    unknown = sorted(set(hyperparameters) - set(spec.defaults))
    if unknown:
        raise ValueError(f"{method} has no hyperparameter {', '.join(unknown)}; "
                         f"its hyperparameters are {', '.join(spec.defaults) or 'none'}")
    for name, value in hyperparameters.items():
        _check_type(method, name, value, spec.defaults[name])
    hp = {**spec.defaults, **hyperparameters}
    concept = resolve_concept(concept)
    if spec.needs_text_encoder and text_encoder is None:
        text_encoder = bundle.make_text_encoder()

    if method in ("uce", "rece"):
        n_erase, n_preserve = hp.pop("erase_motions"), hp.pop("preserve_motions")
        extra_erase = extra_preserve = None
        erase: list[int] = []
        preserve: list[int] = []
        if n_erase != 0 or n_preserve != 0:  # bad values are reported by _spread_motions
            start = time.perf_counter()
            idx = lcr.load_index(index)
            mask = lcr.concept_split(idx, concept)
            check_split(mask, concept, method)
            erase = _spread_motions(mask, n_erase, True, "erase_motions")
            preserve = _spread_motions(mask, n_preserve, False, "preserve_motions")
            motion_text = index_motion_text(idx, text_encoder)
            extra_erase, extra_preserve = motion_text[erase], motion_text[preserve]
            index_seconds = time.perf_counter() - start
        editor: Callable = uce.uce_edit if method == "uce" else rece.rece_edit
        edited, report = editor(bundle, concept, text_encoder, extra_erase=extra_erase,
                                extra_preserve=extra_preserve, **hp)
        report.hyperparameters.update(erase_motions=len(erase), preserve_motions=len(preserve))
        if erase or preserve:
            report.seconds += index_seconds
        return edited, report
    index = lcr.load_index(index)  # read once: the check and the edit share it
    check_split(lcr.concept_split(index, concept), concept, method)
    if method == "lcr-gated":
        return gate.lcr_gated_edit(bundle, concept, text_encoder, index=index, **hp)
    variant = {"lcr": "official", "lcr-orth": "orth", "lcr-nearest": "nearest"}[method]
    edited, report = lcr.lcr_edit(bundle, concept, index=index, variant=variant, **hp)
    report.method = method
    return edited, report
