"""Copies of a bundle that share every tensor an edit does not touch (edits are values: DESIGN.md).

An "original vs unlearned" pair then costs the memory of the edited tensors only, and the original
is never modified: the copy's edited tensors are its own.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable

from torch import Tensor, nn

__all__ = ["copy_sharing"]


def copy_sharing(module: nn.Module, fresh: Iterable[Tensor]) -> nn.Module:
    """A deep copy of ``module`` sharing every parameter and buffer except ``fresh`` (copied)."""
    fresh_ids = {id(t) for t in fresh}
    memo: dict[int, object] = {id(t): t for t in [*module.parameters(), *module.buffers()] if id(t) not in fresh_ids}
    return copy.deepcopy(module, memo)
