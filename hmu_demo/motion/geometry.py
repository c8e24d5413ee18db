"""Small vector helpers shared by the rig, the validator and the renderer's IK."""

from __future__ import annotations

import numpy as np


def normalize(v: np.ndarray, eps: float = 1e-9) -> np.ndarray:
    """Unit vectors along the last axis (zero vectors stay zero instead of becoming NaN)."""
    return v / np.maximum(np.linalg.norm(v, axis=-1, keepdims=True), eps)


def perpendicular(vector: np.ndarray, direction: np.ndarray) -> np.ndarray:
    """The part of ``vector`` orthogonal to the unit ``direction`` (both (..., 3))."""
    return vector - np.sum(vector * direction, axis=-1, keepdims=True) * direction
