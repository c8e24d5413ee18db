"""The default body: a clothed mannequin built from lofted primitives on the motion's own skeleton.

It is our own geometry (no third-party assets, so no licence questions), fits any bone lengths
exactly, and has about 3k vertices, which keeps software rendering within budget.
The torso is one lofted surface skinned to the four spine joints, so it bends and twists; limbs
are tapered capsules whose round ends keep knees and elbows closed at any angle.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmu_demo.motion.geometry import normalize
from hmu_demo.motion.ik import global_rotations, rest_skeleton_for
from hmu_demo.motion.skeleton import NUM_JOINTS, rest_pose
from hmu_demo.render.mesh import RigidMesh, capsule, ellipsoid, joint_transforms, loft, part, pose

_X, _Y, _Z = np.eye(3)


@dataclass(frozen=True)
class BodyStyle:
    """Albedo colours (sRGB, 0..1) of the mannequin's clothes and skin."""

    shirt: tuple[float, float, float] = (0.16, 0.45, 0.80)
    pants: tuple[float, float, float] = (0.20, 0.23, 0.30)
    skin: tuple[float, float, float] = (0.87, 0.72, 0.60)
    shoes: tuple[float, float, float] = (0.12, 0.12, 0.14)


STYLE_BLUE = BodyStyle()
STYLE_ORANGE = BodyStyle(shirt=(0.88, 0.42, 0.16))
STYLE_TEAL = BodyStyle(shirt=(0.10, 0.58, 0.55))

# Torso rings: (spine joint, height offset, half width, half depth, forward offset, belt side).
# Sizes are for our reference adult (skeleton.REST_OFFSETS) and scale with the motion's height.
_TORSO = (
    (0, -0.120, 0.070, 0.060, -0.010, "pants"),
    (0, -0.090, 0.135, 0.092, -0.012, "pants"),
    (0, -0.035, 0.158, 0.104, -0.015, "pants"),
    (0, 0.030, 0.156, 0.100, -0.012, "pants"),
    (3, 0.010, 0.146, 0.096, -0.005, "pants"),
    (3, 0.010, 0.146, 0.096, -0.005, "shirt"),
    (6, -0.040, 0.140, 0.092, 0.000, "shirt"),
    (6, 0.030, 0.152, 0.098, 0.006, "shirt"),
    (9, 0.030, 0.165, 0.104, 0.008, "shirt"),
    (9, 0.100, 0.175, 0.096, 0.000, "shirt"),
    (12, -0.060, 0.160, 0.080, -0.010, "shirt"),
    (12, -0.028, 0.105, 0.066, -0.010, "shirt"),
    (12, -0.004, 0.062, 0.056, -0.008, "shirt"),
)
_SPINE = (0, 3, 6, 9)


def body_scale(rest: np.ndarray) -> float:
    """Size of this skeleton relative to our reference adult (pelvis-to-head and leg length)."""
    ref = rest_pose()
    def span(r: np.ndarray) -> float:
        return float(np.linalg.norm(r[15] - r[0]) + np.linalg.norm(r[4] - r[1]) + np.linalg.norm(r[7] - r[4]))
    return span(rest) / span(ref)


def _spine_weights(height: float, rest: np.ndarray) -> np.ndarray:
    """Blend weights over the spine joints for a torso ring at this rest height."""
    w = np.zeros(NUM_JOINTS)
    ys = [rest[j, 1] for j in _SPINE]
    if height <= ys[0]:
        w[0] = 1.0
        return w
    for lo, hi, y0, y1 in zip(_SPINE[:-1], _SPINE[1:], ys[:-1], ys[1:]):
        if height <= y1:
            t = (height - y0) / max(y1 - y0, 1e-6)
            t = t * t * (3 - 2 * t)
            w[lo], w[hi] = 1 - t, t
            return w
    w[9] = 1.0
    return w


def _torso(rest: np.ndarray, s: float, style: BodyStyle) -> RigidMesh:
    centers, hw, hd, colors = [], [], [], []
    for joint, dy, half_w, half_d, dz, cloth in _TORSO:
        centers.append([rest[0, 0], rest[joint, 1] + dy * s, rest[joint, 2] + dz * s])
        hw.append(half_w * s)
        hd.append(half_d * s)
        colors.append(getattr(style, cloth))
    centers_arr = np.array(centers)
    rings = len(centers_arr)
    segments = 20
    verts, faces = loft(centers_arr, np.tile(_X, (rings, 1)), np.tile(-_Z, (rings, 1)), np.array(hw),
                        np.array(hd), segments=segments, exponent=2.6)
    ring_of_vertex = np.concatenate([np.repeat(np.arange(rings), segments), [0, rings - 1]])
    weights = np.stack([_spine_weights(centers_arr[i, 1], rest) for i in ring_of_vertex])
    color = np.array(colors)[ring_of_vertex]
    mesh = part(verts, faces, (0, 0, 0), NUM_JOINTS, weights)
    mesh.colors = color
    return mesh


