"""What a fine-tuning method asks of a base transformer: the likelihood of token rows, and its next-code
distributions on a corrupted input that an original and an edited model can both be shown.

The likelihood is the model's own training objective (``forward``: MoMask's masked-token cross-entropy,
BAMM's causal/hybrid one), so "fine-tune on the forget set" means exactly what training meant. The
distributions are for the objectives that compare two models on the same input (ESD's target, the KL
retain term): MoMask sees the row with a cosine-scheduled share of positions masked and is scored on
those; BAMM sees the row causally (text, then the codes, then END) and is scored on every position up
to END, as its sampler reads it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmu_demo.models.bamm import BAMMTransformer
from hmu_demo.models.masked import MaskTransformer
from hmu_demo.models.sampling import cosine_schedule, lengths_to_mask, rand_uniform

__all__ = ["Corrupted", "corrupt", "kl_divergence", "logits_on", "token_nll"]


@dataclass(frozen=True)
class Corrupted:
    """One corrupted batch: model inputs, where the model is scored, and the padding (MoMask only)."""

    inputs: Tensor
    scored: Tensor  # (B, positions) bool
    padding: Tensor | None


def token_nll(net: nn.Module, ids: Tensor, lengths: Tensor, cond: Tensor, generator: torch.Generator) -> Tensor:
    """The model's training loss on (ids, cond): mean negative log-likelihood of the rows."""
    loss, _ = net(ids, cond, lengths, generator=generator)
    return loss


def corrupt(net: nn.Module, ids: Tensor, lengths: Tensor, generator: torch.Generator) -> Corrupted:
    """The input both models are shown for ``ids`` (B, N) of ``lengths`` (B,)."""
    bs, n = ids.shape
    device = ids.device
    if isinstance(net, MaskTransformer):
        non_pad = lengths_to_mask(lengths, n)
        ratio = cosine_schedule(rand_uniform((bs,), generator, device))
        num_masked = (lengths.float() * ratio).round().clamp(min=1)
        order = torch.where(non_pad, rand_uniform((bs, n), generator, device), 2.0).argsort(dim=-1).argsort(dim=-1)
        masked = (order < num_masked.unsqueeze(-1)) & non_pad
        inputs = torch.where(masked, net.mask_id, torch.where(non_pad, ids, net.pad_id))
        return Corrupted(inputs, masked, ~non_pad)
    if isinstance(net, BAMMTransformer):
        full = torch.cat([ids, torch.full((bs, 1), net.end_id, dtype=torch.long, device=device)], dim=1)
        full = torch.where(lengths_to_mask(lengths, n + 1), full, net.pad_id)
        full = full.scatter(1, lengths.unsqueeze(1), net.end_id)
        return Corrupted(full, lengths_to_mask(lengths + 1, n + 1), None)
    raise TypeError(f"no token objective for a {type(net).__name__}")


def logits_on(net: nn.Module, batch: Corrupted, cond: Tensor) -> Tensor:
    """(B, V, positions) logits of ``net`` on the corrupted batch, aligned with ``batch.scored``."""
    if isinstance(net, MaskTransformer):
        return net.trans_forward(batch.inputs, cond, batch.padding)
    return net.trans_forward(batch.inputs, cond, None)[..., :-1]


def kl_divergence(target_logits: Tensor, logits: Tensor, scored: Tensor) -> Tensor:
    """Mean over scored positions of KL(softmax(target) ‖ softmax(logits)); logits (B, V, P)."""
    target = F.log_softmax(target_logits.float(), dim=1)
    pred = F.log_softmax(logits.float(), dim=1)
    per_position = (target.exp() * (target - pred)).sum(dim=1)
    return per_position[scored].mean()
