"""The studio scene (floor grid, soft shadow, root trajectory, follow camera) and the frame loop.

Everything that depends only on the motion is computed for the whole clip up front with NumPy
(posing, lighting, shadows, camera); the per-frame GL work is one body mesh, one shadow quad and
pyrender's unlit shader, which is what makes 196 frames at 512x512 fit in a few seconds on Mesa.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.ndimage import gaussian_filter1d

from hmu_demo.render.camera import Framing, camera_poses, follow_path
from hmu_demo.render.config import Palette, RenderConfig
from hmu_demo.render.gl import import_pyrender, offscreen_renderer
from hmu_demo.render.ik import normalize
from hmu_demo.render.mesh import RigidMesh, vertex_normals
from hmu_demo.render.overlay import Overlay
from hmu_demo.render.shading import Lighting, camera_basis, shade
from hmu_demo.render.shadow import ShadowMaps, soft_shadows

_CLAMP = 33071  # GL_CLAMP_TO_EDGE
_LINEAR = 9729  # GL_LINEAR (no mipmaps: the shadow atlas tiles must not bleed)
_GRID_PX = 128


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


def grid_texture(palette: Palette, px: int = _GRID_PX) -> np.ndarray:
    """One 1 m floor tile: a line along two edges, so tiles repeat into a grid."""
    tex = np.empty((px, px, 3), np.float32)
    tex[:] = palette.floor
    line = max(2, px // 64)
    tex[:line] = palette.grid
    tex[:, :line] = palette.grid
    return (tex * 255 + 0.5).astype(np.uint8)


class PanelView:
    """One panel inside a shared pyrender scene, moved ``offset`` away from the other panels.

    Panels share one scene and one renderer (EGL allows only one live pyrender context per
    display, and switching scenes would re-upload textures every frame); each sits 1 km from the
    next, beyond the far plane of the other cameras.
    """

    SPACING = 1000.0

    def __init__(self, pyrender: Any, scene: Any, index: int, panel: Panel, config: RenderConfig,
                 grid: np.ndarray) -> None:
        self.pr = pyrender
        self.scene = scene
        self.panel = panel
        self.offset = np.array([index * self.SPACING - panel.center[0], 0.0, -panel.center[2]])
        self.offset32 = self.offset.astype(np.float32)
        scene.add(self._floor(grid))
        camera = pyrender.PerspectiveCamera(yfov=np.radians(config.yfov_deg),
                                            aspectRatio=config.width / config.height, znear=0.05, zfar=120.0)
        self.camera = scene.add(camera, pose=self._camera_pose(0))
        self.body_material = pyrender.MetallicRoughnessMaterial(baseColorFactor=[1.0, 1.0, 1.0, 1.0])
        self.quad_faces = np.array([[0, 2, 1], [0, 3, 2]], np.uint32)
        if panel.shadows is not None:
            sheet, self.shadow_uv = panel.shadows.atlas()
            sampler = pyrender.Sampler(magFilter=_LINEAR, minFilter=_LINEAR, wrapS=_CLAMP, wrapT=_CLAMP)
            texture = pyrender.Texture(source=sheet, source_channels="RGBA", sampler=sampler)
            # Alpha below 1 in the factor: pyrender compares uint8 texture alpha with 1.0, so it may
            # not see the texture as transparent and would then draw the quad before the floor.
            self.shadow_material = pyrender.MetallicRoughnessMaterial(
                baseColorFactor=[1.0, 1.0, 1.0, 0.999], baseColorTexture=texture, alphaMode="BLEND")

    def _camera_pose(self, t: int) -> np.ndarray:
        pose = self.panel.cameras[t].copy()
        pose[:3, 3] += self.offset
        return pose

    def _floor(self, grid: np.ndarray) -> Any:
        pr = self.pr
        half = 60.0
        cx, cz = self.panel.center[0], self.panel.center[2]
        world = np.array([[-half, 0, -half], [half, 0, -half], [half, 0, half], [-half, 0, half]]) + [cx, 0, cz]
        texture = pr.Texture(source=grid, source_channels="RGB")
        material = pr.MetallicRoughnessMaterial(baseColorFactor=[1.0, 1.0, 1.0, 1.0], baseColorTexture=texture)
        prim = pr.Primitive(positions=(world + self.offset).astype(np.float32),
                            texcoord_0=world[:, [0, 2]].astype(np.float32),
                            indices=np.array([[0, 2, 1], [0, 3, 2]], np.uint32), material=material)
        return pr.Mesh([prim])

    def render(self, renderer: Any, t: int) -> np.ndarray:
        pr, p = self.pr, self.panel
        self.scene.main_camera_node = self.camera
        self.scene.set_pose(self.camera, self._camera_pose(t))
        body = pr.Mesh([pr.Primitive(positions=p.vertices[t] + self.offset32, color_0=p.colors[t], indices=p.faces,
                                     material=self.body_material)])
        nodes = [self.scene.add(body)]
        if p.shadows is not None:
            nodes.append(self.scene.add(self._shadow_quad(t)))
        try:
            color, _ = renderer.render(self.scene, flags=pr.RenderFlags.FLAT)
        finally:
            for node in nodes:
                self.scene.remove_node(node)
        frame = np.array(color[..., :3], dtype=np.uint8, copy=True)
        for overlay in p.overlays:
            overlay.apply(frame)
        return frame

    def _shadow_quad(self, t: int) -> Any:
        pr, maps = self.pr, self.panel.shadows
        cx, cz = maps.centers[t]
        h = maps.size / 2
        corners = np.array([[cx - h, 0.006, cz - h], [cx + h, 0.006, cz - h], [cx + h, 0.006, cz + h],
                            [cx - h, 0.006, cz + h]]) + self.offset
        return pr.Mesh([pr.Primitive(positions=corners.astype(np.float32), texcoord_0=self.shadow_uv[t],
                                     indices=self.quad_faces, material=self.shadow_material)])


def render_panels(panels: list[Panel], config: RenderConfig, palette: Palette) -> Iterator[list[np.ndarray]]:
    """Frames of all panels in lockstep; a shorter panel holds its last frame."""
    pyrender = import_pyrender()
    grid = grid_texture(palette)
    far = grid.reshape(-1, 3).mean(0) / 255.0  # the grid's average: the horizon melts into it
    with offscreen_renderer(config.width, config.height) as renderer:
        scene = pyrender.Scene(bg_color=[*map(float, far), 1.0], ambient_light=[1.0, 1.0, 1.0])
        views = [PanelView(pyrender, scene, i, panel, config, grid) for i, panel in enumerate(panels)]
        last: list[np.ndarray | None] = [None] * len(panels)
        for t in range(max(p.frames for p in panels)):
            for i, view in enumerate(views):
                if t < view.panel.frames:
                    last[i] = view.render(renderer, t)
            yield [frame for frame in last if frame is not None]