def build_mannequin(rest: np.ndarray, style: BodyStyle = STYLE_BLUE) -> RigidMesh:
    """Rest-space mannequin (weights over the 22 joints) for a T-pose rest skeleton (22, 3)."""
    s = body_scale(rest)
    parts = [_torso(rest, s, style)]
    j = NUM_JOINTS

    for hip, knee, ankle, toe in ((1, 4, 7, 10), (2, 5, 8, 11)):
        v, f = capsule(rest[hip], rest[knee], [(0, 0.094 * s), (0.35, 0.080 * s), (1, 0.057 * s)], hint=_X)
        parts.append(part(v, f, style.pants, j, {hip: 1.0}))
        v, f = capsule(rest[knee], rest[ankle], [(0, 0.055 * s), (0.3, 0.057 * s), (1, 0.040 * s)], hint=_X)
        parts.append(part(v, f, style.pants, j, {knee: 1.0}))
        parts.append(part(*_shoe(rest[ankle], rest[toe], s), style.shoes, j, {ankle: 1.0}))

    for side, (collar, shoulder, elbow, wrist) in ((1.0, (13, 16, 18, 20)), (-1.0, (14, 17, 19, 21))):
        v, f = capsule(rest[collar] - side * 0.03 * s * _X, rest[shoulder],
                       [(0, 0.060 * s), (1, 0.060 * s)], hint=_Z)
        parts.append(part(v, f, style.shirt, j, {collar: 1.0}))
        v, f = capsule(rest[shoulder], rest[elbow], [(0, 0.060 * s), (0.25, 0.054 * s), (1, 0.043 * s)], hint=_Z)
        parts.append(part(v, f, style.shirt, j, {shoulder: 1.0}))
        v, f = capsule(rest[elbow], rest[wrist], [(0, 0.041 * s), (0.3, 0.042 * s), (1, 0.031 * s)], hint=_Z)
        parts.append(part(v, f, style.skin, j, {elbow: 1.0}))
        direction = normalize(rest[wrist] - rest[elbow])
        u, w = _Z, direction
        v_axis = np.cross(w, u)
        v, f = ellipsoid(rest[wrist] + direction * 0.075 * s, (u, v_axis, w), (0.045 * s, 0.022 * s, 0.085 * s),
                         segments=10, rings=7)
        parts.append(part(v, f, style.skin, j, {elbow: 1.0}))

    v, f = capsule(rest[12] - 0.04 * s * _Y, rest[15], [(0, 0.056 * s), (1, 0.052 * s)], hint=_X)
    parts.append(part(v, f, style.skin, j, {12: 1.0}))
    head_c = rest[15] + np.array([0.0, 0.075, 0.015]) * s
    v, f = ellipsoid(head_c, (_X, _Z, -_Y), (0.084 * s, 0.098 * s, 0.110 * s), segments=18, rings=12)
    parts.append(part(v, f, style.skin, j, {12: 1.0}))
    v, f = ellipsoid(rest[15] + np.array([0.0, 0.065, 0.110]) * s, (_X, _Z, -_Y),
                     (0.015 * s, 0.018 * s, 0.024 * s), segments=8, rings=5)
    parts.append(part(v, f, style.skin, j, {12: 1.0}))
    return RigidMesh.merge(parts)


def _shoe(ankle: np.ndarray, toe: np.ndarray, s: float) -> tuple[np.ndarray, np.ndarray]:
    """A shoe lofted from heel to toe tip, sole flat on the rest floor (toe joint height)."""
    fwd = toe - ankle
    fwd[1] = 0.0
    fwd = normalize(fwd)
    sole = toe[1] - 0.025 * s
    # (distance from ankle along fwd, half width, top height above sole)
    stations = ((-0.075, 0.030, 0.080), (-0.060, 0.040, 0.100), (-0.01, 0.044, 0.105),
                (0.06, 0.048, 0.070), (0.12, 0.048, 0.050), (0.165, 0.040, 0.040), (0.19, 0.025, 0.028))
    centers, rw, rh = [], [], []
    for dist, half_w, height in stations:
        base = ankle + fwd * dist * s
        centers.append([base[0], sole + height * s / 2, base[2]])
        rw.append(half_w * s)
        rh.append(height * s / 2)
    centers_arr = np.array(centers)
    n = len(centers_arr)
    u = np.cross(_Y, fwd)  # so that u x up = fwd, the loft's direction
    return loft(centers_arr, np.tile(u, (n, 1)), np.tile(_Y, (n, 1)), np.array(rw), np.array(rh),
                segments=12, exponent=3.0)


class MannequinBody:
    """Poses the mannequin for a whole clip: joints (T, 22, 3) -> vertices (T, V, 3)."""

    def __init__(self, style: BodyStyle = STYLE_BLUE) -> None:
        self.style = style

    def pose(self, joints: np.ndarray) -> tuple[np.ndarray, RigidMesh]:
        rest = rest_skeleton_for(joints)
        mesh = build_mannequin(rest, self.style)
        rotations = global_rotations(joints, rest)
        verts = pose(mesh, joint_transforms(joints, rotations, rest))
        return verts, mesh
