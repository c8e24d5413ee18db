"""Paths, device choice and the config base every dataclass config shares.

The bottom layer of the package: it imports nothing from the project, so every layer may use it.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable, Mapping
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any, TypeVar

import torch

__all__ = ["CHECKPOINTS_DIR", "EMBEDDED_DIR", "REPO_ROOT", "ConfigBase", "check_fractions", "check_ints",
           "resolve_device"]

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS_DIR = REPO_ROOT / "checkpoints"
#: The embedded (procedural-corpus) bundle shipped with the project.
EMBEDDED_DIR = CHECKPOINTS_DIR / "embedded"

C = TypeVar("C", bound="ConfigBase")


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``None`` or "auto": CUDA when available, else CPU; anything else as given, refusing CUDA where
    there is none (a clear message instead of a failure deep inside a model)."""
    if device is None or device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    resolved = torch.device(device)
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but CUDA is not available here; use --device cpu")
    return resolved


class ConfigBase:
    """Mixin for dataclass configs: ``to_dict`` and a strict ``from_dict`` (an unknown key is an error,
    so a typo in a JSON config is reported instead of silently falling back to a default).

    A subclass whose fields hold other configs overrides ``from_dict`` and calls
    :meth:`check_keys` first.
    """

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)  # type: ignore[call-overload]

    @classmethod
    def check_keys(cls, data: Mapping[str, Any]) -> None:
        if not isinstance(data, Mapping):
            raise ValueError(f"a {cls.__name__} must be a mapping, got {type(data).__name__}")
        unknown = set(data) - {f.name for f in fields(cls)}  # type: ignore[arg-type]
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")

    @classmethod
    def from_dict(cls: type[C], data: Mapping[str, Any]) -> C:
        cls.check_keys(data)
        return cls(**dict(data))


def check_ints(config: object, names: Iterable[str], minimum: int = 1) -> None:
    """Refuse a config whose fields ``names`` are not whole numbers >= ``minimum`` (a bool is not one),
    naming ``Class.field``: a wrong size fails when the config is made, not deep inside a model."""
    for name in names:
        value = getattr(config, name)
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
            raise ValueError(f"{type(config).__name__}.{name} must be an int >= {minimum}, got {value!r}")


def check_fractions(config: object, names: Iterable[str], one: bool = False) -> None:
    """Refuse a config whose fields ``names`` (probabilities, rates) are outside [0, 1), or [0, 1] with
    ``one``, naming ``Class.field``."""
    for name in names:
        value = getattr(config, name)
        inside = isinstance(value, numbers.Real) and (0.0 <= value <= 1.0 if one else 0.0 <= value < 1.0)
        if isinstance(value, bool) or not inside:
            bound = "1]" if one else "1)"
            raise ValueError(f"{type(config).__name__}.{name} must be in [0, {bound}, got {value!r}")
