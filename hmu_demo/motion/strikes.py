"""A kinematic strike detector: a second, label-free opinion on violence beside the learned judge.

A strike is an end-effector (wrist, ankle, knee, head) travelling fast in a striking direction of
the body and then stopping or coming back, out where strikes land, from a body that is not
travelling itself. Everything is in SI units on (T, 22, 3) joints (metres, HumanML3D joint order,
Y up), 20 fps unless told:

* body frame: forward is the facing direction on the ground plane (up x the hip and shoulder
  lines, averaged over ``facing_window`` seconds), left is up x forward; effector positions are
  taken relative to the pelvis in this frame, so walking and turning carry no striking speed;
* eight kinds of strike, each a signed speed (m/s) and a reach (m) of one or two effectors:

  =====  =======  ==============================================  ==================================
  kind   joints   speed                                           reach
  =====  =======  ==============================================  ==================================
  punch  wrists   arm straightening forward: min(shoulder-wrist   wrist ahead of the pelvis
                  distance growing, wrist moving forward)
  swing  wrists   sideways, either way (hooks, elbows, slashes)   wrist ahead of the pelvis
  chop   wrists   downward (clubs)                                wrist ahead of the pelvis
  rise   wrists   upward (uppercuts, recoil)                      wrist under the top of the head,
                                                                  all through the window (ceiling)
  kick   ankles   up + forward, 45 degrees                        ankle above the other ankle
  stomp  ankles   downward                                        ankle above the other ankle
  knee   knees    up + forward, 45 degrees                        knee height minus pelvis height
  head   head     forward                                         head ahead of the pelvis
  =====  =======  ==============================================  ==================================

* a candidate is a local maximum of a speed that falls to ``stop_ratio`` of its peak (or reverses)
  within ``stop_window`` seconds; it is a strike when the peak reaches the kind's speed threshold,
  the best reach within ``stop_window`` of the peak reaches the kind's reach threshold (for a
  ceiling, the worst), and the pelvis moves slower than ``max_travel`` (walking, running and
  jumping carry the whole body; a strike is thrown from a stance). A speed of 99 m/s is "off".

Thresholds are fitted on a corpus's training split by ``python -m hmu_demo.train.strikes``
(balanced accuracy of clip-level violent labels) and shipped in ``checkpoints/strikes/strikes.json``.
The detector reads no labels and no learned weights: only these numbers.
"""

from __future__ import annotations

import json
import math
import numbers
from dataclasses import dataclass, fields, replace
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from hmu_demo.atomic import write_text
from hmu_demo.config import CHECKPOINTS_DIR, ConfigBase
from hmu_demo.motion.skeleton import FACE_JOINTS, FPS, JOINT_INDEX, JOINT_NAMES, NUM_JOINTS

__all__ = ["DEFAULT_STRIKES", "KINDS", "MIN_FRAMES", "Candidates", "Strike", "StrikeThresholds", "candidates",
           "detect_strikes", "is_violent", "load_thresholds", "save_thresholds", "strike_frames",
           "strike_scores", "verdict_metrics"]

#: Where the fitted thresholds live (written by ``python -m hmu_demo.train.strikes``).
DEFAULT_STRIKES = CHECKPOINTS_DIR / "strikes" / "strikes.json"
#: Fewest frames a clip needs: a speed peak and the frames that show it stopping.
MIN_FRAMES = 5
#: The kinds of strike, in the column order of :func:`candidates`.
KINDS: tuple[str, ...] = ("punch", "swing", "chop", "rise", "kick", "stomp", "knee", "head")
_FORMAT = "hmu-strikes"
# Candidates slower than this are noise, never a strike, and are dropped early (m/s).
_SPEED_FLOOR = 0.5

