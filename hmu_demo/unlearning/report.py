"""EditReport: what one unlearning edit did, in the form the UI, the CLI and the benchmark show.

Every method of the registry (:mod:`hmu_demo.unlearning.registry`) returns one. UCE/RECE fill
``layers`` (each edited weight and the size of its change); LCR and its variants fill ``flagged``
(each flagged code with both scores, its forget/retain counts and what replaced it) and report
the codebook row change in ``layers`` too; ``details`` holds method-specific diagnostics.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import Tensor

__all__ = ["EditReport", "FlaggedCode", "LayerChange", "layer_changes"]


@dataclass
class LayerChange:
    """One edited tensor: its path in the bundle, shape and relative Frobenius change ‖W'−W‖/‖W‖."""

    name: str
    shape: tuple[int, ...]
    rel_change: float


@dataclass
class FlaggedCode:
    """A base-layer code flagged by LCR: scores, motion counts and the replacement (or mask)."""

    code: int
    score1: float
    score2: float
    n_forget: int
    n_retain: int
    replacement: str           # human-readable description of the new row / of the mask
    source: int | None = None  # the code copied (official: target, nearest: nearest safe code)


@dataclass
class EditReport:
    """Method, concept, hyperparameters, edited layers, flagged codes, time taken (s), diagnostics."""

    method: str
    concept: str
    hyperparameters: dict
    layers: list[LayerChange] = field(default_factory=list)
    flagged: list[FlaggedCode] = field(default_factory=list)
    seconds: float = 0.0
    details: dict = field(default_factory=dict)

    @property
    def codes(self) -> list[int]:
        """The flagged code ids in selection order (empty for UCE/RECE)."""
        return [f.code for f in self.flagged]

    def to_dict(self) -> dict:
        out = asdict(self)
        for layer in out["layers"]:
            layer["shape"] = list(layer["shape"])
        return out

    @classmethod
    def from_dict(cls, data: dict) -> "EditReport":
        """Inverse of :meth:`to_dict` (for edits read back from disk)."""
        if not isinstance(data, dict):
            raise ValueError("an edit report must be a JSON object")
        try:
            return cls(
                method=str(data["method"]), concept=str(data["concept"]),
                hyperparameters=dict(data.get("hyperparameters", {})),
                layers=[LayerChange(str(x["name"]), tuple(int(s) for s in x["shape"]), float(x["rel_change"]))
                        for x in data.get("layers", [])],
                flagged=[FlaggedCode(**x) for x in data.get("flagged", [])],
                seconds=float(data.get("seconds", 0.0)), details=dict(data.get("details", {})))
        except (KeyError, TypeError, ValueError) as err:
            raise ValueError(f"malformed edit report: {type(err).__name__}: {err}") from err


def layer_changes(old: dict[str, Tensor], new: dict[str, Tensor]) -> list[LayerChange]:
    """LayerChange for every name of ``old`` against the same name in ``new``."""
    out = []
    for name, w_old in old.items():
        w_old64, w_new64 = w_old.detach().to(torch.float64).cpu(), new[name].detach().to(torch.float64).cpu()
        denom = float(w_old64.norm()) or 1.0
        out.append(LayerChange(name, tuple(w_old.shape), float((w_new64 - w_old64).norm()) / denom))
    return out
