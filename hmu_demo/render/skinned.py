"""A motion as a skinned mannequin: rest mesh, skin weights and per-frame joint transforms.

The offline renderer poses the mannequin on the CPU (``mesh.pose``: every vertex follows
``x -> R_j (x - rest_j) + p_j`` of its joints); a glTF file and the browser viewer do the same
skinning on the GPU instead, so they need only the rest mesh, at most four (joint, weight) pairs per
vertex and, per frame, each joint's global rotation ``R_j`` and position ``p_j``. Built here once for
both, so the .glb export and the page's 3D viewer show exactly the offline renderer's body.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from hmu_demo.motion.ik import global_rotations, rest_skeleton_for
from hmu_demo.motion.skeleton import FPS, NUM_JOINTS, PARENTS
from hmu_demo.render.body_default import STYLE_BLUE, BodyStyle, build_mannequin
from hmu_demo.render.mesh import RigidMesh, vertex_normals
from hmu_demo.render.motion_input import validate_joints

__all__ = ["INFLUENCES", "SkinnedClip", "local_tracks", "matrix_to_quaternion", "skin_attributes", "skinned_clip",
           "srgb_to_linear"]

#: Joint influences per vertex that glTF (JOINTS_0/WEIGHTS_0) and three.js skinning take.
INFLUENCES = 4
#: Clips kept (a comparison makes two per export and two per viewer payload).
_CACHE_SIZE = 8
_CACHE: OrderedDict[tuple, "SkinnedClip"] = OrderedDict()
_CACHE_LOCK = threading.Lock()


@dataclass(frozen=True)
class SkinnedClip:
    """One motion on the mannequin: rest mesh (weights over the 22 joints), rest skeleton (22, 3),
    global joint rotations (T, 22, 3, 3) and positions (T, 22, 3, the motion's joints), frame rate."""

    mesh: RigidMesh
    rest: np.ndarray
    rotations: np.ndarray
    positions: np.ndarray
    fps: int = FPS

    @property
    def frames(self) -> int:
        return len(self.positions)

    def quaternions(self) -> np.ndarray:
        """Global rotations as unit quaternions (T, 22, 4), x y z w, sign-continuous over time."""
        return _continuous(matrix_to_quaternion(self.rotations))

    def rest_normals(self) -> np.ndarray:
        """Unit vertex normals (V, 3) of the rest mesh."""
        return vertex_normals(self.mesh.vertices[None].astype(np.float32), self.mesh.faces.astype(np.int64))[0]


def skinned_clip(joints: np.ndarray, style: BodyStyle = STYLE_BLUE, fps: int = FPS) -> SkinnedClip:
    """The mannequin for these joints (T, 22, 3), built on the motion's own bone lengths (as the
    offline renderer's default body is) with the analytic IK's rotations. The last few clips are
    kept: a comparison's .glb export and the browser viewer's payload share them."""
    joints = validate_joints(joints)
    key = (hashlib.blake2b(joints.tobytes(), digest_size=16).digest(), joints.shape, style, fps)
    with _CACHE_LOCK:
        if key in _CACHE:
            _CACHE.move_to_end(key)
            return _CACHE[key]
    rest = rest_skeleton_for(joints)
    clip = SkinnedClip(build_mannequin(rest, style), rest, global_rotations(joints, rest), joints.copy(), fps)
    with _CACHE_LOCK:
        _CACHE[key] = clip
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return clip


def skin_attributes(weights: np.ndarray, influences: int = INFLUENCES) -> tuple[np.ndarray, np.ndarray]:
    """(joint indices (V, 4) uint8, weights (V, 4) float32 summing to 1): the largest ``influences``
    weights of each vertex. The mannequin uses at most two per vertex, so nothing is dropped."""
    order = np.argsort(-weights, axis=1, kind="stable")[:, :influences]
    picked = np.take_along_axis(weights, order, axis=1).astype(np.float64)
    picked = np.clip(picked, 0.0, None)
    total = picked.sum(axis=1, keepdims=True)
    if np.any(total <= 0):
        raise ValueError("a vertex of the mesh has no skin weight")
    picked /= total
    order = np.where(picked > 0, order, 0)
    return order.astype(np.uint8), picked.astype(np.float32)


def local_tracks(clip: SkinnedClip) -> tuple[np.ndarray, np.ndarray]:
    """Parent-relative (translations (T, 22, 3), quaternions (T, 22, 4) x y z w) of every joint:
    the animation channels of a joint hierarchy whose forward kinematics gives back exactly the
    motion's joint positions and the IK's global rotations (bone lengths may vary per frame)."""
    rot, pos = clip.rotations, clip.positions
    local_rot = np.empty_like(rot)
    local_pos = np.empty_like(pos)
    local_rot[:, 0], local_pos[:, 0] = rot[:, 0], pos[:, 0]
    for j in range(1, NUM_JOINTS):
        parent_t = np.swapaxes(rot[:, PARENTS[j]], -1, -2)
        local_rot[:, j] = parent_t @ rot[:, j]
        local_pos[:, j] = np.einsum("tab,tb->ta", parent_t, pos[:, j] - pos[:, PARENTS[j]])
    return local_pos, _continuous(matrix_to_quaternion(local_rot))


def matrix_to_quaternion(matrices: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> unit quaternions (..., 4), x y z w."""
    from scipy.spatial.transform import Rotation

    shape = matrices.shape[:-2]
    quats = Rotation.from_matrix(np.asarray(matrices, dtype=np.float64).reshape(-1, 3, 3)).as_quat()
    return quats.reshape(*shape, 4)


def _continuous(quats: np.ndarray) -> np.ndarray:
    """Flip signs so consecutive frames' quaternions lie in the same hemisphere (q and -q are the same
    rotation, but interpolating between opposite signs spins the long way round)."""
    out = np.array(quats, dtype=np.float64)
    for t in range(1, len(out)):
        flip = np.sum(out[t] * out[t - 1], axis=-1) < 0
        out[t][flip] *= -1
    return out


def srgb_to_linear(color: np.ndarray) -> np.ndarray:
    """sRGB albedo (0..1) -> linear values (glTF vertex colours and three.js colours are linear)."""
    c = np.asarray(color, dtype=np.float64)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