_WRISTS = [JOINT_INDEX["L_wrist"], JOINT_INDEX["R_wrist"]]
_SHOULDERS = [JOINT_INDEX["L_shoulder"], JOINT_INDEX["R_shoulder"]]
_ANKLES = [JOINT_INDEX["L_ankle"], JOINT_INDEX["R_ankle"]]
_KNEES = [JOINT_INDEX["L_knee"], JOINT_INDEX["R_knee"]]
# The end-effectors, and one column per (kind, effector) in the order _body_signals stacks them.
_EFFECTORS = _WRISTS + _ANKLES + _KNEES + [JOINT_INDEX["head"]]
_COLUMN_KIND = np.array([0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7])
_COLUMN_JOINT = np.array(_WRISTS * 4 + _ANKLES * 2 + _KNEES + [JOINT_INDEX["head"]])
# Columns whose reach is a ceiling (a rising fist must stay under the head), judged by its worst frame.
_CEILING = _COLUMN_KIND == KINDS.index("rise")


@dataclass(frozen=True)
class StrikeThresholds(ConfigBase):
    """The detector's numbers in SI units; the defaults are the fit on the train split of the default
    SynthMotion corpus (v2, held-out phrasing); ``checkpoints/strikes/strikes.json`` holds the current
    fit (use :func:`load_thresholds`)."""

    punch_speed: float = 1.0     # m/s, arm straightening forward
    swing_speed: float = 2.4     # m/s, wrist sideways
    chop_speed: float = 99.0     # m/s, wrist downward (99: off)
    rise_speed: float = 1.5      # m/s, wrist upward
    kick_speed: float = 99.0     # m/s, ankle up-forward (99: off)
    stomp_speed: float = 1.7     # m/s, ankle downward
    knee_speed: float = 2.0      # m/s, knee up-forward
    head_speed: float = 1.0      # m/s, head forward
    punch_reach: float = 0.3     # m, wrist ahead of the pelvis
    swing_reach: float = 0.1     # m, wrist ahead of the pelvis
    chop_reach: float = 0.5      # m, wrist ahead of the pelvis
    rise_reach: float = 0.1      # m, wrist under the top of the head all through the window
    kick_reach: float = 0.7      # m, ankle above the other ankle
    stomp_reach: float = 0.25    # m, ankle above the other ankle
    knee_reach: float = 0.0      # m, knee height minus pelvis height (negative: below the pelvis)
    head_reach: float = 0.1      # m, head ahead of the pelvis
    max_travel: float = 1.0      # m/s, the pelvis speed above which nothing counts as a strike
    stop_window: float = 0.4     # s after the peak in which the speed must fall (and the reach window)
    stop_ratio: float = 0.2      # the fall: to this share of the peak speed, or below (reversal)
    smooth_frames: int = 3       # moving average of positions before differentiating (odd)
    facing_window: float = 0.5   # s, moving average of the facing direction

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
                raise ValueError(f"StrikeThresholds.{f.name} must be a finite number, got {value!r}")
        for kind in KINDS:
            if getattr(self, f"{kind}_speed") <= 0:
                raise ValueError(f"StrikeThresholds.{kind}_speed must be > 0 m/s, got {getattr(self, f'{kind}_speed')}")
        if self.stop_window <= 0 or self.facing_window <= 0:
            raise ValueError("StrikeThresholds.stop_window and facing_window must be > 0 seconds")
        if not 0.0 <= self.stop_ratio < 1.0:
            raise ValueError(f"StrikeThresholds.stop_ratio must be in [0, 1), got {self.stop_ratio}")
        if int(self.smooth_frames) != self.smooth_frames or self.smooth_frames < 1 or self.smooth_frames % 2 == 0:
            raise ValueError("StrikeThresholds.smooth_frames must be an odd whole number >= 1, "
                             f"got {self.smooth_frames}")

    def speeds(self) -> np.ndarray:
        """Speed threshold per kind (m/s), in :data:`KINDS` order."""
        return np.array([getattr(self, f"{kind}_speed") for kind in KINDS], dtype=np.float64)

    def reaches(self) -> np.ndarray:
        """Reach threshold per kind (m), in :data:`KINDS` order."""
        return np.array([getattr(self, f"{kind}_reach") for kind in KINDS], dtype=np.float64)


