"""The procedural body rig: per-frame animation channels -> joint positions (T, 22, 3).

Actions are authored as a few intuitive channels (pelvis placement, spine and head angles, wrist
targets in the chest frame, ankle targets in the world) instead of 22 joint rotations. Forward
kinematics for the trunk and analytic two-bone IK for the limbs turn them into joints. This keeps
bone lengths exact, lets a planted foot stay exactly where it was put, and makes knees and elbows
bend only toward their pole (they never hyperextend: the reach is clamped below full extension).

Conventions (HumanML3D's): Y up, metres, +X is the person's left, +Z the start facing.
Angles in radians. Positive yaw turns toward the left (+Z toward +X); positive pitch bends forward.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields

import numpy as np

from hmu_demo.motion.geometry import perpendicular
from hmu_demo.motion.skeleton import NUM_JOINTS, REST_OFFSETS

SIDES = ("left", "right")
SIDE_SIGN = {"left": 1.0, "right": -1.0}
HIP = {"left": 1, "right": 2}
KNEE = {"left": 4, "right": 5}
ANKLE = {"left": 7, "right": 8}
TOE = {"left": 10, "right": 11}
COLLAR = {"left": 13, "right": 14}
SHOULDER = {"left": 16, "right": 17}
ELBOW = {"left": 18, "right": 19}
WRIST = {"left": 20, "right": 21}

# Clamp on limb reach: keeps a visible bend, so IK never produces a straight or reversed joint.
MAX_REACH = 0.985
ANKLE_HEIGHT = 0.075  # ankle above the floor with the foot flat


@dataclass(frozen=True)
class Body:
    """Bone geometry of one synthetic person (a uniform scale of the rest offsets)."""

    offsets: np.ndarray = field(default_factory=lambda: REST_OFFSETS.copy())

    @property
    def thigh(self) -> float:
        return float(np.linalg.norm(self.offsets[KNEE["left"]]))

    @property
    def shin(self) -> float:
        return float(np.linalg.norm(self.offsets[ANKLE["left"]]))

    @property
    def upper_arm(self) -> float:
        return float(np.linalg.norm(self.offsets[ELBOW["left"]]))

    @property
    def forearm(self) -> float:
        return float(np.linalg.norm(self.offsets[WRIST["left"]]))

    @property
    def leg(self) -> float:
        return self.thigh + self.shin

    @property
    def arm(self) -> float:
        return self.upper_arm + self.forearm

    @property
    def hip_width(self) -> float:
        return float(abs(self.offsets[HIP["left"]][0]))

    @property
    def standing_pelvis_height(self) -> float:
        """Pelvis height with straight-ish legs (the reach clamp) on flat feet."""
        hip_drop = -self.offsets[HIP["left"]][1]
        return ANKLE_HEIGHT + MAX_REACH * self.leg * 0.995 + hip_drop

    def scaled(self, factor: float) -> "Body":
        return Body(self.offsets * factor)


@dataclass
class Channels:
    """Animation channels for T frames. Arrays are float64; see the module docstring for frames."""

    pelvis: np.ndarray          # (T, 3) world position; y is an upper bound (legs may lower it)
    heading: np.ndarray         # (T,) yaw of the pelvis
    pelvis_tilt: np.ndarray     # (T, 2) pitch (forward), roll (toward the right)
    spine: np.ndarray           # (T, 3) pitch, roll, yaw of the whole spine (split over 3 joints)
    head: np.ndarray            # (T, 2) pitch, yaw relative to the chest
    wrist: dict[str, np.ndarray]       # side -> (T, 3) wrist target relative to the shoulder, chest frame
    elbow_pole: dict[str, np.ndarray]  # side -> (T, 3) direction the elbow bends toward, chest frame
    ankle: dict[str, np.ndarray]       # side -> (T, 3) world ankle target
    foot_yaw: dict[str, np.ndarray]    # side -> (T,) world yaw of the foot
    foot_pitch: dict[str, np.ndarray]  # side -> (T,) toe-down pitch
    knee_pole: dict[str, np.ndarray]   # side -> (T, 3) world direction the knee bends toward
    stance: dict[str, np.ndarray]      # side -> (T,) bool, foot bears weight (pelvis must reach it)

    @property
    def length(self) -> int:
        return int(self.heading.shape[0])

    def map(self, fn) -> "Channels":
        """A new Channels with ``fn`` applied to every per-frame array (also inside the per-side dicts)."""
        values = {}
        for item in fields(self):
            value = getattr(self, item.name)
            values[item.name] = {s: fn(v) for s, v in value.items()} if isinstance(value, dict) else fn(value)
        return Channels(**values)

    @staticmethod
    def concatenate(parts: list["Channels"]) -> "Channels":
        """Join consecutive action clips along time."""
        values = {}
        for item in fields(Channels):
            first = getattr(parts[0], item.name)
            if isinstance(first, dict):
                values[item.name] = {s: np.concatenate([getattr(p, item.name)[s] for p in parts]) for s in first}
            else:
                values[item.name] = np.concatenate([getattr(p, item.name) for p in parts])
        return Channels(**values)


def rot_x(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([o, z, z], -1), np.stack([z, c, -s], -1), np.stack([z, s, c], -1)], -2)


def rot_y(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, z, s], -1), np.stack([z, o, z], -1), np.stack([-s, z, c], -1)], -2)


def rot_z(angle: np.ndarray) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    o, z = np.ones_like(angle), np.zeros_like(angle)
    return np.stack([np.stack([c, -s, z], -1), np.stack([s, c, z], -1), np.stack([z, z, o], -1)], -2)


def yaw_pitch_roll(yaw: np.ndarray, pitch: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """R = Ry(yaw) Rx(pitch) Rz(roll): turn, then bend forward, then lean sideways."""
    return rot_y(yaw) @ rot_x(pitch) @ rot_z(roll)


def apply(rotation: np.ndarray, vector: np.ndarray) -> np.ndarray:
    return np.einsum("...ij,...j->...i", rotation, vector)


def two_bone_ik(root: np.ndarray, target: np.ndarray, pole: np.ndarray, upper: float, lower: float,
                backup: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Middle and end joint positions of a limb reaching for ``target``, bending toward ``pole``.

    The reach is clamped to ``MAX_REACH`` of the limb length, so the end joint may stop short of
    an unreachable target; lengths are exact either way. As the pole comes close to parallel with
    the limb, the ``backup`` pole is blended in gradually, so the bend plane never flips.
    """
    delta = target - root
    dist = np.linalg.norm(delta, axis=-1, keepdims=True)
    direction = delta / np.maximum(dist, 1e-9)
    reach = np.clip(dist, abs(upper - lower) + 1e-3, MAX_REACH * (upper + lower))
    cos_a = np.clip((upper**2 + reach**2 - lower**2) / (2 * upper * reach), -1.0, 1.0)
    sin_a = np.sqrt(1.0 - cos_a**2)
    pole_unit = pole / np.maximum(np.linalg.norm(pole, axis=-1, keepdims=True), 1e-9)
    bend = perpendicular(pole_unit, direction)
    weight = np.clip(1.0 - np.linalg.norm(bend, axis=-1, keepdims=True) / 0.35, 0.0, 1.0)
    bend = bend + weight * perpendicular(backup, direction)
    bend /= np.maximum(np.linalg.norm(bend, axis=-1, keepdims=True), 1e-9)
    middle = root + upper * (cos_a * direction + sin_a * bend)
    end = root + reach * direction
    return middle, end


