"""A camera that follows the root smoothly, framed once per clip (or per pair, for comparisons)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from hmu_demo.motion.geometry import normalize


@dataclass
class Framing:
    """Clip-wide camera parameters; shared by both panels of a comparison (same camera and scale)."""

    distance: float
    height: float
    forward: np.ndarray  # initial facing of the motion (unit, horizontal)

    @staticmethod
    def union(a: "Framing", b: "Framing") -> "Framing":
        return Framing(max(a.distance, b.distance), max(a.height, b.height), a.forward)


def facing(joints: np.ndarray, frames: int = 5) -> np.ndarray:
    """Horizontal unit vector the body faces at the start (left = +X faces +Z)."""
    p = joints[:frames]
    across = (p[:, 1] - p[:, 2] + p[:, 16] - p[:, 17]).mean(0)
    fwd = np.cross(across, [0.0, 1.0, 0.0])
    fwd[1] = 0.0
    if np.linalg.norm(fwd) < 1e-6:
        return np.array([0.0, 0.0, 1.0])
    return normalize(fwd)


def follow_path(joints: np.ndarray, fps: int, sigma_s: float) -> np.ndarray:
    """Smoothed horizontal root path (T, 3) with y = 0: the point the camera looks at."""
    root = joints[:, 0].astype(np.float64).copy()
    root[:, 1] = 0.0
    sigma = sigma_s * fps
    if sigma > 0 and len(root) > 1:
        root = gaussian_filter1d(root, sigma, axis=0, mode="nearest")
    return root


def frame_clip(joints: np.ndarray, path: np.ndarray, yfov_deg: float) -> Framing:
    """Distance that keeps the whole body in view around the followed point, for every frame."""
    top = float(np.max(joints[..., 1])) + 0.12
    height = max(top, 0.8)
    offsets = joints[..., [0, 2]] - path[:, None, [0, 2]]
    spread = float(np.max(np.linalg.norm(offsets, axis=-1))) + 0.25
    half = max(0.5 * height + 0.22, spread)
    tan = np.tan(np.radians(yfov_deg) / 2)
    distance = half / tan + spread * 0.5
    return Framing(float(np.clip(distance, 2.0, 15.0)), height, facing(joints))


def camera_poses(path: np.ndarray, framing: Framing, azimuth_deg: float, elevation_deg: float) -> np.ndarray:
    """Camera-to-world poses (T, 4, 4) in pyrender's convention (looking down -Z, Y up)."""
    az, el = np.radians(azimuth_deg), np.radians(elevation_deg)
    f = framing.forward
    left = np.cross([0.0, 1.0, 0.0], f)
    direction = np.cos(el) * (np.cos(az) * f + np.sin(az) * left) + np.sin(el) * np.array([0.0, 1.0, 0.0])
    target = path + [0.0, 0.45 * framing.height, 0.0]
    eye = target + framing.distance * direction
    back = np.broadcast_to(normalize(direction), eye.shape)
    right = normalize(np.cross([0.0, 1.0, 0.0], back))
    up = np.cross(back, right)
    poses = np.tile(np.eye(4), (len(path), 1, 1))
    poses[:, :3, 0], poses[:, :3, 1], poses[:, :3, 2], poses[:, :3, 3] = right, up, back, eye
    return poses
