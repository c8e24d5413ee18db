"""The page's path through StudioService: motions and files first (no video), the MP4s on demand in a call
folder of their own, and the 3D viewer's JSON of the very motions written to disk. Real embedded models,
judge and renderer; 2-second motions, 128 px frames."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from hmu_demo.config import EMBEDDED_DIR
from hmu_demo.render.config import RenderConfig
from hmu_demo.render.video import probe
from hmu_demo.ui.handlers import StudioHandlers
from hmu_demo.ui.service import ServiceConfig, StudioService
from hmu_demo.ui.videos import has_videos

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
pytestmark = pytest.mark.skipif(not (EMBEDDED_DIR / "bundle.json").is_file(), reason="embedded bundle missing")

VIOLENT = "a man kicks the door twice"


@pytest.fixture(scope="module")
def handlers(tmp_path_factory) -> StudioHandlers:
    config = ServiceConfig(device="cpu", render=RenderConfig(width=128, height=128),
                           output_dir=tmp_path_factory.mktemp("viewer_service"))
    return StudioHandlers(StudioService(config, safe_mode=False))


def test_fast_path_writes_files_then_videos_come_on_demand(handlers) -> None:
    text, judge_o, judge_u, result = handlers.compare_motion(VIOLENT, "momask", "lcr-gated", 0, 2.0)
    assert not has_videos(result) and result.side_by_side_video is None and result.timings.rendering == 0
    names = sorted(p.name for p in result.folder.iterdir())
    assert names == ["edit", "original.bvh", "original.glb", "original_joints.npy", "unlearned.bvh", "unlearned.glb",
                     "unlearned_joints.npy"]
    payload = json.loads(text)
    for body in payload["bodies"]:
        joints = np.load(result.folder / f"{body['label']}_joints.npy")
        assert np.abs(np.array(body["joints"]).reshape(joints.shape) - joints).max() <= 5e-4 + 1e-6
    assert payload["timings"]["generation"] == pytest.approx(result.timings.generation, abs=1e-4)
    assert judge_o and any(body["judge"]["action"] in headline for headline in judge_u)

    composite, original, unlearned = handlers.render_videos(result)
    assert has_videos(result) and result.timings.rendering > 0 and not result.render_error
    folder = result.side_by_side_video.parent
    assert folder != result.folder and sorted(p.name for p in folder.iterdir()) == [
        "original.mp4", "side_by_side.mp4", "unlearned.mp4"]
    assert probe(composite).width == 2 * probe(original).width and probe(unlearned).frames == 40
    assert handlers.render_videos(result) == (composite, original, unlearned), "rendered once"
    files = handlers.downloads(result)
    assert [f for f in files if f.endswith(".mp4")] == [composite, original, unlearned]
    assert sum(f.endswith(".glb") for f in files) == 2


def test_safe_mode_viewer_sends_only_the_unlearned_body(tmp_path) -> None:
    config = ServiceConfig(device="cpu", render=RenderConfig(width=128, height=128), output_dir=tmp_path)
    safe = StudioHandlers(StudioService(config, safe_mode=True))
    text, judge_o, judge_u, result = safe.compare_motion(VIOLENT, "momask", "segment-repair", 0, 2.0)
    payload = json.loads(text)
    assert [b["label"] for b in payload["bodies"]] == ["unlearned"] and judge_o is None and judge_u
    assert not any(p.name.startswith("original") for p in result.folder.iterdir())
    composite, original, unlearned = safe.render_videos(result)
    assert composite is None and original is None and unlearned.endswith("unlearned.mp4")