def reachable_pelvis_height(body: Body, channels: Channels) -> np.ndarray:
    """Highest pelvis y at each frame from which every weight-bearing foot can be reached."""
    rot_pelvis = yaw_pitch_roll(channels.heading, channels.pelvis_tilt[:, 0], channels.pelvis_tilt[:, 1])
    limit = np.full(channels.length, np.inf)
    max_leg = MAX_REACH * body.leg * 0.999
    for side in SIDES:
        hip_offset = apply(rot_pelvis, body.offsets[HIP[side]])
        hip_xz = channels.pelvis[:, [0, 2]] + hip_offset[:, [0, 2]]
        horizontal = np.linalg.norm(hip_xz - channels.ankle[side][:, [0, 2]], axis=-1)
        vertical = np.sqrt(np.maximum(max_leg**2 - horizontal**2, 0.0))
        height = channels.ankle[side][:, 1] + vertical - hip_offset[:, 1]
        limit = np.where(channels.stance[side], np.minimum(limit, height), limit)
    return limit


def settle_pelvis(body: Body, channels: Channels, radius: int = 3) -> np.ndarray:
    """Pelvis y: the desired height, lowered where a planted foot would otherwise be out of reach.

    The lowering (deficit) is dilated by ``radius`` frames and then averaged over the same radius,
    so it is smooth yet never smaller than needed: a plain min() would make one-frame dips.
    """
    desired = channels.pelvis[:, 1]
    deficit = np.maximum(desired - reachable_pelvis_height(body, channels), 0.0)
    padded = np.pad(deficit, radius, mode="edge")
    windows = np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1)
    dilated = np.pad(windows.max(axis=-1), radius, mode="edge")
    kernel = np.hanning(2 * radius + 3)[1:-1]
    smooth = np.convolve(dilated, kernel / kernel.sum(), mode="valid")
    return desired - smooth


