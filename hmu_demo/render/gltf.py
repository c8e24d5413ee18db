"""Animated glTF 2.0 (.glb) export: the mannequin, skinned to the 22 joints, with the motion as a clip.

    python -m hmu_demo.render.gltf JOINTS.npy OUT.glb [--name TEXT] [--fps 20]

The file holds one skinned mesh (the offline renderer's default body on the motion's own bone
lengths, vertex colours for clothes and skin), a joint hierarchy named as the skeleton's joints, and
one animation with a translation and a rotation channel per joint. Joints are animated in parent
space with their translations too, so forward kinematics of the file gives back the motion's joint
positions exactly (up to float32), even where a generated motion's bone lengths vary a little per
frame. Skinning uses inverse bind matrices ``translate(-rest_j)``, so the GPU computes the same
``R_j (x - rest_j) + p_j`` as :func:`hmu_demo.render.mesh.pose`. Blender, three.js and any glTF viewer
open it. Written with numpy and ``struct`` (no dependency); bad input gets one line and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from pathlib import Path

import numpy as np

from hmu_demo.atomic import write_bytes
from hmu_demo.motion.skeleton import FPS, JOINT_NAMES, NUM_JOINTS, PARENTS
from hmu_demo.render.body_default import STYLE_BLUE, BodyStyle
from hmu_demo.render.motion_input import MotionInputError, load_joints
from hmu_demo.render.skinned import SkinnedClip, local_tracks, skin_attributes, skinned_clip, srgb_to_linear

__all__ = ["GLB_MAGIC", "glb_bytes", "main", "write_glb"]

GLB_MAGIC = 0x46546C67            # "glTF"
_JSON_CHUNK, _BIN_CHUNK = 0x4E4F534A, 0x004E4942
_FLOAT, _UBYTE, _USHORT, _UINT = 5126, 5121, 5123, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963
_TYPES = {1: "SCALAR", 3: "VEC3", 4: "VEC4", 16: "MAT4"}
_COMPONENT = {np.dtype(np.float32): _FLOAT, np.dtype(np.uint8): _UBYTE, np.dtype(np.uint16): _USHORT,
              np.dtype(np.uint32): _UINT}


class _Buffer:
    """The binary chunk being built, with its bufferViews and accessors (4-byte aligned)."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.views: list[dict] = []
        self.accessors: list[dict] = []

    def add(self, array: np.ndarray, width: int, target: int | None = None, bounds: bool = False,
            normalized: bool = False) -> int:
        """Append ``array`` (N, width) or (N,) as one accessor; returns its index."""
        array = np.ascontiguousarray(array)
        while len(self.data) % 4:
            self.data.append(0)
        view = {"buffer": 0, "byteOffset": len(self.data), "byteLength": array.nbytes}
        if target is not None:
            view["target"] = target
        self.data += array.tobytes()
        self.views.append(view)
        accessor = {"bufferView": len(self.views) - 1, "componentType": _COMPONENT[array.dtype],
                    "count": int(array.shape[0]), "type": _TYPES[width]}
        if normalized:
            accessor["normalized"] = True
        if bounds:
            flat = array.reshape(len(array), -1)
            accessor["min"] = [float(v) for v in flat.min(axis=0)]
            accessor["max"] = [float(v) for v in flat.max(axis=0)]
        self.accessors.append(accessor)
        return len(self.accessors) - 1


def _mesh(buffer: _Buffer, clip: SkinnedClip) -> dict:
    mesh = clip.mesh
    vertices = mesh.vertices.astype(np.float32)
    joints, weights = skin_attributes(mesh.weights)
    faces = mesh.faces.reshape(-1)
    faces = faces.astype(np.uint16 if len(vertices) < 65536 else np.uint32)
    attributes = {
        "POSITION": buffer.add(vertices, 3, _ARRAY_BUFFER, bounds=True),
        "NORMAL": buffer.add(clip.rest_normals().astype(np.float32), 3, _ARRAY_BUFFER),
        "COLOR_0": buffer.add(srgb_to_linear(mesh.colors).astype(np.float32), 3, _ARRAY_BUFFER),
        "JOINTS_0": buffer.add(joints, 4, _ARRAY_BUFFER),
        "WEIGHTS_0": buffer.add(weights, 4, _ARRAY_BUFFER),
    }
    return {"name": "mannequin", "primitives": [{"attributes": attributes, "material": 0, "mode": 4,
                                                 "indices": buffer.add(faces, 1, _ELEMENT_ARRAY_BUFFER)}]}


