"""The animated .glb export, read back by independent readers (pygltflib for the animation and skin,
trimesh for the mesh): the joint tracks give back the NPY joints, and the skin gives back the offline
renderer's posed mannequin."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from render_helpers import walk_joints

from hmu_demo.motion.skeleton import FPS, JOINT_NAMES, NUM_JOINTS
from hmu_demo.pipelines.text_to_motion import Motion
from hmu_demo.render.body_default import MannequinBody
from hmu_demo.render.gltf import main, write_glb
from hmu_demo.ui.outputs import write_motion

pygltflib = pytest.importorskip("pygltflib")

_DTYPES = {5126: np.float32, 5121: np.uint8, 5123: np.uint16, 5125: np.uint32}
_WIDTH = {"SCALAR": 1, "VEC3": 3, "VEC4": 4, "MAT4": 16}


def _noisy_walk(frames: int = 37) -> np.ndarray:
    """A walk whose bone lengths wobble per frame, as a generated motion's do."""
    joints = walk_joints(frames)
    return joints + np.random.default_rng(0).normal(0.0, 0.004, joints.shape)


def _accessor(gltf, index: int) -> np.ndarray:
    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    blob = gltf.binary_blob()
    dtype = _DTYPES[accessor.componentType]
    width = _WIDTH[accessor.type]
    start = view.byteOffset + (accessor.byteOffset or 0)
    data = np.frombuffer(blob, dtype=dtype, count=accessor.count * width, offset=start)
    return data.reshape(accessor.count, width) if width > 1 else data


def _quat_matrix(q: np.ndarray) -> np.ndarray:
    from scipy.spatial.transform import Rotation

    return Rotation.from_quat(q.reshape(-1, 4)).as_matrix().reshape(*q.shape[:-1], 3, 3)


def _tracks(gltf) -> tuple[np.ndarray, dict[int, dict[str, np.ndarray]]]:
    """(key times, {node: {"translation": (T, 3), "rotation": (T, 4)}}) of the first animation."""
    animation = gltf.animations[0]
    tracks: dict[int, dict[str, np.ndarray]] = {}
    times = None
    for channel in animation.channels:
        sampler = animation.samplers[channel.sampler]
        times = _accessor(gltf, sampler.input)
        tracks.setdefault(channel.target.node, {})[channel.target.path] = _accessor(gltf, sampler.output)
    return times, tracks


def _global(gltf, tracks) -> tuple[np.ndarray, np.ndarray]:
    """Forward kinematics of the animated joint nodes: world rotations (T, J, 3, 3), positions (T, J, 3)."""
    joints = gltf.skins[0].joints
    parent = {child: node for node, n in enumerate(gltf.nodes) for child in (n.children or [])}
    frames = len(next(iter(tracks.values()))["rotation"])
    rot = np.zeros((frames, len(gltf.nodes), 3, 3))
    pos = np.zeros((frames, len(gltf.nodes), 3))
    done: set[int] = set()

    def visit(node: int) -> None:
        if node in done:
            return
        local_r = _quat_matrix(tracks[node]["rotation"].astype(np.float64))
        local_t = tracks[node]["translation"].astype(np.float64)
        if node in parent:
            visit(parent[node])
            p = parent[node]
            rot[:, node] = rot[:, p] @ local_r
            pos[:, node] = pos[:, p] + np.einsum("tab,tb->ta", rot[:, p], local_t)
        else:
            rot[:, node], pos[:, node] = local_r, local_t
        done.add(node)

    for node in joints:
        visit(node)
    return rot[:, joints], pos[:, joints]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    joints = _noisy_walk()
    path = write_glb(joints, tmp_path_factory.mktemp("glb") / "walk.glb", name="a person walks")
    return joints, path, pygltflib.GLTF2().load(str(path))


def test_joint_tracks_give_back_the_npy_joints(exported) -> None:
    joints, _, gltf = exported
    times, tracks = _tracks(gltf)
    assert np.allclose(times, np.arange(len(joints)) / FPS, atol=1e-6)
    assert [gltf.nodes[j].name for j in gltf.skins[0].joints] == list(JOINT_NAMES)
    assert sorted(tracks) == list(range(NUM_JOINTS)) and all(set(t) == {"translation", "rotation"}
                                                              for t in tracks.values())
    _, positions = _global(gltf, tracks)
    assert np.abs(positions - joints).max() < 1e-5


