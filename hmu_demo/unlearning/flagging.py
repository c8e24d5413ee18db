"""Which base-layer codes a concept uses: the concept's split of the code index, per-code counts,
LCR's two scores and the top-k selection (steps 1-4 of LCR, shared by every codebook method, the
concept gate and the inspector).

1. **Split.** A motion of the code index is *forget* when at least ``min_occurrence`` of its
   caption lines match the concept's lexicon (:func:`concept_split`, the project's keyword
   matching, never the ground-truth labels), else *retain*.
2. **Count.** n_f(c), n_r(c) = number of forget / retain motions whose base-layer encoding uses
   code c at least once (presence, not token counts).
3. **Score.** score1(c) = n_f(c) / (n_r(c) + 1e-8);
   score2(c) = (n_f(c) / Σ_c n_f) / (n_r(c) / Σ_c n_r + 1e-8)   (sums over all codes; a zero sum
   is treated as 1 so the scores stay finite).
4. **Select.** C = top-k(score1) ∪ top-k(score2) (:func:`select_codes`). Ranking is by score,
   descending, ties broken by the lower code id. The returned order is: the top-k of score1 in
   rank order, then the codes of the top-k of score2 that are not already there, in rank order.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from hmu_demo.config import EMBEDDED_DIR
from hmu_demo.data.lexicon import Lexicon, count_matching_lines, load_lexicon
from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.report import FlaggedCode

__all__ = ["DEFAULT_INDEX", "DEFAULT_K", "EPS", "CodeStats", "code_presence", "code_statistics", "concept_name",
           "concept_split", "flag_codes", "flagged_entries", "load_index", "resolve_lexicon", "select_codes",
           "select_per_concept"]

EPS = 1e-8
# From the val-split sweep on checkpoints/embedded (benchmarks/unlearn_sweep.py; MoMask, 100 captions per
# group): k=16 (the official --code_prune default) left 21 % of forget generations violent, k=24 18 %,
# k=32 7 % (retain top-1 0.92 vs 0.95), k=64 0 % but retain top-1 0.88.
DEFAULT_K = 32
DEFAULT_INDEX = EMBEDDED_DIR / "code_index.json.gz"


# ----------------------------------------------------------------------------- split


def resolve_lexicon(concept: Concept | str | Lexicon | Sequence[str]) -> Lexicon:
    """A Lexicon from a Concept (its forget keywords), a Lexicon, a concept name / comma list / file
    (``load_lexicon``) or keywords."""
    if isinstance(concept, Lexicon):
        return concept
    if isinstance(concept, Concept):
        return Lexicon(concept.name, concept.forget)
    if isinstance(concept, str):
        return load_lexicon(concept) if "," not in concept else load_lexicon("custom", concept)
    keywords = tuple(str(k) for k in concept)
    return Lexicon("custom", keywords)


def concept_split(index: CodeIndex, keywords_or_lexicon: Concept | str | Lexicon | Sequence[str], match: str = "word",
                  min_occurrence: int = 1) -> np.ndarray:
    """(len(index),) bool: True for forget motions (>= ``min_occurrence`` matching caption lines)."""
    if isinstance(min_occurrence, bool) or not isinstance(min_occurrence, int) or min_occurrence < 1:
        raise ValueError(f"min_occurrence must be an integer >= 1, got {min_occurrence!r}")
    lexicon = resolve_lexicon(keywords_or_lexicon)
    key = ("concept_split", lexicon.keywords, match, min_occurrence, len(index.motions))
    if lexicon.word_forms is None and lexicon.extra_forms is None and key in index.memo:
        return index.memo[key].copy()
    mask = np.fromiter((count_matching_lines(m.captions, lexicon, match) >= min_occurrence for m in index.motions),
                       dtype=np.bool_, count=len(index.motions))
    if lexicon.word_forms is None and lexicon.extra_forms is None:  # the project's word forms: cacheable
        index.memo[key] = mask.copy()
    return mask


# ----------------------------------------------------------------------------- statistics


@dataclass(frozen=True)
class CodeStats:
    """Per-code presence counts and the two LCR scores (arrays of length nb_code)."""

    n_forget: np.ndarray      # int64: forget motions using the code
    n_retain: np.ndarray      # int64: retain motions using the code
    motions_forget: int       # number of forget motions
    motions_retain: int       # number of retain motions
    score1: np.ndarray        # float64: n_f / (n_r + EPS)
    score2: np.ndarray        # float64: (n_f / Σn_f) / (n_r / Σn_r + EPS)

    @property
    def nb_code(self) -> int:
        return int(self.n_forget.shape[0])

    @property
    def freq_forget(self) -> np.ndarray:
        """Share of forget motions using each code."""
        return self.n_forget / max(self.motions_forget, 1)

    @property
    def freq_retain(self) -> np.ndarray:
        """Share of retain motions using each code."""
        return self.n_retain / max(self.motions_retain, 1)


def code_presence(index: CodeIndex) -> np.ndarray:
    """(motions, nb_code) bool: which codes each motion uses, built once per index (kept in ``index.memo``),
    so that counting them for a concept, which every LCR edit and inspector view does, is one sum."""
    key = ("code_presence", index.nb_code, len(index.motions))
    if key not in index.memo:
        presence = np.zeros((len(index.motions), index.nb_code), dtype=np.bool_)
        for row, motion in zip(presence, index.motions):
            row[np.asarray(motion.codes, dtype=np.int64)] = True
        index.memo[key] = presence
    return index.memo[key]


def code_statistics(index: CodeIndex, forget_mask: np.ndarray | Sequence[bool]) -> CodeStats:
    """Presence counts per code in forget / retain motions and the paper's two scores."""
    mask = np.asarray(forget_mask)
    if mask.dtype != np.bool_ or mask.shape != (len(index.motions),):
        raise ValueError(f"forget_mask must be a bool array of shape ({len(index.motions)},), "
                         f"got {mask.dtype} {mask.shape}")
    presence = code_presence(index)
    n_f = presence[mask].sum(axis=0, dtype=np.int64)
    n_r = presence[~mask].sum(axis=0, dtype=np.int64)
    f, r = n_f.astype(np.float64), n_r.astype(np.float64)
    score1 = f / (r + EPS)
    score2 = (f / (f.sum() or 1.0)) / (r / (r.sum() or 1.0) + EPS)
    return CodeStats(n_f, n_r, int(mask.sum()), int((~mask).sum()), score1, score2)


