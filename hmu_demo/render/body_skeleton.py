"""The stick figure: one capsule per bone and a ball per joint, posed straight from joint positions.

It needs no inverse kinematics, so it is the cheapest body and the speed baseline; it is also the
honest view of what a model produced (no body shape hides anything).
"""

from __future__ import annotations

import numpy as np

from hmu_demo.motion.skeleton import LEFT_JOINTS, NUM_JOINTS, PARENTS, RIGHT_JOINTS
from hmu_demo.render.body_default import body_scale
from hmu_demo.motion.ik import minimal_rotation, rest_skeleton_for
from hmu_demo.render.mesh import RigidMesh, capsule, ellipsoid, part, pose

LEFT_COLOR = (0.15, 0.45, 0.85)
RIGHT_COLOR = (0.86, 0.25, 0.20)
CENTER_COLOR = (0.25, 0.27, 0.32)
_BONES = tuple(range(1, NUM_JOINTS))  # bone b ends at joint b; handle index b - 1


def _color(joint: int) -> tuple[float, float, float]:
    if joint in LEFT_JOINTS:
        return LEFT_COLOR
    if joint in RIGHT_JOINTS:
        return RIGHT_COLOR
    return CENTER_COLOR


def build_stick_figure(rest: np.ndarray) -> RigidMesh:
    """Rest-space stick figure with one handle per bone."""
    s = body_scale(rest)
    handles = len(_BONES)
    parts = []
    for b, joint in enumerate(_BONES):
        parent = PARENTS[joint]
        v, f = capsule(rest[parent], rest[joint], [(0, 0.022 * s), (1, 0.022 * s)], segments=8, cap_rings=2)
        parts.append(part(v, f, _color(joint), handles, {b: 1.0}))
        radius = 0.034 * s
        v, f = ellipsoid(rest[joint], np.eye(3)[[0, 2, 1]] * [1, 1, -1], (radius,) * 3, segments=8, rings=5)
        parts.append(part(v, f, _color(joint), handles, {b: 1.0}))
    head = rest[15] + np.array([0.0, 0.09, 0.01]) * s
    v, f = ellipsoid(head, np.eye(3)[[0, 2, 1]] * [1, 1, -1], (0.09 * s,) * 3, segments=14, rings=9)
    parts.append(part(v, f, CENTER_COLOR, handles, {_BONES.index(15): 1.0}))
    return RigidMesh.merge(parts)


def bone_transforms(joints: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Transforms (T, 21, 3, 4) taking each rest bone onto the posed bone (rotation + stretch)."""
    frames = joints.shape[0]
    out = np.empty((frames, len(_BONES), 3, 4))
    for b, joint in enumerate(_BONES):
        parent = PARENTS[joint]
        rest_vec = rest[joint] - rest[parent]
        now_vec = joints[:, joint] - joints[:, parent]
        rest_len = max(np.linalg.norm(rest_vec), 1e-6)
        ratio = np.linalg.norm(now_vec, axis=-1) / rest_len
        d = rest_vec / rest_len
        stretch = np.eye(3) + (ratio[:, None, None] - 1.0) * np.outer(d, d)
        m = minimal_rotation(np.broadcast_to(d, now_vec.shape), now_vec) @ stretch
        out[:, b, :, :3] = m
        out[:, b, :, 3] = joints[:, parent] - np.einsum("tab,b->ta", m, rest[parent])
    return out


class StickFigureBody:
    """Poses the stick figure for a whole clip: joints (T, 22, 3) -> vertices (T, V, 3)."""

    def pose(self, joints: np.ndarray) -> tuple[np.ndarray, RigidMesh]:
        rest = rest_skeleton_for(joints)
        mesh = build_stick_figure(rest)
        return pose(mesh, bone_transforms(np.asarray(joints, np.float64), rest)), mesh