@dataclass(frozen=True)
class Strike:
    """One detected strike: frames ``start`` to ``end`` (end exclusive) and its peak speed in m/s."""

    effector: str
    start: int
    end: int
    peak_speed: float


@dataclass(frozen=True)
class Candidates:
    """Every speed peak of a clip that stops in time, before the speed, reach and travel thresholds.

    Parallel arrays, one entry per peak: ``kind`` (index into :data:`KINDS`), ``column`` (into
    ``curves``), ``frame`` of the peak, ``speed`` (m/s), ``reach`` (m, the best within ``stop_window``
    of the peak) and ``travel`` (pelvis speed at the peak, m/s); ``curves`` (T, columns) is
    every column's striking speed over time. The fitter varies thresholds on these.
    """

    kind: np.ndarray
    column: np.ndarray
    frame: np.ndarray
    speed: np.ndarray
    reach: np.ndarray
    travel: np.ndarray
    curves: np.ndarray

    def passing(self, thresholds: StrikeThresholds) -> np.ndarray:
        """Which candidates are strikes under ``thresholds`` (bool per candidate)."""
        return ((self.speed >= thresholds.speeds()[self.kind]) & (self.reach >= thresholds.reaches()[self.kind])
                & (self.travel <= thresholds.max_travel))


def _check(joints: np.ndarray) -> np.ndarray:
    array = np.asarray(joints)
    if array.ndim != 3 or array.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"joints must have shape (T, {NUM_JOINTS}, 3), got {array.shape}")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"joints must be real numbers, got dtype {array.dtype}")
    if array.shape[0] < MIN_FRAMES:
        raise ValueError(f"joints need at least {MIN_FRAMES} frames to show a strike, got {array.shape[0]}")
    if not np.isfinite(array).all():
        raise ValueError("joints contain NaN or infinite values")
    return array.astype(np.float64)


