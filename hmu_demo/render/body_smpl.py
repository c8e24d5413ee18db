"""SMPL through ``smplx``, for users who have the (licensed) model files in ``checkpoints/smpl/``.

Joints -> SMPL pose by the analytic IK of :mod:`hmu_demo.motion.ik` on SMPL's own rest skeleton (read from the
model's joint regressor), then one batched forward pass. The mesh is scaled to the motion's
size (bone lengths) and put on the floor by the scene. Model files load without chumpy: ``.npz``
directly, ``.pkl`` through an unpickler that only accepts NumPy and SciPy sparse objects.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np

from hmu_demo.motion.ik import global_rotations, local_rotations
from hmu_demo.motion.skeleton import NUM_JOINTS, PARENTS
from hmu_demo.render.mesh import RigidMesh

SMPL_VERTICES = 6890
REQUIRED_KEYS = ("v_template", "shapedirs", "posedirs", "J_regressor", "weights", "kintree_table", "f")
SMPL_FILE_NAMES = ("SMPL_NEUTRAL", "SMPL_MALE", "SMPL_FEMALE", "basicmodel_neutral_lbs_10_207_0_v1.1.0",
                   "basicmodel_m_lbs_10_207_0_v1.1.0", "basicmodel_f_lbs_10_207_0_v1.1.0")
SMPL_SKIN = (0.80, 0.66, 0.58)


class SmplModelError(RuntimeError):
    """SMPL files are missing or unusable; the message says what to do."""


def default_smpl_dir() -> Path:
    """``$HMU_SMPL_DIR`` or ``checkpoints/smpl`` in the repository."""
    env = os.environ.get("HMU_SMPL_DIR")
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[2] / "checkpoints" / "smpl"


def find_smpl_file(directory: Path | None = None) -> Path:
    """The SMPL model file to use (neutral first), or SmplModelError saying where to put one."""
    directory = default_smpl_dir() if directory is None else Path(directory)
    for name in SMPL_FILE_NAMES:
        for ext in (".npz", ".pkl"):
            path = directory / f"{name}{ext}"
            if path.is_file():
                return path
    found = sorted(directory.glob("*.npz")) + sorted(directory.glob("*.pkl")) if directory.is_dir() else []
    if found:
        return found[0]
    raise SmplModelError(
        f"no SMPL model in {directory}: download SMPL (https://smpl.is.tue.mpg.de, registration and "
        f"licence required), convert it with 'python -m hmu_demo.render.smpl_convert IN.pkl "
        f"{directory}/SMPL_NEUTRAL.npz', or use --body default (see docs/rendering.md)")


class SafeUnpickler(pickle.Unpickler):
    """Unpickles NumPy arrays and SciPy sparse matrices only: no code from a model file runs."""

    NUMPY_NAMES = frozenset({"_reconstruct", "ndarray", "dtype", "scalar", "_frombuffer"})
    PLAIN = frozenset({("copyreg", "_reconstructor"), ("builtins", "object"), ("builtins", "slice"),
                       ("_codecs", "encode")})

    def find_class(self, module: str, name: str) -> Any:
        if module.startswith("chumpy"):
            return self.chumpy_class(module, name)
        numpy_ok = module.split(".")[0] == "numpy" and name in self.NUMPY_NAMES
        sparse_ok = module.startswith("scipy.sparse") and name.endswith(("_matrix", "_array"))
        if numpy_ok or sparse_ok or (module, name) in self.PLAIN:
            return super().find_class(module, name)
        raise SmplModelError(f"refusing to unpickle {module}.{name} from an SMPL file")

    def chumpy_class(self, module: str, name: str) -> Any:
        raise SmplModelError("this SMPL file stores chumpy objects; convert it first with "
                             "'python -m hmu_demo.render.smpl_convert IN.pkl OUT.npz'")


def load_smpl_data(path: Path) -> dict[str, Any]:
    """Arrays of an SMPL model file (npz or chumpy-free pkl), checked for SMPL's shapes."""
    path = Path(path)
    try:
        if path.suffix == ".npz":
            with np.load(path, allow_pickle=False) as npz:
                data: dict[str, Any] = {k: npz[k] for k in npz.files}
        else:
            with open(path, "rb") as handle:
                data = SafeUnpickler(io.BytesIO(handle.read()), encoding="latin1").load()
    except SmplModelError:
        raise
    except Exception as exc:
        raise SmplModelError(f"cannot read SMPL file {path}: {type(exc).__name__}: {exc}") from exc
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise SmplModelError(f"SMPL file {path} lacks {', '.join(missing)}")
    verts = np.asarray(data["v_template"]).shape
    if verts != (SMPL_VERTICES, 3):
        raise SmplModelError(f"SMPL file {path}: v_template has shape {verts}, expected (6890, 3)")
    return data


