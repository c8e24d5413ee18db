"""Jerk at transitions: how abruptly a motion changes from one action to the next.

SafeMo's critique of codebook replacement is that swapped codes make jerky transitions; the HMU
paper promises "smooth transitions" but measures none. This module gives the measure the
unlearning evaluation reports (docs/evaluation.md).

Jerk is the third time derivative of the joint positions (finite differences at the clip's frame
rate, m/s³). For one clip:

* ``mean_jerk``: mean jerk magnitude over all joints and all frames;
* ``transition_jerk``: mean jerk magnitude over all joints in a window of ``window`` frames either
  side of each boundary between segments (boundaries closer than ``window`` to the clip's ends are
  skipped, so edge effects of the differences do not count);
* ``transition_ratio``: ``transition_jerk / mean_jerk``, scale-free: above 1 means the motion is
  rougher at its transitions than elsewhere.

Boundaries are given as frame indices; for generated motions they come from the judge's per-frame
action segments (:meth:`JudgeResult.segments`), since a generator does not say where one action ends.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from hmu_demo.motion.skeleton import FPS

__all__ = ["JERK_WINDOW", "MIN_SEGMENT", "JerkReport", "judged_transition_jerk", "jerk_magnitude", "transition_jerk",
           "segment_boundaries"]

#: Frames each side of an action boundary, and the shortest judged segment that counts as an action.
JERK_WINDOW = 5
MIN_SEGMENT = 4


@dataclass(frozen=True)
class JerkReport:
    mean_jerk: float
    transition_jerk: float | None      # None when the clip has no usable boundary
    transition_ratio: float | None
    boundaries: tuple[int, ...]


def jerk_magnitude(joints: np.ndarray, fps: int = FPS) -> np.ndarray:
    """(T, J, 3) positions -> (T-3, J) jerk magnitudes in m/s³; frame t of the output is centred
    between input frames t+1 and t+2."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[-1] != 3:
        raise ValueError(f"joints must have shape (T, J, 3), got {joints.shape}")
    if joints.shape[0] < 4:
        raise ValueError(f"jerk needs at least 4 frames, got {joints.shape[0]}")
    third = np.diff(joints, n=3, axis=0) * float(fps) ** 3
    return np.linalg.norm(third, axis=-1)


def segment_boundaries(segments: Sequence[dict], min_frames: int = 1) -> list[int]:
    """Frames where one segment ends and the next begins, ignoring segments shorter than ``min_frames``
    (a flicker of the per-frame classifier is not a transition)."""
    kept = [s for s in segments if int(s["end"]) - int(s["start"]) >= min_frames]
    out = []
    for a, b in zip(kept, kept[1:]):
        if a["action"] != b["action"]:
            out.append(int(b["start"]))
    return out


def transition_jerk(joints: np.ndarray, boundaries: Sequence[int], window: int = 5, fps: int = FPS) -> JerkReport:
    """Jerk around the given boundaries compared with the whole clip (see the module docstring)."""
    if window < 1:
        raise ValueError(f"window must be >= 1 frame, got {window}")
    jerk = jerk_magnitude(joints, fps)            # (T-3, J)
    per_frame = jerk.mean(axis=1)                 # (T-3,)
    mean_jerk = float(per_frame.mean())
    n = per_frame.shape[0]
    used, values = [], []
    for b in sorted(set(int(x) for x in boundaries)):
        centre = b - 2                            # output index closest to the boundary
        lo, hi = centre - window, centre + window
        if lo < 0 or hi > n:
            continue
        used.append(b)
        values.append(per_frame[lo:hi].mean())
    if not values:
        return JerkReport(mean_jerk, None, None, ())
    tj = float(np.mean(values))
    return JerkReport(mean_jerk, tj, tj / mean_jerk if mean_jerk > 0 else None, tuple(used))


def judged_transition_jerk(joints: np.ndarray, segments: Sequence[dict]) -> JerkReport | None:
    """Transition jerk at the boundaries between the judge's action segments of a clip (the quick
    evaluation and the benchmark report it the same way); None for a clip under 4 frames."""
    if joints.shape[0] < 4:
        return None
    return transition_jerk(joints, segment_boundaries(segments, MIN_SEGMENT), window=JERK_WINDOW)
