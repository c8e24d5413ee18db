"""Building blocks shared by the MoMask masked/residual transformers and BAMM.

Module and parameter names follow the official momask-codes classes exactly so that official
checkpoints load with ``load_state_dict(strict=True)``; see reference/momask_bamm.md §3, §4, §7.
Sampling helpers take an optional ``torch.Generator`` (or one generator per sample) so that
generation is reproducible for a seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, replace
from typing import Any, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmu_demo.models.official import coerce_opt

#: One generator for the whole batch, one per sample, or None (global RNG).
GeneratorLike = Union[torch.Generator, Sequence[torch.Generator], None]


@dataclass(frozen=True)
class TransformerConfig:
    """Hyper-parameters of a MoMask/BAMM token transformer (names as in the official ``opt.txt``).

    ``num_tokens``, ``code_dim`` and ``num_quantizers`` come from the RVQ-VAE; ``max_len`` is the
    length of the sinusoidal PE buffer (5000 in the official files, it is saved in the state dict);
    ``max_motion_tokens`` is BAMM's fixed autoregressive horizon (49 = 196 frames / 4).
    """

    latent_dim: int
    ff_size: int
    n_layers: int
    n_heads: int
    dropout: float
    cond_drop_prob: float
    clip_dim: int = 512
    num_tokens: int = 512
    code_dim: int = 512
    num_quantizers: int = 6
    share_weight: bool = True
    max_len: int = 5000
    max_motion_tokens: int = 49

    def __post_init__(self) -> None:
        for name in ("latent_dim", "ff_size", "n_layers", "n_heads", "clip_dim", "num_tokens", "code_dim",
                     "num_quantizers", "max_len", "max_motion_tokens"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"TransformerConfig.{name} must be a positive int, got {value!r}")
        if self.latent_dim % self.n_heads:
            raise ValueError(f"latent_dim {self.latent_dim} is not divisible by n_heads {self.n_heads}")
        if self.latent_dim % 2:
            raise ValueError("latent_dim must be even (sinusoidal positional encoding)")
        for name in ("dropout", "cond_drop_prob"):
            value = getattr(self, name)
            if not 0.0 <= float(value) < 1.0:
                raise ValueError(f"TransformerConfig.{name} must be in [0, 1), got {value!r}")
        if self.num_quantizers < 2:
            raise ValueError("num_quantizers must be >= 2 (base layer plus at least one residual layer)")

    @classmethod
    def official_masked(cls) -> "TransformerConfig":
        """``t2m_nlayer8_nhead6_ld384_ff1024_cdp0.1_rvq6ns`` (MoMask base-layer transformer)."""
        return cls(latent_dim=384, ff_size=1024, n_layers=8, n_heads=6, dropout=0.2, cond_drop_prob=0.1)

    @classmethod
    def official_residual(cls) -> "TransformerConfig":
        """``tres_nlayer8_ld384_ff1024_rvq6ns_cdp0.2_sw`` (MoMask residual transformer)."""
        return cls(latent_dim=384, ff_size=1024, n_layers=8, n_heads=6, dropout=0.2, cond_drop_prob=0.2,
                   share_weight=True)

    @classmethod
    def official_bamm(cls) -> "TransformerConfig":
        """BAMM's released base transformer (dims as MoMask; read them from its opt.txt when present)."""
        return cls(latent_dim=384, ff_size=1024, n_layers=8, n_heads=6, dropout=0.2, cond_drop_prob=0.1)

    @classmethod
    def from_opt(cls, opt: Mapping[str, Any], **overrides: Any) -> "TransformerConfig":
        """Build from a parsed ``opt.txt`` dict (get_opt rules: non-numeric values stay strings).

        Unknown keys (``vq_name``, ``milestones: "[50000]"``, ...) are ignored; ``nb_code`` is accepted
        as an alias of ``num_tokens`` (the VQ opt's name). ``overrides`` win over ``opt``.
        """
        merged: dict[str, Any] = dict(opt)
        if "num_tokens" not in merged and "nb_code" in merged:
            merged["num_tokens"] = merged["nb_code"]
        merged.update(overrides)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in merged:
                continue
            kwargs[f.name] = coerce_opt(f.name, merged[f.name], str(f.type))
        missing = [n for n in ("latent_dim", "ff_size", "n_layers", "n_heads", "dropout", "cond_drop_prob")
                   if n not in kwargs]
        if missing:
            raise ValueError(f"opt is missing required transformer options: {', '.join(missing)}")
        return cls(**kwargs)

    def with_(self, **changes: Any) -> "TransformerConfig":
        """A copy with some fields changed."""
        return replace(self, **changes)


