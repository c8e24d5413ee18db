"""What the server sends the 3D viewer: decodable, compact, and exactly the offline renderer's body."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from render_helpers import walk_joints

from hmu_demo.motion.skeleton import NUM_JOINTS
from hmu_demo.render.api import pose_body
from hmu_demo.render.body_default import STYLE_TEAL, MannequinBody
from hmu_demo.render.skinned import skinned_clip
from hmu_demo.ui.viewer import STATIC_DIR, THREE_VERSION, body_payload
from hmu_demo.ui.warmup import WarmUpState


def _array(text: str, dtype) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.dtype(dtype).newbyteorder("<"))


def _skin(body: dict, frame: int) -> np.ndarray:
    """Pose the sent mesh as the browser does: bone world matrix [R | p] times inverse bind translate(-rest)."""
    from scipy.spatial.transform import Rotation

    mesh = body["mesh"]
    vertices = _array(mesh["vertices"], np.float32).reshape(-1, 3).astype(np.float64)
    joints = _array(mesh["skin_joints"], np.uint8).reshape(-1, 4).astype(np.int64)
    weights = _array(mesh["skin_weights"], np.float32).reshape(-1, 4).astype(np.float64)
    rest = np.array(body["rest"]).reshape(NUM_JOINTS, 3)
    positions = np.array(body["joints"]).reshape(-1, NUM_JOINTS, 3)[frame]
    rotations = Rotation.from_quat(np.array(body["rotations"]).reshape(-1, NUM_JOINTS, 4)[frame]).as_matrix()
    offsets = vertices[:, None, :] - rest[joints]                                   # (V, 4, 3): x - rest_j
    picked = np.einsum("vkab,vkb->vka", rotations[joints], offsets) + positions[joints]
    return np.einsum("vk,vka->va", weights, picked)


@pytest.fixture(scope="module")
def body():
    joints = walk_joints(30) + np.random.default_rng(1).normal(0, 0.003, (30, NUM_JOINTS, 3))
    return joints, body_payload("unlearned", joints)


def test_payload_is_compact_json_with_rounded_joints(body) -> None:
    joints, payload = body
    text = json.dumps(payload, separators=(",", ":"))
    assert len(text) < 200_000, len(text)          # ~2k-vertex mesh + 30 frames
    sent = np.array(payload["joints"]).reshape(joints.shape)
    assert np.abs(sent - joints).max() <= 5e-4 + 1e-9
    quats = np.array(payload["rotations"]).reshape(len(joints), NUM_JOINTS, 4)
    assert np.allclose(np.linalg.norm(quats, axis=-1), 1.0, atol=5e-4)
    assert np.all(np.sum(quats[1:] * quats[:-1], axis=-1) > 0), "sign-continuous for interpolation"
    assert payload["frames"] == len(joints) and payload["label"] == "unlearned"
    assert payload["color"] == "#%02x%02x%02x" % tuple(int(round(c * 255)) for c in STYLE_TEAL.shirt)


def test_browser_skinning_of_the_payload_gives_the_offline_body(body) -> None:
    joints, payload = body
    expected, _ = MannequinBody(STYLE_TEAL).pose(joints)
    for frame in (0, 11, 29):
        assert np.abs(_skin(payload, frame) - expected[frame]).max() < 3e-3   # mm-rounded joints, 1e-4 quats
    mesh = payload["mesh"]
    faces = _array(mesh["faces"], np.uint16 if mesh["index_type"] == "uint16" else np.uint32)
    assert faces.max() < mesh["vertex_count"] and len(faces) % 3 == 0
    assert len(_array(mesh["colors"], np.uint8)) == 3 * mesh["vertex_count"]


def test_floor_offset_is_the_offline_renderers(body) -> None:
    joints, payload = body
    posed = pose_body(joints, MannequinBody())
    assert payload["floor"] == pytest.approx(posed.joints[0, 0, 1] - joints[0, 0, 1], abs=1e-4)
    assert skinned_clip(joints).frames == len(joints)


def test_vendored_three_is_the_pinned_release_with_its_licence() -> None:
    vendor = STATIC_DIR / "vendor" / "three"
    assert (vendor / "VERSION").read_text().strip() == THREE_VERSION
    assert "MIT License" in (vendor / "LICENSE").read_text()
    module = (vendor / "three.module.min.js").read_text()
    assert "Copyright 2010-2025 Three.js Authors" in module[:200] and 'from"./three.core.min.js"' in module
    assert "from './three.module.min.js'" in (vendor / "OrbitControls.js").read_text()
    viewer = (STATIC_DIR / "viewer.js").read_text()
    assert "http" not in viewer.split("import { OrbitControls")[0], "no network import"


def test_warm_up_state_says_warming_until_the_comparison_path_is_ready() -> None:
    state = WarmUpState()
    assert state.message() == "" and not state.warming
    state.mark("started")
    assert state.warming and "Warming up" in state.message()
    state.mark("ready")
    assert not state.warming and state.message() == ""
    failed = WarmUpState()
    failed.mark("started")
    failed.mark("done", error="no judge")
    assert "no judge" in failed.message()
