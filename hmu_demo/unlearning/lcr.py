"""Latent Code Replacement (LCR) and its variants on the base-layer RVQ codebook.

Codes are flagged as :mod:`hmu_demo.unlearning.flagging` describes (split, counts, scores, top-k);
then the flagged rows of layer 0's codebook get new values (:func:`lcr_edit`), learnt from the
paper's description, not copied:

- ``official``: e_c <- e_t + α·σ·ε, t = 0 (a code drawn uniformly among the unflagged ones,
  from the seeded generator, when 0 is flagged), σ = std of all entries of the original
  layer-0 codebook (unbiased, like ``torch.std``), ε ~ N(0, I) drawn per code;
- ``orth``: d = normalised mean of the flagged rows; e_c <- e_c − α (e_c·d) d;
- ``nearest`` (LCR-nearest): e_c <- e_s(c) + α·σ·ε, s(c) = the unflagged code nearest to e_c
  (Euclidean, original codebook) among those the retain motions use (all unflagged codes if
  none is used); α = 0 gives an exact copy of the safe code.

The edit names one tensor (the codebook); applied, it shares every other tensor with the original.
Registers ``lcr``, ``lcr-orth`` and ``lcr-nearest``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np
import torch

from hmu_demo.data.lexicon import Lexicon
from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.copying import state_name
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.flagging import DEFAULT_K, concept_name, flag_codes, flagged_entries
from hmu_demo.unlearning.registry import Method, register
from hmu_demo.unlearning.report import EditReport, layer_changes

__all__ = ["DEFAULT_ALPHA", "DEFAULT_NEAREST_K", "VARIANTS", "lcr_edit"]

# LCR-nearest keeps retain top-1 at every k tried (0.95) but erases less: 39 % violent at k=32, 23 % at
# k=64, 32 % at k=128 (the nearest safe code often decodes to a similar movement).
DEFAULT_NEAREST_K = 64
DEFAULT_ALPHA = 1.0
VARIANTS: tuple[str, ...] = ("official", "orth", "nearest")
Variant = Literal["official", "orth", "nearest"]


@torch.no_grad()
def lcr_edit(bundle, concept: np.ndarray | Concept | str | Lexicon | Sequence[str], *,
             index: CodeIndex | str | os.PathLike | None = None, k: int = DEFAULT_K,
             alpha: float = DEFAULT_ALPHA, variant: Variant = "official", seed: int = 0,
             match: str = "word", min_occurrence: int = 1, codes: Iterable[int] | None = None,
             target: int = 0) -> Edit:
    """The edit of ``bundle``'s layer-0 codebook (``bundle`` is not modified).

    Selection as :func:`flag_codes`; replacement by ``variant`` (module docstring). The report's
    ``flagged`` lists every code with its scores, counts and replacement; ``details`` has σ, the
    target code and the split sizes.
    """
    start = time.perf_counter()
    if variant not in VARIANTS:
        raise ValueError(f"unknown LCR variant {variant!r} (expected one of {', '.join(VARIANTS)})")
    alpha = float(alpha)
    if not np.isfinite(alpha):
        raise ValueError(f"alpha must be finite, got {alpha!r}")
    layer = 0
    _, _, stats, flagged = flag_codes(bundle, concept, index=index, k=k, match=match,
                                      min_occurrence=min_occurrence, codes=codes)
    live = bundle.vq.codebook(layer)
    original = live.detach().to(torch.float64)
    sigma = float(original.std()) if original.numel() > 1 else 0.0
    gen = torch.Generator().manual_seed(int(seed))
    nb_code, dim = original.shape
    new_rows = original.clone()
    sources: dict[int, int | None] = {}
    descriptions: dict[int, str] = {}
    flagged_set = set(flagged)
    safe = [c for c in range(nb_code) if c not in flagged_set]
    tgt: int | None = None

    if flagged:
        if variant in ("official", "nearest") and not safe:
            raise ValueError("every code is flagged: nothing safe to replace them with")
        noise = torch.randn(len(flagged), dim, generator=gen, dtype=torch.float64)
        if variant == "official":
            tgt = int(target)
            if not 0 <= tgt < nb_code:
                raise ValueError(f"target code {tgt} outside 0..{nb_code - 1}")
            if tgt in flagged_set:
                tgt = safe[int(torch.randint(len(safe), (1,), generator=gen))]
            for i, c in enumerate(flagged):
                new_rows[c] = original[tgt] + alpha * sigma * noise[i]
                sources[c] = tgt
                descriptions[c] = f"code {tgt} + {alpha:g}·σ·noise"
        elif variant == "orth":
            mean = original[flagged].mean(0)
            d = mean / mean.norm().clamp_min(1e-12)
            for c in flagged:
                new_rows[c] = original[c] - alpha * (original[c] @ d) * d
                sources[c] = None
                descriptions[c] = f"own row minus {alpha:g}× its component along the flagged mean"
        else:
            used = [c for c in safe if stats.n_retain[c] > 0]
            pool = torch.tensor(used or safe, dtype=torch.long)
            dist = torch.cdist(original[flagged], original[pool])  # (|C|, |pool|)
            nearest = pool[dist.argmin(1)]  # argmin returns the first minimum: lowest id among ties
            for i, c in enumerate(flagged):
                s = int(nearest[i])
                new_rows[c] = original[s] + alpha * sigma * noise[i]
                sources[c] = s
                descriptions[c] = f"nearest safe code {s}" + (f" + {alpha:g}·σ·noise" if alpha else "")

    # the untouched rows are copied back bit-exactly (original values, via float64, in the original dtype)
    book = live.detach().clone()
    if flagged:
        rows = torch.tensor(flagged, dtype=torch.long)
        book[rows] = new_rows[rows].to(book.dtype).to(book.device)
    report = EditReport(
        method={"official": "lcr", "orth": "lcr-orth", "nearest": "lcr-nearest"}[variant], concept=concept_name(concept),
        hyperparameters={"k": int(k), "alpha": alpha, "variant": variant, "seed": int(seed), "match": match,
                         "min_occurrence": int(min_occurrence)},
        layers=layer_changes({f"vq.codebook{layer}": original}, {f"vq.codebook{layer}": new_rows}),
        flagged=flagged_entries(stats, flagged, descriptions, sources),
        details={"layer": layer, "sigma": sigma, "target": tgt, "motions_forget": stats.motions_forget,
                 "motions_retain": stats.motions_retain})
    report.seconds = time.perf_counter() - start
    return Edit(report, {state_name(bundle, live): book})


def _runner(variant: Variant):
    def run(bundle, concept: Concept, *, text_encoder=None, index: CodeIndex | None = None, **hp) -> Edit:
        return lcr_edit(bundle, concept, index=index, variant=variant, **hp)
    return run


_CODEBOOK = dict(needs_index=True, edits_codebook=True, inspector_views=("codebook", "timeline"))
register(Method("lcr", "flagged base-layer codes replaced by code 0 plus alpha*sigma noise (official LCR)",
                _runner("official"), {"k": DEFAULT_K, "alpha": DEFAULT_ALPHA, "seed": 0}, order=30, **_CODEBOOK))
register(Method("lcr-orth", "flagged codes lose their component along the flagged codes' mean (official orth)",
                _runner("orth"), {"k": DEFAULT_K, "alpha": DEFAULT_ALPHA}, order=40, **_CODEBOOK))
register(Method("lcr-nearest", "each flagged code replaced by the nearest code that retain motions use",
                _runner("nearest"), {"k": DEFAULT_NEAREST_K, "alpha": 0.0, "seed": 0}, order=50, **_CODEBOOK))
