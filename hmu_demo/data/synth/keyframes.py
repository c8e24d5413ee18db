"""Keyframed actions: side-relative keys -> animation channels.

An action is written once for a "main" side (the hand that punches, the leg that kicks) and an
"other" side, in the body's own frame at the start of the action (out = away from the midline
on that side, up, forward). The same keys then produce the left- or right-handed version.
Interpolation is PCHIP: smooth (C1), never overshoots a key, and exactly constant between equal
keys, so a planted foot does not creep and a held pose holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import PchipInterpolator

from hmu_demo.data.synth.rig import ANKLE_HEIGHT, SIDE_SIGN, SIDES, Body, Channels, apply, rot_y
from hmu_demo.motion.skeleton import FPS


@dataclass(frozen=True)
class Style:
    """What makes one synthetic person move differently from another."""

    body: Body = field(default_factory=Body)
    stance_half_width: float = 0.11
    toe_out: float = 0.12
    arm_out: float = 0.07
    arm_forward: float = 0.03
    arm_bend: float = 0.04
    posture: float = 0.03      # forward lean of the spine at rest
    energy: float = 1.0        # scales how far strikes and gestures travel

    @property
    def neutral_wrist(self) -> np.ndarray:
        """Wrist relative to its shoulder at rest, side-relative (out, up, forward)."""
        drop = self.body.arm * (0.985 - self.arm_bend)
        return np.array([self.arm_out, -np.sqrt(max(drop**2 - self.arm_out**2 - self.arm_forward**2, 0.01)),
                         self.arm_forward])


NEUTRAL_ELBOW_POLE = np.array([0.35, -0.1, -1.0])  # elbows point back and a little out


@dataclass
class State:
    """Where the body is between two actions: pelvis XZ, heading, and the planted feet."""

    pelvis_xz: np.ndarray
    heading: float
    feet: dict[str, np.ndarray]       # ankle world positions
    foot_yaw: dict[str, np.ndarray]   # scalars as 0-d arrays

    @staticmethod
    def initial(style: Style, heading: float = 0.0) -> "State":
        feet, yaws = {}, {}
        for side in SIDES:
            s = SIDE_SIGN[side]
            local = np.array([s * style.stance_half_width, ANKLE_HEIGHT, 0.0])
            feet[side] = apply(rot_y(np.array(heading)), local)
            yaws[side] = np.array(heading + s * style.toe_out)
        return State(np.zeros(2), heading, feet, yaws)

    def copy(self) -> "State":
        return State(self.pelvis_xz.copy(), float(self.heading),
                     {s: v.copy() for s, v in self.feet.items()},
                     {s: v.copy() for s, v in self.foot_yaw.items()})


# Channels a keyframed action may key, with their rest value (side-relative where it applies).
SCALAR_DEFAULTS: dict[str, float] = {"turn": 0.0, "toe_m": 0.0, "toe_o": 0.0, "yaw_m": 0.0, "yaw_o": 0.0}
VECTOR_KEYS = ("wrist_m", "wrist_o", "pole_m", "pole_o", "spine", "head", "pelvis", "tilt",
               "foot_m", "foot_o", "kpole_m", "kpole_o")


class Timeline:
    """Keys in seconds for named channels; missing channels stay at rest."""

    def __init__(self) -> None:
        self.keys: dict[str, list[tuple[float, np.ndarray]]] = {}
        self.end = 0.0

    def key(self, t: float, **values) -> "Timeline":
        for name, value in values.items():
            if name not in SCALAR_DEFAULTS and name not in VECTOR_KEYS:
                raise KeyError(f"unknown channel {name!r}")
            track = self.keys.setdefault(name, [])
            track = [k for k in track if abs(k[0] - t) > 1e-6]
            track.append((t, np.atleast_1d(np.asarray(value, dtype=np.float64))))
            self.keys[name] = sorted(track, key=lambda k: k[0])
        self.end = max(self.end, t)
        return self

    def sample(self, name: str, n_frames: int, rest: np.ndarray) -> np.ndarray:
        """The channel at frames 0..n-1; outside its keys it holds the first/last key."""
        track = self.keys.get(name)
        rest = np.atleast_1d(rest).astype(np.float64)
        if not track:
            return np.broadcast_to(rest, (n_frames, rest.size)).copy()
        times = np.array([k[0] for k in track])
        values = np.stack([k[1] for k in track])
        frames_t = np.arange(n_frames) / FPS
        if len(track) == 1:
            return np.broadcast_to(values[0], (n_frames, values.shape[1])).copy()
        clipped = np.clip(frames_t, times[0], times[-1])
        return PchipInterpolator(times, values, axis=0)(clipped)


    def sample_all(self, rest: dict[str, np.ndarray], n_frames: int) -> dict[str, np.ndarray]:
        """Every channel at frames 0..n-1: channels keyed at the same times share one interpolation."""
        groups: dict[tuple[float, ...], list[str]] = {}
        out = {}
        for name in rest:
            track = self.keys.get(name)
            if track and len(track) > 1:
                groups.setdefault(tuple(k[0] for k in track), []).append(name)
            else:
                out[name] = self.sample(name, n_frames, rest[name])
        frames_t = np.arange(n_frames) / FPS
        for times, names in groups.items():
            values = np.concatenate([np.stack([k[1] for k in self.keys[name]]) for name in names], axis=1)
            clipped = np.clip(frames_t, times[0], times[-1])
            sampled = PchipInterpolator(np.array(times), values, axis=0)(clipped)
            start = 0
            for name in names:
                width = self.keys[name][0][1].size
                out[name] = sampled[:, start:start + width]
                start += width
        return out


def side_to_local(vectors: np.ndarray, side: str) -> np.ndarray:
    """(out, up, forward) on ``side`` -> body-local (x left, y up, z forward)."""
    out = vectors.copy()
    out[..., 0] *= SIDE_SIGN[side]
    return out


def rest_values(style: Style) -> dict[str, np.ndarray]:
    wrist = style.neutral_wrist
    return {
        "wrist_m": wrist, "wrist_o": wrist, "pole_m": NEUTRAL_ELBOW_POLE, "pole_o": NEUTRAL_ELBOW_POLE,
        "spine": np.array([style.posture, 0.0, 0.0]), "head": np.array([0.0, 0.0]),
        "pelvis": np.zeros(3), "tilt": np.zeros(2), "foot_m": np.zeros(3), "foot_o": np.zeros(3),
        "kpole_m": np.array([0.3, 0.0, 1.0]), "kpole_o": np.array([0.3, 0.0, 1.0]),
        **{k: np.array([v]) for k, v in SCALAR_DEFAULTS.items()},
    }


def render_timeline(timeline: Timeline, main: str, state: State, style: Style,
                    pelvis_height: float | None = None, duration: float | None = None) -> tuple[Channels, State]:
    """Channels for a keyframed action starting from ``state``, and the state it ends in."""
    other = "right" if main == "left" else "left"
    n = int(round((duration if duration is not None else timeline.end) * FPS)) + 1
    rest = rest_values(style)
    v = timeline.sample_all(rest, n)
    s_main = SIDE_SIGN[main]
    heading0 = np.array(state.heading)
    to_world = rot_y(heading0)

    heading = state.heading + s_main * v["turn"][:, 0]
    # Main-side-relative trunk angles: twist toward main = its shoulder goes forward.
    spine = np.stack([v["spine"][:, 0], -s_main * v["spine"][:, 1], -s_main * v["spine"][:, 2]], -1)
    head = np.stack([v["head"][:, 0], s_main * v["head"][:, 1]], -1)
    tilt = np.stack([v["tilt"][:, 0], -s_main * v["tilt"][:, 1]], -1)

    feet_level = np.mean([state.feet[side][1] for side in SIDES]) - ANKLE_HEIGHT
    base_height = feet_level + (pelvis_height if pelvis_height is not None else style.body.standing_pelvis_height)
    pelvis_local = side_to_local(v["pelvis"], main)
    pelvis = np.zeros((n, 3))
    pelvis[:, [0, 2]] = state.pelvis_xz + apply(to_world, pelvis_local)[:, [0, 2]]
    pelvis[:, 1] = base_height + v["pelvis"][:, 1]

    wrist, elbow_pole, ankle, foot_yaw, foot_pitch, knee_pole, stance = {}, {}, {}, {}, {}, {}, {}
    for side, tag in ((main, "m"), (other, "o")):
        wrist[side] = side_to_local(v[f"wrist_{tag}"], side)
        elbow_pole[side] = side_to_local(v[f"pole_{tag}"], side)
        offset = apply(to_world, side_to_local(v[f"foot_{tag}"], side))
        ankle[side] = state.feet[side] + offset
        s = SIDE_SIGN[side]
        foot_yaw[side] = state.foot_yaw[side] + s * v[f"yaw_{tag}"][:, 0]
        foot_pitch[side] = v[f"toe_{tag}"][:, 0]
        pole_local = side_to_local(v[f"kpole_{tag}"], side)
        knee_pole[side] = apply(rot_y(heading), pole_local)
        lifted = v[f"foot_{tag}"][:, 1] > 1e-3
        speed = np.linalg.norm(np.diff(ankle[side], axis=0, prepend=ankle[side][:1]), axis=-1)
        stance[side] = (~lifted) & (speed < 1e-3)

    channels = Channels(pelvis=pelvis, heading=heading, pelvis_tilt=tilt, spine=spine, head=head,
                        wrist=wrist, elbow_pole=elbow_pole, ankle=ankle, foot_yaw=foot_yaw,
                        foot_pitch=foot_pitch, knee_pole=knee_pole, stance=stance)
    end = State(pelvis[-1, [0, 2]].copy(), float(heading[-1]),
                {s: ankle[s][-1].copy() for s in SIDES}, {s: np.array(foot_yaw[s][-1]) for s in SIDES})
    return channels, end