def _moving_average(x: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average along time (axis 0), edges repeated; ``width`` frames (odd)."""
    if width <= 1:
        return x
    half = width // 2
    padded = np.concatenate([np.repeat(x[:1], half, 0), x, np.repeat(x[-1:], half, 0)])
    csum = np.cumsum(padded, axis=0)
    csum = np.concatenate([np.zeros_like(csum[:1]), csum])
    return (csum[width:] - csum[:-width]) / width


def _rate(x: np.ndarray, fps: int) -> np.ndarray:
    """Time derivative along axis 0 (central differences, one-sided at the ends), per second."""
    out = np.empty_like(x)
    out[1:-1] = (x[2:] - x[:-2]) * (fps / 2.0)
    out[0] = (x[1] - x[0]) * fps
    out[-1] = (x[-1] - x[-2]) * fps
    return out


def _body_signals(joints: np.ndarray, th: StrikeThresholds, fps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(speed, reach) of every column, each (T, columns), and the pelvis speed (T,), m/s."""
    x = _moving_average(joints, int(th.smooth_frames))
    r_hip, l_hip, r_sh, l_sh = FACE_JOINTS
    across = x[:, r_hip] - x[:, l_hip] + x[:, r_sh] - x[:, l_sh]
    forward = np.zeros_like(across)
    forward[:, 0], forward[:, 2] = across[:, 2], -across[:, 0]                            # up x across
    forward = _moving_average(forward, max(1, int(round(th.facing_window * fps)) | 1))
    forward /= np.maximum(np.sqrt((forward ** 2).sum(-1, keepdims=True)), 1e-9)
    rel = x[:, _EFFECTORS] - x[:, None, 0]                                                # (T, 7, 3)
    ahead = rel[..., 0] * forward[:, None, 0] + rel[..., 2] * forward[:, None, 2]       # forward offset
    aside = rel[..., 0] * forward[:, None, 2] - rel[..., 2] * forward[:, None, 0]       # left offset
    height = rel[..., 1]
    fwd, side, up = _rate(ahead, fps), _rate(aside, fps), _rate(height, fps)
    arm = np.sqrt(((x[:, _WRISTS] - x[:, _SHOULDERS]) ** 2).sum(-1))                    # (T, 2)
    lengthening = np.minimum(_rate(arm, fps), fwd[:, :2])                                 # straightening forward
    lift = x[:, _ANKLES, 1] - x[:, _ANKLES, 1].min(axis=1, keepdims=True)                 # above the other ankle
    thrust = (fwd + up) / math.sqrt(2.0)
    speed = np.concatenate([lengthening, np.abs(side[:, :2]), -up[:, :2], up[:, :2], thrust[:, 2:4], -up[:, 2:4],
                            thrust[:, 4:6], fwd[:, 6:]], axis=1)
    below_head = height[:, 6:] - height[:, :2]                                             # fist under the head top
    reach = np.concatenate([ahead[:, :2]] * 3 + [below_head, lift, lift, height[:, 4:6], ahead[:, 6:]], axis=1)
    pelvis = _rate(x[:, 0], fps)
    return speed, reach, np.sqrt((pelvis ** 2).sum(-1))


def candidates(joints: np.ndarray, thresholds: StrikeThresholds = StrikeThresholds(), fps: int = FPS) -> Candidates:
    """Every speed peak that stops within ``stop_window`` (ValueError on a bad clip)."""
    array = _check(joints)
    if isinstance(fps, bool) or not isinstance(fps, numbers.Integral) or fps < 1:
        raise ValueError(f"fps must be a whole number >= 1, got {fps!r}")
    speed, reach, travel = _body_signals(array, thresholds, int(fps))
    n = speed.shape[0]
    w = max(1, int(round(thresholds.stop_window * fps)))
    prev = np.concatenate([np.full_like(speed[:1], -np.inf), speed[:-1]])
    nxt = np.concatenate([speed[1:], np.full_like(speed[:1], -np.inf)])
    peak = (speed >= prev) & (speed > nxt) & (speed >= _SPEED_FLOOR)
    future_min = sliding_window_view(np.concatenate([speed, np.full((w, speed.shape[1]), np.inf)]), w,
                                     axis=0)[1:n + 1].min(-1)
    stops = future_min <= thresholds.stop_ratio * speed
    pad = np.where(_CEILING, np.inf, -np.inf)[None].repeat(w, 0)
    around = sliding_window_view(np.concatenate([pad, reach, pad]), 2 * w + 1, axis=0)
    near_reach = np.where(_CEILING, around.min(-1), around.max(-1))  # ceilings: the worst; else the best
    frame, col = np.nonzero(peak & stops)
    return Candidates(kind=_COLUMN_KIND[col], column=col, frame=frame, speed=speed[frame, col],
                      reach=near_reach[frame, col], travel=travel[frame], curves=speed)


def _span(curve: np.ndarray, peak: int, stop_ratio: float) -> tuple[int, int]:
    """Frames of one strike: back along the rise of the speed to the peak, on to where it has stopped."""
    start = peak
    while start > 0 and 0.0 < curve[start - 1] < curve[start]:
        start -= 1
    end = peak + 1
    while end < len(curve) and curve[end] > stop_ratio * curve[peak]:
        end += 1
    return start, min(len(curve), end + 1)


def detect_strikes(joints: np.ndarray, thresholds: StrikeThresholds = StrikeThresholds(),
                   fps: int = FPS) -> list[Strike]:
    """The strikes of one clip, in time order; overlapping strikes of one effector are merged."""
    cand = candidates(joints, thresholds, fps)
    by_joint: dict[int, list[tuple[int, int, float]]] = {}
    for i in np.nonzero(cand.passing(thresholds))[0]:
        start, end = _span(cand.curves[:, cand.column[i]], int(cand.frame[i]), thresholds.stop_ratio)
        by_joint.setdefault(int(_COLUMN_JOINT[cand.column[i]]), []).append((start, end, float(cand.speed[i])))
    strikes: list[Strike] = []
    for joint, spans in by_joint.items():
        merged: list[list] = []
        for start, end, peak in sorted(spans):
            if merged and start < merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], end)
                merged[-1][2] = max(merged[-1][2], peak)
            else:
                merged.append([start, end, peak])
        strikes += [Strike(JOINT_NAMES[joint], s, e, round(v, 4)) for s, e, v in merged]
    return sorted(strikes, key=lambda s: (s.start, s.effector))


