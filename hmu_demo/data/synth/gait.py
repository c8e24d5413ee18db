"""Locomotion by footstep planning: walk, jog, run, sidestep, walk backwards, circle, turn, climb.

The root follows a path with a smooth speed profile; a gait phase advances with the distance
covered. Each step lifts one foot, carries it on an arc and puts it down where the root will pass
over it at mid-stance, so stance feet stay exactly fixed (no sliding). The pelvis wants to ride a
little higher than the legs allow and is lowered by the rig's reach constraint, which gives the
inverted-pendulum bob of walking for free; runs add a spring bob and flight phases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmu_demo.data.synth.keyframes import NEUTRAL_ELBOW_POLE, State, Style
from hmu_demo.data.synth.rig import ANKLE_HEIGHT, SIDE_SIGN, SIDES, Channels, apply, rot_y
from hmu_demo.motion.skeleton import FPS


@dataclass(frozen=True)
class Gait:
    """How the feet and arms move; the presets below are walking, jogging and running."""

    step_length: float = 0.65
    cadence: float = 1.8        # steps per second at full speed
    duty: float = 0.62          # share of a stride a foot is on the ground
    lift: float = 0.09          # swing height of the ankle
    bob: float = 0.0            # spring bob of the pelvis (runs)
    crouch: float = 0.0         # how much lower the pelvis rides
    arm_swing: float = 0.18
    arm_lift: float = 0.0       # wrists higher with bent elbows (runs)
    lean: float = 0.05
    sway: float = 0.02


WALK = Gait()
JOG = Gait(step_length=0.95, cadence=2.6, duty=0.42, lift=0.14, bob=0.035, crouch=0.04,
           arm_swing=0.2, arm_lift=0.22, lean=0.12, sway=0.015)
RUN = Gait(step_length=1.35, cadence=3.0, duty=0.34, lift=0.2, bob=0.05, crouch=0.06,
           arm_swing=0.26, arm_lift=0.26, lean=0.2, sway=0.01)


def speed_profile(distance: float, speed: float, ramp: float) -> np.ndarray:
    """Distance covered at each frame: ease in, cruise, ease out, ending exactly at ``distance``."""
    cruise = distance / max(speed, 1e-6)
    duration = cruise + ramp
    n = max(int(round(duration * FPS)) + 1, 3)
    t = np.linspace(0.0, 1.0, n)
    r = min(ramp / duration, 0.5)
    up = np.clip(t / r, 0, 1)
    down = np.clip((1 - t) / r, 0, 1)
    rate = np.minimum(up * up * (3 - 2 * up), down * down * (3 - 2 * down))
    covered = np.concatenate([[0.0], np.cumsum((rate[1:] + rate[:-1]) / 2)])
    return distance * covered / covered[-1]


@dataclass(frozen=True)
class Path:
    """Root path, sampled by arc length: ``kind`` is line, arc or spin (turn on the spot)."""

    kind: str
    direction: float = 0.0   # for a line: travel direction relative to the heading (0 forward, pi back)
    radius: float = 1.5      # for an arc
    turn: float = 0.0        # for an arc or a spin: total heading change (positive = left)
    rise: float = 0.0        # for stairs: height gained per metre of path

    def sample(self, state: State, covered: np.ndarray, total: float) -> tuple[np.ndarray, np.ndarray]:
        """Root XZ (n, 2) and heading (n,) after covering ``covered`` metres (or radians for a spin)."""
        h0 = state.heading
        if self.kind == "spin":
            return np.broadcast_to(state.pelvis_xz, (covered.size, 2)).copy(), h0 + covered
        if self.kind == "line":
            angle = h0 + self.direction
            step = np.stack([np.sin(angle) * covered, np.cos(angle) * covered], -1)
            return state.pelvis_xz + step, np.full(covered.size, h0)
        sign = np.sign(self.turn) or 1.0
        theta = covered / self.radius * sign
        # Circle to the left (+X side) when turning left; x = sin(heading), z = cos(heading).
        center_local = np.array([sign * self.radius, 0.0])
        start = state.pelvis_xz
        rot = np.array([[np.cos(h0), np.sin(h0)], [-np.sin(h0), np.cos(h0)]])
        center = start + center_local @ rot
        rel = start - center
        c, s = np.cos(theta), np.sin(theta)
        # rotating rel by +theta about Y in the XZ plane: x' = x c + z s, z' = -x s + z c
        xz = center + np.stack([rel[0] * c + rel[1] * s, -rel[0] * s + rel[1] * c], -1)
        return xz, h0 + theta


def smoothstep(u: np.ndarray) -> np.ndarray:
    u = np.clip(u, 0.0, 1.0)
    return u * u * (3 - 2 * u)


def locomote(state: State, style: Style, gait: Gait, path: Path, amount: float, lead: str,
             speed: float = 1.0, stair_rise: float = 0.0, stair_tread: float = 0.3) -> tuple[Channels, State]:
    """Channels for travelling ``amount`` metres (radians for a spin) along ``path``."""
    step_len = gait.step_length * (0.85 + 0.15 * speed)
    cadence = gait.cadence * (0.8 + 0.2 * speed)
    if path.kind == "spin":
        covered = np.sign(amount) * speed_profile(abs(amount), 0.7 * cadence, ramp=0.5)
    else:
        covered = speed_profile(amount, step_len * cadence, ramp=0.6 + 0.2 / max(speed, 0.3))
    n = covered.size
    # Steps follow time, not distance: while the root accelerates the first steps are short.
    n_steps = max(2, int(round((n - 1) / FPS * cadence)))
    phase = np.linspace(0.0, n_steps, n)
    root_xz, heading = path.sample(state, covered, amount)
    swing = 2.0 * (1.0 - gait.duty)

    def root_at(ph: float) -> tuple[np.ndarray, float]:
        ph = float(np.clip(ph, 0.0, n_steps))
        idx = np.interp(ph, phase, np.arange(n))
        i0 = int(np.floor(idx))
        i1 = min(i0 + 1, n - 1)
        w = idx - i0
        return root_xz[i0] * (1 - w) + root_xz[i1] * w, heading[i0] * (1 - w) + heading[i1] * w

    floor = float(np.mean([state.feet[side][1] for side in SIDES])) - ANKLE_HEIGHT
    other = "right" if lead == "left" else "left"
    mover = [lead if k % 2 == 0 else other for k in range(n_steps)]
    # Final pair of steps closes the feet: both land beside the end point.
    plans: dict[str, list[tuple[float, np.ndarray, float]]] = {s: [] for s in SIDES}
    for k, side in enumerate(mover):
        land_phase = k + 1 + swing / 2
        xz, h = root_at(land_phase if k < n_steps - 2 else n_steps)
        s = SIDE_SIGN[side]
        lateral = apply(rot_y(np.array(h)), np.array([s * style.stance_half_width, 0.0, 0.0]))
        y = ANKLE_HEIGHT + floor
        if stair_rise > 0.0:
            along = float(np.clip(land_phase / n_steps, 0, 1)) * amount
            y += stair_rise * np.floor(along / stair_tread + 0.5)
        position = np.array([xz[0] + lateral[0], y, xz[1] + lateral[2]])
        plans[side].append((float(k), position, h + s * style.toe_out))

    ankle, foot_yaw, foot_pitch, stance = {}, {}, {}, {}
    for side in SIDES:
        pos = np.broadcast_to(state.feet[side], (n, 3)).copy()
        yaw = np.full(n, float(state.foot_yaw[side]))
        pitch = np.zeros(n)
        down = np.ones(n, dtype=bool)
        prev_pos, prev_yaw = state.feet[side].copy(), float(state.foot_yaw[side])
        for start, target, target_yaw in plans[side]:
            # The closing steps must land before the motion ends, so their swing is shortened.
            u = (phase - start) / min(swing, n_steps - start)
            in_swing = (u > 0) & (u < 1)
            after = u >= 1
            w = smoothstep(u)[:, None]
            arc = prev_pos * (1 - w) + target * w
            clearance = gait.lift + max(target[1] - prev_pos[1], 0.0)
            arc[:, 1] += clearance * np.sin(np.pi * np.clip(u, 0, 1))
            pos = np.where(in_swing[:, None], arc, np.where(after[:, None], target, pos))
            yaw = np.where(in_swing, prev_yaw * (1 - w[:, 0]) + target_yaw * w[:, 0],
                           np.where(after, target_yaw, yaw))
            pitch = np.where(in_swing, 0.3 * np.sin(2 * np.pi * np.clip(u, 0, 1)), pitch)
            down &= ~in_swing
            prev_pos, prev_yaw = target, target_yaw
        ankle[side], foot_yaw[side], foot_pitch[side], stance[side] = pos, yaw, pitch, down

    # Pelvis: over the root path, swaying toward the stance foot; the rig lowers it to reach the feet.
    ramp_in = smoothstep(np.minimum(phase, n_steps - phase) / 1.5)
    pelvis = np.zeros((n, 3))
    toward_left = stance["left"].astype(float) - stance["right"].astype(float)
    side_dir = np.stack([np.cos(heading), np.zeros(n), -np.sin(heading)], -1)
    sway = gait.sway * np.convolve(toward_left, np.ones(5) / 5, mode="same")[:, None] * side_dir
    pelvis[:, [0, 2]] = root_xz + sway[:, [0, 2]]
    if stair_rise > 0.0:
        # Ground level under the body: the lower foot, smoothed over half a second.
        lower = np.minimum(ankle["left"][:, 1], ankle["right"][:, 1]) - ANKLE_HEIGHT
        level = np.convolve(np.pad(lower, 5, mode="edge"), np.ones(11) / 11, mode="valid")
    else:
        level = np.full(n, floor)
    base = style.body.standing_pelvis_height + 0.03 - gait.crouch * ramp_in
    spring = gait.bob * np.cos(2 * np.pi * (phase - (1 + swing / 2))) * ramp_in
    pelvis[:, 1] = base + spring + level

    # Arms swing against the opposite leg; faster gaits carry the wrists higher with bent elbows.
    forward = np.stack([np.sin(heading), np.zeros(n), np.cos(heading)], -1)
    neutral = style.neutral_wrist
    wrist, elbow_pole = {}, {}
    for side in SIDES:
        opposite = "right" if side == "left" else "left"
        reach = np.sum((ankle[opposite] - pelvis) * forward, axis=-1) / max(step_len / 2, 1e-3)
        swing_amount = np.clip(reach, -1.2, 1.2) * gait.arm_swing * speed ** 0.5 * ramp_in
        local = np.broadcast_to(neutral, (n, 3)).copy()
        local[:, 1] += gait.arm_lift * ramp_in
        local[:, 2] += 0.06 * gait.arm_lift / 0.2 * ramp_in + swing_amount
        local[:, 0] *= SIDE_SIGN[side]
        wrist[side] = local
        elbow_pole[side] = np.broadcast_to(NEUTRAL_ELBOW_POLE * [SIDE_SIGN[side], 1, 1], (n, 3)).copy()
    twist = -0.08 * np.clip(np.sum((ankle["left"] - ankle["right"]) * forward, -1) / step_len, -1, 1)
    spine = np.stack([np.full(n, style.posture) + gait.lean * ramp_in, np.zeros(n), twist * ramp_in], -1)
    knee_pole = {s: apply(rot_y(foot_yaw[s]), np.array([0.1 * SIDE_SIGN[s], 0.0, 1.0])) for s in SIDES}
    channels = Channels(pelvis=pelvis, heading=heading, pelvis_tilt=np.zeros((n, 2)), spine=spine,
                        head=np.zeros((n, 2)), wrist=wrist, elbow_pole=elbow_pole, ankle=ankle,
                        foot_yaw=foot_yaw, foot_pitch=foot_pitch, knee_pole=knee_pole, stance=stance)
    end_xz = (ankle["left"][-1, [0, 2]] + ankle["right"][-1, [0, 2]]) / 2
    channels.pelvis[-6:, [0, 2]] = np.linspace(pelvis[-6, [0, 2]], end_xz, 6)
    end = State(end_xz, float(heading[-1]), {s: ankle[s][-1].copy() for s in SIDES},
                {s: np.array(foot_yaw[s][-1]) for s in SIDES})
    return channels, end
