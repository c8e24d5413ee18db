"""Sampling and input helpers shared by the MoMask masked/residual transformers and BAMM.

Every random draw takes an optional ``torch.Generator``, or one generator per sample, so that
generation is reproducible for a seed and a sample's result does not depend on the rest of its batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Union

import torch
from torch import Tensor

__all__ = [
    "GeneratorLike", "as_lengths", "check_cond", "check_generator", "cosine_schedule", "drop_cond",
    "forbid_codes", "gumbel_from_uniform", "gumbel_sample", "lengths_to_mask", "rand_uniform", "sample_top_k",
    "top_k_filter", "uniform_noise",
]

#: One generator for the whole batch, one per sample, or None (global RNG).
GeneratorLike = Union[torch.Generator, Sequence[torch.Generator], None]


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


def sample_top_k(logits: Tensor, thres: float, temperature: float, lengths: Sequence[int] | Tensor,
                 generator: GeneratorLike) -> Tensor:
    """One parallel sampling step of the masked and residual transformers: logits (B, N, V) ->
    ids (B, N), top-k filtered (official ``top_k``) then Gumbel-max over noise drawn per sample."""
    noise = uniform_noise(logits.shape[0], lengths, logits.shape[1], logits.shape[-1], generator, logits.device)
    return gumbel_sample(top_k_filter(logits, thres, dim=-1), noise, temperature)
