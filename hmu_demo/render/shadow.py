"""A soft shadow: body samples projected along the light onto the floor and splatted as Gaussians.

Higher body parts cast fainter, blurrier shadow, like an area light. It is a small RGBA texture per
frame on a quad under the body, which costs far less than shadow mapping on a software rasteriser.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hmu_demo.motion.skeleton import NUM_JOINTS, PARENTS

# Rough body radius around each bone (ending at joint j), metres for the reference adult.
_BONE_RADIUS = np.array([0.0, 0.12, 0.12, 0.14, 0.07, 0.07, 0.15, 0.05, 0.05, 0.15, 0.05, 0.05, 0.06,
                         0.08, 0.08, 0.08, 0.06, 0.06, 0.045, 0.045, 0.04, 0.04])


@dataclass
class ShadowMaps:
    """RGBA textures (T, S, S, 4) uint8 and the square each covers: centres (T, 2) xz, size in m."""

    textures: np.ndarray
    centers: np.ndarray
    size: float

    def atlas(self) -> tuple[np.ndarray, np.ndarray]:
        """All frames tiled into one texture (uploaded once) and each frame's uv corners (T, 4, 2).

        One upload per clip instead of one texture per frame (each costs ~1.4 ms with mipmaps).
        """
        frames, px = self.textures.shape[:2]
        cols = int(np.ceil(np.sqrt(frames)))
        rows = int(np.ceil(frames / cols))
        sheet = np.zeros((rows * px, cols * px, 4), np.uint8)
        sheet[..., :3] = self.textures[0, 0, 0, :3]
        uv = np.empty((frames, 4, 2), np.float32)
        inset = 0.5 / px
        for t in range(frames):
            r, c = divmod(t, cols)
            sheet[r * px:(r + 1) * px, c * px:(c + 1) * px] = self.textures[t]
            u0, u1 = (c + inset) / cols, (c + 1 - inset) / cols
            v0, v1 = (r + inset) / rows, (r + 1 - inset) / rows
            uv[t] = [[u0, v0], [u1, v0], [u1, v1], [u0, v1]]
        # pyrender flips textures vertically on upload; flip first so row 0 is v = 0.
        return np.ascontiguousarray(sheet[::-1]), uv


def _samples(joints: np.ndarray, scale: float) -> tuple[np.ndarray, np.ndarray]:
    points, radii = [joints], [np.full(NUM_JOINTS, 0.05)]
    for frac in (0.33, 0.66):
        child = np.arange(1, NUM_JOINTS)
        parent = np.array(PARENTS[1:])
        points.append(joints[:, parent] * (1 - frac) + joints[:, child] * frac)
        radii.append(_BONE_RADIUS[1:])
    head = joints[:, 15:16] + [0.0, 0.09 * scale, 0.0]
    points.append(head)
    radii.append(np.array([0.1]))
    return np.concatenate(points, axis=1), np.concatenate(radii) * scale


def soft_shadows(joints: np.ndarray, light_dir: np.ndarray, scale: float = 1.0, size_px: int = 64,
                 strength: float = 0.55, color: tuple[float, float, float] = (0.18, 0.19, 0.24)) -> ShadowMaps:
    """Shadow textures for grounded joints (T, 22, 3); ``light_dir`` points from the light downwards."""
    d = np.asarray(light_dir, dtype=np.float64)
    d = d / np.linalg.norm(d)
    points, radii = _samples(np.asarray(joints, np.float64), scale)
    height = np.clip(points[..., 1], 0.0, None)
    proj = points[..., [0, 2]] + (height / -d[1])[..., None] * d[[0, 2]]
    sigma = 0.5 * radii[None] + 0.10 * height + 0.03
    amp = 1.4 * (radii[None] / sigma) ** 2 * np.exp(-0.9 * height)
    centers = joints[:, 0, [0, 2]] + 0.5 * (proj.mean(1) - joints[:, 0, [0, 2]])
    # As small as the clip allows: the blended quad's screen area is most of the shadow's cost.
    reach = np.abs(proj - centers[:, None, :]) + 2.5 * sigma[..., None]
    size = float(np.clip(2.0 * reach.max(), 1.0 * scale, 3.4 * scale))
    axis = (np.arange(size_px) + 0.5) / size_px * size - size / 2
    gx = np.exp(-((axis[None, None, :] - (proj[..., 0] - centers[:, None, 0])[..., None]) ** 2)
                / (2 * sigma[..., None] ** 2))
    gz = np.exp(-((axis[None, None, :] - (proj[..., 1] - centers[:, None, 1])[..., None]) ** 2)
                / (2 * sigma[..., None] ** 2))
    density = np.einsum("tpz,tpx->tzx", gz * amp[..., None], gx, optimize=True)
    alpha = 1.0 - np.exp(-density)
    edge = np.minimum(np.arange(size_px), np.arange(size_px)[::-1]) / (0.12 * size_px)
    window = np.clip(edge, 0.0, 1.0)
    alpha *= (window[:, None] * window[None, :])[None]
    tex = np.empty((*alpha.shape, 4), np.uint8)
    tex[..., :3] = (np.asarray(color) * 255).astype(np.uint8)
    tex[..., 3] = np.clip(alpha * strength * 255, 0, 255).astype(np.uint8)
    return ShadowMaps(tex, centers, size)
