"""A lean OpenGL frame loop for the studio scene: a few buffers updated in place, one shader, MSAA.

pyrender rebuilds vertex arrays, re-sorts the scene and re-sends dozens of uniforms for every
frame: about 8 ms of Python per panel frame on Mesa, more than the drawing itself. The studio
scene only ever needs unlit primitives (per-vertex colours or an RGB(A) texture times a colour
factor, as pyrender's FLAT shader draws them, and a floor grid computed in the shader), so this
module draws them directly: static meshes are uploaded once, the body's vertex buffers are
overwritten each frame, and the frame is resolved from a 4x multisampled framebuffer and read back
as RGB.

It runs inside a GL context made current by :func:`hmu_demo.render.gl.offscreen_renderer` (EGL on
Mesa by default) and, like it, belongs to the thread that created it.
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np

_VERTEX_SHADER = """
#version 330 core
layout(location = 0) in vec3 position;
layout(location = 1) in vec4 color;
layout(location = 2) in vec2 uv;
uniform mat4 view_projection;
out vec4 v_color;
out vec2 v_uv;
void main() {
    gl_Position = view_projection * vec4(position, 1.0);
    v_color = color;
    v_uv = uv;
}
"""

_FRAGMENT_SHADER = """
#version 330 core
in vec4 v_color;
in vec2 v_uv;
uniform vec4 factor;
uniform int mode;          // 0: vertex colours, 1: texture, 2: procedural grid on v_uv (metres)
uniform sampler2D image;
uniform vec3 grid_floor;
uniform vec3 grid_line;
uniform float grid_width;  // line width as a fraction of a tile
out vec4 frag_color;

// Integral of a periodic indicator that is 1 on [0, grid_width) of each unit tile.
vec2 covered(vec2 x) { return floor(x) * grid_width + min(fract(x), vec2(grid_width)); }

