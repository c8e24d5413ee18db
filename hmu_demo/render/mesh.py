"""Skinned body meshes: rest geometry from lofted rings, posed by blending handle transforms.

A body is one mesh (one draw call per frame is what keeps software GL fast). Each vertex follows
a weighted blend of *handles* (joints or bones) whose transforms map rest space to the world.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from hmu_demo.motion.geometry import normalize


@dataclass
class RigidMesh:
    """Rest-space geometry with per-vertex albedo and handle weights (V, K)."""

    vertices: np.ndarray
    faces: np.ndarray
    colors: np.ndarray
    weights: np.ndarray

    @staticmethod
    def merge(parts: list["RigidMesh"]) -> "RigidMesh":
        offsets = np.cumsum([0] + [len(p.vertices) for p in parts[:-1]])
        return RigidMesh(
            vertices=np.concatenate([p.vertices for p in parts]),
            faces=np.concatenate([p.faces + o for p, o in zip(parts, offsets)]).astype(np.uint32),
            colors=np.concatenate([p.colors for p in parts]),
            weights=np.concatenate([p.weights for p in parts]),
        )


@dataclass
class PosedMesh:
    """Per-frame vertices (T, V, 3), normals (T, V, 3), shared faces (F, 3) and albedo (V, 3)."""

    vertices: np.ndarray
    normals: np.ndarray
    faces: np.ndarray
    colors: np.ndarray


def loft(centers: np.ndarray, axis_u: np.ndarray, axis_v: np.ndarray, radius_u: np.ndarray,
         radius_v: np.ndarray, segments: int = 14, exponent: float = 2.0,
         close_start: bool = True, close_end: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """A tube through rings (R of them); ``axis_u x axis_v`` points from the first ring to the last.

    ``exponent`` > 2 makes boxier (superellipse) sections, e.g. for the torso. Ends are closed by
    a pole vertex so normals point outwards everywhere.
    """
    rings = len(centers)
    theta = np.linspace(0.0, 2.0 * np.pi, segments, endpoint=False)
    cos, sin = np.cos(theta), np.sin(theta)
    power = 2.0 / exponent
    cos = np.sign(cos) * np.abs(cos) ** power
    sin = np.sign(sin) * np.abs(sin) ** power
    verts = (centers[:, None, :]
             + (radius_u[:, None] * cos[None, :])[..., None] * axis_u[:, None, :]
             + (radius_v[:, None] * sin[None, :])[..., None] * axis_v[:, None, :]).reshape(-1, 3)
    faces = []
    k = np.arange(segments)
    k1 = (k + 1) % segments
    for i in range(rings - 1):
        a, b = i * segments + k, i * segments + k1
        c, d = (i + 1) * segments + k1, (i + 1) * segments + k
        faces += [np.stack([a, b, c], 1), np.stack([a, c, d], 1)]
    extra = []
    if close_start:
        pole = len(verts) + len(extra)
        extra.append(centers[0])
        faces.append(np.stack([np.full(segments, pole), k1, k], 1))
    if close_end:
        pole = len(verts) + len(extra)
        extra.append(centers[-1])
        last = (rings - 1) * segments
        faces.append(np.stack([np.full(segments, pole), last + k, last + k1], 1))
    if extra:
        verts = np.concatenate([verts, np.array(extra)])
    return verts, np.concatenate(faces).astype(np.int64)


def perpendicular_axes(w: np.ndarray, hint: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Unit u, v with u x v = w; u is as close to ``hint`` as possible."""
    w = normalize(w)
    if hint is None:
        hint = np.array([1.0, 0.0, 0.0]) if abs(w[0]) < 0.9 else np.array([0.0, 0.0, 1.0])
    u = normalize(hint - np.dot(hint, w) * w)
    v = np.cross(w, u)
    return u, v