def test_skin_gives_back_the_offline_renderers_posed_body(exported) -> None:
    joints, _, gltf = exported
    _, tracks = _tracks(gltf)
    rotations, positions = _global(gltf, tracks)
    primitive = gltf.meshes[0].primitives[0]
    rest_vertices = _accessor(gltf, primitive.attributes.POSITION).astype(np.float64)
    influences = _accessor(gltf, primitive.attributes.JOINTS_0).astype(np.int64)
    weights = _accessor(gltf, primitive.attributes.WEIGHTS_0).astype(np.float64)
    assert np.allclose(weights.sum(axis=1), 1.0, atol=1e-6)
    inverse_bind = _accessor(gltf, gltf.skins[0].inverseBindMatrices).reshape(-1, 4, 4).transpose(0, 2, 1)
    world = np.zeros((len(joints), NUM_JOINTS, 4, 4))
    world[..., :3, :3], world[..., :3, 3], world[..., 3, 3] = rotations, positions, 1.0
    skin = world @ inverse_bind                       # (T, J, 4, 4): glTF's joint matrices
    blended = np.einsum("vk,tvkab->tvab", weights, skin[:, influences])
    posed = np.einsum("tvab,vb->tva", blended[..., :3, :3], rest_vertices) + blended[..., :3, 3]
    expected, mesh = MannequinBody().pose(joints)     # what the MP4 renderer draws
    assert len(rest_vertices) == len(mesh.vertices)
    assert np.abs(posed - expected).max() < 1e-4


def test_file_is_valid_glb_that_trimesh_opens(exported) -> None:
    import trimesh

    joints, path, gltf = exported
    data = path.read_bytes()
    assert data[:4] == b"glTF" and int.from_bytes(data[4:8], "little") == 2
    assert int.from_bytes(data[8:12], "little") == len(data) and len(data) % 4 == 0
    scene = trimesh.load(str(path))
    geometry = list(scene.geometry.values())
    assert len(geometry) == 1 and len(geometry[0].faces) > 1000
    assert gltf.animations[0].name == "a person walks"
    attributes = gltf.meshes[0].primitives[0].attributes
    normals = _accessor(gltf, attributes.NORMAL)
    assert np.allclose(np.linalg.norm(normals, axis=1), 1.0, atol=1e-4)
    colors = _accessor(gltf, attributes.COLOR_0)
    assert colors.min() >= 0.0 and colors.max() <= 1.0 and len(np.unique(colors, axis=0)) == 4


def test_app_downloads_carry_a_glb_next_to_bvh_and_npy(tmp_path) -> None:
    joints = _noisy_walk(12).astype(np.float32)
    motion = Motion("a person walks", np.zeros((3, 6), np.int64), np.zeros((12, 263), np.float32), joints, 12)
    files = write_motion(motion, tmp_path, "original")
    assert set(files) == {"original_npy", "original_bvh", "original_glb"}
    gltf = pygltflib.GLTF2().load(str(files["original_glb"]))
    _, positions = _global(gltf, _tracks(gltf)[1])
    assert np.abs(positions - np.load(files["original_npy"])).max() < 1e-5


def test_cli_writes_a_glb_and_rejects_bad_input_in_one_line(tmp_path, capsys) -> None:
    npy = tmp_path / "walk.npy"
    np.save(npy, walk_joints(10))
    assert main([str(npy), str(tmp_path / "walk.glb")]) == 0
    assert (tmp_path / "walk.glb").read_bytes()[:4] == b"glTF"
    np.save(tmp_path / "bad.npy", np.zeros((10, 21, 3)))
    assert main([str(tmp_path / "bad.npy"), str(tmp_path / "bad.glb")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "(T, 22, 3)" in err and "\n" not in err
    assert not (tmp_path / "bad.glb").exists()
    run = subprocess.run([sys.executable, "-m", "hmu_demo.render.gltf", str(npy), str(tmp_path / "walk.txt")],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "must end in .glb" in run.stderr and "Traceback" not in run.stderr
