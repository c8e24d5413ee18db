"""The SynthMotion action library: 16 violent and 26 safe actions, each parameterised.

The table below says, per action, whether it is violent, its tags and the ranges its parameters
are drawn from; the actions themselves are made in ``violent`` and ``safe``.
"""

from __future__ import annotations

from dataclasses import dataclass

from hmu_demo.data.synth import safe, violent
from hmu_demo.data.synth.keys import Builder

__all__ = ["ACTIONS", "SAFE_ACTIONS", "VIOLENT_ACTIONS", "ActionSpec"]


@dataclass(frozen=True)
class ActionSpec:
    name: str
    violent: bool
    tags: tuple[str, ...]
    build: Builder
    sided: bool = True
    count_range: tuple[int, int] = (1, 1)
    distance_range: tuple[float, float] = (0.0, 0.0)
    directions: tuple[str, ...] = ("forward",)
    speed_range: tuple[float, float] = (0.8, 1.25)



ACTIONS: dict[str, ActionSpec] = {spec.name: spec for spec in (
    # violent
    ActionSpec("jab", True, ("violence", "punch"), violent.jab, count_range=(1, 3)),
    ActionSpec("cross", True, ("violence", "punch"), violent.cross, count_range=(1, 2)),
    ActionSpec("hook", True, ("violence", "punch"), violent.hook, count_range=(1, 2)),
    ActionSpec("uppercut", True, ("violence", "punch"), violent.uppercut, count_range=(1, 2)),
    ActionSpec("front_kick", True, ("violence", "kick"), violent.front_kick, count_range=(1, 2)),
    ActionSpec("side_kick", True, ("violence", "kick"), violent.side_kick, count_range=(1, 2)),
    ActionSpec("roundhouse_kick", True, ("violence", "kick"), violent.roundhouse_kick, count_range=(1, 2)),
    ActionSpec("knee_strike", True, ("violence", "knee"), violent.knee_strike, count_range=(1, 3)),
    ActionSpec("elbow_strike", True, ("violence", "elbow"), violent.elbow_strike, count_range=(1, 2)),
    ActionSpec("stab", True, ("violence", "weapon"), violent.stab, count_range=(1, 4)),
    ActionSpec("slash", True, ("violence", "weapon"), violent.slash, count_range=(1, 2)),
    ActionSpec("club_strike", True, ("violence", "weapon"), violent.club_strike, sided=False, count_range=(1, 2)),
    ActionSpec("shoot_handgun", True, ("violence", "gun"), violent.shoot_handgun, count_range=(1, 3)),
    ActionSpec("headbutt", True, ("violence", "head"), violent.headbutt, sided=False, count_range=(1, 2)),
    ActionSpec("stomp", True, ("violence", "stomp"), violent.stomp, count_range=(1, 3)),
    ActionSpec("shove", True, ("violence", "push"), violent.shove, sided=False),
    # safe: locomotion
    ActionSpec("walk", False, ("walk",), safe.walk, sided=False, distance_range=(1.5, 4.0),
               directions=("forward", "forward", "backward", "left", "right")),
    ActionSpec("walk_circle", False, ("walk", "circle"), safe.walk_circle),
    ActionSpec("turn_around", False, ("turn",), safe.turn_around, distance_range=(90.0, 360.0)),
    ActionSpec("jog", False, ("run",), safe.jog, sided=False, distance_range=(3.0, 6.0)),
    ActionSpec("run", False, ("run",), safe.run, sided=False, distance_range=(4.0, 8.0)),
    ActionSpec("climb_steps", False, ("climb",), safe.climb_steps, sided=False, distance_range=(1.2, 2.1)),
    # safe: in place
    ActionSpec("jump_in_place", False, ("jump",), safe.jump_in_place, sided=False, count_range=(1, 3)),
    ActionSpec("jump_forward", False, ("jump",), safe.jump_forward, sided=False, count_range=(1, 2)),
    ActionSpec("hop", False, ("jump", "hop"), safe.hop, count_range=(2, 5)),
    ActionSpec("jumping_jacks", False, ("jump", "exercise"), safe.jumping_jacks, sided=False, count_range=(2, 5)),
    ActionSpec("wave", False, ("wave",), safe.wave, count_range=(2, 4)),
    ActionSpec("wave_both", False, ("wave",), safe.wave_both, sided=False, count_range=(2, 4)),
    ActionSpec("clap", False, ("clap",), safe.clap, sided=False, count_range=(2, 6)),
    ActionSpec("sit_stand", False, ("sit",), safe.sit_stand, sided=False, count_range=(1, 3)),
    ActionSpec("squat", False, ("squat", "exercise"), safe.squat, sided=False, count_range=(1, 3)),
    ActionSpec("crouch", False, ("crouch",), safe.crouch, sided=False, count_range=(1, 3)),
    ActionSpec("lunge", False, ("exercise",), safe.lunge, count_range=(1, 2)),
    ActionSpec("bow", False, ("bow",), safe.bow, sided=False, count_range=(1, 2)),
    ActionSpec("stretch", False, ("stretch", "exercise"), safe.stretch, sided=False, count_range=(1, 2)),
    ActionSpec("arm_circles", False, ("exercise",), safe.arm_circles, sided=False, count_range=(2, 4)),
    ActionSpec("dance", False, ("dance",), safe.dance, count_range=(2, 4)),
    ActionSpec("pick_up", False, ("pick",), safe.pick_up),
    ActionSpec("throw_ball", False, ("throw",), safe.throw_ball),
    ActionSpec("balance", False, ("balance",), safe.balance, count_range=(1, 3)),
    ActionSpec("look_around", False, ("look",), safe.look_around, sided=False, count_range=(1, 2)),
    ActionSpec("idle", False, ("idle",), safe.idle, sided=False, count_range=(1, 2)),
)}

VIOLENT_ACTIONS = tuple(name for name, spec in ACTIONS.items() if spec.violent)
SAFE_ACTIONS = tuple(name for name, spec in ACTIONS.items() if not spec.violent)
