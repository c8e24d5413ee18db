"""Numpy quaternion helpers in (w, x, y, z) order, vectorised over leading dimensions.

HumanML3D stores rotations as unit quaternions (w first) during preprocessing and as continuous 6D
(the first two *columns* of the rotation matrix) in its features; these helpers are the small set
that ``features.py`` needs. Everything works in float64 and broadcasts like numpy arithmetic.
"""

from __future__ import annotations

import numpy as np

_UNIT_X = np.array([1.0, 0.0, 0.0])
_UNIT_Y = np.array([0.0, 1.0, 0.0])
# Below this squared norm a vector is treated as zero (its direction is undefined).
_TINY = 1e-24


def cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross products over the last axis with broadcasting (several times faster than np.cross)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    ax, ay, az = a[..., 0], a[..., 1], a[..., 2]
    bx, by, bz = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([ay * bz - az * by, az * bx - ax * bz, ax * by - ay * bx], axis=-1)


def identity(shape: tuple[int, ...] = ()) -> np.ndarray:
    """Identity quaternions of the given leading shape."""
    q = np.zeros(shape + (4,))
    q[..., 0] = 1.0
    return q


def qmul(q: np.ndarray, r: np.ndarray) -> np.ndarray:
    """Hamilton product q * r (apply r first, then q)."""
    q, r = np.asarray(q, dtype=np.float64), np.asarray(r, dtype=np.float64)
    w1, x1, y1, z1 = np.moveaxis(q, -1, 0)
    w2, x2, y2, z2 = np.moveaxis(r, -1, 0)
    return np.stack(
        [
            w1 * w2 - x1 * x2 - y1 * y2 - z1 * z2,
            w1 * x2 + x1 * w2 + y1 * z2 - z1 * y2,
            w1 * y2 - x1 * z2 + y1 * w2 + z1 * x2,
            w1 * z2 + x1 * y2 - y1 * x2 + z1 * w2,
        ],
        axis=-1,
    )


def qinv(q: np.ndarray) -> np.ndarray:
    """Inverse of unit quaternions (the conjugate)."""
    return np.asarray(q, dtype=np.float64) * np.array([1.0, -1.0, -1.0, -1.0])


def qnormalize(q: np.ndarray) -> np.ndarray:
    """Unit quaternions; a zero quaternion becomes the identity instead of NaN."""
    q = np.asarray(q, dtype=np.float64)
    norm = np.linalg.norm(q, axis=-1, keepdims=True)
    return np.where(norm > 0.0, q / np.where(norm > 0.0, norm, 1.0), identity())


def positive_w(q: np.ndarray) -> np.ndarray:
    """The representative of each rotation with w >= 0 (q and -q are the same rotation)."""
    q = np.asarray(q, dtype=np.float64)
    return np.where(q[..., :1] < 0.0, -q, q)


