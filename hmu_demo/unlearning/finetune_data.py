"""The forget and retain sets a fine-tuning method trains on: base-layer tokens of training motions and
the text condition of their captions.

Which motions are forget is the code index's concept split (the same keyword rule LCR and the gate use,
never ground-truth labels), so every method of the registry forgets the same motions. The index holds
each motion's codes but not their order, so the motions themselves are read from the corpus they were
indexed from (a HumanML3D-layout folder; the embedded SynthMotion corpus by default) and encoded with
the bundle's own RVQ-VAE. The condition of a motion is the normalised mean embedding of its captions
(:func:`~hmu_demo.unlearning.index_text.index_motion_text`, cached beside the index), so no caption is
encoded at edit time.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.locate import resolve_data
from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.flagging import concept_split
from hmu_demo.unlearning.index_text import index_motion_text

__all__ = ["MAX_SET_MOTIONS", "TokenSet", "forget_retain_sets", "spread_rows"]

MAX_SET_MOTIONS = 4096


@dataclass(frozen=True)
class TokenSet:
    """Motions as base-layer token rows: ``ids`` (N, L) long (zero past each length), ``lengths`` (N,)
    in tokens, ``cond`` (N, d) text conditions, ``motion_ids`` for the report."""

    ids: Tensor
    lengths: Tensor
    cond: Tensor
    motion_ids: tuple[str, ...]

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    def batch(self, rows: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(ids, lengths, cond) of ``rows``, the ids cut to the longest length among them."""
        lengths = self.lengths[rows]
        return self.ids[rows, : int(lengths.max())], lengths, self.cond[rows]

    def to(self, device: torch.device) -> "TokenSet":
        return TokenSet(self.ids.to(device), self.lengths.to(device), self.cond.to(device), self.motion_ids)


def spread_rows(mask: np.ndarray, count: object, forget: bool, what: str) -> list[int]:
    """Up to ``count`` rows where ``mask == forget``, evenly spread over the index (no randomness: an
    edit is a function of its hyperparameters)."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_SET_MOTIONS:
        raise ValueError(f"{what} must be an integer in 0..{MAX_SET_MOTIONS}, got {count!r}")
    rows = np.flatnonzero(mask == forget)
    if rows.size == 0 or count == 0:
        return []
    picks = np.linspace(0, rows.size - 1, num=min(count, rows.size)).round().astype(int)
    return [int(rows[i]) for i in dict.fromkeys(picks.tolist())]


@torch.no_grad()
def _encode(bundle, dataset: MotionDataset, index: CodeIndex, rows: list[int], cond: Tensor, max_tokens: int
            ) -> TokenSet:
    """Encode the motions of ``rows`` (the first ``max_tokens`` tokens of each clip) with the bundle's VQ;
    a motion the corpus lacks, or whose captions differ from the index's, is skipped."""
    vq, normalizer = bundle.vq, bundle.normalizer
    device = next(vq.parameters()).device
    down = vq.cfg.downsample
    kept, token_rows = [], []
    was_training = vq.training
    vq.eval()
    try:
        for row in rows:
            motion = index.motions[row]
            if not dataset.has_motion(motion.id):
                continue
            if tuple(c.text for c in dataset.captions(motion.id)) != motion.captions:
                continue
            feats = dataset.features(motion.id)
            n = min(feats.shape[0] // down, max_tokens) * down
            if n < down:
                continue
            clip = torch.from_numpy(normalizer.normalize(feats[:n]).astype(np.float32)).to(device)
            tokens, _ = vq.encode(clip[None])
            kept.append(row)
            token_rows.append(tokens[0, :, 0].cpu())
    finally:
        vq.train(was_training)
    width = max((len(t) for t in token_rows), default=1)
    ids = torch.zeros(len(token_rows), width, dtype=torch.long)
    for i, t in enumerate(token_rows):
        ids[i, : len(t)] = t
    lengths = torch.tensor([len(t) for t in token_rows], dtype=torch.long)
    return TokenSet(ids, lengths, cond[kept].float(), tuple(index.motions[r].id for r in kept))


def forget_retain_sets(bundle, index: CodeIndex, concept: Concept, text_encoder, *, forget_motions: int,
                       retain_motions: int, data: str | os.PathLike | None = None,
                       max_tokens: int = 49) -> tuple[TokenSet, TokenSet]:
    """The forget and retain token sets of ``concept`` (``forget_motions`` / ``retain_motions`` motions of
    the index, evenly spread), read from the corpus ``data`` (None or "": the embedded corpus)."""
    mask = concept_split(index, concept)
    forget_rows = spread_rows(mask, forget_motions, True, "forget_motions")
    retain_rows = spread_rows(mask, retain_motions, False, "retain_motions")
    folder = resolve_data(Path(data) if data else None, progress=False)
    if not (Path(folder) / "texts").is_dir():
        raise ValueError(f"{folder} is not a HumanML3D-layout corpus (no texts/ folder); the fine-tuning methods "
                         "read the motions the code index was built from (set data=DIR)")
    dataset = MotionDataset(folder)
    cond = index_motion_text(index, text_encoder)
    forget = _encode(bundle, dataset, index, forget_rows, cond, max_tokens)
    retain = _encode(bundle, dataset, index, retain_rows, cond, max_tokens)
    for name, wanted, got in (("forget", forget_rows, forget), ("retain", retain_rows, retain)):
        if wanted and len(got) < len(wanted) / 2:
            raise ValueError(f"only {len(got)} of the {len(wanted)} {name} motions of the code index were found in "
                             f"{folder} with the same captions: it is not the corpus the index was built from "
                             "(set data=DIR to that corpus)")
    if len(forget) == 0:
        raise ValueError(f"no training motion's caption mentions {', '.join(concept.forget)}: nothing to forget")
    return forget, retain
