"""Loading and checking joint arrays, with one-line messages a user can act on."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from hmu_demo.motion.skeleton import NUM_JOINTS


class MotionInputError(ValueError):
    """The motion given to the renderer is unusable; the message says why in one line."""


def validate_joints(joints: object, name: str = "joints") -> np.ndarray:
    """A (T, 22, 3) finite float64 array (a (T, 66) array is reshaped), or MotionInputError."""
    try:
        arr = np.asarray(joints, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MotionInputError(f"{name}: not a numeric array ({exc})") from exc
    if arr.ndim == 2 and arr.shape[1] == NUM_JOINTS * 3:
        arr = arr.reshape(len(arr), NUM_JOINTS, 3)
    if arr.ndim != 3 or arr.shape[1:] != (NUM_JOINTS, 3):
        raise MotionInputError(f"{name}: expected joints of shape (T, {NUM_JOINTS}, 3), got {arr.shape}")
    if arr.shape[0] < 1:
        raise MotionInputError(f"{name}: the motion has no frames")
    bad = ~np.isfinite(arr)
    if bad.any():
        frame = int(np.argwhere(bad)[0][0])
        raise MotionInputError(f"{name}: contains NaN or infinite values (first at frame {frame})")
    if np.abs(arr).max() > 1e4:
        raise MotionInputError(f"{name}: coordinates up to {np.abs(arr).max():.3g}; expected metres")
    return arr


def load_joints(path: str | Path) -> np.ndarray:
    """Joints from a .npy file (never unpickles), validated."""
    path = Path(path)
    if not path.is_file():
        raise MotionInputError(f"{path}: no such file")
    try:
        arr = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise MotionInputError(f"{path}: not a readable .npy array ({exc})") from exc
    return validate_joints(arr, name=str(path))
