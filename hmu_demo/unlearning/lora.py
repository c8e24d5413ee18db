"""Low-rank adapters (LoRA) on a transformer's weight matrices, as a parametrisation.

The fine-tuning methods (task-vector negation, ESD, gradient ascent) train W + (α/r)·B·A instead of W:
few parameters, so minutes on a CPU, and a change of rank r that says how far a method moved the model.
A parametrisation (``torch.nn.utils.parametrize``) rather than wrapper modules because the attention
block's ``in_proj_weight`` is a bare parameter read by a functional call: wrapping replaces nothing there,
a parametrisation replaces the parameter everywhere it is read, in every method of the model (training
loss, logits, sampling). B starts at zero, so the adapted model starts as the original.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

__all__ = ["DEFAULT_TARGETS", "LowRankDelta", "add_adapters", "adapter_factors", "low_rank_update", "remove_adapters",
           "target_weights"]

#: Which weight matrices get an adapter: every attention projection and feed-forward matrix of the
#: encoder layers and the text projection (``cond_emb``). Embeddings and the output head stay frozen.
DEFAULT_TARGETS = ("self_attn.in_proj_weight", "self_attn.out_proj.weight", "linear1.weight", "linear2.weight",
                   "cond_emb.weight")


class LowRankDelta(nn.Module):
    """``W -> W + scale · up @ down``: ``down`` (r, in) Kaiming-initialised, ``up`` (out, r) zero."""

    def __init__(self, out_features: int, in_features: int, rank: int, alpha: float) -> None:
        super().__init__()
        self.down = nn.Parameter(torch.empty(rank, in_features))
        self.up = nn.Parameter(torch.zeros(out_features, rank))
        nn.init.kaiming_uniform_(self.down, a=math.sqrt(5))
        self.scale = float(alpha) / rank

    def delta(self) -> Tensor:
        return self.scale * (self.up @ self.down)

    def forward(self, weight: Tensor) -> Tensor:
        return weight + self.delta().to(weight.dtype)


def target_weights(net: nn.Module, targets: Iterable[str] = DEFAULT_TARGETS) -> list[str]:
    """Names of ``net``'s 2-D parameters whose name ends with one of ``targets``, in state-dict order."""
    suffixes = tuple(targets)
    return [name for name, p in net.named_parameters() if p.dim() == 2 and name.endswith(suffixes)]


def _owner(net: nn.Module, name: str) -> tuple[nn.Module, str]:
    path, _, attr = name.rpartition(".")
    return (net.get_submodule(path) if path else net), attr


def add_adapters(net: nn.Module, rank: int, alpha: float, targets: Iterable[str] = DEFAULT_TARGETS,
                 generator_seed: int = 0) -> dict[str, LowRankDelta]:
    """Put an adapter on each target weight of ``net`` (in place; freezes every original parameter) and
    return them by weight name. ``net`` should be a private copy: the parametrisation changes its class."""
    if isinstance(rank, bool) or not isinstance(rank, int) or rank < 1:
        raise ValueError(f"rank must be an integer >= 1, got {rank!r}")
    names = target_weights(net, targets)
    if not names:
        raise ValueError(f"no weight of the model matches the adapter targets {tuple(targets)}")
    for p in net.parameters():
        p.requires_grad_(False)
    state = torch.random.get_rng_state()
    torch.manual_seed(generator_seed)  # the adapters' initial values are part of the method's determinism
    adapters = {}
    try:
        for name in names:
            owner, attr = _owner(net, name)
            weight = getattr(owner, attr)
            delta = LowRankDelta(weight.shape[0], weight.shape[1], min(rank, *weight.shape), alpha)
            delta.to(device=weight.device, dtype=weight.dtype)
            parametrize.register_parametrization(owner, attr, delta, unsafe=True)
            adapters[name] = delta
    finally:
        torch.random.set_rng_state(state)
    return adapters


def adapter_factors(adapters: dict[str, LowRankDelta]) -> dict[str, tuple[Tensor, Tensor]]:
    """The trained change of each adapted weight as (scale · up, down), detached, by weight name."""
    with torch.no_grad():
        return {name: ((a.scale * a.up).detach().clone(), a.down.detach().clone()) for name, a in adapters.items()}


def low_rank_update(weight: Tensor, up: Tensor, down: Tensor) -> Tensor:
    """``weight + up @ down`` in float32, in ``weight``'s dtype: the one formula that makes an edited
    weight from its factors, when the edit is made and when a saved edit is loaded (bit-identical)."""
    delta = up.detach().to(device=weight.device, dtype=torch.float32) @ down.detach().to(weight.device, torch.float32)
    return (weight.detach().to(torch.float32) + delta).to(weight.dtype)


def remove_adapters(net: nn.Module, adapters: dict[str, LowRankDelta]) -> None:
    """Drop the adapters, restoring ``net``'s original weights (unchanged, since only adapters train)."""
    for name in adapters:
        owner, attr = _owner(net, name)
        parametrize.remove_parametrizations(owner, attr, leave_parametrized=False)
