"""BVH export and import for the 22-joint skeleton (Blender, Maya, MotionBuilder read it).

Export: the rest pose is a T-pose with the motion's own (median) bone lengths; rotations come
from the analytic IK in ``hmu_demo.motion.ik``; channels are ZXY Euler angles in degrees and
positions are in centimetres by default. Import parses any BVH and runs forward kinematics, so a
written file can be checked against the joints it came from.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from hmu_demo.motion.ik import global_rotations, local_rotations, rest_skeleton_for
from hmu_demo.motion.skeleton import FPS, JOINT_NAMES, NUM_JOINTS, PARENTS

ROT_ORDER = "ZXY"
# End-site offsets (metres) for leaf joints, so viewers draw the last bone.
_END_SITES = {10: (0.0, 0.0, 0.05), 11: (0.0, 0.0, 0.05), 15: (0.0, 0.12, 0.0),
              20: (0.08, 0.0, 0.0), 21: (-0.08, 0.0, 0.0)}


@dataclass
class BvhMotion:
    """A parsed BVH: joint names, parents, rest offsets (J, 3), world positions (T, J, 3)."""

    names: list[str]
    parents: list[int]
    offsets: np.ndarray
    positions: np.ndarray
    frame_time: float


def write_bvh(joints: np.ndarray, path: str | Path, fps: int = FPS, scale: float = 100.0) -> Path:
    """Write joints (T, 22, 3) in metres as BVH; ``scale`` converts metres to file units (cm)."""
    from scipy.spatial.transform import Rotation

    joints = np.asarray(joints, dtype=np.float64)
    rest = rest_skeleton_for(joints)
    local = local_rotations(global_rotations(joints, rest))
    frames = len(joints)
    euler = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_euler(ROT_ORDER, degrees=True)
    euler = euler.reshape(frames, NUM_JOINTS, 3)

    lines = ["HIERARCHY"]
    children = {j: [c for c in range(NUM_JOINTS) if PARENTS[c] == j] for j in range(NUM_JOINTS)}
    channels = " ".join(f"{axis}rotation" for axis in ROT_ORDER)

    def emit(joint: int, depth: int) -> None:
        pad = "  " * depth
        offset = (rest[joint] - rest[PARENTS[joint]]) * scale if joint else np.zeros(3)
        lines.append(f"{pad}{'ROOT' if joint == 0 else 'JOINT'} {JOINT_NAMES[joint]}")
        lines.append(f"{pad}{{")
        lines.append(f"{pad}  OFFSET {offset[0]:.6f} {offset[1]:.6f} {offset[2]:.6f}")
        if joint == 0:
            lines.append(f"{pad}  CHANNELS 6 Xposition Yposition Zposition {channels}")
        else:
            lines.append(f"{pad}  CHANNELS 3 {channels}")
        for child in children[joint]:
            emit(child, depth + 1)
        if not children[joint]:
            end = np.asarray(_END_SITES.get(joint, (0.0, 0.05, 0.0))) * scale
            lines.extend([f"{pad}  End Site", f"{pad}  {{",
                          f"{pad}    OFFSET {end[0]:.6f} {end[1]:.6f} {end[2]:.6f}", f"{pad}  }}"])
        lines.append(f"{pad}}}")

    emit(0, 0)
    order: list[int] = []

    def walk(joint: int) -> None:
        order.append(joint)
        for child in children[joint]:
            walk(child)

    walk(0)
    lines += ["MOTION", f"Frames: {frames}", f"Frame Time: {1.0 / fps:.6f}"]
    root = joints[:, 0] * scale
    for t in range(frames):
        values = [*root[t], *euler[t, order].reshape(-1)]
        lines.append(" ".join(f"{v:.6f}" for v in values))
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    return path


def _axis_rotation(axis: str, degrees: np.ndarray) -> np.ndarray:
    a = np.radians(degrees)
    c, s = np.cos(a), np.sin(a)
    m = np.zeros((*a.shape, 3, 3))
    i = "XYZ".index(axis)
    j, k = (i + 1) % 3, (i + 2) % 3
    m[..., i, i] = 1.0
    m[..., j, j], m[..., k, k] = c, c
    m[..., j, k], m[..., k, j] = -s, s
    return m


def read_bvh(path: str | Path, scale: float = 0.01) -> BvhMotion:
    """Parse a BVH file and compute world joint positions (end sites excluded), times ``scale``."""
    tokens = Path(path).read_text().split()
    pos = 0
    names: list[str] = []
    parents: list[int] = []
    offsets: list[list[float]] = []
    channels: list[list[str]] = []
    stack: list[int] = []
    in_end_site = False
    if tokens[pos] != "HIERARCHY":
        raise ValueError(f"{path}: not a BVH file")
    pos += 1
    while tokens[pos] != "MOTION":
        tok = tokens[pos]
        if tok in ("ROOT", "JOINT"):
            names.append(tokens[pos + 1])
            parents.append(stack[-1] if stack else -1)
            offsets.append([0.0, 0.0, 0.0])
            channels.append([])
            pos += 2
        elif tok == "End":
            in_end_site = True
            pos += 2
        elif tok == "{":
            stack.append(-2 if in_end_site else len(names) - 1)
            pos += 1
        elif tok == "}":
            if stack.pop() == -2:
                in_end_site = False
            pos += 1
        elif tok == "OFFSET":
            values = [float(v) for v in tokens[pos + 1:pos + 4]]
            if not in_end_site:
                offsets[-1] = values
            pos += 4
        elif tok == "CHANNELS":
            count = int(tokens[pos + 1])
            channels[-1] = tokens[pos + 2:pos + 2 + count]
            pos += 2 + count
        else:
            raise ValueError(f"{path}: unexpected token {tok!r}")
    frames = int(tokens[pos + 2])
    frame_time = float(tokens[pos + 5])
    total = sum(len(c) for c in channels)
    data = np.array(tokens[pos + 6:pos + 6 + frames * total], dtype=np.float64).reshape(frames, total)

    count = len(names)
    world_rot = np.zeros((frames, count, 3, 3))
    world_pos = np.zeros((frames, count, 3))
    offs = np.array(offsets)
    col = 0
    for j in range(count):
        local = np.tile(np.eye(3), (frames, 1, 1))
        translation = offs[j][None].repeat(frames, 0)
        for name in channels[j]:
            values = data[:, col]
            col += 1
            axis, kind = name[0].upper(), name[1:].lower()
            if kind == "position":
                translation[:, "XYZ".index(axis)] = values
            else:
                local = local @ _axis_rotation(axis, values)
        parent = parents[j]
        if parent < 0:
            world_rot[:, j] = local
            world_pos[:, j] = translation
        else:
            world_rot[:, j] = world_rot[:, parent] @ local
            world_pos[:, j] = world_pos[:, parent] + np.einsum("tab,tb->ta", world_rot[:, parent], translation)
    return BvhMotion(names, parents, offs * scale, world_pos * scale, frame_time)


def read_bvh_joints(path: str | Path, scale: float = 0.01) -> np.ndarray:
    """Joints (T, 22, 3) in metres from a BVH written by ``write_bvh`` (joints matched by name)."""
    motion = read_bvh(path, scale)
    index = {name: i for i, name in enumerate(motion.names)}
    missing = [n for n in JOINT_NAMES if n not in index]
    if missing:
        raise ValueError(f"{path}: missing joints {', '.join(missing)}")
    return motion.positions[:, [index[n] for n in JOINT_NAMES]]