def cosine_schedule(t: Tensor) -> Tensor:
    """MoMask mask-ratio schedule gamma(t) = cos(pi t / 2)."""
    return torch.cos(t * math.pi * 0.5)


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """(B,) lengths -> (B, max_len) bool, True at valid positions."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def top_k_filter(logits: Tensor, thres: float = 0.9, dim: int = -1) -> Tensor:
    """Keep the ceil((1 - thres) * V) largest logits along ``dim``, the rest -inf (official ``top_k``)."""
    k = math.ceil((1.0 - thres) * logits.shape[dim])
    k = max(1, min(k, logits.shape[dim]))
    val, ind = logits.topk(k, dim=dim)
    out = torch.full_like(logits, float("-inf"))
    out.scatter_(dim, ind, val)
    return out


def forbid_codes(logits: Tensor, forbidden: Tensor | None) -> Tensor:
    """``logits`` (B, V) or (B, L, V) with -inf where ``forbidden`` (B, n <= V) is True, so those ids are
    never sampled (LCR-gated). Rows that forbid nothing are returned bit-identical."""
    if forbidden is None:
        return logits
    if forbidden.ndim != 2 or forbidden.shape[0] != logits.shape[0] or forbidden.shape[1] > logits.shape[-1]:
        raise ValueError(f"forbidden must have shape ({logits.shape[0]}, <= {logits.shape[-1]}), "
                         f"got {tuple(forbidden.shape)}")
    mask = torch.zeros(logits.shape[0], logits.shape[-1], dtype=torch.bool, device=logits.device)
    mask[:, : forbidden.shape[1]] = forbidden.to(logits.device)
    if logits.ndim == 3:
        mask = mask.unsqueeze(1)
    return logits.masked_fill(mask, float("-inf"))


def check_generator(generator: GeneratorLike, batch: int) -> None:
    """Validate a per-sample generator list length."""
    if generator is None or isinstance(generator, torch.Generator):
        return
    if len(generator) != batch:
        raise ValueError(f"got {len(generator)} generators for a batch of {batch}; pass one per sample")
    for g in generator:
        if not isinstance(g, torch.Generator):
            raise TypeError(f"generator list must hold torch.Generator objects, got {type(g).__name__}")


def rand_uniform(shape: Sequence[int], generator: torch.Generator | None, device: torch.device) -> Tensor:
    if generator is None:
        return torch.rand(tuple(shape), device=device)
    return torch.rand(tuple(shape), generator=generator, device=generator.device).to(device)


def uniform_noise(batch: int, lengths: Sequence[int] | Tensor, width: int, vocab: int,
                  generator: GeneratorLike, device: torch.device) -> Tensor:
    """Uniform(0,1) noise (B, width, vocab) for one sampling step.

    With one generator (or None) the whole block is drawn at once. With one generator per sample,
    sample i draws only ``lengths[i]`` rows from its own generator, so its random stream does not
    depend on the other samples in the batch nor on the padded width; the padded rows are 0.5.
    """
    if generator is None or isinstance(generator, torch.Generator):
        return rand_uniform((batch, width, vocab), generator, device)
    lens = [int(n) for n in (lengths.tolist() if isinstance(lengths, Tensor) else lengths)]
    out = torch.full((batch, width, vocab), 0.5, device=device)
    for i, (g, n) in enumerate(zip(generator, lens)):
        n = min(n, width)
        if n > 0:
            out[i, :n] = rand_uniform((n, vocab), g, device)
    return out


def gumbel_from_uniform(u: Tensor) -> Tensor:
    """Gumbel(0,1) noise from uniform noise (official eps 1e-20 clamps)."""
    return -torch.log((-torch.log(u.clamp(min=1e-20))).clamp(min=1e-20))


def gumbel_sample(logits: Tensor, uniform: Tensor, temperature: float = 1.0) -> Tensor:
    """argmax(logits / T + Gumbel) over the last dim: a sample of softmax(logits / T)."""
    return (logits / max(float(temperature), 1e-10) + gumbel_from_uniform(uniform)).argmax(dim=-1)


def init_weights(module: nn.Module) -> None:
    """Official init: Linear/Embedding N(0, 0.02), zero biases, LayerNorm 1/0."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.data.normal_(mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
    elif isinstance(module, nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)