def _rank(scores: np.ndarray) -> np.ndarray:
    """Code ids by score descending, ties by lower id."""
    return np.lexsort((np.arange(scores.shape[0]), -scores))


def select_codes(stats: CodeStats, k: int) -> list[int]:
    """top-k(score1) ∪ top-k(score2): score1's top-k in rank order, then score2's new ones in rank order."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
        raise ValueError(f"k must be an integer >= 0, got {k!r}")
    k = min(int(k), stats.nb_code)
    out = [int(c) for c in _rank(stats.score1)[:k]]
    seen = set(out)
    for c in _rank(stats.score2)[:k]:
        if int(c) not in seen:
            out.append(int(c))
            seen.add(int(c))
    return out


def select_per_concept(index: CodeIndex, ks: dict, match: str = "word", min_occurrence: int = 1) -> list[int]:
    """The per-concept combination of HMU's code: union, in order, of each sub-concept's own selection.

    ``ks`` maps what :func:`concept_split` accepts (a concept name, "kw1, kw2", a Lexicon) to its k,
    e.g. ``{"kick,": 16, "punch, jab, box, hit, beat": 8}``. Each sub-concept uses its *own*
    split (the official script passes the violence split for every one, a likely bug). Pass the
    result as ``lcr_edit(..., codes=...)``.
    """
    out: dict[int, None] = {}
    for concept, k in ks.items():
        stats = code_statistics(index, concept_split(index, concept, match, min_occurrence))
        out.update((c, None) for c in select_codes(stats, k))
    return list(out)


def load_index(index: CodeIndex | str | os.PathLike | None) -> CodeIndex:
    """A CodeIndex as given, read from a path, or the embedded one for None."""
    if index is None:
        index = DEFAULT_INDEX
    return index if isinstance(index, CodeIndex) else CodeIndex.load(index)


def concept_name(concept: np.ndarray | Concept | str | Lexicon | Sequence[str]) -> str:
    """The name a report gives the concept."""
    if isinstance(concept, np.ndarray):
        return "custom mask"
    return resolve_lexicon(concept).name


def flag_codes(bundle, concept: np.ndarray | Concept | str | Lexicon | Sequence[str], *,
               index: CodeIndex | str | os.PathLike | None = None, k: int = DEFAULT_K, match: str = "word",
               min_occurrence: int = 1, codes: Iterable[int] | None = None
               ) -> tuple[CodeIndex, np.ndarray, CodeStats, list[int]]:
    """Steps 1-4 for ``bundle``: (index, forget mask, statistics, flagged codes in selection order).

    ``concept`` is a forget mask over ``index.motions`` or what :func:`concept_split` accepts.
    ``index`` is a CodeIndex or its path (default: the embedded one); it must code layer 0 of a
    codebook with as many rows as the bundle's. ``codes`` overrides the selection (e.g. a union
    of per-sub-concept selections); their scores are still reported.
    """
    idx = load_index(index)
    live = bundle.vq.codebook(0)
    if idx.layer != 0 or idx.nb_code != live.shape[0]:
        raise ValueError(f"code index covers layer {idx.layer} with {idx.nb_code} codes; the bundle's layer-0 "
                         f"codebook has {live.shape[0]}")
    mask = concept if isinstance(concept, np.ndarray) else concept_split(idx, concept, match, min_occurrence)
    stats = code_statistics(idx, mask)
    if codes is None:
        flagged = select_codes(stats, k)
    else:
        flagged = list(dict.fromkeys(int(c) for c in codes))
        if any(not 0 <= c < stats.nb_code for c in flagged):
            raise ValueError(f"codes must lie in 0..{stats.nb_code - 1}")
    return idx, mask, stats, flagged


def flagged_entries(stats: CodeStats, flagged: Sequence[int], descriptions: dict[int, str],
                    sources: dict[int, int | None]) -> list[FlaggedCode]:
    """The report rows of the flagged codes."""
    return [FlaggedCode(c, float(stats.score1[c]), float(stats.score2[c]), int(stats.n_forget[c]),
                        int(stats.n_retain[c]), descriptions[c], sources.get(c)) for c in flagged]
