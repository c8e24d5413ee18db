"""The SynthMotion action library: 16 violent and 28 safe actions, each parameterised.

Keyframed actions are written pose to pose for a "main" side (see ``keyframes``); every key sets
the whole pose, so nothing drifts between keys. Wrist targets are relative to the shoulder in
the chest frame as (out, up, forward); foot keys are ankle offsets from where that foot stood at
the start of the action, in the start frame. Positive "turn" turns toward the main side and
positive "spine" twist brings the main shoulder forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from hmu_demo.data.synth.gait import JOG, RUN, WALK, Gait, Path, locomote
from hmu_demo.data.synth.keyframes import NEUTRAL_ELBOW_POLE, State, Style, Timeline, rest_values, render_timeline
from hmu_demo.data.synth.rig import Channels


@dataclass(frozen=True)
class Params:
    """What varies between two performances of one action."""

    side: str = "right"          # main side: the hand that strikes, the leg that kicks, the way it turns
    speed: float = 1.0
    amplitude: float = 1.0
    count: int = 1
    direction: str = "forward"   # locomotion: forward, backward, left, right
    distance: float = 3.0        # locomotion: metres (or degrees for turning)


@dataclass(frozen=True)
class ActionSpec:
    name: str
    violent: bool
    tags: tuple[str, ...]
    build: Callable[[Params, State, Style], tuple[Channels, State]]
    sided: bool = True
    count_range: tuple[int, int] = (1, 1)
    distance_range: tuple[float, float] = (0.0, 0.0)
    directions: tuple[str, ...] = ("forward",)
    speed_range: tuple[float, float] = (0.8, 1.25)


class Keys:
    """Pose-to-pose key writer: each ``pose`` call sets every channel (unchanged ones hold)."""

    def __init__(self, style: Style, speed: float) -> None:
        rest = rest_values(style)
        self.timeline = Timeline()
        self.current = {k: np.asarray(v, dtype=float).copy() for k, v in rest.items()}
        self.rest = {k: v.copy() for k, v in self.current.items()}
        self.speed = speed
        self.t = 0.0
        self._key()

    def _key(self) -> None:
        self.timeline.key(self.t, **self.current)

    def pose(self, dt: float, **values) -> "Keys":
        """Reach ``values`` ``dt`` seconds (at speed 1) after the previous key."""
        self.t += dt / self.speed
        for name, value in values.items():
            self.current[name] = np.atleast_1d(np.asarray(value, dtype=float))
        self._key()
        return self

    def hold(self, dt: float) -> "Keys":
        return self.pose(dt)

    def relax(self, dt: float, keep: tuple[str, ...] = ()) -> "Keys":
        """Back to the rest pose, except the channels in ``keep`` (feet that moved stay)."""
        values = {k: v for k, v in self.rest.items() if k not in keep}
        return self.pose(dt, **values)

    @property
    def neutral_wrist(self) -> np.ndarray:
        return self.rest["wrist_m"]


GUARD = dict(wrist_m=(-0.06, 0.02, 0.24), wrist_o=(-0.07, 0.0, 0.22), pole_m=(0.5, -1, -0.1), pole_o=(0.5, -1, -0.1))
ELBOW_DOWN = (0.4, -1.0, 0.0)


def keyed(builder: Callable[[Keys, Params, Style], None]) -> Callable[[Params, State, Style], tuple[Channels, State]]:
    """Turn a key-writing function into an action builder."""
    def build(p: Params, state: State, style: Style) -> tuple[Channels, State]:
        keys = Keys(style, p.speed)
        builder(keys, p, style)
        return render_timeline(keys.timeline, p.side, state, style)
    build.__doc__ = builder.__doc__
    return build


# ---------------------------------------------------------------- violent: strikes with the hands

@keyed
def jab(k: Keys, p: Params, s: Style) -> None:
    """Quick straight punches with the lead (main) hand from a guard."""
    a = p.amplitude * s.energy
    k.pose(0.35, spine=(0.08, 0, -0.1), **GUARD)
    for _ in range(p.count):
        k.pose(0.12, wrist_m=(-0.1, 0.06, 0.5 * a), pole_m=ELBOW_DOWN, spine=(0.1, 0, 0.05))
        k.pose(0.18, **GUARD, spine=(0.08, 0, -0.1))
    k.hold(0.15).relax(0.4)


@keyed
def cross(k: Keys, p: Params, s: Style) -> None:
    """Straight punch with the rear (main) hand: hips and shoulders turn into it."""
    a = p.amplitude * s.energy
    k.pose(0.35, spine=(0.05, 0, -0.2), **GUARD)
    for _ in range(p.count):
        k.pose(0.15, wrist_m=(-0.18, 0.05, 0.52 * a), pole_m=ELBOW_DOWN, spine=(0.15, 0, 0.45),
               pelvis=(0, -0.02, 0.05), turn=(0.12,), head=(0.05, -0.1))
        k.pose(0.22, **GUARD, spine=(0.05, 0, -0.2), pelvis=(0, 0, 0), turn=(0,), head=(0, 0))
    k.hold(0.15).relax(0.4)


@keyed
def hook(k: Keys, p: Params, s: Style) -> None:
    """Hook: the arm bent at a right angle swings horizontally across at head height."""
    a = p.amplitude * s.energy
    k.pose(0.35, spine=(0.08, 0, -0.15), **GUARD)
    for _ in range(p.count):
        k.pose(0.15, wrist_m=(0.2, 0.02, 0.2), pole_m=(1, 0.3, -0.4), spine=(0.08, 0.05, -0.35))
        k.pose(0.13, wrist_m=(-0.18 * a, 0.06, 0.36), pole_m=(1, 0.3, 0.0), spine=(0.12, -0.05, 0.5),
               turn=(0.15,))
        k.pose(0.25, **GUARD, spine=(0.08, 0, -0.15), turn=(0,))
    k.hold(0.15).relax(0.4)


@keyed
def uppercut(k: Keys, p: Params, s: Style) -> None:
    """Uppercut: dip at the knees, then drive the fist upward to chin height."""
    a = p.amplitude * s.energy
    k.pose(0.35, spine=(0.08, 0, -0.1), **GUARD)
    for _ in range(p.count):
        k.pose(0.18, wrist_m=(0.0, -0.32, 0.18), pole_m=(0.3, -1, -0.5), pelvis=(0.03, -0.1, 0),
               spine=(0.25, 0.15, -0.25))
        k.pose(0.14, wrist_m=(-0.12, 0.12 * a, 0.3), pole_m=(0.2, -1, 0.1), pelvis=(0, 0.0, 0.02),
               spine=(0.0, -0.05, 0.4), head=(-0.15, 0))
        k.pose(0.25, **GUARD, pelvis=(0, 0, 0), spine=(0.08, 0, -0.1), head=(0, 0))
    k.hold(0.15).relax(0.4)


@keyed
def elbow_strike(k: Keys, p: Params, s: Style) -> None:
    """Elbow strike: forearm folded, the elbow swings horizontally across at face height."""
    a = p.amplitude * s.energy
    k.pose(0.35, **GUARD, spine=(0.05, 0, -0.1))
    for _ in range(p.count):
        k.pose(0.18, wrist_m=(0.06, 0.1, 0.11), pole_m=(1, 0.2, 0.2), spine=(0.05, 0, -0.4))
        k.pose(0.13, wrist_m=(-0.3, 0.08, 0.1), pole_m=(0.3, 0.1, 1), spine=(0.12, 0, 0.55 * a),
               turn=(0.15,))
        k.pose(0.25, **GUARD, spine=(0.05, 0, -0.1), turn=(0,))
    k.hold(0.15).relax(0.4)


@keyed
def stab(k: Keys, p: Params, s: Style) -> None:
    """Stabbing: a blade held low at the hip is thrust forward at belly height, again and again."""
    a = p.amplitude * s.energy
    k.pose(0.4, wrist_m=(0.05, -0.36, -0.04), pole_m=(0.3, -0.3, -1), wrist_o=(-0.05, -0.15, 0.25),
           pole_o=ELBOW_DOWN, spine=(0.15, 0, -0.2), pelvis=(0, -0.04, 0), foot_o=(0, 0, 0))
    for i in range(p.count):
        k.pose(0.13, wrist_m=(-0.1, -0.22, 0.5 * a), pole_m=(0.4, -1, -0.2), spine=(0.3, 0, 0.3),
               pelvis=(0, -0.05, 0.08))
        k.pose(0.2, wrist_m=(0.05, -0.34, 0.0), pole_m=(0.3, -0.3, -1), spine=(0.15, 0, -0.2),
               pelvis=(0, -0.04, 0))
    k.hold(0.1).relax(0.45)


@keyed
def slash(k: Keys, p: Params, s: Style) -> None:
    """Slashing with a blade: a fast diagonal cut from high on the main side down across the body."""
    a = p.amplitude * s.energy
    for _ in range(p.count):
        # Up by the side, so the hand does not pass the shoulder (which would fold the elbow).
        k.pose(0.2, wrist_m=(0.4, -0.05, 0.12), pole_m=(1, -0.4, -0.4), wrist_o=(-0.05, -0.2, 0.2), pole_o=ELBOW_DOWN)
        k.pose(0.2, wrist_m=(0.25, 0.32, 0.05), pole_m=(1, 0.2, -0.5), spine=(-0.05, -0.1, -0.45))
        k.pose(0.24, wrist_m=(-0.4 * a, -0.35, 0.32), pole_m=(0.5, -0.5, 0.5), spine=(0.3, 0.15, 0.45),
               pelvis=(0, -0.04, 0.05))
        k.pose(0.2, wrist_m=(-0.42 * a, -0.42, 0.2), spine=(0.32, 0.15, 0.5))  # follow through
        k.hold(0.1)
    k.relax(0.45)


@keyed
def club_strike(k: Keys, p: Params, s: Style) -> None:
    """Overhead strike with a club in both hands: raised above the head, brought down hard."""
    a = p.amplitude * s.energy
    for i in range(p.count):
        if i == 0:  # hands come up in front, not through the shoulders
            k.pose(0.3, wrist_m=(-0.1, -0.1, 0.4), wrist_o=(-0.1, -0.1, 0.4), pole_m=ELBOW_DOWN, pole_o=ELBOW_DOWN)
        k.pose(0.45, wrist_m=(-0.12, 0.46, -0.02), wrist_o=(-0.12, 0.46, -0.02), pole_m=(0.3, 0.2, 1),
               pole_o=(0.3, 0.2, 1), spine=(-0.15, 0, 0), head=(-0.1, 0))
        k.pose(0.18, wrist_m=(-0.15, -0.3, 0.4 * a), wrist_o=(-0.15, -0.3, 0.4 * a), pole_m=ELBOW_DOWN,
               pole_o=ELBOW_DOWN, spine=(0.45 * a, 0, 0), pelvis=(0, -0.08, 0.04), head=(0.2, 0))
        k.hold(0.15)
    k.pose(0.35, wrist_m=(-0.1, -0.2, 0.35), wrist_o=(-0.1, -0.2, 0.35), pole_m=ELBOW_DOWN, pole_o=ELBOW_DOWN)
    k.relax(0.4)


@keyed
def shoot_handgun(k: Keys, p: Params, s: Style) -> None:
    """Shooting a handgun: both arms raised straight to aim, a sharp recoil at each shot."""
    aim = dict(wrist_m=(-0.16, 0.04, 0.5), wrist_o=(-0.2, 0.0, 0.47), pole_m=ELBOW_DOWN, pole_o=ELBOW_DOWN,
               head=(0.05, 0.0), spine=(0.06, 0, 0.1))
    k.pose(0.45, **aim).hold(0.3)
    for _ in range(p.count):
        k.pose(0.06, wrist_m=(-0.16, 0.15 * p.amplitude, 0.42), wrist_o=(-0.2, 0.1, 0.41),
               head=(-0.05, 0.0), spine=(0.0, 0, 0.1))
        k.pose(0.22, **aim).hold(0.2)
    k.relax(0.5)


@keyed
def headbutt(k: Keys, p: Params, s: Style) -> None:
    """Headbutt: grab in front, pull the head back, then drive the forehead forward hard."""
    grab = dict(wrist_m=(-0.1, 0.08, 0.42), wrist_o=(-0.1, 0.08, 0.42), pole_m=ELBOW_DOWN, pole_o=ELBOW_DOWN)
    k.pose(0.35, **grab)
    for _ in range(p.count):
        k.pose(0.25, spine=(-0.2, 0, 0), head=(-0.35, 0), pelvis=(0, 0, -0.03))
        k.pose(0.12, spine=(0.4 * p.amplitude, 0, 0), head=(0.45, 0), pelvis=(0, -0.03, 0.08),
               wrist_m=(-0.1, 0.0, 0.3), wrist_o=(-0.1, 0.0, 0.3))
        k.pose(0.25, spine=(0.03, 0, 0), head=(0, 0), pelvis=(0, 0, 0), **grab)
    k.relax(0.45)


@keyed
def shove(k: Keys, p: Params, s: Style) -> None:
    """Shoving someone: both palms at the chest, a step in and a violent two-handed push."""
    k.pose(0.35, wrist_m=(-0.1, -0.12, 0.2), wrist_o=(-0.1, -0.12, 0.2), pole_m=ELBOW_DOWN, pole_o=ELBOW_DOWN,
           spine=(0.05, 0, 0))
    k.pose(0.14, foot_m=(0, 0.08, 0.18), pelvis=(0, 0, 0.1))
    k.pose(0.14, foot_m=(0, 0, 0.32), wrist_m=(-0.12, 0.0, 0.5 * p.amplitude), wrist_o=(-0.12, 0.0, 0.5 * p.amplitude),
           spine=(0.3, 0, 0), pelvis=(0, -0.05, 0.2))
    k.hold(0.15)
    k.pose(0.3, wrist_m=(-0.1, -0.15, 0.25), wrist_o=(-0.1, -0.15, 0.25), spine=(0.05, 0, 0), pelvis=(0, 0, 0.2))
    k.pose(0.25, foot_o=(0, 0.07, 0.16), pelvis=(0, 0, 0.26))
    k.pose(0.25, foot_o=(0, 0, 0.32), pelvis=(0, 0, 0.32))
    k.relax(0.35, keep=("foot_m", "foot_o", "pelvis"))


# ---------------------------------------------------------------- violent: strikes with the legs

def _kick(k: Keys, p: Params, chamber: dict, strike: dict, lean: tuple, turn: float) -> None:
    """Shared timing of a kick: shift weight, chamber, extend, re-chamber, set the foot down."""
    k.pose(0.35, **GUARD, pelvis=(-0.08, -0.03, 0), spine=(0.05, 0, 0))
    for _ in range(p.count):
        k.pose(0.2, **chamber, turn=(turn * 0.6,), spine=lean)
        k.pose(0.14, **strike, turn=(turn,))
        k.pose(0.18, **chamber, turn=(turn * 0.6,))
    k.pose(0.25, foot_m=(0, 0, 0.12), kpole_m=(0.3, 0, 1), pelvis=(0, -0.02, 0.06), turn=(0,), spine=(0.05, 0, 0))
    k.relax(0.4, keep=("foot_m", "pelvis"))


@keyed
def front_kick(k: Keys, p: Params, s: Style) -> None:
    """Front kick: knee up, the foot snaps straight forward at belly height, then back down."""
    a = p.amplitude * s.energy
    _kick(k, p, chamber=dict(foot_m=(0, 0.4, 0.25), kpole_m=(0.1, 0.4, 1)),
          strike=dict(foot_m=(-0.05, 0.55 * a, 0.68), kpole_m=(0.1, 1, 0.4)), lean=(-0.15, 0, 0), turn=0.0)


@keyed
def side_kick(k: Keys, p: Params, s: Style) -> None:
    """Side kick: the body turns side-on and the heel thrusts out sideways toward the target."""
    a = p.amplitude * s.energy
    _kick(k, p, chamber=dict(foot_m=(-0.08, 0.42, 0.18), kpole_m=(1, 0.5, 0.3)),
          strike=dict(foot_m=(-0.08, 0.62 * a, 0.72), kpole_m=(1, 1, 0)), lean=(0, -0.35, 0), turn=-1.2)


@keyed
def roundhouse_kick(k: Keys, p: Params, s: Style) -> None:
    """Roundhouse kick: the leg chambers out to the side and whips around at head height."""
    a = p.amplitude * s.energy
    _kick(k, p, chamber=dict(foot_m=(0.28, 0.45, 0.0), kpole_m=(0.8, 0.4, 1.0)),
          strike=dict(foot_m=(-0.1, 0.78 * a, 0.72), kpole_m=(0.7, 0.6, 0.5)), lean=(-0.05, -0.45, 0),
          turn=-0.9)


@keyed
def knee_strike(k: Keys, p: Params, s: Style) -> None:
    """Knee strike: hands clinch and pull down while the knee drives up into the target."""
    clinch = dict(wrist_m=(-0.15, 0.1, 0.4), wrist_o=(-0.15, 0.1, 0.4), pole_m=ELBOW_DOWN, pole_o=ELBOW_DOWN)
    k.pose(0.35, **clinch, pelvis=(-0.07, -0.02, 0))
    for _ in range(p.count):
        k.pose(0.18, foot_m=(0, 0.12, -0.15), kpole_m=(0, 0, 1), spine=(0.1, 0, 0))
        k.pose(0.15, foot_m=(0, 0.38 * p.amplitude, 0.12), kpole_m=(0, 1, 0.7), spine=(-0.12, 0, 0),
               wrist_m=(-0.15, -0.15, 0.35), wrist_o=(-0.15, -0.15, 0.35), pelvis=(-0.07, 0, 0.06))
        k.pose(0.2, foot_m=(0, 0, 0), kpole_m=(0.3, 0, 1), spine=(0.03, 0, 0), pelvis=(-0.07, -0.02, 0), **clinch)
    k.relax(0.4)


@keyed
def stomp(k: Keys, p: Params, s: Style) -> None:
    """Stomping on something on the ground: the foot raised high and slammed down, eyes on the spot."""
    k.pose(0.3, head=(0.45, 0), spine=(0.25, 0, 0), pelvis=(-0.06, -0.02, 0))
    for _ in range(p.count):
        k.pose(0.25, foot_m=(0, 0.42 * p.amplitude, 0.16), kpole_m=(0.1, 0.6, 1), wrist_m=(0.15, -0.3, 0.05),
               wrist_o=(0.15, -0.3, 0.05))
        k.pose(0.09, foot_m=(0, 0, 0.25), kpole_m=(0.3, 0, 1), pelvis=(-0.02, -0.06, 0.08), spine=(0.35, 0, 0))
        k.pose(0.15, pelvis=(-0.02, -0.03, 0.1), spine=(0.25, 0, 0))
    k.pose(0.25, foot_m=(0, 0.07, 0.12), pelvis=(-0.04, 0, 0.05))
    k.pose(0.25, foot_m=(0, 0, 0), pelvis=(0, 0, 0))
    k.relax(0.35)


# ---------------------------------------------------------------- safe: gestures and exercises

@keyed
def wave(k: Keys, p: Params, s: Style) -> None:
    """Waving one hand above shoulder height, side to side."""
    k.pose(0.25, wrist_m=(0.35, -0.1, 0.15), pole_m=(1, -0.5, -0.3))
    k.pose(0.25, wrist_m=(0.18, 0.38, 0.1), pole_m=(1, -0.5, 0), head=(0, 0.15))
    for _ in range(p.count):
        k.pose(0.2, wrist_m=(0.32, 0.32, 0.1)).pose(0.2, wrist_m=(0.05, 0.4, 0.1))
    k.pose(0.25, wrist_m=(0.35, -0.1, 0.15), pole_m=(1, -0.5, -0.3), head=(0, 0))
    k.relax(0.3)


@keyed
def wave_both(k: Keys, p: Params, s: Style) -> None:
    """Waving both hands above the head."""
    side = dict(wrist_m=(0.4, -0.05, 0.15), wrist_o=(0.4, -0.05, 0.15), pole_m=(1, -0.5, -0.3), pole_o=(1, -0.5, -0.3))
    k.pose(0.3, **side)
    k.pose(0.3, wrist_m=(0.12, 0.45, 0.05), wrist_o=(0.12, 0.45, 0.05), pole_m=(1, -0.3, 0), pole_o=(1, -0.3, 0))
    for _ in range(p.count):
        k.pose(0.22, wrist_m=(0.3, 0.38, 0.05), wrist_o=(-0.02, 0.47, 0.05))
        k.pose(0.22, wrist_m=(-0.02, 0.47, 0.05), wrist_o=(0.3, 0.38, 0.05))
    k.pose(0.3, **side)
    k.relax(0.35)


@keyed
def clap(k: Keys, p: Params, s: Style) -> None:
    """Clapping the hands in front of the chest."""
    apart = dict(wrist_m=(-0.02, -0.2, 0.3), wrist_o=(-0.02, -0.2, 0.3), pole_m=ELBOW_DOWN, pole_o=ELBOW_DOWN)
    k.pose(0.35, **apart)
    for _ in range(p.count):
        k.pose(0.13, wrist_m=(-0.15, -0.18, 0.32), wrist_o=(-0.15, -0.18, 0.32)).pose(0.15, **apart)
    k.relax(0.4)


@keyed
def sit_stand(k: Keys, p: Params, s: Style) -> None:
    """Sitting down on a seat behind, staying a moment, and standing back up."""
    forward = dict(wrist_m=(0.0, -0.1, 0.38), wrist_o=(0.0, -0.1, 0.38), pole_m=ELBOW_DOWN, pole_o=ELBOW_DOWN)
    k.pose(0.6, pelvis=(0, -0.22, -0.1), spine=(0.45, 0, 0), **forward)
    k.pose(0.5, pelvis=(0, -0.42, -0.26), spine=(0.35, 0, 0))
    k.pose(0.35, spine=(0.08, 0, 0), wrist_m=(0.05, -0.35, 0.25), wrist_o=(0.05, -0.35, 0.25))
    k.hold(0.6 * p.count)
    k.pose(0.35, spine=(0.55, 0, 0), **forward)
    k.pose(0.55, pelvis=(0, -0.15, -0.06), spine=(0.35, 0, 0))
    k.relax(0.45)


@keyed
def squat(k: Keys, p: Params, s: Style) -> None:
    """Squats: hips back and down with the arms held forward, then up."""
    for _ in range(p.count):
        k.pose(0.6, pelvis=(0, -0.36 * p.amplitude, -0.12), spine=(0.5, 0, 0), wrist_m=(0, -0.05, 0.45),
               wrist_o=(0, -0.05, 0.45), pole_m=ELBOW_DOWN, pole_o=ELBOW_DOWN)
        k.hold(0.15)
        k.pose(0.55, pelvis=(0, 0, 0), spine=(0.05, 0, 0))
    k.relax(0.35)


@keyed
def crouch(k: Keys, p: Params, s: Style) -> None:
    """Crouching low with hands on the knees, staying down, then rising."""
    k.pose(0.7, pelvis=(0, -0.42, -0.1), spine=(0.6, 0, 0), head=(-0.3, 0), wrist_m=(0.02, -0.3, 0.3),
           wrist_o=(0.02, -0.3, 0.3), pole_m=(1, 0, -0.3), pole_o=(1, 0, -0.3))
    k.hold(0.5 * p.count)
    k.relax(0.7)


@keyed
def lunge(k: Keys, p: Params, s: Style) -> None:
    """Lunges: a long step forward, back knee toward the floor, then push back to standing."""
    for _ in range(p.count):
        k.pose(0.3, foot_m=(0, 0.1, 0.35), pelvis=(0, 0, 0.1), wrist_m=(0.1, -0.42, 0.0),
               wrist_o=(0.1, -0.42, 0.0))
        k.pose(0.25, foot_m=(0, 0, 0.68 * p.amplitude), pelvis=(0, -0.05, 0.3))
        k.pose(0.45, pelvis=(0, -0.38, 0.32), spine=(0.05, 0, 0), kpole_o=(0.2, -0.3, 1))
        k.pose(0.45, pelvis=(0, -0.05, 0.3), kpole_o=(0.3, 0, 1))
        k.pose(0.25, foot_m=(0, 0.1, 0.35), pelvis=(0, 0, 0.1))
        k.pose(0.25, foot_m=(0, 0, 0), pelvis=(0, 0, 0))
    k.relax(0.3)


@keyed
def bow(k: Keys, p: Params, s: Style) -> None:
    """A polite bow from the waist."""
    for _ in range(p.count):
        k.pose(0.7, spine=(0.75 * p.amplitude, 0, 0), head=(0.25, 0), pelvis=(0, 0, -0.06))
        k.hold(0.4)
        k.pose(0.7, spine=(0.03, 0, 0), head=(0, 0), pelvis=(0, 0, 0))
    k.relax(0.2)


@keyed
def stretch(k: Keys, p: Params, s: Style) -> None:
    """Stretching: both arms overhead, then leaning to one side and the other."""
    up = dict(wrist_m=(-0.06, 0.48, 0.02), wrist_o=(-0.06, 0.48, 0.02), pole_m=(0.5, 0, -1), pole_o=(0.5, 0, -1))
    side = dict(wrist_m=(0.4, 0.1, 0.2), wrist_o=(0.4, 0.1, 0.2), pole_m=(0.3, -1, -0.3), pole_o=(0.3, -1, -0.3))
    k.pose(0.4, **side).pose(0.4, **up, head=(-0.15, 0)).hold(0.3)
    for _ in range(p.count):
        k.pose(0.7, spine=(0.0, 0.35, 0)).hold(0.3).pose(0.8, spine=(0.0, -0.35, 0)).hold(0.3)
    k.pose(0.6, spine=(0.0, 0, 0))
    k.pose(0.4, **side, head=(0, 0))
    k.relax(0.45)


@keyed
def arm_circles(k: Keys, p: Params, s: Style) -> None:
    """Arm circles: both arms straight out to the sides tracing circles."""
    out = dict(pole_m=(0, 0, -1), pole_o=(0, 0, -1))
    k.pose(0.5, wrist_m=(0.48, 0.05, 0.0), wrist_o=(0.48, 0.05, 0.0), **out)
    r = 0.12 * p.amplitude
    for _ in range(p.count):
        for angle in np.linspace(np.pi / 2, 2.5 * np.pi, 5)[1:]:
            w = (0.46, 0.05 + r * np.sin(angle), r * np.cos(angle))
            k.pose(0.14, wrist_m=w, wrist_o=w)
    k.relax(0.5)


def _airborne(k: Keys, dt: float, rise: float, feet_up: float, forward: float = 0.0, **extra) -> None:
    k.pose(dt, pelvis=(0, rise, forward), foot_m=(0, feet_up, forward), foot_o=(0, feet_up, forward), **extra)


@keyed
def jump_in_place(k: Keys, p: Params, s: Style) -> None:
    """Jumping up on the spot: crouch with arms back, spring up with arms forward, land softly."""
    a = p.amplitude
    for _ in range(p.count):
        k.pose(0.4, pelvis=(0, -0.16, -0.03), spine=(0.35, 0, 0), wrist_m=(0.08, -0.38, -0.22),
               wrist_o=(0.08, -0.38, -0.22))
        k.pose(0.12, pelvis=(0, -0.06, 0), spine=(0.2, 0, 0), wrist_m=(0.06, -0.32, 0.3), wrist_o=(0.06, -0.32, 0.3))
        k.pose(0.14, pelvis=(0, 0.02, 0), spine=(0.05, 0, 0), wrist_m=(0.05, 0.25, 0.3), wrist_o=(0.05, 0.25, 0.3))
        _airborne(k, 0.12, 0.1 + 0.14 * a, 0.1 + 0.12 * a)
        _airborne(k, 0.12, 0.04, 0.0)
        k.pose(0.08, foot_m=(0, 0, 0), foot_o=(0, 0, 0), pelvis=(0, 0, 0))
        k.pose(0.22, pelvis=(0, -0.14, -0.02), spine=(0.3, 0, 0), wrist_m=(0.05, -0.25, 0.2),
               wrist_o=(0.05, -0.25, 0.2))
        k.pose(0.35, pelvis=(0, 0, 0), spine=(0.05, 0, 0))
    k.relax(0.3)


@keyed
def jump_forward(k: Keys, p: Params, s: Style) -> None:
    """A standing long jump forward, landing on both feet."""
    d = 0.0
    for _ in range(p.count):
        jump = 0.55 * p.amplitude
        k.pose(0.4, pelvis=(0, -0.18, d - 0.04), spine=(0.45, 0, 0), wrist_m=(0.08, -0.35, -0.25),
               wrist_o=(0.08, -0.35, -0.25))
        k.pose(0.12, pelvis=(0, -0.08, d + 0.03), spine=(0.3, 0, 0), wrist_m=(0.06, -0.32, 0.3),
               wrist_o=(0.06, -0.32, 0.3))
        k.pose(0.14, pelvis=(0, 0.0, d + 0.08), spine=(0.15, 0, 0), wrist_m=(0.05, 0.2, 0.35),
               wrist_o=(0.05, 0.2, 0.35))
        _airborne(k, 0.14, 0.16, 0.15, d + jump / 2)
        d += jump
        _airborne(k, 0.13, 0.0, 0.02, d)
        k.pose(0.06, foot_m=(0, 0, d), foot_o=(0, 0, d), pelvis=(0, -0.05, d))
        k.pose(0.22, pelvis=(0, -0.18, d), spine=(0.4, 0, 0), wrist_m=(0.05, -0.2, 0.3), wrist_o=(0.05, -0.2, 0.3))
        k.pose(0.4, pelvis=(0, 0, d), spine=(0.05, 0, 0))
    k.relax(0.3, keep=("foot_m", "foot_o", "pelvis"))


@keyed
def hop(k: Keys, p: Params, s: Style) -> None:
    """Hopping on one leg (the other side's), the main foot held up behind."""
    k.pose(0.35, foot_m=(0, 0.25, -0.18), kpole_m=(0.2, -0.2, 1), pelvis=(-0.09, -0.02, 0),
           wrist_m=(0.2, -0.3, 0.1), wrist_o=(0.2, -0.3, 0.1))
    for _ in range(p.count):
        k.pose(0.15, pelvis=(-0.09, -0.1, 0))
        k.pose(0.12, pelvis=(-0.09, 0.12 * p.amplitude, 0), foot_o=(0, 0.1 * p.amplitude, 0),
               foot_m=(0, 0.33, -0.18))
        k.pose(0.12, pelvis=(-0.09, -0.02, 0), foot_o=(0, 0, 0), foot_m=(0, 0.25, -0.18))
    k.pose(0.2, pelvis=(-0.09, -0.06, 0))
    k.pose(0.3, foot_m=(0, 0, 0), kpole_m=(0.3, 0, 1), pelvis=(0, 0, 0))
    k.relax(0.3)


@keyed
def jumping_jacks(k: Keys, p: Params, s: Style) -> None:
    """Jumping jacks: jump the feet apart while the arms swing overhead, and back together."""
    for _ in range(p.count):
        k.pose(0.18, pelvis=(0, -0.06, 0))
        k.pose(0.12, pelvis=(0, 0.1, 0), foot_m=(0.12, 0.06, 0), foot_o=(0.12, 0.06, 0),
               wrist_m=(0.42, 0.2, 0.0), wrist_o=(0.42, 0.2, 0.0), pole_m=(0, -0.2, -1), pole_o=(0, -0.2, -1))
        k.pose(0.12, pelvis=(0, -0.06, 0), foot_m=(0.24, 0, 0), foot_o=(0.24, 0, 0),
               wrist_m=(0.12, 0.47, 0.0), wrist_o=(0.12, 0.47, 0.0))
        k.pose(0.12, pelvis=(0, 0.1, 0), foot_m=(0.12, 0.06, 0), foot_o=(0.12, 0.06, 0),
               wrist_m=(0.42, 0.2, 0.0), wrist_o=(0.42, 0.2, 0.0))
        k.pose(0.12, pelvis=(0, -0.06, 0), foot_m=(0, 0, 0), foot_o=(0, 0, 0),
               wrist_m=k.neutral_wrist, wrist_o=k.neutral_wrist, pole_m=NEUTRAL_ELBOW_POLE, pole_o=NEUTRAL_ELBOW_POLE)
    k.relax(0.3)


@keyed
def dance(k: Keys, p: Params, s: Style) -> None:
    """Dancing: side steps to the beat with swaying hips and arms swinging up in turn."""
    for i in range(p.count):
        k.pose(0.25, foot_m=(0.2, 0.08, 0.0), pelvis=(0.05, -0.04, 0), tilt=(0, 0.1),
               wrist_m=(0.2, 0.3, 0.2), wrist_o=(0.0, -0.2, 0.25), pole_m=(1, -0.5, 0), pole_o=ELBOW_DOWN,
               head=(0, 0.3))
        k.pose(0.2, foot_m=(0.25, 0, 0.0), pelvis=(0.12, -0.06, 0))
        k.pose(0.25, foot_m=(0.25, 0, 0.0), pelvis=(0.05, -0.02, 0), tilt=(0, -0.1),
               wrist_o=(0.2, 0.3, 0.2), wrist_m=(0.0, -0.2, 0.25), pole_o=(1, -0.5, 0), pole_m=ELBOW_DOWN,
               head=(0, -0.3))
        k.pose(0.25, foot_m=(0.02, 0.08, 0.0), pelvis=(0.0, -0.04, 0))
        k.pose(0.2, foot_m=(0, 0, 0), pelvis=(0, -0.02, 0), tilt=(0, 0))
    k.relax(0.35)


@keyed
def pick_up(k: Keys, p: Params, s: Style) -> None:
    """Picking something up from the floor in front and standing up with it."""
    k.pose(0.8, pelvis=(0, -0.55, -0.15), spine=(1.15, 0, 0.1), head=(-0.4, 0), wrist_m=(-0.1, -0.26, 0.38),
           pole_m=(0.6, 0, -1))
    k.hold(0.25)
    k.pose(0.8, pelvis=(0, 0, 0), spine=(0.05, 0, 0), head=(0.1, 0), wrist_m=(-0.1, -0.2, 0.3),
           wrist_o=(-0.1, -0.2, 0.3), pole_m=ELBOW_DOWN, pole_o=ELBOW_DOWN)
    k.hold(0.3).relax(0.5)


@keyed
def throw_ball(k: Keys, p: Params, s: Style) -> None:
    """Throwing a ball overhand: step out, wind the arm back, whip it through and follow through."""
    k.pose(0.3, wrist_m=(0.3, -0.15, 0.2), wrist_o=(0.0, -0.2, 0.35), pole_m=(0.5, -1, -0.3), pole_o=ELBOW_DOWN)
    k.pose(0.3, wrist_m=(0.3, 0.22, 0.02), pole_m=(1, -0.4, 0), spine=(-0.05, 0, -0.4),
           wrist_o=(-0.05, 0.1, 0.4), turn=(0.3,))
    k.pose(0.2, foot_o=(0, 0.08, 0.18), pelvis=(0, 0, 0.08))
    k.pose(0.12, foot_o=(0, 0, 0.35), pelvis=(0, -0.03, 0.18))
    k.pose(0.2, wrist_m=(0.12, 0.28 * p.amplitude, 0.3), pole_m=(1, -0.4, 0.2), spine=(0.25, 0, 0.45),
           wrist_o=(0.1, -0.35, -0.05), pole_o=NEUTRAL_ELBOW_POLE, turn=(0,))
    k.pose(0.28, wrist_m=(-0.3, -0.3, 0.3), pole_m=(0.5, -1, 0), spine=(0.35, 0, 0.3), pelvis=(0, -0.04, 0.2),
           wrist_o=(0.1, -0.4, 0.05))
    k.pose(0.4, pelvis=(0, 0, 0.18), wrist_m=(0.0, -0.4, 0.2))
    k.pose(0.25, foot_o=(0, 0.07, 0.18), pelvis=(0, 0, 0.08))
    k.pose(0.25, foot_o=(0, 0, 0), pelvis=(0, 0, 0))
    k.relax(0.35)


@keyed
def balance(k: Keys, p: Params, s: Style) -> None:
    """Balancing on one leg, the main foot lifted and the arms out for balance."""
    k.pose(0.4, pelvis=(-0.1, -0.02, 0))
    k.pose(0.45, foot_m=(0, 0.3 * p.amplitude, 0.08), kpole_m=(0.2, 0.5, 1), wrist_m=(0.45, 0.05, 0.05),
           wrist_o=(0.45, 0.05, 0.05), pole_m=(0, -0.3, -1), pole_o=(0, -0.3, -1))
    for _ in range(p.count):
        k.pose(0.5, spine=(0.05, 0.08, 0), wrist_m=(0.45, 0.1, 0.05)).pose(0.5, spine=(0.05, -0.06, 0),
                                                                           wrist_m=(0.45, 0.0, 0.05))
    k.pose(0.45, foot_m=(0, 0, 0), kpole_m=(0.3, 0, 1), pelvis=(-0.08, -0.02, 0))
    k.relax(0.4)


@keyed
def look_around(k: Keys, p: Params, s: Style) -> None:
    """Looking around: head and shoulders turn to one side, then the other."""
    for _ in range(p.count):
        k.pose(0.6, head=(0, 0.9), spine=(0.03, 0, 0.3)).hold(0.35)
        k.pose(0.8, head=(0, -0.9), spine=(0.03, 0, -0.3)).hold(0.35)
    k.relax(0.6)


@keyed
def idle(k: Keys, p: Params, s: Style) -> None:
    """Standing still, shifting the weight a little."""
    for _ in range(p.count):
        k.pose(0.8, pelvis=(0.03, -0.01, 0), tilt=(0, 0.04), head=(0.05, 0.1))
        k.pose(0.8, pelvis=(-0.03, -0.01, 0), tilt=(0, -0.04), head=(0.0, -0.05))
    k.relax(0.6)


# ---------------------------------------------------------------- safe: locomotion

def _walk(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    direction = {"forward": 0.0, "backward": np.pi, "left": np.pi / 2, "right": -np.pi / 2}[p.direction]
    gait = WALK
    if p.direction == "backward":
        gait = Gait(step_length=0.42, cadence=1.7, lift=0.07, arm_swing=0.1, lean=-0.02)
    elif p.direction in ("left", "right"):
        gait = Gait(step_length=0.22, cadence=1.7, lift=0.07, arm_swing=0.0, lean=0.0, sway=0.0)
    lead = p.direction if p.direction in ("left", "right") else p.side
    return locomote(state, style, gait, Path("line", direction=direction), p.distance, lead, p.speed)


def _jog(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    return locomote(state, style, JOG, Path("line"), p.distance, p.side, p.speed)


def _run(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    return locomote(state, style, RUN, Path("line"), p.distance, p.side, p.speed)


def _circle(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    sign = 1.0 if p.side == "left" else -1.0
    radius = 1.0 + 0.4 * p.amplitude
    return locomote(state, style, WALK, Path("arc", radius=radius, turn=sign), 2 * np.pi * radius, p.side, p.speed)


def _turn(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    sign = 1.0 if p.side == "left" else -1.0
    gait = Gait(step_length=0.3, cadence=1.8, lift=0.06, arm_swing=0.0, lean=0.0, sway=0.0)
    return locomote(state, style, gait, Path("spin"), sign * np.radians(p.distance), p.side, p.speed)


def _climb(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    gait = Gait(step_length=0.3, cadence=1.4, lift=0.1, arm_swing=0.1, lean=0.12)
    return locomote(state, style, gait, Path("line"), p.distance, p.side, p.speed,
                    stair_rise=0.16 * p.amplitude, stair_tread=0.3)



ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in (
    # violent
    ActionSpec("jab", True, ("violence", "punch"), jab, count_range=(1, 3)),
    ActionSpec("cross", True, ("violence", "punch"), cross, count_range=(1, 2)),
    ActionSpec("hook", True, ("violence", "punch"), hook, count_range=(1, 2)),
    ActionSpec("uppercut", True, ("violence", "punch"), uppercut, count_range=(1, 2)),
    ActionSpec("front_kick", True, ("violence", "kick"), front_kick, count_range=(1, 2)),
    ActionSpec("side_kick", True, ("violence", "kick"), side_kick, count_range=(1, 2)),
    ActionSpec("roundhouse_kick", True, ("violence", "kick"), roundhouse_kick, count_range=(1, 2)),
    ActionSpec("knee_strike", True, ("violence", "knee"), knee_strike, count_range=(1, 3)),
    ActionSpec("elbow_strike", True, ("violence", "elbow"), elbow_strike, count_range=(1, 2)),
    ActionSpec("stab", True, ("violence", "weapon"), stab, count_range=(1, 4)),
    ActionSpec("slash", True, ("violence", "weapon"), slash, count_range=(1, 2)),
    ActionSpec("club_strike", True, ("violence", "weapon"), club_strike, sided=False, count_range=(1, 2)),
    ActionSpec("shoot_handgun", True, ("violence", "gun"), shoot_handgun, count_range=(1, 3)),
    ActionSpec("headbutt", True, ("violence", "head"), headbutt, sided=False, count_range=(1, 2)),
    ActionSpec("stomp", True, ("violence", "stomp"), stomp, count_range=(1, 3)),
    ActionSpec("shove", True, ("violence", "push"), shove, sided=False),
    # safe: locomotion
    ActionSpec("walk", False, ("walk",), _walk, sided=False, distance_range=(1.5, 4.0),
               directions=("forward", "forward", "backward", "left", "right")),
    ActionSpec("walk_circle", False, ("walk", "circle"), _circle),
    ActionSpec("turn_around", False, ("turn",), _turn, distance_range=(90.0, 360.0)),
    ActionSpec("jog", False, ("run",), _jog, sided=False, distance_range=(3.0, 6.0)),
    ActionSpec("run", False, ("run",), _run, sided=False, distance_range=(4.0, 8.0)),
    ActionSpec("climb_steps", False, ("climb",), _climb, sided=False, distance_range=(1.2, 2.1)),
    # safe: in place
    ActionSpec("jump_in_place", False, ("jump",), jump_in_place, sided=False, count_range=(1, 3)),
    ActionSpec("jump_forward", False, ("jump",), jump_forward, sided=False, count_range=(1, 2)),
    ActionSpec("hop", False, ("jump", "hop"), hop, count_range=(2, 5)),
    ActionSpec("jumping_jacks", False, ("jump", "exercise"), jumping_jacks, sided=False, count_range=(2, 5)),
    ActionSpec("wave", False, ("wave",), wave, count_range=(2, 4)),
    ActionSpec("wave_both", False, ("wave",), wave_both, sided=False, count_range=(2, 4)),
    ActionSpec("clap", False, ("clap",), clap, sided=False, count_range=(2, 6)),
    ActionSpec("sit_stand", False, ("sit",), sit_stand, sided=False, count_range=(1, 3)),
    ActionSpec("squat", False, ("squat", "exercise"), squat, sided=False, count_range=(1, 3)),
    ActionSpec("crouch", False, ("crouch",), crouch, sided=False, count_range=(1, 3)),
    ActionSpec("lunge", False, ("exercise",), lunge, count_range=(1, 2)),
    ActionSpec("bow", False, ("bow",), bow, sided=False, count_range=(1, 2)),
    ActionSpec("stretch", False, ("stretch", "exercise"), stretch, sided=False, count_range=(1, 2)),
    ActionSpec("arm_circles", False, ("exercise",), arm_circles, sided=False, count_range=(2, 4)),
    ActionSpec("dance", False, ("dance",), dance, count_range=(2, 4)),
    ActionSpec("pick_up", False, ("pick",), pick_up),
    ActionSpec("throw_ball", False, ("throw",), throw_ball),
    ActionSpec("balance", False, ("balance",), balance, count_range=(1, 3)),
    ActionSpec("look_around", False, ("look",), look_around, sided=False, count_range=(1, 2)),
    ActionSpec("idle", False, ("idle",), idle, sided=False, count_range=(1, 2)),
)}

VIOLENT_ACTIONS = tuple(name for name, spec in ACTIONS.items() if spec.violent)
SAFE_ACTIONS = tuple(name for name, spec in ACTIONS.items() if not spec.violent)
