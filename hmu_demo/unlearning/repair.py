"""Segment repair: find the concept in the generated tokens and re-sample only that segment without it.

Text-side methods and gates decide from the prompt, so a new phrasing, a misspelling or an
adversarial condition walks past them; and whole-prompt suppression takes the benign half of "waves,
then punches" with it. Segment repair reads what the model actually generated instead:

1. The model generates as the original does (same logits, same noise).
2. Every base-layer code gets a *concept score* from the code index, never from labels: the share of
   its tokens that lie in forget motions of the concept's split (:func:`code_concept_scores`, smoothed
   towards the split's base rate). A window of ``window`` tokens whose mean score exceeds
   ``threshold`` marks a segment (widened by ``margin`` tokens each side).
3. Only the marked tokens are re-sampled, the rest kept as context (MoMask's masked inpainting, BAMM's
   refinement pass with the other tokens given), with the flagged codes forbidden (LCR's top-``k``
   selection plus every code scoring above ``threshold``) and, with ``condition="null"``, the
   unconditional input: the prompt asked for the concept there, so its condition is not asked again.
4. Steps 2-3 repeat up to ``rounds`` times; the residual layers are generated from the final base
   tokens as usual.

A motion with no marked segment is bit-identical to the original model's. Optionally a concept gate
(LCR-gated's, :class:`~hmu_demo.unlearning.gate.ConceptGate`) reads the prompt too: for prompts whose text it
finds about the concept, segments are marked from the lower ``text_threshold`` (the text and the tokens
agree, so weaker token evidence suffices), and with ``gate=True`` the flagged codes are also forbidden for
the whole motion.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.flagging import concept_name, flag_codes, flagged_entries, resolve_lexicon
from hmu_demo.unlearning.gate import DEFAULT_NEIGHBOURS, DEFAULT_THRESHOLD, ConceptGate
from hmu_demo.unlearning.index_text import index_motion_text
from hmu_demo.unlearning.registry import Method, register
from hmu_demo.unlearning.report import EditReport

__all__ = ["CONDITIONS", "SegmentRepair", "code_concept_scores", "segment_repair_edit"]

CONDITIONS = ("null", "prompt")
# From the red-team val sweep (MoMask, 73 prompts x 2 seeds): threshold 0.4 / window 3 / k 64 left 22 % of
# violent prompts' generations violent, 0.3 / 2 / 128 10 % (BAMM 11 %, LCR-gated 14 % and 18 %); the
# unconditional repair condition beat the prompt's own (20 %); the text gate on top did not help (9 %,
# traps kept 0.58 against 0.71); more rounds, margins or codes changed nothing.
DEFAULT_REPAIR_K = 128
DEFAULT_WINDOW = 2
DEFAULT_REPAIR_THRESHOLD = 0.3
DEFAULT_MARGIN = 1
DEFAULT_ROUNDS = 2
# Then the text check on top (same val split, both backbones): text_threshold 0.12 left 2 % / 3 % (MoMask /
# BAMM) violent but kept BAMM's trap actions only 0.69 of the time (where the original made no strike);
# 0.13: 6 % / 4 %, traps kept 0.93 / 0.85; 0.15: 6 % / 7 %, 0.93 / 0.85; off: 10 % / 11 %.
DEFAULT_TEXT_THRESHOLD = 0.13


def code_concept_scores(index: CodeIndex, forget: np.ndarray, nb_code: int) -> np.ndarray:
    """Per code, the share of its tokens in forget motions, (f + p) / (n + 1) with p the overall forget
    share of tokens (an unused code scores p, the prior, not 0 or 1)."""
    forget_tokens, all_tokens = np.zeros(nb_code), np.zeros(nb_code)
    for motion, is_forget in zip(index.motions, np.asarray(forget, dtype=bool)):
        codes, counts = np.asarray(motion.codes, dtype=np.int64), np.asarray(motion.counts, dtype=np.float64)
        np.add.at(all_tokens, codes, counts)
        if is_forget:
            np.add.at(forget_tokens, codes, counts)
    prior = forget_tokens.sum() / max(all_tokens.sum(), 1.0)
    return ((forget_tokens + prior) / (all_tokens + 1.0)).astype(np.float32)


class SegmentRepair(nn.Module):
    """A sampling constraint that repairs generated base tokens (see the module docstring).

    Buffers: ``scores`` (nb_code,) float, each code's concept score; ``forbidden`` (nb_code,) bool,
    the codes a repaired segment never takes. ``gate``: an optional :class:`ConceptGate` for the
    whole-motion text check (None: no pre-masking).
    """

    def __init__(self, concept: str, scores: Tensor, forbidden: Tensor, window: int = DEFAULT_WINDOW,
                 threshold: float = DEFAULT_REPAIR_THRESHOLD, margin: int = DEFAULT_MARGIN,
                 rounds: int = DEFAULT_ROUNDS, condition: str = "null", gate: ConceptGate | None = None,
                 premask: bool = False, text_threshold: float = 0.0) -> None:
        super().__init__()
        for name, value, low in (("window", window, 1), ("margin", margin, 0), ("rounds", rounds, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")
        if not 0.0 < float(threshold) < 1.0:
            raise ValueError(f"threshold must lie in (0, 1), got {threshold}")
        if not 0.0 <= float(text_threshold) < 1.0:
            raise ValueError(f"text_threshold must lie in [0, 1) (0: off), got {text_threshold}")
        if gate is None and (premask or text_threshold):
            raise ValueError("premask and text_threshold need the concept gate")
        if condition not in CONDITIONS:
            raise ValueError(f"condition must be one of {', '.join(CONDITIONS)}, got {condition!r}")
        scores = torch.as_tensor(scores, dtype=torch.float32)
        forbidden = torch.as_tensor(forbidden, dtype=torch.bool)
        if scores.ndim != 1 or forbidden.shape != scores.shape or bool(forbidden.all()):
            raise ValueError("scores and forbidden must be 1-d over the codebook, leaving at least one code allowed")
        self.concept = str(concept)
        self.window, self.threshold, self.margin, self.rounds = window, float(threshold), margin, rounds
        self.condition = condition
        self.premask, self.text_threshold = bool(premask), float(text_threshold)
        self.register_buffer("scores", scores)
        self.register_buffer("forbidden", forbidden)
        self.gate = gate

    def config(self) -> dict:
        """JSON-serialisable settings (the buffers are saved as tensors)."""
        return {"concept": self.concept, "window": self.window, "threshold": self.threshold, "margin": self.margin,
                "rounds": self.rounds, "condition": self.condition, "premask": self.premask,
                "text_threshold": self.text_threshold, "gate": None if self.gate is None else self.gate.config()}

    def forbidden_rows(self, prompts: Sequence[str], cond: Tensor) -> Tensor | None:
        """With ``premask``, the gate's whole-motion mask for prompts whose text is about the concept; else None."""
        return self.gate.forbidden_rows(prompts, cond) if self.premask else None

    def thresholds(self, prompts: Sequence[str], cond: Tensor) -> Tensor:
        """(B,) the threshold each prompt's segments are marked from: ``text_threshold`` where the gate finds
        the text about the concept (when set), else ``threshold``."""
        out = torch.full((len(prompts),), self.threshold, device=self.scores.device)
        if self.text_threshold and self.gate is not None:
            about = torch.tensor([d.about for d in self.gate.decide(prompts, cond)], device=out.device)
            out[about] = min(self.text_threshold, self.threshold)
        return out

    @torch.no_grad()
    def segments(self, ids: Tensor, lens: Tensor, thresholds: Tensor | None = None) -> Tensor:
        """(B, N) bool: the base-layer positions to re-sample (False past each length); ``thresholds`` (B,)
        per row, default :attr:`threshold`."""
        ids = ids.to(self.scores.device)
        n = ids.shape[1]
        valid = torch.arange(n, device=ids.device)[None] < lens.to(ids.device)[:, None]
        score = torch.where(valid, self.scores[ids.clamp(min=0)], 0.0)
        w = min(self.window, n)
        kernel = torch.ones(1, 1, w, device=ids.device)
        sums = torch.nn.functional.conv1d(score[:, None], kernel)[:, 0]            # (B, n - w + 1)
        limit = (torch.full((ids.shape[0],), self.threshold, device=ids.device) if thresholds is None
                 else thresholds.to(ids.device, torch.float32))
        hot = sums > limit[:, None] * w   # windows over the threshold (scores past a length are 0, limits > 0)
        # a hot window marks its w positions; then widen by the margin
        marked = torch.nn.functional.conv1d(hot.float()[:, None], kernel, padding=w - 1)[:, 0] > 0
        if self.margin:
            spread = torch.ones(1, 1, 2 * self.margin + 1, device=ids.device)
            marked = torch.nn.functional.conv1d(marked.float()[:, None], spread, padding=self.margin)[:, 0] > 0
        return marked[:, :n] & valid

    def repair_condition(self, cond: Tensor) -> Tensor:
        """The condition a repaired segment is sampled with."""
        return torch.zeros_like(cond) if self.condition == "null" else cond


