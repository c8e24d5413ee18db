"""Token tables: every caption crop of a split encoded once by the trained (frozen) RVQ-VAE.

The official trainers encode each batch on the fly; with a frozen tokeniser that is the same
computation repeated every epoch, so we encode once. Each crop is encoded at the ``downsample``
possible start offsets (0..3 frames) — the random crop the official loaders apply — which gives
the transformers 4 token views of every motion. Everything lives in a few tensors so that a batch
is a handful of indexing operations, on the GPU as on the CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hmu_demo.models.rvq import RVQVAE
from hmu_demo.train.data import CaptionEmbeddings, MotionSplit

__all__ = ["TokenTable", "encode_split"]


@dataclass
class TokenTable:
    """``ids`` (V, N, Q) long (-1 past each length), ``lengths`` (V,), ``variants`` (C, K) variant rows of
    each crop (repeated where a crop has fewer than K), ``caption_rows`` flat embedding rows with
    ``caption_start``/``caption_count`` per crop, ``violent`` (flat, per caption)."""

    ids: torch.Tensor
    lengths: torch.Tensor
    variants: torch.Tensor
    caption_rows: torch.Tensor
    caption_start: torch.Tensor
    caption_count: torch.Tensor
    violent: torch.Tensor

    @property
    def n_crops(self) -> int:
        return int(self.variants.shape[0])

    def to(self, device: torch.device | str) -> "TokenTable":
        return TokenTable(*(getattr(self, f).to(device) for f in self.__dataclass_fields__))

    def state(self) -> dict[str, torch.Tensor]:
        return {f: getattr(self, f) for f in self.__dataclass_fields__}

    @classmethod
    def from_state(cls, state: dict[str, torch.Tensor]) -> "TokenTable":
        return cls(**{f: state[f] for f in cls.__dataclass_fields__})

    def sample(self, batch_size: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Random crops, views and captions -> (ids (B, N_b, Q) trimmed to the longest, lengths (B,), rows (B,))."""
        device = self.ids.device
        crop = torch.randint(0, self.n_crops, (batch_size,), generator=generator).to(device)
        k = torch.randint(0, self.variants.shape[1], (batch_size,), generator=generator).to(device)
        view = self.variants[crop, k]
        u = torch.rand(batch_size, generator=generator).to(device)
        pick = (u * self.caption_count[crop]).long()
        pick = torch.minimum(pick, self.caption_count[crop] - 1)
        rows = self.caption_rows[self.caption_start[crop] + pick]
        lengths = self.lengths[view]
        n = int(lengths.max())
        return self.ids[view, :n], lengths, rows

    def batches(self, batch_size: int):
        """Every (crop, first view, every caption) once, in order: the deterministic validation set."""
        crop_of = torch.repeat_interleave(torch.arange(self.n_crops, device=self.ids.device), self.caption_count)
        flat = torch.arange(self.caption_rows.shape[0], device=self.ids.device)
        for s in range(0, flat.shape[0], batch_size):
            idx = flat[s:s + batch_size]
            view = self.variants[crop_of[idx], 0]
            lengths = self.lengths[view]
            yield self.ids[view, : int(lengths.max())], lengths, self.caption_rows[idx]


@torch.no_grad()
def encode_split(vq: RVQVAE, split: MotionSplit, embeddings: CaptionEmbeddings, max_tokens: int = 49,
                 batch_size: int = 256) -> TokenTable:
    """Encode every crop of ``split`` at each start offset; crops longer than ``max_tokens`` tokens are cut."""
    device = next(vq.parameters()).device
    vq.eval()
    down = vq.cfg.downsample
    views: list[tuple[int, int, int]] = []  # (crop, first frame, tokens)
    per_crop: list[list[int]] = []
    for c, crop in enumerate(split.crops):
        rows = []
        for offset in range(down):
            n_tok = min((crop.n_frames - offset) // down, max_tokens)
            if n_tok >= 1 and (offset == 0 or n_tok >= 2):
                rows.append(len(views))
                views.append((c, crop.start + offset, n_tok))
        per_crop.append(rows)
    q = vq.num_quantizers
    ids = torch.full((len(views), max_tokens, q), -1, dtype=torch.long)
    by_len: dict[int, list[int]] = {}
    for v, (_, _, n_tok) in enumerate(views):
        by_len.setdefault(n_tok, []).append(v)
    for n_tok, members in by_len.items():
        for s in range(0, len(members), batch_size):
            rows = members[s:s + batch_size]
            x = np.stack([split.features[split.crops[views[v][0]].motion][views[v][1]:views[v][1] + n_tok * down]
                          for v in rows])
            codes, _ = vq.encode(torch.from_numpy(x).to(device))
            ids[rows, :n_tok] = codes.cpu()
    width = max(len(r) for r in per_crop)
    variants = torch.tensor([[r[i % len(r)] for i in range(width)] for r in per_crop], dtype=torch.long)
    texts = [t for crop in split.crops for t in crop.captions]
    counts = torch.tensor([len(crop.captions) for crop in split.crops], dtype=torch.long)
    violent = torch.tensor([v for crop in split.crops for v in (crop.violent or (False,) * len(crop.captions))])
    return TokenTable(
        ids=ids, lengths=torch.tensor([v[2] for v in views], dtype=torch.long), variants=variants,
        caption_rows=torch.from_numpy(embeddings.rows(texts)), caption_start=torch.cumsum(counts, 0) - counts,
        caption_count=counts, violent=violent)