def qrot(q: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Rotate vectors v (..., 3) by unit quaternions q (..., 4); shapes broadcast."""
    q, v = np.asarray(q, dtype=np.float64), np.asarray(v, dtype=np.float64)
    w, axis = q[..., :1], q[..., 1:]
    uv = cross(axis, v)
    return v + 2.0 * (w * uv + cross(axis, uv))


def qbetween(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Shortest-arc rotation taking the direction of u onto the direction of v (w >= 0).

    Same construction as HumanML3D (w = |u||v| + u.v, axis = u x v, normalised), made total:
    opposite vectors get a half turn about an axis perpendicular to u, and a zero vector gives
    the identity, where HumanML3D would produce NaN.
    """
    u, v = np.broadcast_arrays(np.asarray(u, dtype=np.float64), np.asarray(v, dtype=np.float64))
    scale = np.sum(u * u, axis=-1) * np.sum(v * v, axis=-1)  # |u|^2 |v|^2
    w = np.sqrt(scale) + np.sum(u * v, axis=-1)
    q = np.concatenate([w[..., None], cross(u, v)], axis=-1)
    opposite = (np.sum(q * q, axis=-1) <= 1e-20 * scale) & (scale > _TINY)
    if np.any(opposite):
        mostly_x = np.abs(u[..., :1]) >= 0.9 * np.linalg.norm(u, axis=-1, keepdims=True)
        perpendicular = cross(u, np.where(mostly_x, _UNIT_Y, _UNIT_X))
        half_turn = np.concatenate([np.zeros(w.shape + (1,)), perpendicular], axis=-1)
        q = np.where(opposite[..., None], half_turn, q)
    return qnormalize(q)


def yaw_to_quat(angle: np.ndarray) -> np.ndarray:
    """Rotations by ``angle`` radians about +Y (counter-clockwise seen from above)."""
    half = 0.5 * np.asarray(angle, dtype=np.float64)
    zero = np.zeros_like(half)
    return np.stack([np.cos(half), zero, np.sin(half), zero], axis=-1)


def yaw_from_forward(forward: np.ndarray) -> np.ndarray:
    """Yaw-only rotations (w >= 0) that turn the XZ part of ``forward`` onto +Z.

    Equal to HumanML3D's ``qbetween(forward, +Z)`` for horizontal forward vectors, but total:
    facing exactly -Z gives the half turn, and a zero vector gives the identity.
    """
    forward = np.asarray(forward, dtype=np.float64)
    heading = np.arctan2(forward[..., 0], forward[..., 2])
    return positive_w(yaw_to_quat(-heading))


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of quaternions (normalised on the way)."""
    q = np.asarray(q, dtype=np.float64)
    w, x, y, z = np.moveaxis(q, -1, 0)
    two_s = 2.0 / np.sum(q * q, axis=-1)
    rows = [
        1.0 - two_s * (y * y + z * z), two_s * (x * y - z * w), two_s * (x * z + y * w),
        two_s * (x * y + z * w), 1.0 - two_s * (x * x + z * z), two_s * (y * z - x * w),
        two_s * (x * z - y * w), two_s * (y * z + x * w), 1.0 - two_s * (x * x + y * y),
    ]
    return np.stack(rows, axis=-1).reshape(q.shape[:-1] + (3, 3))


def matrix_to_quat(m: np.ndarray) -> np.ndarray:
    """Unit quaternions (w >= 0) of rotation matrices (..., 3, 3), numerically stable.

    Picks, per matrix, the largest of 4w^2, 4x^2, 4y^2, 4z^2 to divide by (Shepperd's method).
    """
    m = np.asarray(m, dtype=np.float64)
    m00, m11, m22 = m[..., 0, 0], m[..., 1, 1], m[..., 2, 2]
    candidates = np.stack(
        [
            # each row: (w, x, y, z) scaled by 4 * (the component chosen as pivot)
            np.stack([1.0 + m00 + m11 + m22, m[..., 2, 1] - m[..., 1, 2],
                      m[..., 0, 2] - m[..., 2, 0], m[..., 1, 0] - m[..., 0, 1]], axis=-1),
            np.stack([m[..., 2, 1] - m[..., 1, 2], 1.0 + m00 - m11 - m22,
                      m[..., 0, 1] + m[..., 1, 0], m[..., 0, 2] + m[..., 2, 0]], axis=-1),
            np.stack([m[..., 0, 2] - m[..., 2, 0], m[..., 0, 1] + m[..., 1, 0],
                      1.0 - m00 + m11 - m22, m[..., 1, 2] + m[..., 2, 1]], axis=-1),
            np.stack([m[..., 1, 0] - m[..., 0, 1], m[..., 0, 2] + m[..., 2, 0],
                      m[..., 1, 2] + m[..., 2, 1], 1.0 - m00 - m11 + m22], axis=-1),
        ],
        axis=-2,
    )
    pivots = np.stack([candidates[..., k, k] for k in range(4)], axis=-1)
    best = np.argmax(pivots, axis=-1)
    chosen = np.take_along_axis(candidates, best[..., None, None], axis=-2)[..., 0, :]
    return positive_w(qnormalize(chosen))


def matrix_to_cont6d(m: np.ndarray) -> np.ndarray:
    """Continuous 6D: first column then second column of each rotation matrix (HumanML3D order)."""
    m = np.asarray(m, dtype=np.float64)
    return np.concatenate([m[..., :, 0], m[..., :, 1]], axis=-1)


def quat_to_cont6d(q: np.ndarray) -> np.ndarray:
    """Continuous 6D of quaternions (first two matrix columns)."""
    return matrix_to_cont6d(quat_to_matrix(q))


def cont6d_to_matrix(d6: np.ndarray) -> np.ndarray:
    """Rotation matrices from 6D (Gram-Schmidt on the two columns, third = cross product)."""
    d6 = np.asarray(d6, dtype=np.float64)
    a, b = d6[..., :3], d6[..., 3:6]
    x = a / np.linalg.norm(a, axis=-1, keepdims=True)
    z = cross(x, b)
    z = z / np.linalg.norm(z, axis=-1, keepdims=True)
    y = cross(z, x)
    return np.stack([x, y, z], axis=-1)
