"""Per-vertex lighting on the CPU, so the GPU side runs pyrender's cheap unlit shader.

On Mesa's software rasteriser pyrender's PBR shader costs about 3x the unlit one for the same
mesh (measured, see docs/rendering.md); a few thousand vertices lit in NumPy cost almost nothing
and the result is smooth (Gouraud) shading that reads well on a projector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmu_demo.motion.geometry import normalize


@dataclass
class Lighting:
    """Key, fill and rim lights in a camera-relative frame (x right, y up, z towards the viewer)."""

    key_dir: tuple[float, float, float] = (-0.45, 0.75, 0.55)
    key: float = 0.72
    fill_dir: tuple[float, float, float] = (0.7, 0.2, 0.6)
    fill: float = 0.22
    sky: float = 0.40
    ground: float = 0.20
    rim: float = 0.28
    specular: float = 0.10
    shininess: float = 24.0


def camera_basis(eye: np.ndarray, target: np.ndarray) -> np.ndarray:
    """Rows right, up, back (towards the viewer) of a camera looking from eye to target."""
    back = normalize(eye - target)
    right = normalize(np.cross([0.0, 1.0, 0.0], back))
    up = np.cross(back, right)
    return np.stack([right, up, back])


def shade(normals: np.ndarray, albedo: np.ndarray, view_dirs: np.ndarray, basis: np.ndarray,
          light: Lighting = Lighting()) -> np.ndarray:
    """RGBA colours (T, V, 4) float32 for unit normals (T, V, 3), albedo (V, 3).

    ``view_dirs`` (T, 3) point from the scene to the camera; ``basis`` turns camera-relative light
    directions into world directions.
    """
    key = normalize(np.asarray(light.key_dir) @ basis)
    fill = normalize(np.asarray(light.fill_dir) @ basis)
    n = normals.astype(np.float32)
    ndl = np.clip(n @ key.astype(np.float32), 0.0, None)
    ndf = np.clip(n @ fill.astype(np.float32), 0.0, None)
    hemi = 0.5 + 0.5 * n[..., 1]
    ambient = light.ground + (light.sky - light.ground) * hemi
    diffuse = ambient + light.key * ndl + light.fill * ndf
    view = view_dirs.astype(np.float32)[:, None, :]
    ndv = np.clip(np.sum(n * view, axis=-1), 0.0, 1.0)
    rim = light.rim * (1.0 - ndv) ** 3 * hemi
    half = normalize(key[None, None, :] + view)
    spec = light.specular * np.clip(np.sum(n * half, axis=-1), 0.0, 1.0) ** light.shininess
    rgb = albedo[None].astype(np.float32) * diffuse[..., None] + (rim + spec)[..., None]
    out = np.empty((*rgb.shape[:2], 4), np.float32)
    out[..., :3] = np.clip(rgb, 0.0, 1.0)
    out[..., 3] = 1.0
    return out
