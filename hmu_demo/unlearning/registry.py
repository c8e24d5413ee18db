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

import os
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from hmu_demo.models.code_index import CodeIndex
from hmu_demo.unlearning import gate, lcr, rece, uce
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.report import EditReport

__all__ = ["METHODS", "Method", "apply", "method_names", "resolve_concept"]

#: Captions of the code index that ``preserve_captions`` / ``erase_captions`` may add (at most).
MAX_INDEX_CAPTIONS = 4096


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
            "mode": uce.DEFAULT_TARGET_MODE, "preserve_captions": 0, "erase_captions": 0}, needs_text_encoder=True),
    Method("rece", "UCE, then adversarial text embeddings found in closed form and erased",
           {"epochs": rece.DEFAULT_EPOCHS, "lam_r": rece.DEFAULT_LAM_R, "official_variant": False,
            "lam": uce.DEFAULT_LAM, "erase_scale": uce.DEFAULT_ERASE_SCALE,
            "preserve_scale": uce.DEFAULT_PRESERVE_SCALE, "mode": uce.DEFAULT_TARGET_MODE, "preserve_captions": 0,
            "erase_captions": 0},
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
    """A Concept, or the name of one of the project's lexicon concepts ("violence")."""
    if isinstance(concept, Concept):
        return concept
    if isinstance(concept, str):
        return Concept.from_lexicon(concept)
    raise ValueError(f"concept must be a Concept or a concept name, got {type(concept).__name__}")


def _index_captions(index: CodeIndex | None, concept: Concept, count: object, forget: bool, what: str) -> list[str]:
    """``count`` captions of forget (or retain) motions of the concept's split, evenly spread over the
    index (the first caption of each motion)."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_INDEX_CAPTIONS:
        raise ValueError(f"{what} must be an integer in 0..{MAX_INDEX_CAPTIONS}, got {count!r}")
    if count == 0 or index is None:
        return []
    mask = lcr.concept_split(index, concept)
    motions = [m for m, is_forget in zip(index.motions, mask) if bool(is_forget) == forget and m.captions]
    if not motions:
        return []
    picks = np.linspace(0, len(motions) - 1, num=min(count, len(motions))).round().astype(int)
    return [motions[i].captions[0] for i in dict.fromkeys(picks.tolist())]


def _load_index(index: CodeIndex | str | os.PathLike | None) -> CodeIndex | str | os.PathLike:
    return lcr.DEFAULT_INDEX if index is None else index


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
    hp = {**spec.defaults, **hyperparameters}
    concept = resolve_concept(concept)
    if spec.needs_text_encoder and text_encoder is None:
        text_encoder = bundle.make_text_encoder()
    index = _load_index(index)

    if method in ("uce", "rece"):
        n_preserve, n_erase = hp.pop("preserve_captions"), hp.pop("erase_captions")
        idx = None
        if n_preserve != 0 or n_erase != 0:  # bad values are reported by _index_captions
            idx = index if isinstance(index, CodeIndex) else CodeIndex.load(index)
        preserve = _index_captions(idx, concept, n_preserve, False, "preserve_captions")
        erase = _index_captions(idx, concept, n_erase, True, "erase_captions")
        editor: Callable = uce.uce_edit if method == "uce" else rece.rece_edit
        edited, report = editor(bundle, concept, text_encoder, preserve_texts=preserve, erase_texts=erase, **hp)
        report.hyperparameters.update(preserve_captions=len(preserve), erase_captions=len(erase))
        return edited, report
    if method == "lcr-gated":
        return gate.lcr_gated_edit(bundle, concept, text_encoder, index=index, **hp)
    variant = {"lcr": "official", "lcr-orth": "orth", "lcr-nearest": "nearest"}[method]
    edited, report = lcr.lcr_edit(bundle, concept, index=index, variant=variant, **hp)
    report.method = method
    return edited, report
