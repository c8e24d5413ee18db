"""Writing keyframed SynthMotion actions pose to pose.

Actions are written for a "main" side (see ``keyframes``); every key sets the whole pose, so nothing
drifts between keys. Wrist targets are relative to the shoulder in the chest frame as (out, up,
forward); foot keys are ankle offsets from where that foot stood at the start of the action, in the
start frame. Positive "turn" turns toward the main side and positive "spine" twist brings the main
shoulder forward.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from hmu_demo.data.synth.keyframes import State, Style, Timeline, rest_values, render_timeline
from hmu_demo.data.synth.rig import Channels

__all__ = ["ELBOW_DOWN", "GUARD", "Builder", "Keys", "Params", "keyed"]


@dataclass(frozen=True)
class Params:
    """What varies between two performances of one action."""

    side: str = "right"          # main side: the hand that strikes, the leg that kicks, the way it turns
    speed: float = 1.0
    amplitude: float = 1.0
    count: int = 1
    direction: str = "forward"   # locomotion: forward, backward, left, right
    distance: float = 3.0        # locomotion: metres (or degrees for turning)



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


#: What an action is made by: its parameters, the state it starts from and the performer's style ->
#: the channels over time and the state it ends in.
Builder = Callable[[Params, State, Style], tuple[Channels, State]]


def keyed(builder: Callable[[Keys, Params, Style], None]) -> Builder:
    """Turn a key-writing function into an action builder."""
    def build(p: Params, state: State, style: Style) -> tuple[Channels, State]:
        keys = Keys(style, p.speed)
        builder(keys, p, style)
        return render_timeline(keys.timeline, p.side, state, style)
    build.__doc__ = builder.__doc__
    return build
