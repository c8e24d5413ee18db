"""MoMask residual transformer: predicts RVQ layers 1..Q-1 from the layers below.

Official ``share_weight=True`` tables: ``token_embed_weight_`` (1, V, D), ``embed_proj_shared_weight``
(Q-2, V, D), ``output_proj_weight_`` (1, V, D) with V = num_tokens + 1 (pad row/class included).
Embedding slot j (tokens of RVQ layer j, j = 0..Q-2) is ``[token_embed_weight_[0], shared...][j]``;
output slot q-1 (logits for layer q, q = 1..Q-1) is ``[shared..., output_proj_weight_[0]][q-1]``; so for
q = 1..Q-2 the output projection of layer q *is* the embedding of layer q's tokens (same storage).

Determinism of :meth:`ResidualTransformer.generate`: as the masked transformer (same seed and batch
-> same output; one generator per sample -> per-sample noise drawn over its own length only).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmu_demo.models.layers import (OutputProcess, TokenTransformer, TransformerConfig, eval_mode, init_weights,
                                    token_loss)
from hmu_demo.models.official import RES_KEYS, RES_WEIGHTS
from hmu_demo.models.sampling import (GeneratorLike, as_lengths, cosine_schedule, lengths_to_mask, rand_uniform,
                                      sample_top_k)

__all__ = ["ResidualTransformer"]


class ResidualTransformer(TokenTransformer):
    """Residual-layer token transformer with tied embedding/output tables (official ``share_weight``).

    Official checkpoints: ``<run>/model/net_best_fid.tar`` (or ``latest.tar``), entry ``res_transformer``.
    """

    CHECKPOINT_KEYS = RES_KEYS
    WEIGHTS_FILES = RES_WEIGHTS

    def __init__(self, cfg: TransformerConfig) -> None:
        if not cfg.share_weight:
            raise NotImplementedError("ResidualTransformer supports share_weight=True only (the official "
                                      "tres_*_sw checkpoints)")
        super().__init__(cfg)
        self.num_quantizers = cfg.num_quantizers
        self.pad_id = cfg.num_tokens
        vocab = cfg.num_tokens + 1
        self.quant_emb = nn.Linear(cfg.num_quantizers, cfg.latent_dim)
        self.cond_emb = nn.Linear(cfg.clip_dim, cfg.latent_dim)
        self.output_process = OutputProcess(cfg.code_dim, cfg.latent_dim)
        self.embed_proj_shared_weight = nn.Parameter(
            torch.normal(0.0, 0.02, size=(cfg.num_quantizers - 2, vocab, cfg.code_dim)))
        self.token_embed_weight_ = nn.Parameter(torch.normal(0.0, 0.02, size=(1, vocab, cfg.code_dim)))
        self.output_proj_weight_ = nn.Parameter(torch.normal(0.0, 0.02, size=(1, vocab, cfg.code_dim)))
        self.apply(init_weights)

    # ------------------------------------------------------------------ tables
    def token_embedding_table(self, layer: int) -> Tensor:
        """(V, D) embedding of RVQ layer ``layer``'s tokens (0..Q-2); a view of the parameter."""
        if not 0 <= layer <= self.num_quantizers - 2:
            raise ValueError(f"embedding layer must be in 0..{self.num_quantizers - 2}, got {layer}")
        return self.token_embed_weight_[0] if layer == 0 else self.embed_proj_shared_weight[layer - 1]

    def output_projection_table(self, layer: int) -> Tensor:
        """(V, D) output projection giving the logits of RVQ layer ``layer`` (1..Q-1); a view."""
        if not 1 <= layer <= self.num_quantizers - 1:
            raise ValueError(f"output layer must be in 1..{self.num_quantizers - 1}, got {layer}")
        if layer <= self.num_quantizers - 2:
            return self.embed_proj_shared_weight[layer - 1]
        return self.output_proj_weight_[0]

    @property
    def token_embed_weight(self) -> Tensor:
        """(Q-1, V, D) run-time embedding table, as the official ``process_embed_proj_weight``."""
        return torch.cat([self.token_embed_weight_, self.embed_proj_shared_weight], dim=0)

    @property
    def output_proj_weight(self) -> Tensor:
        """(Q-1, V, D) run-time output table; slot q-1 gives layer q's logits."""
        return torch.cat([self.embed_proj_shared_weight, self.output_proj_weight_], dim=0)

    # ------------------------------------------------------------------ network
    def trans_forward(self, history: Tensor, qids: Tensor, cond: Tensor, padding_mask: Tensor) -> Tensor:
        """Hidden code-space outputs (B, code_dim, N) for history sums (B, N, code_dim) and layers qids (B,)."""
        x = self.position_enc(self.input_process(history))  # PE on motion positions only
        q_onehot = F.one_hot(qids, num_classes=self.num_quantizers).float()
        q_emb = self.quant_emb(q_onehot).unsqueeze(0)
        c = self.cond_emb(cond).unsqueeze(0)
        xseq = torch.cat([c, q_emb, x], dim=0)
        key_pad = torch.cat([padding_mask.new_zeros(padding_mask.shape[0], 2), padding_mask], dim=1)
        out = self.seqTransEncoder(xseq, src_key_padding_mask=key_pad)[2:]
        return self.output_process(out)

    def project(self, hidden: Tensor, qids: Tensor) -> Tensor:
        """(B, code_dim, N) -> logits (B, V, N) with layer qids' output table (pad class included)."""
        first = qids.reshape(-1)[:1]
        if qids.numel() and not self.training:  # generation: one layer for the whole batch, one matmul
            if bool((qids == first).all()):
                return torch.einsum("vc,bcn->bvn", self.output_proj_weight[int(first) - 1], hidden)
        # training (a layer per sample): project on every table and pick, rather than gathering a
        # (B, V, D) copy of the tables whose backward is a slow scatter-add on the GPU
        every = torch.einsum("qvc,bcn->bqvn", self.output_proj_weight, hidden)
        return every[torch.arange(hidden.shape[0], device=hidden.device), qids - 1]

    def forward_with_cond_scale(self, history: Tensor, q: int, cond: Tensor, padding_mask: Tensor,
                                cond_scale: float) -> Tensor:
        """CFG logits (B, V, N) for layer q; conditional and null passes in one batched forward."""
        b = history.shape[0]
        if cond_scale == 1:
            qids = torch.full((b,), q, dtype=torch.long, device=history.device)
            return self.project(self.trans_forward(history, qids, cond, padding_mask), qids)
        qids = torch.full((2 * b,), q, dtype=torch.long, device=history.device)
        both = self.project(self.trans_forward(torch.cat([history, history]), qids,
                                               torch.cat([cond, torch.zeros_like(cond)]),
                                               torch.cat([padding_mask, padding_mask])), qids)
        logits, aux = both[:b], both[b:]
        return aux + (logits - aux) * cond_scale

    # ------------------------------------------------------------------ training
    def forward(self, all_indices: Tensor, cond: Tensor, lengths_tokens: Tensor | Sequence[int],
                generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Training loss for one residual layer per sample; returns (cross-entropy, accuracy).

        all_indices (B, N, Q) GT codes of all RVQ layers. Layer q = round((1 - cos(pi u / 2)) (Q-2)) + 1,
        teacher-forced history = sum of the GT embeddings of layers < q, CE ignoring pad.
        """
        bs, n, nq = all_indices.shape
        if nq != self.num_quantizers:
            raise ValueError(f"all_indices has {nq} layers, the model expects {self.num_quantizers}")
        device = all_indices.device
        cond, lens = self.prepare(cond, lengths_tokens, generator, bs)
        non_pad = lengths_to_mask(lens, n)
        all_indices = torch.where(non_pad.unsqueeze(-1), all_indices.long(), self.pad_id)

        u = rand_uniform((bs,), generator, device)
        qids = torch.round((1 - cosine_schedule(u)) * (nq - 2)).long() + 1  # 1..Q-1
        table = self.token_embed_weight  # (Q-1, V, D)
        codes = torch.stack([table[j][all_indices[..., j]] for j in range(nq - 1)], dim=-1)  # (B, N, D, Q-1)
        cumsum = codes.cumsum(dim=-1)
        batch = torch.arange(bs, device=device)
        history = cumsum[batch, :, :, qids - 1]
        targets = all_indices[batch, :, qids]
        return token_loss(self.project(self.trans_forward(history, qids, cond, ~non_pad), qids), targets, self.pad_id)

    # ---------------------------------------------------------------- generation
    @torch.no_grad()
    @eval_mode
    def generate(self, base_ids: Tensor, cond: Tensor, lengths_tokens: Tensor | Sequence[int],
                 cond_scale: float = 5.0, temperature: float = 1.0, topk_filter_thres: float = 0.9,
                 generator: GeneratorLike = None, res_layers: int | None = None) -> Tensor:
        """All RVQ layers (B, N, Q) from base ids (B, N) (-1 pads allowed); -1 at pads.

        For q = 1..Q-1: add the previous layer's embedding to the history, one CFG forward pair,
        top-k (52 of 513), Gumbel-max sampling at every position at once, pads re-imposed. As in the
        official code a pad class sampled at a valid position is returned as -1 (decodes to zero).
        ``res_layers`` predicts only layers 1..res_layers (official ``num_res_layers``); the layers
        above are -1, which the RVQ decoder reads as zero vectors.
        """
        if res_layers is None:
            res_layers = self.num_quantizers - 1
        if not 0 <= res_layers <= self.num_quantizers - 1:
            raise ValueError(f"res_layers must be in 0..{self.num_quantizers - 1}, got {res_layers}")
        device = self.token_embed_weight_.device
        cond, _ = self.prepare(cond, None, generator)
        if base_ids.dim() != 2 or base_ids.shape[0] != cond.shape[0]:
            raise ValueError(f"base_ids must be (B, N) with B = {cond.shape[0]}, got {tuple(base_ids.shape)}")
        bs, n = base_ids.shape
        lens = as_lengths(lengths_tokens, bs, device)
        if int(lens.max()) > n:
            raise ValueError(f"a length ({int(lens.max())}) exceeds base_ids width {n}")
        padding_mask = ~lengths_to_mask(lens, n)
        ids = base_ids.to(device).long()
        valid_ids = ids[~padding_mask]
        if valid_ids.numel() and (int(valid_ids.min()) < 0 or int(valid_ids.max()) >= self.num_tokens):
            raise ValueError(f"base_ids must be codes in 0..{self.num_tokens - 1} inside each length")
        ids = torch.where(padding_mask, self.pad_id, ids)
        layers = [ids]
        history = torch.zeros(bs, n, self.cfg.code_dim, device=device)
        for q in range(1, res_layers + 1):
            history = history + self.token_embedding_table(q - 1)[ids]
            logits = self.forward_with_cond_scale(history, q, cond, padding_mask, cond_scale).permute(0, 2, 1)
            pred = sample_top_k(logits, topk_filter_thres, temperature, lens, generator)
            ids = torch.where(padding_mask, self.pad_id, pred)
            layers.append(ids)
        layers += [torch.full_like(ids, self.pad_id)] * (self.num_quantizers - 1 - res_layers)
        out = torch.stack(layers, dim=-1)
        return torch.where(out == self.pad_id, -1, out)