@torch.no_grad()
def segment_repair_edit(bundle, concept: Concept | str | Sequence[str], encoder=None, *,
                        index: CodeIndex | str | os.PathLike | None = None, k: int = DEFAULT_REPAIR_K,
                        window: int = DEFAULT_WINDOW, threshold: float = DEFAULT_REPAIR_THRESHOLD,
                        margin: int = DEFAULT_MARGIN, rounds: int = DEFAULT_ROUNDS, condition: str = "null",
                        gate: bool = False, text_threshold: float = DEFAULT_TEXT_THRESHOLD,
                        neighbours: int = DEFAULT_NEIGHBOURS,
                        gate_threshold: float = DEFAULT_THRESHOLD, match: str = "word",
                        min_occurrence: int = 1) -> Edit:
    """An edit that changes no tensor and repairs the concept's segments of every generated motion."""
    start = time.perf_counter()
    idx, mask, stats, flagged = flag_codes(bundle, concept, index=index, k=k, match=match,
                                           min_occurrence=min_occurrence)
    scores = code_concept_scores(idx, mask, idx.nb_code)
    forbidden = torch.from_numpy(scores > threshold)
    forbidden[flagged] = True
    concept_gate = None
    if gate or text_threshold:
        if encoder is None:
            raise ValueError("segment repair with gate=True needs the bundle's text encoder")
        lexicon = resolve_lexicon(concept)
        concept_gate = ConceptGate(concept_name(concept), lexicon.keywords, forbidden, index_motion_text(idx, encoder),
                                   torch.from_numpy(mask), neighbours=neighbours, threshold=gate_threshold,
                                   match=match)
    repair = SegmentRepair(concept_name(concept), torch.from_numpy(scores), forbidden, window=window,
                           threshold=threshold, margin=margin, rounds=rounds, condition=condition, gate=concept_gate,
                           premask=gate, text_threshold=text_threshold)
    repair = repair.to(bundle.vq.codebook(0).device)
    codes = sorted(int(c) for c in np.flatnonzero(forbidden.numpy()))
    description = "marks a segment for re-sampling and is never sampled there"
    report = EditReport(
        method="segment-repair", concept=concept_name(concept),
        hyperparameters={"k": int(k), "window": int(window), "threshold": float(threshold), "margin": int(margin),
                         "rounds": int(rounds), "condition": condition, "gate": bool(gate),
                         "text_threshold": float(text_threshold), "match": match,
                         "min_occurrence": int(min_occurrence)},
        flagged=flagged_entries(stats, codes, {c: description for c in codes}, {}),
        details={"motions_forget": stats.motions_forget, "motions_retain": stats.motions_retain,
                 "codes_over_threshold": int((scores > threshold).sum()), "weights_changed": 0})
    report.seconds = time.perf_counter() - start
    return Edit(report, constraint=repair)


def _run(bundle, concept: Concept, *, text_encoder, index: CodeIndex | None = None, **hp) -> Edit:
    return segment_repair_edit(bundle, concept, text_encoder, index=index, **hp)


register(Method("segment-repair", "re-samples only the generated segment whose codes belong to the concept, "
                "with its codes forbidden (no weight changed)", _run,
                {"k": DEFAULT_REPAIR_K, "window": DEFAULT_WINDOW, "threshold": DEFAULT_REPAIR_THRESHOLD,
                 "margin": DEFAULT_MARGIN, "rounds": DEFAULT_ROUNDS, "condition": "null", "gate": False,
                 "text_threshold": DEFAULT_TEXT_THRESHOLD},
                needs_text_encoder=True, needs_index=True, constrains_sampling=True,
                inspector_views=("codebook", "timeline"), order=65))
