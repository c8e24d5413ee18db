"""An unlearning edit as a value: the bundle tensors it changes, an optional sampling constraint, the report.

Every method of the registry returns an :class:`Edit` and modifies nothing. A pipeline applies it:
:meth:`Edit.apply` makes the edited model (a copy of the bundle sharing every tensor the edit does
not name, so an original/unlearned pair costs only the edited tensors), and the constraint, when
there is one, is asked per prompt which base-layer codes sampling must never pick (LCR-gated's
concept gate). Edits are saved and loaded by :mod:`hmu_demo.unlearning.edit_io`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from torch import Tensor, nn

from hmu_demo.unlearning.copying import copy_with
from hmu_demo.unlearning.report import EditReport

__all__ = ["Edit", "SamplingConstraint"]


@runtime_checkable
class SamplingConstraint(Protocol):
    """Per-prompt codes the base transformer must never sample (True = forbidden). A constraint may also
    repair what was sampled (:class:`~hmu_demo.unlearning.repair.SegmentRepair`: the pipeline re-samples the
    base-layer segments its ``segments`` method marks)."""

    def forbidden_rows(self, prompts: Sequence[str], cond: Tensor) -> Tensor | None:
        """(B, nb_code) bool mask for the prompts with text embeddings ``cond`` (B, d), or None when
        no prompt is constrained (generation is then exactly the unconstrained model's)."""
        ...


@dataclass(frozen=True)
class Edit:
    """``tensors``: new values by bundle state-dict name ("masked.cond_emb.weight",
    "vq.quantizer.layers.0.codebook", ...); ``constraint``: applied during sampling, or None;
    ``factors``: for tensors whose change is low-rank (the fine-tuning methods), (up, down) with
    new = :func:`~hmu_demo.unlearning.lora.low_rank_update` (old, up, down), so a saved edit holds the
    factors (kilobytes) instead of the matrices (megabytes)."""

    report: EditReport
    tensors: Mapping[str, Tensor] = field(default_factory=dict)
    constraint: SamplingConstraint | None = None
    factors: Mapping[str, tuple[Tensor, Tensor]] = field(default_factory=dict)
    route: nn.Module | None = None

    def apply(self, bundle: nn.Module) -> nn.Module:
        """The edited model: ``bundle`` itself when no tensor changes (nothing to copy), else a copy
        that shares every other tensor. ``bundle`` is never modified."""
        return copy_with(bundle, self.tensors) if self.tensors else bundle
