"""HumanML3D's 263-d motion features <-> 22 joint positions.

``joints_to_features`` follows HumanML3D's preprocessing (``process_file`` of the official
``motion_representation`` notebook) so that our corpus lives in the same feature space as the
official data and models; ``features_to_joints`` is its ``recover_from_ric``. Layout per frame:

    0        root yaw velocity (half-angle, rad/frame)   1:3   root XZ velocity in the facing frame
    3        root height                                 4:67  RIC positions of joints 1..21
    67:193   6D local rotations of joints 1..21          193:259 local velocities of joints 0..21
    259:263  foot contacts (L ankle, L toe, R ankle, R toe)

Conventions the rest of the code relies on:

* The facing rotation r_t is a yaw quaternion that turns the body's forward direction onto +Z.
  Positive feature 0 means r grows, i.e. the body turns clockwise seen from above (towards its
  right, -X in the first frame).
* Four quirks of the official data are kept on purpose, because the official features were made
  with them: (1) the per-frame facing inside the IK pairs the joints as (L_hip - R_hip) +
  (R_shoulder - L_shoulder) (HumanML3D issue #131; canonicalisation uses the documented
  R - L pairing), (2) that facing is smoothed by a Gaussian of sigma 20 frames (1 s, not small),
  (3) the first frame's facing is replaced by the identity (issues #45/#74), so feature 0 of
  frame 0 also holds the offset between the canonical facing and the smoothed one, (4) the first
  bone of every kinematic chain, collars included, is rotated relative to the root facing, not
  to its parent joint (issue #119). Because of (3) the round trip joints -> features -> joints
  reproduces ``canonicalize(joints)[:-1]`` (up to float32 rounding).
* The sigma-20 smoothing cannot follow fast spins (a full turn in a couple of seconds): the
  facing then lags or wanders, as in the official data; the round trip stays exact regardless.
* One official bug is fixed: HumanML3D takes asin of the y component of r_{t+1} r_t^-1 without
  making w >= 0, which flips the sign of the yaw velocity on the frame where the facing crosses
  +-180 degrees (issue #156). We take the w >= 0 representative, which equals the official value
  on every other frame and keeps the round trip exact for turns of any size.
"""

from __future__ import annotations

from typing import TypeVar

import numpy as np
import torch
from scipy.ndimage import gaussian_filter1d

from hmu_demo.motion import quaternion as quat
from hmu_demo.motion.skeleton import (
    FACE_JOINTS,
    FEATURE_DIM,
    FOOT_JOINTS,
    KINEMATIC_CHAINS,
    NUM_JOINTS,
    PARENTS,
    RAW_OFFSETS,
    mirror_indices,
)

ArrayLike = TypeVar("ArrayLike", np.ndarray, torch.Tensor)

# The 7 feature groups, in order (HumanML3D's Std.npy is averaged inside each of them).
FEATURE_GROUPS: dict[str, slice] = {
    "root_rot_velocity": slice(0, 1),
    "root_linear_velocity": slice(1, 3),
    "root_y": slice(3, 4),
    "ric": slice(4, 4 + (NUM_JOINTS - 1) * 3),
    "rotations": slice(4 + (NUM_JOINTS - 1) * 3, 4 + (NUM_JOINTS - 1) * 9),
    "local_velocity": slice(4 + (NUM_JOINTS - 1) * 9, 4 + (NUM_JOINTS - 1) * 9 + NUM_JOINTS * 3),
    "foot_contact": slice(4 + (NUM_JOINTS - 1) * 9 + NUM_JOINTS * 3, FEATURE_DIM),
}
FEET_THRESHOLD = 0.002  # m^2 per frame: contact when the squared displacement is below this
FORWARD_SMOOTHING_SIGMA = 20.0  # frames; HumanML3D's smooth_forward Gaussian
# Bones whose summed length is the "leg length" used to scale the root when retargeting (thigh, shin).
_LEG_BONES = (5, 8)
# First joint of every kinematic chain: its IK rotation is relative to the root facing.
_CHAIN_STARTS = tuple(chain[1] for chain in KINEMATIC_CHAINS)
_IK_PARENT = np.array([0] + [0 if j in _CHAIN_STARTS else PARENTS[j] for j in range(1, NUM_JOINTS)])


def _as_joints(joints: np.ndarray, min_frames: int = 1) -> np.ndarray:
    """Validate a (T, 22, 3) joint array and return it as float64."""
    array = np.asarray(joints, dtype=np.float64)
    if array.ndim != 3 or array.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"expected joints of shape (T, {NUM_JOINTS}, 3), got {array.shape}")
    if array.shape[0] < min_frames:
        raise ValueError(f"need at least {min_frames} frames, got {array.shape[0]}")
    if not np.isfinite(array).all():
        raise ValueError("joints contain NaN or infinite values")
    return array


