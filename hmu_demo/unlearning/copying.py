"""Copies of a bundle that share every tensor an edit does not touch (edits are values).

An "original vs unlearned" pair then costs the memory of the edited tensors only, and the original
is never modified: the copy's edited tensors are its own.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping

import torch
from torch import Tensor, nn

__all__ = ["copy_sharing", "copy_with", "state_name"]


def copy_sharing(module: nn.Module, fresh: Iterable[Tensor]) -> nn.Module:
    """A deep copy of ``module`` sharing every parameter and buffer except ``fresh`` (copied)."""
    fresh_ids = {id(t) for t in fresh}
    memo: dict[int, object] = {id(t): t for t in [*module.parameters(), *module.buffers()] if id(t) not in fresh_ids}
    return copy.deepcopy(module, memo)


def copy_with(module: nn.Module, new_values: Mapping[str, Tensor]) -> nn.Module:
    """A copy of ``module`` sharing every tensor except those named in ``new_values`` (state-dict names),
    which hold the new values (cast to the original's dtype and device)."""
    before = module.state_dict(keep_vars=True)
    missing = [name for name in new_values if name not in before]
    if missing:
        raise KeyError(f"no tensor named {', '.join(missing)} in this module")
    edited = copy_sharing(module, [before[name] for name in new_values])
    after = edited.state_dict(keep_vars=True)
    with torch.no_grad():
        for name, value in new_values.items():
            target = after[name]
            assert target is not before[name]
            target.copy_(value.detach().to(dtype=target.dtype, device=target.device))
    return edited


def state_name(module: nn.Module, tensor: Tensor) -> str:
    """The state-dict name of one of ``module``'s own parameters or buffers."""
    for name, value in module.state_dict(keep_vars=True).items():
        if value is tensor:
            return name
    raise KeyError("the tensor is not a parameter or buffer of this module")
