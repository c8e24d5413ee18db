"""The studio scene (floor grid, soft shadow, root trajectory, follow camera) and the frame loop.

Everything that depends only on the motion is computed for the whole clip up front with NumPy
(posing, lighting, shadows, camera); the per-frame GL work is overwriting the vertex buffers of the
body and its shadow quad and three unlit draws (:mod:`hmu_demo.render.raster`), which is what makes
a 6-second side-by-side at 512x512 per panel render in about two seconds on Mesa.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
from scipy.ndimage import gaussian_filter1d

from hmu_demo.motion.geometry import normalize
from hmu_demo.render.camera import Framing, camera_poses, follow_path
from hmu_demo.render.config import Palette, RenderConfig
from hmu_demo.render.gl import offscreen_renderer
from hmu_demo.render.mesh import RigidMesh, vertex_normals
from hmu_demo.render.overlay import Overlay
from hmu_demo.render.raster import Grid, Rasterizer, projection_matrix, view_projection
from hmu_demo.render.shading import Lighting, camera_basis, shade
from hmu_demo.render.shadow import ShadowMaps, soft_shadows

_GRID_LINE = 2 / 128
_QUAD_FACES = np.array([[0, 2, 1], [0, 3, 2]], np.uint32)


@dataclass
class PosedBody:
    """A body posed for a clip and set on the floor: vertices (T, V, 3), joints (T, 22, 3)."""

    vertices: np.ndarray
    mesh: RigidMesh
    joints: np.ndarray
    scale: float


@dataclass
class Panel:
    """One view, ready to draw: per-frame geometry (body + floor trajectory) and colours, camera poses,
    shadow, overlays."""

    vertices: np.ndarray
    colors: np.ndarray
    faces: np.ndarray
    cameras: np.ndarray
    shadows: ShadowMaps | None
    center: np.ndarray
    overlays: list[Overlay] = field(default_factory=list)

    @property
    def frames(self) -> int:
        return len(self.vertices)

    def take(self, index: list[int]) -> "Panel":
        """The same view restricted to some frames (camera and grounding stay clip-wide)."""
        shadows = None
        if self.shadows is not None:
            shadows = ShadowMaps(self.shadows.textures[index], self.shadows.centers[index], self.shadows.size)
        return Panel(self.vertices[index], self.colors[index], self.faces, self.cameras[index], shadows,
                     self.center, self.overlays)


def ground(vertices: np.ndarray, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shift vertically so the lowest vertex of the clip touches the floor (y = 0)."""
    dy = -float(np.min(vertices[..., 1]))
    return vertices + np.float32(dy), joints + np.array([0.0, dy, 0.0])


def trajectory_ribbon(joints: np.ndarray, width: float, color: tuple[float, float, float],
                      lift: float = 0.003) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """A flat strip under the root path (positions, faces, RGBA colours), fading in with time."""
    path = joints[:, 0].astype(np.float64).copy()
    if len(path) > 2:
        path = gaussian_filter1d(path, 1.0, axis=0, mode="nearest")
    path[:, 1] = lift
    steps = np.linalg.norm(np.diff(path, axis=0), axis=-1)
    keep = np.concatenate([[True], steps > 1e-3])
    path = path[keep]
    if len(path) < 2 or steps.sum() < 0.05:
        return None
    tangent = np.gradient(path, axis=0)
    side = normalize(np.cross(tangent, [0.0, 1.0, 0.0])) * (width / 2)
    positions = np.stack([path - side, path + side], axis=1).reshape(-1, 3)
    n = len(path)
    i = np.arange(n - 1) * 2
    faces = np.concatenate([np.stack([i, i + 1, i + 3], 1), np.stack([i, i + 3, i + 2], 1)])
    # Wind every triangle to face up, whatever the walking direction.
    tri = positions[faces]
    up = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])[:, 1] < 0
    faces[up] = faces[up][:, [0, 2, 1]]
    fade = np.repeat(0.35 + 0.65 * np.linspace(0.0, 1.0, n), 2)[:, None]
    colors = np.ones((len(positions), 4), np.float32)
    colors[:, :3] = 1.0 - fade * (1.0 - np.asarray(color))
    return positions.astype(np.float32), faces.astype(np.uint32), colors