def _forward_directions(joints: np.ndarray, hip_sign: float) -> np.ndarray:
    """Horizontal body-forward vectors up x across, with across from the hips and shoulders.

    ``hip_sign=+1`` is the documented (R_hip - L_hip) + (R_shoulder - L_shoulder); ``-1`` is the
    pairing HumanML3D's IK actually uses. Not unit length: the length is the horizontal share of
    the unit ``across`` vector, which is what HumanML3D's smoothing averages.
    """
    r_hip, l_hip, r_shoulder, l_shoulder = FACE_JOINTS
    across = hip_sign * (joints[..., r_hip, :] - joints[..., l_hip, :])
    across = across + joints[..., r_shoulder, :] - joints[..., l_shoulder, :]
    norm = np.linalg.norm(across, axis=-1, keepdims=True)
    across = across / np.where(norm > 0.0, norm, 1.0)
    # up x across with up = +Y
    return np.stack([across[..., 2], np.zeros_like(across[..., 0]), -across[..., 0]], axis=-1)


def retarget(joints: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Give a motion the bone lengths of ``offsets`` (22, 3), keeping every bone's direction.

    This is what HumanML3D's IK + FK "uniform skeleton" step amounts to (its target offsets are the
    IK rest directions times the target lengths, so only their lengths matter). The root trajectory
    is scaled by the ratio of leg lengths (thigh + shin), measured on the first frame.
    """
    joints = _as_joints(joints)
    target = np.linalg.norm(np.asarray(offsets, dtype=np.float64).reshape(NUM_JOINTS, 3), axis=-1)
    bones = joints[:, 1:] - joints[:, list(PARENTS[1:])]
    lengths = np.linalg.norm(bones, axis=-1, keepdims=True)
    directions = bones / np.where(lengths > 0.0, lengths, 1.0)
    source = np.concatenate([[0.0], np.linalg.norm(bones[0], axis=-1)])
    scale = sum(target[b] for b in _LEG_BONES) / max(sum(source[b] for b in _LEG_BONES), 1e-12)
    out = np.empty_like(joints)
    out[:, 0] = joints[:, 0] * scale
    for joint in range(1, NUM_JOINTS):  # parents always precede children
        out[:, joint] = out[:, PARENTS[joint]] + target[joint] * directions[:, joint - 1]
    return out


def canonicalize(joints: np.ndarray, offsets: np.ndarray | None = None) -> np.ndarray:
    """HumanML3D's clip normalisation: optional retarget, floor at y=0, start at XZ origin facing +Z.

    Returns float64 (T, 22, 3). The facing of the first frame uses the documented pairing
    forward = up x (r_hip - l_hip + r_shoulder - l_shoulder).
    """
    positions = _as_joints(joints)
    if offsets is not None:
        positions = retarget(positions, offsets)
    positions = positions.copy()
    positions[..., 1] -= positions[..., 1].min()
    positions -= positions[0, 0] * np.array([1.0, 0.0, 1.0])
    facing = quat.yaw_from_forward(_forward_directions(positions[0], hip_sign=1.0))
    return quat.qrot(facing, positions)


def root_rotations(positions: np.ndarray) -> np.ndarray:
    """Facing quaternions r_t (T, 4) of a canonical motion, as HumanML3D's IK computes them.

    Smoothed forward (sigma 20 frames, edge values repeated), IK hip pairing, first frame set to
    the identity: see the module docstring for why these quirks are kept.
    """
    forward = _forward_directions(positions, hip_sign=-1.0)
    forward = gaussian_filter1d(forward, FORWARD_SMOOTHING_SIGMA, axis=0, mode="nearest")
    rotations = quat.yaw_from_forward(forward)
    rotations[0] = quat.identity()
    return rotations


def local_rotations(positions: np.ndarray, root: np.ndarray) -> np.ndarray:
    """HumanML3D's position IK: (T, 22, 4) parent-relative rotations, entry 0 = ``root``.

    Each bone's world rotation is the shortest arc from its rest direction (RAW_OFFSETS) to its
    current direction; it is expressed relative to the previous bone of its kinematic chain, and
    the first bone of every chain (hips, spine1, collars) relative to the root facing.
    """
    bones = positions[:, 1:] - positions[:, list(PARENTS[1:])]
    world = np.concatenate([root[:, None], quat.qbetween(RAW_OFFSETS[1:], bones)], axis=1)
    local = quat.qmul(quat.qinv(world[:, _IK_PARENT[1:]]), world[:, 1:])
    return np.concatenate([root[:, None], local], axis=1)


def foot_contacts(positions: np.ndarray, threshold: float = FEET_THRESHOLD) -> np.ndarray:
    """(T-1, 4) float32 contacts of L ankle, L toe, R ankle, R toe: squared step below threshold."""
    feet = positions[:, list(FOOT_JOINTS)]
    step = np.sum((feet[1:] - feet[:-1]) ** 2, axis=-1)
    return (step < threshold).astype(np.float32)


def joints_to_features(joints: np.ndarray, feet_threshold: float = FEET_THRESHOLD) -> np.ndarray:
    """(T, 22, 3) joint positions -> (T-1, 263) float32 HumanML3D features.

    The clip is canonicalised first (no retargeting; call ``canonicalize(joints, offsets)`` first
    to retarget), so global yaw and translation do not change the result.
    """
    positions = canonicalize(_as_joints(joints, min_frames=2))
    count = positions.shape[0] - 1
    root = root_rotations(positions)

    turn = quat.positive_w(quat.qmul(root[1:], quat.qinv(root[:-1])))
    yaw_velocity = np.arcsin(np.clip(turn[:, 2], -1.0, 1.0))
    linear_velocity = quat.qrot(root[1:], positions[1:, 0] - positions[:-1, 0])[:, [0, 2]]
    root_y = positions[:-1, 0, 1]

    centred = positions[:-1] - positions[:-1, :1] * np.array([1.0, 0.0, 1.0])
    ric = quat.qrot(root[:-1, None], centred[:, 1:])
    rotations = quat.quat_to_cont6d(local_rotations(positions[:-1], root[:-1])[:, 1:])
    local_velocity = quat.qrot(root[:-1, None], positions[1:] - positions[:-1])

    return np.concatenate(
        [
            yaw_velocity[:, None],
            linear_velocity,
            root_y[:, None],
            ric.reshape(count, -1),
            rotations.reshape(count, -1),
            local_velocity.reshape(count, -1),
            foot_contacts(positions, feet_threshold),
        ],
        axis=-1,
    ).astype(np.float32)


def features_to_joints(features: ArrayLike) -> ArrayLike:
    """HumanML3D's ``recover_from_ric``: (..., T, 263) de-normalised features -> (..., T, 22, 3).

    Accepts numpy arrays or torch tensors (any device, differentiable) and returns the same type
    and floating dtype. Only dims 0:67 are read, so 259-d features (no contacts) work too.
    """
    is_numpy = not isinstance(features, torch.Tensor)
    x = torch.tensor(np.asarray(features)) if is_numpy else features
    if not x.is_floating_point():
        x = x.to(torch.get_default_dtype())
    if x.ndim < 2 or x.shape[-1] not in (FEATURE_DIM, FEATURE_DIM - 4):
        raise ValueError(f"expected features of shape (..., T, {FEATURE_DIM}), got {tuple(x.shape)}")

    # Accumulated half-yaw: theta_0 = 0, theta_t = sum of feature 0 over earlier frames.
    zero = torch.zeros_like(x[..., :1, 0])
    theta = torch.cat([zero, torch.cumsum(x[..., :-1, 0], dim=-1)], dim=-1)
    cos, sin = torch.cos(2.0 * theta), torch.sin(2.0 * theta)

    # Root XZ: velocities of the previous frame, turned back to world by -2 theta, integrated.
    vx = torch.cat([zero, x[..., :-1, 1]], dim=-1)
    vz = torch.cat([zero, x[..., :-1, 2]], dim=-1)
    root_x = torch.cumsum(vx * cos - vz * sin, dim=-1)
    root_z = torch.cumsum(vx * sin + vz * cos, dim=-1)
    root = torch.stack([root_x, x[..., 3], root_z], dim=-1)

    ric = x[..., 4:FEATURE_GROUPS["ric"].stop].reshape(x.shape[:-1] + (NUM_JOINTS - 1, 3))
    cos, sin = cos[..., None], sin[..., None]
    others = torch.stack(
        [
            ric[..., 0] * cos - ric[..., 2] * sin + root_x[..., None],
            ric[..., 1],
            ric[..., 0] * sin + ric[..., 2] * cos + root_z[..., None],
        ],
        dim=-1,
    )
    joints = torch.cat([root[..., None, :], others], dim=-2)
    return joints.numpy() if is_numpy else joints


def mirror_joints(joints: ArrayLike) -> ArrayLike:
    """Left-right mirror image (negate x, swap left and right joints), as HumanML3D's M-clips."""
    order = mirror_indices()
    if isinstance(joints, torch.Tensor):
        flip = torch.tensor([-1.0, 1.0, 1.0], dtype=joints.dtype, device=joints.device)
        return joints[..., torch.as_tensor(order, device=joints.device), :] * flip
    joints = np.asarray(joints)
    return joints[..., order, :] * np.array([-1.0, 1.0, 1.0], dtype=joints.dtype)
