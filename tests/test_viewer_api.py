"""The fast sibling of ``/compare``: ``/compare_motion`` returns the 3D viewer's JSON (joints, rotations,
mesh, per-frame violence) and both judges, with no video; ``/compare`` still returns the videos."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hmu_demo.config import EMBEDDED_DIR
from hmu_demo.motion.skeleton import NUM_JOINTS

PROMPT = "a man punches and then kicks"

pytestmark = [pytest.mark.slow, pytest.mark.e2e,
              pytest.mark.skipif(not (EMBEDDED_DIR / "bundle.json").is_file(), reason="embedded bundle missing")]


def test_fast_endpoint_returns_joints_and_judges(app, client) -> None:
    outputs = app.log.parent / "outputs"
    before = set(outputs.iterdir()) if outputs.is_dir() else set()
    text, original_judge, unlearned_judge = client.predict(PROMPT, "momask", "lcr-gated", 3, 2.0, "violence", "{}",
                                                           api_name="/compare_motion")
    payload = json.loads(text)
    assert [b["label"] for b in payload["bodies"]] == ["original", "unlearned"] and payload["prompt"] == PROMPT
    assert all(len(b["joints"]) == 40 * NUM_JOINTS * 3 and len(b["violence"]) == 40 for b in payload["bodies"])
    assert original_judge["label"].startswith(("violent", "safe")) and unlearned_judge["label"]
    # the call wrote the motion files (NPY, BVH, glTF) but no video
    new = [p for p in outputs.iterdir() if p not in before and (p / "original_joints.npy").is_file()]
    assert len(new) == 1, new
    names = sorted(p.name for p in new[0].iterdir())
    assert {"original.glb", "unlearned.glb", "original.bvh", "unlearned_joints.npy"} <= set(names)
    assert not any(n.endswith(".mp4") for n in names)
    for body in payload["bodies"]:
        joints = np.load(new[0] / f"{body['label']}_joints.npy")
        assert np.abs(np.array(body["joints"]).reshape(joints.shape) - joints).max() <= 5e-4 + 1e-6
    composite, original, _, judge_o, judge_u = client.predict(PROMPT, "momask", "lcr-gated", 3, 2.0, "violence",
                                                              "{}", api_name="/compare")
    assert composite.endswith(".mp4") and original.endswith(".mp4")
    assert judge_o["label"] == original_judge["label"] and judge_u["label"] == unlearned_judge["label"]
