"""Analytic inverse kinematics: 22 joint positions -> one global rotation per joint.

Every joint gets an orthonormal frame built from a *primary* vector (towards its child, matched
exactly, so bone directions are exact) and a *secondary* vector that fixes the twist (the knee or
elbow bend plane, the hip line, the shoulder line, or the parent's frame carried over by the
smallest rotation). The rotation is ``G = F_now @ F_rest.T``. The same rules applied to the rest
skeleton give the identity, so the result is a proper pose for any rest skeleton (ours, SMPL's).
Twist vectors are smoothed over time, which removes flicker where a limb is nearly straight.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

from hmu_demo.motion.geometry import normalize
from hmu_demo.motion.skeleton import NUM_JOINTS, PARENTS, REST_OFFSETS

_X = np.array([1.0, 0.0, 0.0])
_Y = np.array([0.0, 1.0, 0.0])
_Z = np.array([0.0, 0.0, 1.0])

# Child that each joint points at (None for leaves, which inherit the parent's rotation).
PRIMARY_CHILD: dict[int, int] = {
    1: 4, 2: 5, 3: 6, 4: 7, 5: 8, 6: 9, 7: 10, 8: 11, 9: 12, 12: 15,
    13: 16, 14: 17, 16: 18, 17: 19, 18: 20, 19: 21,
}
LEAVES: tuple[int, ...] = (10, 11, 15, 20, 21)
# Hinge roots: their twist comes from the bend plane of the next two bones (knee, elbow).
BEND_JOINTS: tuple[int, ...] = (1, 2, 16, 17)
# Rest twist axis for joints whose twist is carried from the parent (and for hinge roots).
# The arm axes are the elbow hinge axes in the T-pose (forearm bends forward).
REST_TWIST: dict[int, np.ndarray] = {
    1: _X, 2: _X, 4: _X, 5: _X, 7: _X, 8: _X, 12: _X,
    13: _Z, 14: _Z, 16: -_Y, 18: -_Y, 17: _Y, 19: _Y,
}
SPINE_BLEND: dict[int, float] = {3: 1.0 / 3.0, 6: 2.0 / 3.0}  # share of chest twist per spine joint


def frame(primary: np.ndarray, secondary: np.ndarray) -> np.ndarray:
    """Orthonormal frames (..., 3, 3) whose columns are primary, orthogonalised secondary, cross."""
    e1 = normalize(primary)
    e2 = normalize(secondary - np.sum(secondary * e1, axis=-1, keepdims=True) * e1)
    e3 = np.cross(e1, e2)
    return np.stack([e1, e2, e3], axis=-1)


def minimal_rotation(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Smallest rotations (..., 3, 3) taking unit vectors u to unit vectors v."""
    u, v = np.broadcast_arrays(normalize(u), normalize(v))
    axis = np.cross(u, v)
    sin = np.linalg.norm(axis, axis=-1)
    cos = np.sum(u * v, axis=-1)
    # Opposite vectors: any axis perpendicular to u works.
    fallback = np.cross(u, np.where(np.abs(u[..., :1]) < 0.9, _X, _Y))
    axis = np.where((sin < 1e-8)[..., None], fallback, axis)
    axis = normalize(axis)
    angle = np.arctan2(sin, cos)
    return axis_angle_to_matrix(axis * angle[..., None])


def axis_angle_to_matrix(rotvec: np.ndarray) -> np.ndarray:
    """Rodrigues' formula for (..., 3) rotation vectors."""
    angle = np.linalg.norm(rotvec, axis=-1)
    axis = rotvec / np.maximum(angle, 1e-12)[..., None]
    x, y, z = axis[..., 0], axis[..., 1], axis[..., 2]
    zero = np.zeros_like(x)
    k = np.stack([zero, -z, y, z, zero, -x, -y, x, zero], axis=-1).reshape(*axis.shape[:-1], 3, 3)
    s = np.sin(angle)[..., None, None]
    c = np.cos(angle)[..., None, None]
    return np.eye(3) + s * k + (1.0 - c) * (k @ k)