def _joint_nodes(rest: np.ndarray) -> list[dict]:
    """The rest hierarchy: joint j at ``rest_j`` (relative to its parent), no rotation (T-pose)."""
    nodes = []
    for j in range(NUM_JOINTS):
        offset = rest[j] - (rest[PARENTS[j]] if j else 0.0)
        node: dict = {"name": JOINT_NAMES[j], "translation": [float(v) for v in offset]}
        children = [c for c in range(NUM_JOINTS) if PARENTS[c] == j]
        if children:
            node["children"] = children
        nodes.append(node)
    return nodes


def _animation(buffer: _Buffer, clip: SkinnedClip, name: str) -> dict:
    translations, rotations = local_tracks(clip)
    times = buffer.add((np.arange(clip.frames, dtype=np.float32) / np.float32(clip.fps)), 1, bounds=True)
    samplers, channels = [], []
    for j in range(NUM_JOINTS):
        for path, values, width in (("translation", translations[:, j], 3), ("rotation", rotations[:, j], 4)):
            samplers.append({"input": times, "output": buffer.add(values.astype(np.float32), width),
                             "interpolation": "LINEAR"})
            channels.append({"sampler": len(samplers) - 1, "target": {"node": j, "path": path}})
    return {"name": name, "samplers": samplers, "channels": channels}


def glb_bytes(joints: np.ndarray, name: str = "motion", style: BodyStyle = STYLE_BLUE, fps: int = FPS) -> bytes:
    """The .glb file's bytes for joints (T, 22, 3) in metres, Y up, at ``fps``."""
    clip = skinned_clip(joints, style, fps)
    buffer = _Buffer()
    mesh = _mesh(buffer, clip)
    inverse_bind = np.tile(np.eye(4, dtype=np.float32), (NUM_JOINTS, 1, 1))
    inverse_bind[:, :3, 3] = -clip.rest
    # glTF matrices are column-major: store each matrix transposed.
    ibm = buffer.add(np.ascontiguousarray(inverse_bind.transpose(0, 2, 1)).reshape(NUM_JOINTS, 16), 16)
    animation = _animation(buffer, clip, name)
    body = NUM_JOINTS
    document = {
        "asset": {"version": "2.0", "generator": "HMU Studio (hmu_demo.render.gltf)"},
        "scene": 0,
        "scenes": [{"name": name, "nodes": [body, 0]}],
        "nodes": _joint_nodes(clip.rest) + [{"name": "mannequin", "mesh": 0, "skin": 0}],
        "meshes": [mesh],
        "skins": [{"name": "skeleton", "joints": list(range(NUM_JOINTS)), "skeleton": 0,
                   "inverseBindMatrices": ibm}],
        "materials": [{"name": "mannequin", "pbrMetallicRoughness": {
            "baseColorFactor": [1.0, 1.0, 1.0, 1.0], "metallicFactor": 0.0, "roughnessFactor": 0.8}}],
        "animations": [animation],
        "accessors": buffer.accessors,
        "bufferViews": buffer.views,
        "buffers": [{"byteLength": len(buffer.data)}],
        "extras": {"fps": fps, "frames": clip.frames, "joint_names": list(JOINT_NAMES)},
    }
    return _container(document, bytes(buffer.data))


def _container(document: dict, binary: bytes) -> bytes:
    """GLB: 12-byte header, JSON chunk (space-padded), BIN chunk (zero-padded), 4-byte aligned."""
    text = json.dumps(document, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    total = 12 + 8 + len(text) + 8 + len(binary)
    return b"".join([struct.pack("<III", GLB_MAGIC, 2, total), struct.pack("<II", len(text), _JSON_CHUNK), text,
                     struct.pack("<II", len(binary), _BIN_CHUNK), binary])


def write_glb(joints: np.ndarray, path: str | Path, name: str = "motion", style: BodyStyle = STYLE_BLUE,
              fps: int = FPS) -> Path:
    """Write the animated mannequin of ``joints`` to ``path`` (.glb), atomically."""
    path = Path(path)
    data = glb_bytes(joints, name, style, fps)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_bytes(path, data)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.render.gltf",
                                     description="Export joints (.npy, (T, 22, 3)) as an animated, skinned .glb.")
    parser.add_argument("joints", type=Path, help="joints .npy of shape (T, 22, 3) in metres, Y up")
    parser.add_argument("out", type=Path, help="output file (.glb)")
    parser.add_argument("--name", default="motion", help="the animation clip's name (e.g. the prompt)")
    parser.add_argument("--fps", type=int, default=FPS, help=f"frames per second (default {FPS})")
    args = parser.parse_args(argv)
    try:
        if args.out.suffix.lower() != ".glb":
            raise ValueError(f"{args.out}: the output must end in .glb")
        if args.fps < 1:
            raise ValueError(f"--fps must be at least 1, got {args.fps}")
        path = write_glb(load_joints(args.joints), args.out, args.name, fps=args.fps)
    except (MotionInputError, ValueError, OSError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
