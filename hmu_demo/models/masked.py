"""MoMask base-layer masked transformer: text -> RVQ layer-0 codes by iterative masked decoding.

State-dict keys and shapes equal the official ``MaskTransformer`` (108 tensors for the official
config), so ``ckpt['t2m_transformer']`` loads strictly. The text condition is a precomputed
(B, clip_dim) float tensor; an all-zero row is the unconditional (CFG null) input.

Determinism of :meth:`MaskTransformer.generate`: with the same weights, inputs and a generator
seeded the same way, the output is identical. With one generator per sample, each sample's noise
is drawn only for its own length from its own generator, so its result does not depend on the other
samples in the batch up to floating-point rounding of the batched network (exact on CPU in our
tests). ``generator=None`` uses the global RNG.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from hmu_demo.models.layers import (OutputProcess, TokenTransformer, TransformerConfig, eval_mode, init_weights,
                                    token_loss)
from hmu_demo.models.official import MASK_KEYS, MASK_WEIGHTS
from hmu_demo.models.sampling import (GeneratorLike, cosine_schedule, forbid_codes, lengths_to_mask, rand_uniform,
                                      sample_top_k)

__all__ = ["MaskTransformer", "TransformerConfig"]


class MaskTransformer(TokenTransformer):
    """Bidirectional masked-token transformer predicting RVQ base-layer codes from text.

    Official checkpoints: ``<run>/model/latest.tar`` (or ``net_best_fid.tar``), entry ``t2m_transformer``.
    """

    CHECKPOINT_KEYS = MASK_KEYS
    WEIGHTS_FILES = MASK_WEIGHTS

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__(cfg)
        self.mask_id = cfg.num_tokens
        self.pad_id = cfg.num_tokens + 1
        self.cond_emb = nn.Linear(cfg.clip_dim, cfg.latent_dim)
        self.output_process = OutputProcess(cfg.num_tokens, cfg.latent_dim)
        self.token_emb = nn.Embedding(cfg.num_tokens + 2, cfg.code_dim)
        self.apply(init_weights)

    # ------------------------------------------------------------------ network
    def trans_forward(self, ids: Tensor, cond: Tensor, padding_mask: Tensor) -> Tensor:
        """Logits (B, num_tokens, N) for ids (B, N), cond (B, clip_dim) already dropped/zeroed.

        ``padding_mask`` (B, N) is True at pads; the condition token is never masked.
        """
        x = self.position_enc(self.input_process(self.token_emb(ids)))  # PE on motion tokens only
        c = self.cond_emb(cond).unsqueeze(0)
        xseq = torch.cat([c, x], dim=0)
        key_pad = torch.cat([torch.zeros_like(padding_mask[:, :1]), padding_mask], dim=1)
        out = self.seqTransEncoder(xseq, src_key_padding_mask=key_pad)[1:]
        return self.output_process(out)

    def forward_with_cond_scale(self, ids: Tensor, cond: Tensor, padding_mask: Tensor,
                                cond_scale: float) -> Tensor:
        """CFG logits uncond + s * (cond - uncond); both passes in one batched forward."""
        if cond_scale == 1:
            return self.trans_forward(ids, cond, padding_mask)
        b = ids.shape[0]
        both = self.trans_forward(torch.cat([ids, ids]), torch.cat([cond, torch.zeros_like(cond)]),
                                  torch.cat([padding_mask, padding_mask]))
        logits, aux = both[:b], both[b:]
        return aux + (logits - aux) * cond_scale

    # ------------------------------------------------------------------ training
    def forward(self, ids: Tensor, cond: Tensor, lengths_tokens: Tensor | Sequence[int],
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Masked-token training loss; returns (cross-entropy, accuracy on masked tokens).

        ids (B, N) base-layer codes (anything past each length is ignored), cond (B, clip_dim).
        The cosine mask ratio uses the padded length N, masks only non-pad positions, and corrupts
        masked inputs BERT-style (10% random code, 88% of the rest [MASK], else unchanged).
        """
        bs, n = ids.shape
        device = ids.device
        cond, lens = self.prepare(cond, lengths_tokens, generator, bs)
        non_pad = lengths_to_mask(lens, n)
        ids = torch.where(non_pad, ids.long(), self.pad_id)

        rand_time = rand_uniform((bs,), generator, device)
        num_masked = (n * cosine_schedule(rand_time)).round().clamp(min=1)
        randperm = rand_uniform((bs, n), generator, device).argsort(dim=-1)
        mask = (randperm < num_masked.unsqueeze(-1)) & non_pad
        labels = torch.where(mask, ids, self.mask_id)

        x_ids = ids.clone()
        mask_rid = _subset(mask, 0.1, generator)
        rand_id = (rand_uniform((bs, n), generator, device) * self.num_tokens).long().clamp(max=self.num_tokens - 1)
        x_ids = torch.where(mask_rid, rand_id, x_ids)
        mask_mid = _subset(mask & ~mask_rid, 0.88, generator)
        x_ids = torch.where(mask_mid, self.mask_id, x_ids)

        return token_loss(self.trans_forward(x_ids, cond, ~non_pad), labels, self.mask_id)

    # ---------------------------------------------------------------- generation
    @torch.no_grad()
    @eval_mode
    def generate(self, cond: Tensor, lengths_tokens: Tensor | Sequence[int], timesteps: int = 10,
                 cond_scale: float = 4.0, temperature: float = 1.0, topk_filter_thres: float = 0.9,
                 generator: GeneratorLike = None, forbidden: Tensor | None = None) -> Tensor:
        """Iterative masked decoding -> ids (B, max length), -1 at pads.

        ``forbidden`` (B, n) bool: code ids a sample may never take (LCR-gated), None for none.

        Per-sample cosine schedule k_i = max(1, round(cos(pi tau / 2) len_i)); only tokens predicted in
        the previous step can be re-masked; top-k filter (52 of 512) before sampling; the confidence
        score is the probability of the sampled token under the unfiltered, untempered CFG softmax.
        """
        if timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {timesteps}")
        cond, lens = self.prepare(cond, lengths_tokens, generator)
        seq_len = int(lens.max())
        padding_mask = ~lengths_to_mask(lens, seq_len)
        ids = torch.where(padding_mask, self.pad_id, self.mask_id)
        scores = torch.where(padding_mask, 1e5, 0.0)
        ids = self._decode(ids, scores, lens, lens, cond, padding_mask, timesteps, cond_scale, temperature,
                           topk_filter_thres, generator, forbidden)
        return torch.where(padding_mask, -1, ids)

    @torch.no_grad()
    @eval_mode
    def inpaint(self, ids: Tensor, editable: Tensor, cond: Tensor, lengths_tokens: Tensor | Sequence[int],
                timesteps: int = 10, cond_scale: float = 4.0, temperature: float = 1.0,
                topk_filter_thres: float = 0.9, generator: GeneratorLike = None,
                forbidden: Tensor | None = None) -> Tensor:
        """Re-sample only the ``editable`` (B, N) positions of ``ids`` (B, N), the others fixed as context:
        the same iterative decoding as :meth:`generate`, its cosine schedule over each sample's editable
        count (MoMask's temporal inpainting). Returns ids (B, N), -1 at pads; a row with nothing
        editable comes back unchanged."""
        if timesteps < 1:
            raise ValueError(f"timesteps must be >= 1, got {timesteps}")
        cond, lens = self.prepare(cond, lengths_tokens, generator)
        n = ids.shape[1]
        padding_mask = ~lengths_to_mask(lens, n)
        editable = editable.to(padding_mask.device) & ~padding_mask
        counts = editable.sum(dim=1)
        fixed = torch.where(padding_mask, self.pad_id, ids.long().clamp(min=0))
        if not bool(counts.any()):
            return torch.where(padding_mask, -1, fixed)
        start = torch.where(editable, self.mask_id, fixed)
        scores = torch.where(editable, 0.0, 1e5)
        out = self._decode(start, scores, counts, lens, cond, padding_mask, timesteps, cond_scale, temperature,
                           topk_filter_thres, generator, forbidden)
        out = torch.where(counts.unsqueeze(1) > 0, out, fixed)
        return torch.where(padding_mask, -1, out)

    def _decode(self, ids: Tensor, scores: Tensor, counts: Tensor, lens: Tensor, cond: Tensor, padding_mask: Tensor,
                timesteps: int, cond_scale: float, temperature: float, topk_filter_thres: float,
                generator: GeneratorLike, forbidden: Tensor | None) -> Tensor:
        """The decoding loop: at each step re-mask the ``round(cos(pi tau / 2) counts)`` lowest-scored
        positions (fixed ones score 1e5, so they are never re-masked), predict them, rescore."""
        device = ids.device
        for tau in torch.linspace(0, 1, timesteps):
            num_masked = torch.round(cosine_schedule(tau.to(device)) * counts).clamp(min=1)
            ranks = scores.argsort(dim=1, stable=True).argsort(dim=1, stable=True)
            is_mask = (ranks < num_masked.unsqueeze(-1)) & (scores < 1e5)
            ids = torch.where(is_mask, self.mask_id, ids)
            logits = self.forward_with_cond_scale(ids, cond, padding_mask, cond_scale).permute(0, 2, 1)
            logits = forbid_codes(logits, forbidden)
            pred = sample_top_k(logits, topk_filter_thres, temperature, lens, generator)
            ids = torch.where(is_mask, pred, ids)
            probs = logits.softmax(dim=-1)
            scores = probs.gather(2, pred.unsqueeze(-1)).squeeze(-1).masked_fill(~is_mask, 1e5)
        return ids


def _subset(mask: Tensor, prob: float, generator: torch.Generator | None) -> Tensor:
    """Each True of ``mask`` kept with probability ``prob`` (official ``get_mask_subset_prob``)."""
    return (rand_uniform(mask.shape, generator, mask.device) < prob) & mask
