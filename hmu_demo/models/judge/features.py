"""The judge's input: body-centric features of joint positions, and batching of clips of any length.

Every joint relative to the pelvis (x, z) and to the clip's floor (y), rotated into the per-frame
facing frame (hips + shoulders), their velocities in that frame, and the yaw velocity: invariant to
where the motion happens and which way it faces.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from hmu_demo.motion.skeleton import FPS, JOINT_INDEX, NUM_JOINTS

__all__ = ["FEATURE_DIM", "body_features", "check_joints", "pad_batch"]

FEATURE_DIM = NUM_JOINTS * 3 * 2 + 1  # local positions, local velocities, yaw velocity

_L_HIP, _R_HIP = JOINT_INDEX["L_hip"], JOINT_INDEX["R_hip"]
_L_SH, _R_SH = JOINT_INDEX["L_shoulder"], JOINT_INDEX["R_shoulder"]


def body_features(joints: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, 22, 3) joints -> (B, T, FEATURE_DIM) body-centric features (un-normalised).

    Frames past ``lengths[b]`` must already repeat the last valid frame (``pad_batch`` does so),
    which keeps their velocities at zero and the floor estimate unchanged.
    """
    joints = joints.float()
    b, t = joints.shape[:2]
    across = (joints[:, :, _L_HIP] - joints[:, :, _R_HIP]) + (joints[:, :, _L_SH] - joints[:, :, _R_SH])
    across = across[..., [0, 2]]                                      # (B, T, 2) in the ground plane
    if t > 2:  # light temporal smoothing of the facing (3-tap), edges replicated
        padded = torch.cat([across[:, :1], across, across[:, -1:]], dim=1)
        across = 0.25 * padded[:, :-2] + 0.5 * padded[:, 1:-1] + 0.25 * padded[:, 2:]
    # forward = up x across; heading angle of forward in the xz plane
    fx, fz = across[..., 1], -across[..., 0]
    theta = torch.atan2(fx, fz)                                       # 0 when facing +z
    cos, sin = torch.cos(theta), torch.sin(theta)

    def rotate(v: torch.Tensor) -> torch.Tensor:                     # rotate xz by -theta
        x, y, z = v[..., 0], v[..., 1], v[..., 2]
        c, s = cos[..., None], sin[..., None]
        return torch.stack([c * x - s * z, y, s * x + c * z], dim=-1)

    floor = joints[..., 1].amin(dim=(1, 2))                           # (B,) lowest point of the clip
    root = joints[:, :, :1].clone()
    root[..., 1] = floor[:, None, None]
    local = rotate(joints - root)                                     # (B, T, 22, 3)
    step = torch.zeros_like(joints)
    step[:, :-1] = joints[:, 1:] - joints[:, :-1]
    if t > 1:
        step[:, -1] = step[:, -2]
    vel = rotate(step) * FPS
    dtheta = torch.zeros_like(theta)
    dtheta[:, :-1] = torch.remainder(theta[:, 1:] - theta[:, :-1] + math.pi, 2 * math.pi) - math.pi
    if t > 1:
        dtheta[:, -1] = dtheta[:, -2]
    if lengths is not None:  # the last valid frame repeats its predecessor's velocity
        idx = (lengths - 1).clamp(min=0)
        prev = (lengths - 2).clamp(min=0)
        ar = torch.arange(b, device=joints.device)
        vel[ar, idx] = vel[ar, prev]
        dtheta[ar, idx] = dtheta[ar, prev]
    return torch.cat([local.reshape(b, t, -1), vel.reshape(b, t, -1), dtheta[..., None] * FPS], dim=-1)


def check_joints(joints: np.ndarray, index: int = 0) -> np.ndarray:
    """Validate one clip: (T, 22, 3), T >= 1, finite; returns float32."""
    array = np.asarray(joints)
    if array.ndim != 3 or array.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"clip {index}: joints must have shape (T, {NUM_JOINTS}, 3), got {array.shape}")
    if array.shape[0] < 1:
        raise ValueError(f"clip {index}: joints have no frames")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"clip {index}: joints must be real numbers, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"clip {index}: joints contain NaN or infinite values")
    return array.astype(np.float32, copy=False)


def pad_batch(clips: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack clips into (B, Tmax, 22, 3), padding each with its last frame; returns (joints, lengths)."""
    lengths = torch.tensor([c.shape[0] for c in clips], dtype=torch.long)
    t = int(lengths.max())
    out = np.empty((len(clips), t, NUM_JOINTS, 3), dtype=np.float32)
    for i, c in enumerate(clips):
        out[i, :len(c)] = c
        out[i, len(c):] = c[-1]
    return torch.from_numpy(out), lengths