def _dense(array: Any) -> np.ndarray:
    return np.asarray(array.todense() if hasattr(array, "todense") else array, dtype=np.float64)


class SmplBody:
    """Poses an SMPL model from joints: joints (T, 22, 3) -> vertices (T, 6890, 3)."""

    def __init__(self, path: Path | None = None, batch: int = 64) -> None:
        import smplx
        from smplx.utils import Struct

        self.path = find_smpl_file() if path is None else Path(path)
        data = load_smpl_data(self.path)
        data["kintree_table"] = np.asarray(data["kintree_table"]).astype(np.int64)
        self.model = smplx.SMPL(model_path=str(self.path), data_struct=Struct(**data),
                                create_betas=False, create_global_orient=False, create_body_pose=False,
                                create_transl=False)
        self.faces = np.asarray(data["f"], dtype=np.int64)
        regressor = _dense(data["J_regressor"])
        self.rest = (regressor @ np.asarray(data["v_template"], np.float64))[:NUM_JOINTS]
        self.batch = batch

    def scale_for(self, joints: np.ndarray) -> float:
        """Uniform scale matching SMPL's bone lengths to the motion's (sum over all bones)."""
        ours = np.median(np.sum(np.linalg.norm(joints[:, 1:] - joints[:, list(PARENTS[1:])], axis=-1), axis=1))
        theirs = np.sum(np.linalg.norm(self.rest[1:] - self.rest[list(PARENTS[1:])], axis=-1))
        return float(ours / max(theirs, 1e-6))

    def pose_parameters(self, joints: np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
        """SMPL global_orient (T, 3), body_pose (T, 69) and the scale, by analytic IK."""
        from scipy.spatial.transform import Rotation

        scale = self.scale_for(joints)
        local = local_rotations(global_rotations(joints, self.rest * scale))
        rotvec = Rotation.from_matrix(local.reshape(-1, 3, 3)).as_rotvec().reshape(len(joints), NUM_JOINTS, 3)
        body_pose = np.zeros((len(joints), 23, 3))
        body_pose[:, :NUM_JOINTS - 1] = rotvec[:, 1:]
        return rotvec[:, 0], body_pose.reshape(len(joints), 69), scale

    def pose(self, joints: np.ndarray) -> tuple[np.ndarray, RigidMesh]:
        import torch

        joints = np.asarray(joints, np.float64)
        orient, body_pose, scale = self.pose_parameters(joints)
        chunks = []
        with torch.no_grad():
            for start in range(0, len(joints), self.batch):
                sl = slice(start, start + self.batch)
                n = len(orient[sl])
                out = self.model(betas=torch.zeros(n, self.model.num_betas),
                                 global_orient=torch.as_tensor(orient[sl], dtype=torch.float32),
                                 body_pose=torch.as_tensor(body_pose[sl], dtype=torch.float32),
                                 transl=torch.zeros(n, 3), return_verts=True)
                chunks.append(out.vertices.numpy())
        verts = np.concatenate(chunks).astype(np.float64)
        verts = scale * (verts - self.rest[0]) + joints[:, :1, :]
        colors = np.tile(np.asarray(SMPL_SKIN), (verts.shape[1], 1))
        mesh = RigidMesh(np.zeros((verts.shape[1], 3)), self.faces.astype(np.uint32), colors,
                         np.zeros((verts.shape[1], 0)))
        return verts.astype(np.float32), mesh

    def posed_joints(self, joints: np.ndarray) -> np.ndarray:
        """SMPL's own posed joints (T, 22, 3) in the motion's frame: checks the IK end to end."""
        import torch

        orient, body_pose, scale = self.pose_parameters(np.asarray(joints, np.float64))
        with torch.no_grad():
            out = self.model(betas=torch.zeros(len(orient), self.model.num_betas),
                             global_orient=torch.as_tensor(orient, dtype=torch.float32),
                             body_pose=torch.as_tensor(body_pose, dtype=torch.float32),
                             transl=torch.zeros(len(orient), 3))
        posed = out.joints[:, :NUM_JOINTS].numpy().astype(np.float64)
        return scale * (posed - self.rest[0]) + np.asarray(joints)[:, :1, :]
