"""LCR-gated: forbid the flagged codes in the base transformer's sampling, only for prompts about the concept.

SafeMo (arXiv 2601.00590) criticises codebook replacement for *benign drift*: benign motions
reuse the replaced codes and change too. LCR-gated edits no weight. It flags codes exactly as LCR
does (:func:`hmu_demo.unlearning.flagging.flag_codes`) and its edit carries a :class:`ConceptGate`
as its sampling constraint; the text-to-motion pipeline asks the gate, per prompt, whether the
prompt is about the concept, and only then masks the flagged codes out of the base transformer's
logits (MoMask's masked decoding and both BAMM passes) so they can never be sampled. A prompt the gate passes
generates exactly what the original model generates (same logits, same noise).

The text-side check is the union of two tests, both learnt from the code index, never from labels:

* **keyword**: the prompt contains a forget keyword (the lexicon's word matching, as the split);
* **neighbours**: among the ``neighbours`` training motions whose caption embedding is nearest to
  the prompt's (cosine; a motion's embedding is the normalised mean of its captions' embeddings),
  at least ``threshold`` are forget motions of the concept's split. This catches prompts that
  describe the concept without its words ("drives a fist upward into someone's chin").

The per-motion caption embeddings come from :mod:`hmu_demo.unlearning.index_text` (cached beside
the index, shipped with the embedded checkpoints).
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor, nn

from hmu_demo.data.lexicon import Lexicon
from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.flagging import concept_name, flag_codes, flagged_entries, resolve_lexicon
from hmu_demo.unlearning.index_text import index_motion_text
from hmu_demo.unlearning.registry import Method, register
from hmu_demo.unlearning.report import EditReport

__all__ = [
    "DEFAULT_GATED_K",
    "DEFAULT_NEIGHBOURS",
    "DEFAULT_THRESHOLD",
    "ConceptGate",
    "GateDecision",
    "lcr_gated_edit",
]

# From the val-split sweep (benchmarks/unlearn_sweep.py, MoMask): masking needs more codes than
# replacement, because the transformer routes around a forbidden code to a similar one: violent share of
# forget generations 30 % at k=32, 13 % at k=64, 9 % at k=96, 7 % at k=128, retain top-1 unchanged
# (0.95) throughout since no retain prompt was gated. Threshold 0.1 (one violent neighbour in ten) gates
# 84 % of keyword-free violent captions against 74 % at 0.2, still gating no retain caption.
DEFAULT_GATED_K = 128
DEFAULT_NEIGHBOURS = 10
DEFAULT_THRESHOLD = 0.1


@dataclass(frozen=True)
class GateDecision:
    """Why the gate did or did not mask a prompt (shown in the UI and the evaluation)."""

    about: bool
    keyword: bool
    neighbour_share: float


class ConceptGate(nn.Module):
    """Per-prompt logits mask: the flagged codes, applied when a prompt is about the concept.

    Buffers: ``forbidden`` (nb_code,) bool; ``motion_text`` (N, d) normalised per-motion caption
    embeddings of the code index; ``motion_forget`` (N,) bool, the concept's split of those motions.
    """

    def __init__(self, concept: str, keywords: Sequence[str], forbidden: Tensor, motion_text: Tensor,
                 motion_forget: Tensor, neighbours: int = DEFAULT_NEIGHBOURS, threshold: float = DEFAULT_THRESHOLD,
                 match: str = "word") -> None:
        super().__init__()
        if isinstance(neighbours, bool) or not isinstance(neighbours, int) or neighbours < 1:
            raise ValueError(f"neighbours must be an integer >= 1, got {neighbours!r}")
        threshold = float(threshold)
        if not 0.0 <= threshold <= 1.0:
            raise ValueError(f"threshold must lie in [0, 1], got {threshold}")
        forbidden = torch.as_tensor(forbidden, dtype=torch.bool)
        if forbidden.ndim != 1 or bool(forbidden.all()):
            raise ValueError("forbidden must be a 1-d mask that leaves at least one code allowed")
        motion_text = torch.as_tensor(motion_text, dtype=torch.float16)  # halves the saved edit; cast on use
        motion_forget = torch.as_tensor(motion_forget, dtype=torch.bool)
        if motion_text.ndim != 2 or motion_forget.shape != (motion_text.shape[0],):
            raise ValueError(f"motion_text (N, d) and motion_forget (N,) disagree: {tuple(motion_text.shape)} vs "
                             f"{tuple(motion_forget.shape)}")
        self.concept = str(concept)
        self.keywords = tuple(str(k) for k in keywords)
        self.lexicon = Lexicon(self.concept, self.keywords)
        self.match = match
        self.neighbours = neighbours
        self.threshold = threshold
        self.register_buffer("forbidden", forbidden)
        self.register_buffer("motion_text", motion_text)
        self.register_buffer("motion_forget", motion_forget)

    def config(self) -> dict:
        """JSON-serialisable settings (the buffers are saved as tensors)."""
        return {"concept": self.concept, "keywords": list(self.keywords), "neighbours": self.neighbours,
                "threshold": self.threshold, "match": self.match}

    @torch.no_grad()
    def decide(self, prompts: Sequence[str], cond: Tensor) -> list[GateDecision]:
        """One decision per prompt; ``cond`` (B, d) are the prompts' text embeddings."""
        cond = torch.as_tensor(cond).detach().to(device=self.motion_text.device, dtype=torch.float32)
        if cond.ndim != 2 or cond.shape[0] != len(prompts) or cond.shape[1] != self.motion_text.shape[1]:
            raise ValueError(f"cond must have shape ({len(prompts)}, {self.motion_text.shape[1]}), "
                             f"got {tuple(cond.shape)}")
        n = self.motion_text.shape[0]
        if n:
            sims = torch.nn.functional.normalize(cond, dim=1) @ self.motion_text.float().T  # (B, N)
            top = sims.topk(min(self.neighbours, n), dim=1).indices
            shares = self.motion_forget[top].float().mean(1).cpu().tolist()
        else:
            shares = [0.0] * len(prompts)
        out = []
        for prompt, share in zip(prompts, shares):
            keyword = self.lexicon.matches_prompt(prompt, self.match)
            out.append(GateDecision(keyword or share >= self.threshold, keyword, float(share)))
        return out

    def forbidden_rows(self, prompts: Sequence[str], cond: Tensor) -> Tensor | None:
        """(B, nb_code) bool logits mask (True = never sample), or None when no prompt is about the concept."""
        about = [d.about for d in self.decide(prompts, cond)]
        if not any(about):
            return None
        rows = torch.zeros(len(prompts), self.forbidden.shape[0], dtype=torch.bool, device=self.forbidden.device)
        rows[torch.tensor(about, device=rows.device)] = self.forbidden
        return rows