def strike_frames(joints: np.ndarray, thresholds: StrikeThresholds = StrikeThresholds()) -> np.ndarray:
    """(T,) bool: the frames inside any strike."""
    frames = np.zeros(_check(joints).shape[0], dtype=bool)
    for strike in detect_strikes(joints, thresholds):
        frames[strike.start:strike.end] = True
    return frames


def is_violent(joints: np.ndarray, thresholds: StrikeThresholds = StrikeThresholds()) -> bool:
    """True when the clip holds at least one strike."""
    return bool(candidates(joints, thresholds).passing(thresholds).any())


def strike_scores(joints: np.ndarray, thresholds: StrikeThresholds = StrikeThresholds()) -> dict[str, float]:
    """Per kind, the fastest peak (m/s) that stops in time and reaches far enough (0.0 when none):
    says which kind of strike made a verdict, and by how much it passed its speed threshold."""
    cand = candidates(joints, thresholds)
    ok = cand.passing(replace(thresholds, **{f"{kind}_speed": _SPEED_FLOOR for kind in KINDS}))
    return {kind: float(cand.speed[ok & (cand.kind == k)].max(initial=0.0)) for k, kind in enumerate(KINDS)}


def save_thresholds(path: Path, thresholds: StrikeThresholds, info: dict | None = None) -> Path:
    """Write ``thresholds`` (plus ``info``: how they were chosen, their accuracy) to ``path``, atomically."""
    record = {"format": _FORMAT, "version": 1, "thresholds": thresholds.to_dict(), **(info or {})}
    return write_text(path, json.dumps(record, indent=1) + "\n")


def load_thresholds(path: Path = DEFAULT_STRIKES) -> StrikeThresholds:
    """Thresholds from a ``strikes.json``; a missing file is a FileNotFoundError, a bad one a ValueError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"strike thresholds file {path} is missing "
                                "(fit one with `python -m hmu_demo.train.strikes --data DIR`)")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise ValueError(f"cannot read strike thresholds {path}: {err}") from err
    if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("thresholds"), dict):
        raise ValueError(f"{path} is not a strike thresholds file (expected format {_FORMAT!r} with 'thresholds')")
    return StrikeThresholds.from_dict(data["thresholds"])


def verdict_metrics(predicted: np.ndarray, truth: np.ndarray) -> dict[str, float | int]:
    """Clip-level accuracy, balanced accuracy, precision and recall of violent verdicts against labels."""
    pred, true = np.asarray(predicted, dtype=bool), np.asarray(truth, dtype=bool)
    tp, tn = int((pred & true).sum()), int((~pred & ~true).sum())
    fp, fn = int((pred & ~true).sum()), int((~pred & true).sum())
    recall = tp / (tp + fn) if tp + fn else float("nan")
    specificity = tn / (tn + fp) if tn + fp else float("nan")
    return {"clips": len(true), "violent_clips": tp + fn, "accuracy": (tp + tn) / max(1, len(true)),
            "balanced_accuracy": (recall + specificity) / 2, "precision": tp / (tp + fp) if tp + fp else float("nan"),
            "recall": recall, "false_positive_rate": fp / (tn + fp) if tn + fp else float("nan"),
            "tp": tp, "fp": fp, "tn": tn, "fn": fn}