def pose_joints(body: Body, channels: Channels) -> np.ndarray:
    """Joint positions (T, 22, 3) for the channels, by FK on the trunk and IK on the limbs."""
    T = channels.length
    off = body.offsets
    joints = np.zeros((T, NUM_JOINTS, 3))
    pelvis = channels.pelvis.copy()
    pelvis[:, 1] = settle_pelvis(body, channels)
    joints[:, 0] = pelvis
    rot_pelvis = yaw_pitch_roll(channels.heading, channels.pelvis_tilt[:, 0], channels.pelvis_tilt[:, 1])

    # Trunk: the spine's bend is shared equally by spine1..3 so the back curves.
    part = yaw_pitch_roll(channels.spine[:, 2] / 3, channels.spine[:, 0] / 3, channels.spine[:, 1] / 3)
    rot = rot_pelvis
    parent = pelvis
    for joint in (3, 6, 9):
        position = parent + apply(rot, off[joint])
        joints[:, joint] = position
        rot = rot @ part
        parent = position
    chest = rot
    joints[:, 12] = joints[:, 9] + apply(chest, off[12])
    head_rot = chest @ rot_y(channels.head[:, 1]) @ rot_x(channels.head[:, 0])
    joints[:, 15] = joints[:, 12] + apply(head_rot, off[15])

    for side in SIDES:
        collar = joints[:, 9] + apply(chest, off[COLLAR[side]])
        shoulder = collar + apply(chest, off[SHOULDER[side]])
        joints[:, COLLAR[side]] = collar
        joints[:, SHOULDER[side]] = shoulder
        target = shoulder + apply(chest, channels.wrist[side])
        pole = apply(chest, channels.elbow_pole[side])
        backup = apply(chest, np.array([0.3 * SIDE_SIGN[side], 0.0, -1.0]))
        elbow, wrist = two_bone_ik(shoulder, target, pole, body.upper_arm, body.forearm, backup)
        joints[:, ELBOW[side]] = elbow
        joints[:, WRIST[side]] = wrist

        hip = pelvis + apply(rot_pelvis, off[HIP[side]])
        joints[:, HIP[side]] = hip
        forward = np.stack([np.sin(channels.heading), np.zeros(T), np.cos(channels.heading)], -1)
        knee, ankle = two_bone_ik(hip, channels.ankle[side], channels.knee_pole[side], body.thigh, body.shin,
                                  forward)
        joints[:, KNEE[side]] = knee
        joints[:, ANKLE[side]] = ankle
        foot_rot = rot_y(channels.foot_yaw[side]) @ rot_x(channels.foot_pitch[side])
        joints[:, TOE[side]] = ankle + apply(foot_rot, off[TOE[side]])
    return joints
