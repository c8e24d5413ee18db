"""The 16 violent SynthMotion actions: punches, elbow and knee strikes, kicks, weapons, a shove.

Each is keyframed pose to pose with :class:`~hmu_demo.data.synth.keys.Keys` (conventions there).
"""

from __future__ import annotations

from hmu_demo.data.synth.keyframes import Style
from hmu_demo.data.synth.keys import ELBOW_DOWN, GUARD, Keys, Params, keyed


# ---------------------------------------------------------------- violent: strikes with the hands

def _strikes(k: Keys, p: Params, guard_spine: tuple, strike: list[tuple[float, dict]], back: float,
             **reset: tuple) -> None:
    """Shared timing of a hand strike: raise the guard, then ``count`` times the ``strike`` keys
    ((seconds, pose) pairs) and back to the guard in ``back`` seconds, ``reset`` returning the other
    channels the strike moved; hold, relax."""
    k.pose(0.35, spine=guard_spine, **GUARD)
    for _ in range(p.count):
        for dt, pose in strike:
            k.pose(dt, **pose)
        k.pose(back, **GUARD, spine=guard_spine, **reset)
    k.hold(0.15).relax(0.4)


@keyed
def jab(k: Keys, p: Params, s: Style) -> None:
    """Quick straight punches with the lead (main) hand from a guard."""
    a = p.amplitude * s.energy
    _strikes(k, p, (0.08, 0, -0.1), [(0.12, dict(wrist_m=(-0.1, 0.06, 0.5 * a), pole_m=ELBOW_DOWN,
                                                  spine=(0.1, 0, 0.05)))], back=0.18)


@keyed
def cross(k: Keys, p: Params, s: Style) -> None:
    """Straight punch with the rear (main) hand: hips and shoulders turn into it."""
    a = p.amplitude * s.energy
    _strikes(k, p, (0.05, 0, -0.2), [(0.15, dict(wrist_m=(-0.18, 0.05, 0.52 * a), pole_m=ELBOW_DOWN,
                                                  spine=(0.15, 0, 0.45), pelvis=(0, -0.02, 0.05), turn=(0.12,),
                                                  head=(0.05, -0.1)))],
             back=0.22, pelvis=(0, 0, 0), turn=(0,), head=(0, 0))


@keyed
def hook(k: Keys, p: Params, s: Style) -> None:
    """Hook: the arm bent at a right angle swings horizontally across at head height."""
    a = p.amplitude * s.energy
    _strikes(k, p, (0.08, 0, -0.15), [
        (0.15, dict(wrist_m=(0.2, 0.02, 0.2), pole_m=(1, 0.3, -0.4), spine=(0.08, 0.05, -0.35))),
        (0.13, dict(wrist_m=(-0.18 * a, 0.06, 0.36), pole_m=(1, 0.3, 0.0), spine=(0.12, -0.05, 0.5), turn=(0.15,))),
    ], back=0.25, turn=(0,))


@keyed
def uppercut(k: Keys, p: Params, s: Style) -> None:
    """Uppercut: dip at the knees, then drive the fist upward to chin height."""
    a = p.amplitude * s.energy
    _strikes(k, p, (0.08, 0, -0.1), [
        (0.18, dict(wrist_m=(0.0, -0.32, 0.18), pole_m=(0.3, -1, -0.5), pelvis=(0.03, -0.1, 0),
                    spine=(0.25, 0.15, -0.25))),
        (0.14, dict(wrist_m=(-0.12, 0.12 * a, 0.3), pole_m=(0.2, -1, 0.1), pelvis=(0, 0.0, 0.02),
                    spine=(0.0, -0.05, 0.4), head=(-0.15, 0))),
    ], back=0.25, pelvis=(0, 0, 0), head=(0, 0))


@keyed
def elbow_strike(k: Keys, p: Params, s: Style) -> None:
    """Elbow strike: forearm folded, the elbow swings horizontally across at face height."""
    a = p.amplitude * s.energy
    _strikes(k, p, (0.05, 0, -0.1), [
        (0.18, dict(wrist_m=(0.06, 0.1, 0.11), pole_m=(1, 0.2, 0.2), spine=(0.05, 0, -0.4))),
        (0.13, dict(wrist_m=(-0.3, 0.08, 0.1), pole_m=(0.3, 0.1, 1), spine=(0.12, 0, 0.55 * a), turn=(0.15,))),
    ], back=0.25, turn=(0,))


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
