"""Residual vector quantiser of the MoMask RVQ-VAE: one EMA codebook per layer, each coding the
residual the layers below left.

The state is the codebooks only (``layers.{q}.codebook``, official key names), so an official or
an edited codebook loads as it is; training-time statistics never enter the state dict.
"""

from __future__ import annotations

import math
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["QuantizeEMAReset", "ResidualVQ"]


class QuantizeEMAReset(nn.Module):
    """One codebook layer: nearest-code assignment, EMA update and reset of dead codes.

    Only ``codebook`` is state (a buffer, so optimisers never touch it); the EMA sums/counts are
    plain attributes, as in the official code, so they never enter the state dict. In training
    mode the first batch initialises the codebook, every batch updates it by EMA, and codes whose
    EMA count falls below 1 are replaced by random encoder outputs of the batch.
    """

    def __init__(self, nb_code: int, code_dim: int, mu: float = 0.99) -> None:
        super().__init__()
        self.nb_code = nb_code
        self.code_dim = code_dim
        self.mu = mu
        self.register_buffer("codebook", torch.zeros(nb_code, code_dim))
        self.initted = False
        self.code_sum: Optional[Tensor] = None
        self.code_count: Optional[Tensor] = None

    # A loaded codebook is a trained one: keep it instead of re-initialising on the next batch.
    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        key = prefix + "codebook"
        if key in state_dict:
            self.initted = bool(torch.any(self.codebook != 0))
            self.code_sum = None
            self.code_count = None

    def _random_rows(self, x: Tensor) -> Tensor:
        """nb_code rows drawn from the batch; tiled with small noise when the batch is smaller."""
        n = x.shape[0]
        if n < self.nb_code:
            reps = math.ceil(self.nb_code / n)
            out = x.repeat(reps, 1)
            out = out + torch.randn_like(out) * (0.01 / math.sqrt(self.code_dim))
            return out[: self.nb_code]
        return x[torch.randperm(n, device=x.device)[: self.nb_code]]

    @torch.no_grad()
    def _init_from(self, x: Tensor) -> None:
        self.codebook.copy_(self._random_rows(x))
        self.code_sum = self.codebook.clone()
        self.code_count = torch.ones(self.nb_code, device=x.device, dtype=x.dtype)
        self.initted = True

    @torch.no_grad()
    def assign(self, x: Tensor, temperature: float = 0.0) -> Tensor:
        """Index of the nearest code for each row of x (N, D); Gumbel-max when temperature > 0."""
        cb = self.codebook.to(x.dtype)
        dist = (x * x).sum(-1, keepdim=True) - 2.0 * x @ cb.t() + (cb * cb).sum(-1)[None]
        logits = -dist
        if temperature > 0:
            u = torch.rand_like(logits).clamp_(1e-20, 1.0)
            logits = logits / temperature - torch.log((-torch.log(u)).clamp_min(1e-20))
        return logits.argmax(-1)

    @staticmethod
    def _perplexity(counts: Tensor) -> Tensor:
        prob = counts / counts.sum().clamp_min(1e-12)
        return torch.exp(-(prob * torch.log(prob + 1e-7)).sum())

    @torch.no_grad()
    def _ema_update(self, x: Tensor, idx: Tensor) -> Tensor:
        onehot = F.one_hot(idx, self.nb_code).to(x.dtype)  # (N, K)
        batch_sum = onehot.t() @ x  # (K, D)
        batch_count = onehot.sum(0)  # (K,)
        if self.code_sum is None or self.code_count is None:  # e.g. after load_state_dict
            self.code_sum = self.codebook.to(x.dtype).clone()
            self.code_count = torch.ones(self.nb_code, device=x.device, dtype=x.dtype)
        # Plain attributes do not follow module.to(device): move them here.
        self.code_sum = self.code_sum.to(x.device, x.dtype)
        self.code_count = self.code_count.to(x.device, x.dtype)
        self.code_sum.mul_(self.mu).add_(batch_sum, alpha=1.0 - self.mu)
        self.code_count.mul_(self.mu).add_(batch_count, alpha=1.0 - self.mu)
        alive = (self.code_count >= 1.0).unsqueeze(1)
        updated = self.code_sum / self.code_count.clamp_min(1e-12).unsqueeze(1)
        self.codebook.copy_(torch.where(alive, updated, self._random_rows(x)))
        return self._perplexity(batch_count)

    def dequantize(self, idx: Tensor) -> Tensor:
        return F.embedding(idx, self.codebook)

    def forward(self, x: Tensor, temperature: float = 0.0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x (B, D, N) -> (quantised (B, D, N) straight-through, idx (B, N), commit, perplexity)."""
        b, d, n = x.shape
        flat = x.permute(0, 2, 1).reshape(-1, d)
        if self.training and not self.initted:
            self._init_from(flat.detach())
        idx = self.assign(flat.detach(), temperature if self.training else 0.0)
        code = self.dequantize(idx).to(flat.dtype)
        if self.training:
            perplexity = self._ema_update(flat.detach(), idx)
        else:
            perplexity = self._perplexity(torch.bincount(idx, minlength=self.nb_code).to(flat.dtype))
        commit = F.mse_loss(flat, code.detach())
        code = flat + (code - flat).detach()  # straight-through: gradients flow to the encoder
        return code.reshape(b, n, d).permute(0, 2, 1).contiguous(), idx.reshape(b, n), commit, perplexity


class ResidualVQ(nn.Module):
    """Stack of quantisers, each coding the residual the previous ones left (layer 0 = base)."""

    def __init__(self, num_quantizers: int, nb_code: int, code_dim: int, mu: float = 0.99,
                 shared_codebook: bool = False, quantize_dropout_prob: float = 0.0) -> None:
        super().__init__()
        self.num_quantizers = num_quantizers
        self.quantize_dropout_prob = quantize_dropout_prob
        if shared_codebook:
            shared = QuantizeEMAReset(nb_code, code_dim, mu)
            self.layers = nn.ModuleList([shared] * num_quantizers)
        else:
            self.layers = nn.ModuleList([QuantizeEMAReset(nb_code, code_dim, mu) for _ in range(num_quantizers)])

    @property
    def codebooks(self) -> Tensor:
        """(Q, nb_code, code_dim), a stacked copy."""
        return torch.stack([layer.codebook for layer in self.layers], 0)

    def get_codes_from_indices(self, ids: Tensor) -> Tensor:
        """ids (B, N, Q') with Q' <= Q -> per-layer code vectors (Q, B, N, D); -1 gives zeros.

        Missing trailing layers are padded with -1, so base-only or partial stacks decode.
        """
        if ids.dim() != 3:
            raise ValueError(f"token ids must have shape (B, N, Q), got {tuple(ids.shape)}")
        q = ids.shape[-1]
        if q > self.num_quantizers:
            raise ValueError(f"got {q} token layers but the RVQ has {self.num_quantizers}")
        ids = ids.long()
        if q < self.num_quantizers:
            ids = F.pad(ids, (0, self.num_quantizers - q), value=-1)
        nb_code = self.layers[0].nb_code
        if bool(((ids < -1) | (ids >= nb_code)).any()):
            raise ValueError(f"token ids must be in -1..{nb_code - 1}")
        out = []
        for layer_idx, layer in enumerate(self.layers):
            lid = ids[..., layer_idx]
            mask = (lid == -1).unsqueeze(-1)
            codes = F.embedding(lid.clamp_min(0), layer.codebook)
            out.append(codes.masked_fill(mask, 0.0))
        return torch.stack(out, 0)

    def forward(self, x: Tensor, temperature: float = 0.0
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x (B, D, N) -> (sum of quantised (B, D, N), ids (B, N, Q), commit, perplexity).

        Training applies quantize dropout: with probability p a cut s ~ U{0..Q-1} is drawn and
        layers > s are skipped (their ids are -1), so coarse prefixes decode on their own.
        Commit loss and perplexity are averaged over the active layers.
        """
        b, _, n = x.shape
        last = self.num_quantizers - 1
        if self.training and self.quantize_dropout_prob > 0:
            if float(torch.rand(())) < self.quantize_dropout_prob:
                last = int(torch.randint(0, self.num_quantizers, ()))
        residual = x
        quantised_sum = torch.zeros_like(x)
        ids, commits, perps = [], [], []
        for q, layer in enumerate(self.layers):
            if q > last:
                ids.append(torch.full((b, n), -1, dtype=torch.long, device=x.device))
                continue
            quantised, idx, commit, perp = layer(residual, temperature)
            residual = residual - quantised.detach()
            quantised_sum = quantised_sum + quantised
            ids.append(idx)
            commits.append(commit)
            perps.append(perp)
        return (quantised_sum, torch.stack(ids, -1),
                torch.stack(commits).mean(), torch.stack(perps).mean())

    @torch.no_grad()
    def quantize(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Deterministic nearest-code coding of x (B, D, N) with no codebook update.

        Returns ids (B, N, Q) and per-layer quantised vectors (Q, B, D, N).
        """
        residual = x
        ids, codes = [], []
        b, d, n = x.shape
        for layer in self.layers:
            flat = residual.permute(0, 2, 1).reshape(-1, d)
            idx = layer.assign(flat, 0.0)
            code = layer.dequantize(idx).to(x.dtype).reshape(b, n, d).permute(0, 2, 1)
            residual = residual - code
            ids.append(idx.reshape(b, n))
            codes.append(code)
        return torch.stack(ids, -1), torch.stack(codes, 0)
