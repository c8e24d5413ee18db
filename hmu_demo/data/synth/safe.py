"""The 26 safe SynthMotion actions: gestures, exercises, jumps, everyday actions and locomotion.

Gestures are keyframed pose to pose with :class:`~hmu_demo.data.synth.keys.Keys` (conventions there);
locomotion comes from the gait generator.
"""

from __future__ import annotations

import numpy as np

from hmu_demo.data.synth.gait import JOG, RUN, WALK, Gait, Path, locomote
from hmu_demo.data.synth.keyframes import NEUTRAL_ELBOW_POLE, State, Style
from hmu_demo.data.synth.keys import ELBOW_DOWN, Keys, Params, keyed
from hmu_demo.data.synth.rig import Channels


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

def walk(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    """Walking a straight line forward, backward or sideways (side steps)."""
    direction = {"forward": 0.0, "backward": np.pi, "left": np.pi / 2, "right": -np.pi / 2}[p.direction]
    gait = WALK
    if p.direction == "backward":
        gait = Gait(step_length=0.42, cadence=1.7, lift=0.07, arm_swing=0.1, lean=-0.02)
    elif p.direction in ("left", "right"):
        gait = Gait(step_length=0.22, cadence=1.7, lift=0.07, arm_swing=0.0, lean=0.0, sway=0.0)
    lead = p.direction if p.direction in ("left", "right") else p.side
    return locomote(state, style, gait, Path("line", direction=direction), p.distance, lead, p.speed)


def jog(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    """Jogging forward."""
    return locomote(state, style, JOG, Path("line"), p.distance, p.side, p.speed)


def run(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    """Running forward."""
    return locomote(state, style, RUN, Path("line"), p.distance, p.side, p.speed)


def walk_circle(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    """Walking a full circle (which way round follows ``side``)."""
    sign = 1.0 if p.side == "left" else -1.0
    radius = 1.0 + 0.4 * p.amplitude
    return locomote(state, style, WALK, Path("arc", radius=radius, turn=sign), 2 * np.pi * radius, p.side, p.speed)


def turn_around(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    """Turning on the spot by ``distance`` degrees (which way follows ``side``)."""
    sign = 1.0 if p.side == "left" else -1.0
    gait = Gait(step_length=0.3, cadence=1.8, lift=0.06, arm_swing=0.0, lean=0.0, sway=0.0)
    return locomote(state, style, gait, Path("spin"), sign * np.radians(p.distance), p.side, p.speed)


def climb_steps(p: Params, state: State, style: Style) -> tuple[Channels, State]:
    """Walking up a flight of steps."""
    gait = Gait(step_length=0.3, cadence=1.4, lift=0.1, arm_swing=0.1, lean=0.12)
    return locomote(state, style, gait, Path("line"), p.distance, p.side, p.speed,
                    stair_rise=0.16 * p.amplitude, stair_tread=0.3)