class PositionalEncoding(nn.Module):
    """Sinusoidal PE; buffer ``pe`` (max_len, 1, D) is saved in the official state dicts."""

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(1))

    def forward(self, x: Tensor) -> Tensor:
        """x: (S, B, D) sequence-first."""
        if x.shape[0] > self.pe.shape[0]:
            raise ValueError(f"sequence of {x.shape[0]} positions exceeds the PE table ({self.pe.shape[0]})")
        return self.dropout(x + self.pe[: x.shape[0]])


class InputProcess(nn.Module):
    """(B, N, in) -> (N, B, latent) via ``poseEmbedding``."""

    def __init__(self, input_feats: int, latent_dim: int) -> None:
        super().__init__()
        self.poseEmbedding = nn.Linear(input_feats, latent_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.poseEmbedding(x.permute(1, 0, 2))


class OutputProcess(nn.Module):
    """(S, B, latent) -> (B, out, S): dense -> GELU -> LayerNorm(eps 1e-12) -> poseFinal (BERT-style head)."""

    def __init__(self, out_feats: int, latent_dim: int) -> None:
        super().__init__()
        self.dense = nn.Linear(latent_dim, latent_dim)
        self.LayerNorm = nn.LayerNorm(latent_dim, eps=1e-12)
        self.poseFinal = nn.Linear(latent_dim, out_feats)

    def forward(self, hidden: Tensor) -> Tensor:
        hidden = self.LayerNorm(F.gelu(self.dense(hidden)))
        return self.poseFinal(hidden).permute(1, 2, 0)


def build_seq_trans_encoder(cfg: TransformerConfig) -> nn.TransformerEncoder:
    """PyTorch-default post-LN encoder (GELU, sequence-first, no final norm), as the official models.

    Nested tensors are disabled so padded positions are computed like the official torch 1.x code
    (and results do not depend on the fast path's padding handling).
    """
    layer = nn.TransformerEncoderLayer(d_model=cfg.latent_dim, nhead=cfg.n_heads, dim_feedforward=cfg.ff_size,
                                       dropout=cfg.dropout, activation="gelu", batch_first=False,
                                       norm_first=False)
    return nn.TransformerEncoder(layer, num_layers=cfg.n_layers, enable_nested_tensor=False)


def as_lengths(lengths: Tensor | Sequence[int], batch: int, device: torch.device) -> Tensor:
    """Token lengths as a (B,) long tensor on ``device``, checked >= 1."""
    lens = torch.as_tensor(lengths, dtype=torch.long).reshape(-1).to(device)
    if lens.numel() != batch:
        raise ValueError(f"got {lens.numel()} lengths for a batch of {batch}")
    if batch and int(lens.min()) < 1:
        raise ValueError(f"token lengths must be >= 1, got {lens.tolist()}")
    return lens


def check_cond(cond: Tensor, clip_dim: int) -> Tensor:
    """Text condition (B, clip_dim) float; zero rows are the CFG null condition."""
    if not isinstance(cond, Tensor) or cond.dim() != 2 or cond.shape[1] != clip_dim:
        shape = tuple(cond.shape) if isinstance(cond, Tensor) else type(cond).__name__
        raise ValueError(f"cond must be a (B, {clip_dim}) tensor, got {shape}")
    return cond.float()


def drop_cond(cond: Tensor, p: float, training: bool, generator: torch.Generator | None = None) -> Tensor:
    """Classifier-free-guidance training: zero each sample's condition with probability ``p``."""
    if not training or p <= 0.0:
        return cond
    keep = (rand_uniform((cond.shape[0],), generator, cond.device) >= p).to(cond.dtype).unsqueeze(1)
    return cond * keep