# ----------------------------------------------------------------------------- the edit


@torch.no_grad()
def lcr_gated_edit(bundle, concept: Concept | str | Lexicon | Sequence[str], encoder, *,
                   index: CodeIndex | str | os.PathLike | None = None, k: int = DEFAULT_GATED_K,
                   neighbours: int = DEFAULT_NEIGHBOURS, threshold: float = DEFAULT_THRESHOLD,
                   match: str = "word", min_occurrence: int = 1) -> Edit:
    """An edit that changes no tensor and constrains sampling with a :class:`ConceptGate`.

    Codes are flagged exactly as LCR flags them (same ``k``); ``encoder`` is the bundle's text
    encoder, used only when the index's caption embeddings are not cached yet.
    """
    start = time.perf_counter()
    if hasattr(bundle, "check_text_encoder"):
        bundle.check_text_encoder(encoder)
    idx, mask, stats, flagged = flag_codes(bundle, concept, index=index, k=k,
                                           match=match, min_occurrence=min_occurrence)
    lexicon = resolve_lexicon(concept) if not isinstance(concept, np.ndarray) else None
    if lexicon is None:
        raise ValueError("LCR-gated needs a concept with keywords for its text check, not a bare mask")
    motion_text = index_motion_text(idx, encoder)
    forbidden = torch.zeros(idx.nb_code, dtype=torch.bool)
    forbidden[flagged] = True
    gate = ConceptGate(concept_name(concept), lexicon.keywords, forbidden, motion_text, torch.from_numpy(mask),
                       neighbours=neighbours, threshold=threshold, match=match)
    gate = gate.to(bundle.vq.codebook(0).device)
    description = "never sampled by the base transformer when the prompt is about the concept"
    report = EditReport(
        method="lcr-gated", concept=concept_name(concept),
        hyperparameters={"k": int(k), "neighbours": int(neighbours), "threshold": float(threshold), "match": match,
                         "min_occurrence": int(min_occurrence)},
        flagged=flagged_entries(stats, flagged, {c: description for c in flagged}, {}),
        details={"motions_forget": stats.motions_forget, "motions_retain": stats.motions_retain,
                 "weights_changed": 0})
    report.seconds = time.perf_counter() - start
    return Edit(report, constraint=gate)


def _run(bundle, concept: Concept, *, text_encoder, index: CodeIndex | None = None, **hp) -> Edit:
    return lcr_gated_edit(bundle, concept, text_encoder, index=index, **hp)


register(Method("lcr-gated", "flagged codes never sampled, only for prompts about the concept (no weight changed)",
                _run, {"k": DEFAULT_GATED_K, "neighbours": DEFAULT_NEIGHBOURS, "threshold": DEFAULT_THRESHOLD},
                needs_text_encoder=True, needs_index=True, constrains_sampling=True,
                inspector_views=("codebook", "timeline"), order=60))