def build_panel(body: PosedBody, framing: Framing, config: RenderConfig, palette: Palette,
                overlays: list[Overlay], lighting: Lighting = Lighting()) -> Panel:
    """Camera, lighting, shadows and trajectory for one posed body."""
    path = follow_path(body.joints, config.fps, config.follow_sigma_s)
    cameras = camera_poses(path, framing, config.azimuth_deg, config.elevation_deg)
    eye, target = cameras[0, :3, 3], cameras[0, :3, 3] - cameras[0, :3, 2]
    basis = camera_basis(eye, target)
    normals = vertex_normals(body.vertices, body.mesh.faces)
    view = normalize(cameras[:, :3, 3] - body.joints[:, 0])
    colors = shade(normals, body.mesh.colors, view, basis, lighting)
    shadows = None
    if config.shadow:
        key = normalize(np.asarray(lighting.key_dir) @ basis)
        light_dir = normalize(-0.35 * np.array([key[0], 0.0, key[2]]) + [0.0, -1.0, 0.0])
        shadows = soft_shadows(body.joints, light_dir, body.scale, strength=palette.shadow_strength,
                               color=palette.shadow)
    vertices, faces = body.vertices.astype(np.float32), body.mesh.faces.astype(np.uint32)
    ribbon = trajectory_ribbon(body.joints, 0.05 * body.scale, palette.trajectory) if config.trajectory else None
    if ribbon is not None:
        # Drawn as part of the body mesh: one primitive less per frame.
        pos, tri, rgba = ribbon
        frames = len(vertices)
        faces = np.concatenate([faces, tri + vertices.shape[1]]).astype(np.uint32)
        vertices = np.concatenate([vertices, np.broadcast_to(pos, (frames, *pos.shape))], axis=1)
        colors = np.concatenate([colors, np.broadcast_to(rgba, (frames, *rgba.shape))], axis=1)
    return Panel(vertices, colors, faces, cameras, shadows, path.mean(0), overlays)


def floor_grid(palette: Palette) -> Grid:
    """1 m floor tiles with a line along two edges (2/128 of a tile wide), so tiles repeat into a grid."""
    return Grid(tuple(palette.floor), tuple(palette.grid), _GRID_LINE)


class PanelView:
    """One panel's meshes in the shared rasterizer: a static floor, and the body and its shadow quad,
    whose vertex buffers are overwritten for each frame."""

    def __init__(self, raster: Rasterizer, panel: Panel, config: RenderConfig, grid: Grid) -> None:
        self.raster = raster
        self.panel = panel
        self.projection = projection_matrix(np.radians(config.yfov_deg), config.width / config.height, 0.05, 120.0)
        self.floor = raster.mesh(*self._floor(), grid=grid)
        self.body = raster.mesh(panel.vertices[0], panel.faces, colors=panel.colors[0])
        self.shadow = None
        if panel.shadows is not None:
            sheet, self.shadow_uv = panel.shadows.atlas()
            # Alpha blended over the floor.
            self.shadow = raster.mesh(self._shadow_corners(0), _QUAD_FACES, uvs=self.shadow_uv[0],
                                      texture=raster.texture(sheet),
                                      factor=(1.0, 1.0, 1.0, 0.999), blend=True)

    def _floor(self) -> tuple[np.ndarray, np.ndarray]:
        half = 60.0
        cx, cz = self.panel.center[0], self.panel.center[2]
        world = np.array([[-half, 0, -half], [half, 0, -half], [half, 0, half], [-half, 0, half]]) + [cx, 0, cz]
        return world.astype(np.float32), _QUAD_FACES, None, world[:, [0, 2]].astype(np.float32)

    def _shadow_corners(self, t: int) -> np.ndarray:
        maps = self.panel.shadows
        cx, cz = maps.centers[t]
        h = maps.size / 2
        return np.array([[cx - h, 0.006, cz - h], [cx + h, 0.006, cz - h], [cx + h, 0.006, cz + h],
                         [cx - h, 0.006, cz + h]], np.float32)

    def render(self, t: int) -> np.ndarray:
        p = self.panel
        self.raster.update(self.body, positions=p.vertices[t], colors=p.colors[t])
        meshes = [self.floor, self.body]
        if self.shadow is not None:
            self.raster.update(self.shadow, positions=self._shadow_corners(t), uvs=self.shadow_uv[t])
            meshes.append(self.shadow)
        frame = self.raster.draw(meshes, view_projection(p.cameras[t], self.projection))
        for overlay in p.overlays:
            overlay.apply(frame)
        return frame


def render_panels(panels: list[Panel], config: RenderConfig, palette: Palette) -> Iterator[list[np.ndarray]]:
    """Frames of all panels in lockstep; a shorter panel holds its last frame."""
    grid = floor_grid(palette)
    far = grid.average  # the horizon melts into the grid's average colour
    with offscreen_renderer(config.width, config.height):
        raster = Rasterizer(config.width, config.height, tuple(float(c) for c in far))
        try:
            views = [PanelView(raster, panel, config, grid) for panel in panels]
            last: list[np.ndarray | None] = [None] * len(panels)
            for t in range(max(p.frames for p in panels)):
                for i, view in enumerate(views):
                    if t < view.panel.frames:
                        last[i] = view.render(t)
                yield [frame for frame in last if frame is not None]
        finally:
            raster.delete()
