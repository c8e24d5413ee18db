"""Test motions built by forward kinematics on skeleton.REST_OFFSETS, and render test settings."""

from __future__ import annotations

import atexit
import os
import pickle
import shutil
import tempfile
from pathlib import Path

import numpy as np

from hmu_demo.motion.skeleton import NUM_JOINTS, PARENTS, rest_pose
from hmu_demo.motion.ik import axis_angle_to_matrix, forward_kinematics

_TMP = Path(tempfile.mkdtemp(prefix="hmu_render_tests_"))
atexit.register(shutil.rmtree, _TMP, ignore_errors=True)
for _var, _sub in (("XDG_CACHE_HOME", "cache"), ("MESA_SHADER_CACHE_DIR", "mesa"), ("MPLCONFIGDIR", "mpl")):
    os.environ.setdefault(_var, str(_TMP / _sub))
os.environ.setdefault("PYOPENGL_PLATFORM", "egl")


def _rx(angle: np.ndarray) -> np.ndarray:
    return axis_angle_to_matrix(np.stack([angle, 0 * angle, 0 * angle], -1))


def _ry(angle: np.ndarray) -> np.ndarray:
    return axis_angle_to_matrix(np.stack([0 * angle, angle, 0 * angle], -1))


def _rz(angle: np.ndarray) -> np.ndarray:
    return axis_angle_to_matrix(np.stack([0 * angle, 0 * angle, angle], -1))


def walk_local_rotations(frames: int, fps: int = 20, turn: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Local rotations (T, 22, 3, 3) and root positions (T, 3) of a walk that curves by ``turn`` rad."""
    t = np.arange(frames) / fps
    phase = 2 * np.pi * 0.9 * t  # 0.9 strides per second
    rot = np.tile(np.eye(3), (frames, NUM_JOINTS, 1, 1))
    yaw = turn * t / max(t[-1], 1e-6)
    rot[:, 0] = _ry(yaw) @ _rx(np.full(frames, -0.05))
    rot[:, 3] = _ry(0.08 * np.sin(phase))
    rot[:, 9] = _ry(-0.12 * np.sin(phase))
    for hip, knee, ankle, sign in ((1, 4, 7, 1.0), (2, 5, 8, -1.0)):
        rot[:, hip] = _rx(-0.45 * sign * np.sin(phase))
        rot[:, knee] = _rx(0.25 + 0.5 * np.clip(sign * np.sin(phase + 1.2), 0, None))
        rot[:, ankle] = _rx(-0.15 * sign * np.cos(phase))
    for shoulder, elbow, sign in ((16, 18, 1.0), (17, 19, -1.0)):
        rot[:, shoulder] = _rx(0.45 * sign * np.sin(phase)) @ _rz(np.full(frames, -1.35 * sign))
        rot[:, elbow] = _ry(sign * (0.35 + 0.25 * np.clip(-sign * np.sin(phase), 0, None)))
    rot[:, 12] = _rx(0.05 * np.sin(2 * phase))
    # Root: forward along the current heading, with a small vertical bob.
    heading = np.stack([np.sin(yaw), 0 * yaw, np.cos(yaw)], -1)
    speed = 1.1
    root = np.cumsum(heading * speed / fps, axis=0)
    root[:, 1] = rest_pose()[0, 1] - 0.02 + 0.02 * np.cos(2 * phase)
    return rot, root


def walk_joints(frames: int = 40, fps: int = 20, turn: float = 0.6) -> np.ndarray:
    """A walking cycle with arm swing, (T, 22, 3) in metres, Y up, starting towards +Z."""
    rot, root = walk_local_rotations(frames, fps, turn)
    joints = forward_kinematics(rot, root, rest_pose())
    joints[:, :, 1] -= joints[:, :, 1].min()
    return joints.astype(np.float32)


def random_pose_joints(frames: int = 12, seed: int = 0, scale: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    """Random local rotations applied to the rest skeleton; returns (joints, local rotations)."""
    rng = np.random.default_rng(seed)
    rot = axis_angle_to_matrix(rng.normal(0, scale, (frames, NUM_JOINTS, 3)))
    root = rng.normal(0, 0.3, (frames, 3)) + [0, 1.0, 0]
    return forward_kinematics(rot, root, rest_pose()), rot


def write_random_smpl_model(path: Path, seed: int = 0, joints_rest: np.ndarray | None = None) -> Path:
    """A chumpy-free SMPL-format pickle with random contents and SMPL's shapes (6890 vertices).

    The first 24 template vertices sit on the rest joints and ``J_regressor`` picks them, so the
    model's rest skeleton is ours (joints 22, 23 are the hands): posing it must give back the joints.
    """
    import scipy.sparse

    rng = np.random.default_rng(seed)
    rest = rest_pose() if joints_rest is None else joints_rest
    rest24 = np.concatenate([rest, rest[[20, 21]] + [[0.08, 0, 0], [-0.08, 0, 0]]])
    verts = 6890
    v_template = rest24[rng.integers(0, 24, verts)] + rng.normal(0, 0.05, (verts, 3))
    v_template[:24] = rest24
    regressor = scipy.sparse.csc_matrix((np.ones(24), (np.arange(24), np.arange(24))), shape=(24, verts))
    weights = rng.random((verts, 24)) ** 8
    weights /= weights.sum(1, keepdims=True)
    kintree = np.array([[*PARENTS, 20, 21], np.arange(24)], dtype=np.int64)
    kintree[0, 0] = 4294967295
    faces = rng.integers(0, verts, (13776, 3)).astype(np.uint32)
    data = {
        "v_template": v_template,
        "shapedirs": rng.normal(0, 1e-3, (verts, 3, 10)),
        "posedirs": rng.normal(0, 1e-4, (verts, 3, 207)),
        "J_regressor": regressor,
        "weights": weights,
        "kintree_table": kintree,
        "f": faces,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".npz":
        dense = dict(data, J_regressor=regressor.toarray())
        np.savez(path, **dense)
    else:
        with open(path, "wb") as handle:
            pickle.dump(data, handle, protocol=2)
    return path