void main() {
    vec4 c = factor * v_color;
    if (mode == 1) {
        c *= texture(image, v_uv);
    } else if (mode == 2) {
        // Box-filtered over the pixel's footprint: sharp near the camera, the lines' average far away
        // (what a mipmapped grid texture gives, without the cost of trilinear sampling on the CPU).
        vec2 d = max(fwidth(v_uv), vec2(1e-6));
        vec2 line = (covered(v_uv + 0.5 * d) - covered(v_uv - 0.5 * d)) / d;
        float amount = 1.0 - (1.0 - line.x) * (1.0 - line.y);
        c *= vec4(mix(grid_floor, grid_line, amount), 1.0);
    }
    frag_color = clamp(c, 0.0, 1.0);
}
"""

_POSITION, _COLOR, _UV = 0, 1, 2
SAMPLES = 4


def projection_matrix(yfov: float, aspect: float, znear: float, zfar: float) -> np.ndarray:
    """OpenGL perspective projection (the same matrix pyrender's PerspectiveCamera builds)."""
    t = np.tan(yfov / 2.0)
    p = np.zeros((4, 4))
    p[0, 0] = 1.0 / (aspect * t)
    p[1, 1] = 1.0 / t
    p[2, 2] = (zfar + znear) / (znear - zfar)
    p[2, 3] = 2.0 * zfar * znear / (znear - zfar)
    p[3, 2] = -1.0
    return p


@dataclass
class Texture:
    """A texture object (its sampling is fixed when it is made)."""

    handle: int


@dataclass(frozen=True)
class Grid:
    """A procedural floor grid: tile colour, line colour, line width (fraction of a 1-unit tile)."""

    floor: tuple[float, float, float]
    line: tuple[float, float, float]
    width: float

    @property
    def average(self) -> np.ndarray:
        """The grid's mean colour (what it fades to at the horizon)."""
        cover = 1.0 - (1.0 - self.width) ** 2
        return (1.0 - cover) * np.asarray(self.floor) + cover * np.asarray(self.line)


@dataclass
class Mesh:
    """Vertex buffers of one primitive (positions, and colours or UVs), its indices and how it is
    shaded; any attribute may be overwritten later with :meth:`Rasterizer.update`."""

    vao: int
    buffers: dict[int, int]
    index_buffer: int
    count: int
    texture: Texture | None
    factor: tuple[float, float, float, float]
    blend: bool
    grid: Grid | None = None


class Rasterizer:
    """Draws unlit meshes into a multisampled framebuffer of ``width`` x ``height`` and reads frames back."""

    def __init__(self, width: int, height: int, background: tuple[float, float, float]) -> None:
        from OpenGL import GL

        self.gl = GL
        self.width, self.height = int(width), int(height)
        self.background = background
        self._meshes: list[Mesh] = []
        self._textures: list[Texture] = []
        self.program = self._program()
        self._u_view_projection = GL.glGetUniformLocation(self.program, "view_projection")
        self._u_factor = GL.glGetUniformLocation(self.program, "factor")
        self._u_mode = GL.glGetUniformLocation(self.program, "mode")
        self._u_grid = [GL.glGetUniformLocation(self.program, n) for n in ("grid_floor", "grid_line", "grid_width")]
        GL.glUseProgram(self.program)
        GL.glUniform1i(GL.glGetUniformLocation(self.program, "image"), 0)
        self._framebuffers()

    # ------------------------------------------------------------------ set-up
    def _program(self) -> int:
        GL = self.gl
        shaders = []
        for kind, source in ((GL.GL_VERTEX_SHADER, _VERTEX_SHADER), (GL.GL_FRAGMENT_SHADER, _FRAGMENT_SHADER)):
            shader = GL.glCreateShader(kind)
            GL.glShaderSource(shader, source)
            GL.glCompileShader(shader)
            if not GL.glGetShaderiv(shader, GL.GL_COMPILE_STATUS):
                raise RuntimeError(f"shader compilation failed: {GL.glGetShaderInfoLog(shader)!r}")
            shaders.append(shader)
        program = GL.glCreateProgram()
        for shader in shaders:
            GL.glAttachShader(program, shader)
        GL.glLinkProgram(program)
        if not GL.glGetProgramiv(program, GL.GL_LINK_STATUS):
            raise RuntimeError(f"shader link failed: {GL.glGetProgramInfoLog(program)!r}")
        for shader in shaders:
            GL.glDeleteShader(shader)
        return program

    def _framebuffers(self) -> None:
        GL = self.gl
        w, h = self.width, self.height
        self._renderbuffers = list(GL.glGenRenderbuffers(3))
        color_ms, depth_ms, color = self._renderbuffers
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, color_ms)
        GL.glRenderbufferStorageMultisample(GL.GL_RENDERBUFFER, SAMPLES, GL.GL_RGBA8, w, h)
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, depth_ms)
        GL.glRenderbufferStorageMultisample(GL.GL_RENDERBUFFER, SAMPLES, GL.GL_DEPTH_COMPONENT24, w, h)
        GL.glBindRenderbuffer(GL.GL_RENDERBUFFER, color)
        GL.glRenderbufferStorage(GL.GL_RENDERBUFFER, GL.GL_RGBA8, w, h)
        self._fb_ms, self._fb = (int(x) for x in GL.glGenFramebuffers(2))
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fb_ms)
        GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_RENDERBUFFER, color_ms)
        GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, GL.GL_DEPTH_ATTACHMENT, GL.GL_RENDERBUFFER, depth_ms)
        if GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER) != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError("multisampled framebuffer incomplete")
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fb)
        GL.glFramebufferRenderbuffer(GL.GL_FRAMEBUFFER, GL.GL_COLOR_ATTACHMENT0, GL.GL_RENDERBUFFER, color)
        if GL.glCheckFramebufferStatus(GL.GL_FRAMEBUFFER) != GL.GL_FRAMEBUFFER_COMPLETE:
            raise RuntimeError("resolve framebuffer incomplete")

    def texture(self, image: np.ndarray) -> Texture:
        """An RGB or RGBA uint8 image as a texture, edge-clamped and linearly filtered without mipmaps
        (so the tiles of an atlas never bleed into each other); row 0 is the top (v = 1), as pyrender
        maps it."""
        GL = self.gl
        image = np.ascontiguousarray(np.flip(np.asarray(image, np.uint8), axis=0))
        fmt = {3: GL.GL_RGB, 4: GL.GL_RGBA}[image.shape[2]]
        handle = int(GL.glGenTextures(1))
        GL.glBindTexture(GL.GL_TEXTURE_2D, handle)
        GL.glPixelStorei(GL.GL_UNPACK_ALIGNMENT, 1)
        GL.glTexImage2D(GL.GL_TEXTURE_2D, 0, fmt, image.shape[1], image.shape[0], 0, fmt, GL.GL_UNSIGNED_BYTE, image)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_S, GL.GL_CLAMP_TO_EDGE)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_WRAP_T, GL.GL_CLAMP_TO_EDGE)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MAG_FILTER, GL.GL_LINEAR)
        GL.glTexParameteri(GL.GL_TEXTURE_2D, GL.GL_TEXTURE_MIN_FILTER, GL.GL_LINEAR)
        texture = Texture(handle)
        self._textures.append(texture)
        return texture

    def mesh(self, positions: np.ndarray, faces: np.ndarray, colors: np.ndarray | None = None,
             uvs: np.ndarray | None = None, texture: Texture | None = None,
             factor: tuple[float, float, float, float] = (1.0, 1.0, 1.0, 1.0), blend: bool = False,
             grid: Grid | None = None) -> Mesh:
        """Upload a primitive (``grid``: drawn as a procedural grid on its UVs). Attributes given here
        may be overwritten later with :meth:`update`."""
        GL = self.gl
        vao = int(GL.glGenVertexArrays(1))
        GL.glBindVertexArray(vao)
        buffers: dict[int, int] = {}
        for location, data, size in ((_POSITION, positions, 3), (_COLOR, colors, 4), (_UV, uvs, 2)):
            if data is None:
                continue
            data = np.ascontiguousarray(data, np.float32)
            handle = int(GL.glGenBuffers(1))
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, handle)
            GL.glBufferData(GL.GL_ARRAY_BUFFER, data.nbytes, data, GL.GL_DYNAMIC_DRAW)
            GL.glEnableVertexAttribArray(location)
            GL.glVertexAttribPointer(location, size, GL.GL_FLOAT, GL.GL_FALSE, 0, ctypes.c_void_p(0))
            buffers[location] = handle
        indices = np.ascontiguousarray(faces, np.uint32)
        index_buffer = int(GL.glGenBuffers(1))
        GL.glBindBuffer(GL.GL_ELEMENT_ARRAY_BUFFER, index_buffer)
        GL.glBufferData(GL.GL_ELEMENT_ARRAY_BUFFER, indices.nbytes, indices, GL.GL_STATIC_DRAW)
        GL.glBindVertexArray(0)
        mesh = Mesh(vao, buffers, index_buffer, int(indices.size), texture, factor, blend, grid)
        self._meshes.append(mesh)
        return mesh

    def update(self, mesh: Mesh, positions: np.ndarray | None = None, colors: np.ndarray | None = None,
               uvs: np.ndarray | None = None) -> None:
        """Overwrite vertex attributes in place (same vertex count as when the mesh was made)."""
        GL = self.gl
        for location, data in ((_POSITION, positions), (_COLOR, colors), (_UV, uvs)):
            if data is None:
                continue
            data = np.ascontiguousarray(data, np.float32)
            GL.glBindBuffer(GL.GL_ARRAY_BUFFER, mesh.buffers[location])
            GL.glBufferSubData(GL.GL_ARRAY_BUFFER, 0, data.nbytes, data)

    # ------------------------------------------------------------------ frames
    def draw(self, meshes: list[Mesh], view_projection: np.ndarray) -> np.ndarray:
        """Clear, draw ``meshes`` (opaque first, then blended ones in order), return the RGB frame (H, W, 3)."""
        GL = self.gl
        GL.glBindFramebuffer(GL.GL_FRAMEBUFFER, self._fb_ms)
        GL.glViewport(0, 0, self.width, self.height)
        GL.glClearColor(*self.background, 1.0)
        GL.glEnable(GL.GL_MULTISAMPLE)
        GL.glEnable(GL.GL_DEPTH_TEST)
        GL.glDepthMask(GL.GL_TRUE)
        GL.glDepthFunc(GL.GL_LESS)
        GL.glEnable(GL.GL_CULL_FACE)
        GL.glCullFace(GL.GL_BACK)
        GL.glClear(GL.GL_COLOR_BUFFER_BIT | GL.GL_DEPTH_BUFFER_BIT)
        GL.glUseProgram(self.program)
        GL.glUniformMatrix4fv(self._u_view_projection, 1, GL.GL_TRUE, np.asarray(view_projection, np.float32))
        for mesh in sorted(meshes, key=lambda m: m.blend):
            self._draw_mesh(mesh)
        GL.glBindVertexArray(0)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fb_ms)
        GL.glBindFramebuffer(GL.GL_DRAW_FRAMEBUFFER, self._fb)
        w, h = self.width, self.height
        GL.glBlitFramebuffer(0, 0, w, h, 0, 0, w, h, GL.GL_COLOR_BUFFER_BIT, GL.GL_LINEAR)
        GL.glBindFramebuffer(GL.GL_READ_FRAMEBUFFER, self._fb)
        GL.glPixelStorei(GL.GL_PACK_ALIGNMENT, 1)
        data = GL.glReadPixels(0, 0, w, h, GL.GL_RGB, GL.GL_UNSIGNED_BYTE)
        return np.frombuffer(data, np.uint8).reshape(h, w, 3)[::-1].copy()

    def _draw_mesh(self, mesh: Mesh) -> None:
        GL = self.gl
        if mesh.blend:
            GL.glEnable(GL.GL_BLEND)
            GL.glBlendFunc(GL.GL_SRC_ALPHA, GL.GL_ONE_MINUS_SRC_ALPHA)
        else:
            GL.glDisable(GL.GL_BLEND)
        GL.glUniform4f(self._u_factor, *mesh.factor)
        GL.glUniform1i(self._u_mode, 2 if mesh.grid is not None else int(mesh.texture is not None))
        if mesh.grid is not None:
            GL.glUniform3f(self._u_grid[0], *mesh.grid.floor)
            GL.glUniform3f(self._u_grid[1], *mesh.grid.line)
            GL.glUniform1f(self._u_grid[2], mesh.grid.width)
        if mesh.texture is not None:
            GL.glActiveTexture(GL.GL_TEXTURE0)
            GL.glBindTexture(GL.GL_TEXTURE_2D, mesh.texture.handle)
        GL.glBindVertexArray(mesh.vao)
        if _COLOR not in mesh.buffers:
            GL.glVertexAttrib4f(_COLOR, 1.0, 1.0, 1.0, 1.0)
        if _UV not in mesh.buffers:
            GL.glVertexAttrib2f(_UV, 0.0, 0.0)
        GL.glDrawElements(GL.GL_TRIANGLES, mesh.count, GL.GL_UNSIGNED_INT, ctypes.c_void_p(0))

    def delete(self) -> None:
        """Free every GL object this rasterizer made (the context itself belongs to the caller)."""
        GL = self.gl
        for mesh in self._meshes:
            GL.glDeleteBuffers(len(mesh.buffers) + 1, [*mesh.buffers.values(), mesh.index_buffer])
            GL.glDeleteVertexArrays(1, [mesh.vao])
        if self._textures:
            GL.glDeleteTextures(np.array([t.handle for t in self._textures], np.uint32))
        GL.glDeleteFramebuffers(2, [self._fb_ms, self._fb])
        GL.glDeleteRenderbuffers(3, self._renderbuffers)
        GL.glDeleteProgram(self.program)
        self._meshes, self._textures = [], []


def view_projection(camera_pose: np.ndarray, projection: np.ndarray) -> np.ndarray:
    """Projection x inverse camera pose (camera-to-world, OpenGL convention: looks down -z)."""
    return projection @ np.linalg.inv(camera_pose)