def capsule(p0: np.ndarray, p1: np.ndarray, profile: list[tuple[float, float]], segments: int = 12,
            cap_rings: int = 3, hint: np.ndarray | None = None,
            flatten: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """A tapered capsule from p0 to p1; ``profile`` is (fraction along, radius) pairs, caps are round."""
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    length = np.linalg.norm(p1 - p0)
    w = normalize(p1 - p0)
    u, v = perpendicular_axes(w, hint)
    r0, r1 = profile[0][1], profile[-1][1]
    offsets, radii = [], []
    for i in range(cap_rings):  # start hemisphere, pole excluded
        phi = -np.pi / 2 + np.pi / 2 * (i + 1) / (cap_rings + 1)
        offsets.append(r0 * np.sin(phi))
        radii.append(r0 * np.cos(phi))
    for frac, radius in profile:
        offsets.append(frac * length)
        radii.append(radius)
    for i in range(cap_rings):
        phi = np.pi / 2 * (i + 1) / (cap_rings + 1)
        offsets.append(length + r1 * np.sin(phi))
        radii.append(r1 * np.cos(phi))
    offsets_arr, radii_arr = np.array(offsets), np.array(radii)
    centers = p0 + offsets_arr[:, None] * w
    centers = np.concatenate([[p0 - r0 * w], centers, [p1 + r1 * w]])
    radii_arr = np.concatenate([[0.0], radii_arr, [0.0]])
    n = len(centers)
    verts, faces = loft(centers[1:-1], np.tile(u, (n - 2, 1)), np.tile(v, (n - 2, 1)), radii_arr[1:-1],
                        radii_arr[1:-1] * flatten, segments, close_start=False, close_end=False)
    return _add_poles(verts, faces, centers[0], centers[-1], n - 2, segments)


def ellipsoid(center: np.ndarray, axes: np.ndarray, radii: tuple[float, float, float],
              segments: int = 14, rings: int = 9) -> tuple[np.ndarray, np.ndarray]:
    """An ellipsoid; ``axes`` rows are u, v, w (w = u x v) and ``radii`` their half-lengths."""
    u, v, w = (np.asarray(a, float) for a in axes)
    phi = -np.pi / 2 + np.pi * np.arange(1, rings + 1) / (rings + 1)
    centers = center + np.outer(radii[2] * np.sin(phi), w)
    scale = np.cos(phi)
    verts, faces = loft(centers, np.tile(u, (rings, 1)), np.tile(v, (rings, 1)), radii[0] * scale,
                        radii[1] * scale, segments, close_start=False, close_end=False)
    return _add_poles(verts, faces, center - radii[2] * w, center + radii[2] * w, rings, segments)


def _add_poles(verts: np.ndarray, faces: np.ndarray, start: np.ndarray, end: np.ndarray, rings: int,
               segments: int) -> tuple[np.ndarray, np.ndarray]:
    k = np.arange(segments)
    k1 = (k + 1) % segments
    first, last = len(verts), len(verts) + 1
    tail = (rings - 1) * segments
    faces = np.concatenate([faces, np.stack([np.full(segments, first), k1, k], 1),
                            np.stack([np.full(segments, last), tail + k, tail + k1], 1)])
    return np.concatenate([verts, [start, end]]), faces


def part(verts: np.ndarray, faces: np.ndarray, color: np.ndarray, handles: int,
         weights: dict[int, float] | np.ndarray) -> RigidMesh:
    """Wrap geometry as a RigidMesh with one colour and fixed (or per-vertex) handle weights."""
    if isinstance(weights, dict):
        w = np.zeros((len(verts), handles))
        for handle, value in weights.items():
            w[:, handle] = value
    else:
        w = weights
    colors = np.tile(np.asarray(color, float), (len(verts), 1))
    return RigidMesh(verts, faces.astype(np.uint32), colors, w)


def pose(mesh: RigidMesh, transforms: np.ndarray) -> np.ndarray:
    """Posed vertices (T, V, 3) from handle transforms (T, K, 3, 4) that map rest space to world."""
    weights = mesh.weights.astype(np.float32)
    blended = np.einsum("vk,tkab->tvab", weights, transforms.astype(np.float32), optimize=True)
    verts = mesh.vertices.astype(np.float32)
    return np.einsum("tvab,vb->tva", blended[..., :3], verts) + blended[..., 3]


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals (T, V, 3) for a batch of frames sharing ``faces``."""
    frames, count = vertices.shape[:2]
    tri = vertices[:, faces]
    face_n = np.cross(tri[:, :, 1] - tri[:, :, 0], tri[:, :, 2] - tri[:, :, 0])
    rows = faces.reshape(-1).astype(np.int64)
    cols = np.repeat(np.arange(len(faces)), 3)
    incidence = scipy.sparse.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)),
                                        shape=(count, len(faces)))
    flat = face_n.transpose(1, 0, 2).reshape(len(faces), frames * 3)
    summed = (incidence @ flat).reshape(count, frames, 3).transpose(1, 0, 2)
    return normalize(summed).astype(np.float32)


def joint_transforms(positions: np.ndarray, rotations: np.ndarray, rest: np.ndarray) -> np.ndarray:
    """Rigid transforms (T, J, 3, 4) x -> R (x - rest_j) + p_j, one per joint."""
    t = np.empty((*rotations.shape[:2], 3, 4))
    t[..., :3] = rotations
    t[..., 3] = positions - np.einsum("tjab,jb->tja", rotations, rest)
    return t