def apply(matrices: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """Matrix-vector products with broadcasting: (..., 3, 3) x (..., 3) -> (..., 3)."""
    return np.einsum("...ij,...j->...i", matrices, vectors)


def _chest_across(p: np.ndarray) -> np.ndarray:
    return p[..., 13, :] - p[..., 14, :]


def _hip_across(p: np.ndarray) -> np.ndarray:
    return p[..., 1, :] - p[..., 2, :]


def _spine_twist(p: np.ndarray, joint: int) -> np.ndarray:
    share = SPINE_BLEND[joint]
    return (1.0 - share) * normalize(_hip_across(p)) + share * normalize(_chest_across(p))


def _smooth(v: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0 or v.shape[0] < 2:
        return v
    return gaussian_filter1d(v, sigma, axis=0, mode="nearest")


def global_rotations(joints: np.ndarray, rest: np.ndarray, twist_sigma: float = 1.5,
                     bend_threshold: float = 0.25) -> np.ndarray:
    """Global rotations (T, 22, 3, 3) that pose ``rest`` (22, 3) like ``joints`` (T, 22, 3).

    ``twist_sigma`` (frames) smooths twist axes over time; ``bend_threshold`` is the sine of the
    bend angle above which the knee/elbow plane alone decides the twist.
    """
    p = np.asarray(joints, dtype=np.float64)
    r = np.asarray(rest, dtype=np.float64)
    frames = p.shape[0]
    g = np.zeros((frames, NUM_JOINTS, 3, 3))

    # Root: the hip line is matched exactly, the spine direction fixes the rest.
    f_now = frame(_hip_across(p), p[:, 3] - p[:, 0])
    f_rest = frame(_hip_across(r), r[3] - r[0])
    g[:, 0] = f_now @ f_rest.T

    for j in range(1, NUM_JOINTS):
        parent = PARENTS[j]
        if j in LEAVES:
            g[:, j] = g[:, parent]
            continue
        child = PRIMARY_CHILD[j]
        a_now = p[:, child] - p[:, j]
        a_rest = r[child] - r[j]
        if j in SPINE_BLEND:
            b_now, b_rest = _smooth(_spine_twist(p, j), twist_sigma), _spine_twist(r, j)
        elif j == 9:
            b_now, b_rest = _chest_across(p), _chest_across(r)  # exact: the collars hang on it
        else:
            b_rest = REST_TWIST[j]
            g_parent = g[:, parent]
            swing = minimal_rotation(apply(g_parent, normalize(a_rest)), a_now)
            b_now = apply(swing, apply(g_parent, b_rest))
            if j in BEND_JOINTS:
                b_now = _smooth(_bend_twist(p, child, a_now, b_now, bend_threshold), twist_sigma)
                # The same rule on the rest pose, so that the rest pose maps to the identity.
                b_rest = _bend_twist(r[None], child, a_rest[None], b_rest[None], bend_threshold)[0]
        g[:, j] = frame(a_now, b_now) @ frame(a_rest, b_rest).T
    return g


def _bend_twist(p: np.ndarray, child: int, a_now: np.ndarray, carried: np.ndarray,
                threshold: float) -> np.ndarray:
    """Twist axis of a hinge root: the bend normal where the limb bends, else the carried axis."""
    lower = p[:, PRIMARY_CHILD[child]] - p[:, child]
    normal = np.cross(normalize(a_now), normalize(lower))
    sine = np.linalg.norm(normal, axis=-1, keepdims=True)
    normal = normalize(normal)
    # A knee or elbow bends one way only: keep the normal on the carried axis's side.
    normal = np.where(np.sum(normal * carried, axis=-1, keepdims=True) < 0, -normal, normal)
    t = np.clip(sine / threshold, 0.0, 1.0)
    weight = t * t * (3.0 - 2.0 * t)
    return weight * normal + (1.0 - weight) * normalize(carried)


def local_rotations(global_rot: np.ndarray) -> np.ndarray:
    """Parent-relative rotations (T, 22, 3, 3); the root's is its global rotation."""
    local = np.empty_like(global_rot)
    local[:, 0] = global_rot[:, 0]
    for j in range(1, NUM_JOINTS):
        local[:, j] = np.swapaxes(global_rot[:, PARENTS[j]], -1, -2) @ global_rot[:, j]
    return local


def forward_kinematics(local_rot: np.ndarray, root: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Joint positions (T, 22, 3) from local rotations, root positions (T, 3) and a rest pose."""
    frames = local_rot.shape[0]
    g = np.zeros_like(local_rot)
    pos = np.zeros((frames, NUM_JOINTS, 3))
    g[:, 0] = local_rot[:, 0]
    pos[:, 0] = root
    for j in range(1, NUM_JOINTS):
        parent = PARENTS[j]
        g[:, j] = g[:, parent] @ local_rot[:, j]
        pos[:, j] = pos[:, parent] + apply(g[:, parent], rest[j] - rest[parent])
    return pos


def bone_lengths_of(joints: np.ndarray) -> np.ndarray:
    """Median length (22,) over time of the bone ending at each joint (0 for the root)."""
    p = np.asarray(joints, dtype=np.float64)
    lengths = np.zeros(NUM_JOINTS)
    for j in range(1, NUM_JOINTS):
        lengths[j] = np.median(np.linalg.norm(p[:, j] - p[:, PARENTS[j]], axis=-1))
    return lengths


def rest_skeleton_for(joints: np.ndarray) -> np.ndarray:
    """Our T-pose rest skeleton (22, 3) with the bone lengths of this motion."""
    lengths = bone_lengths_of(joints)
    directions = normalize(REST_OFFSETS)
    offsets = directions * lengths[:, None]
    rest = np.zeros((NUM_JOINTS, 3))
    for j in range(1, NUM_JOINTS):
        rest[j] = rest[PARENTS[j]] + offsets[j]
    rest[:, 1] -= rest[:, 1].min()
    return rest
