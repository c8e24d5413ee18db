"""StudioService with the real embedded bundle, judge and renderer: compare, cache, safe mode, bad input.

Kept short: 2-second motions, small frames (real pyrender/EGL rendering, 128 px), one service per module.
"""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

from hmu_demo.config import EMBEDDED_DIR
from hmu_demo.motion.bvh import read_bvh_joints
from hmu_demo.prompt import clean_prompt
from hmu_demo.render.config import RenderConfig
from hmu_demo.render.video import probe
from hmu_demo.ui.service import SAFE_MODE_ENV, ServiceConfig, StudioError, StudioService
from hmu_demo.unlearning.edit_io import load_edit

os.environ.setdefault("PYOPENGL_PLATFORM", "egl")  # offscreen Mesa, as tests/render_helpers.py sets it
pytestmark = pytest.mark.skipif(not (EMBEDDED_DIR / "bundle.json").is_file(), reason="embedded bundle missing")

VIOLENT = "a man kicks the door twice"
SAFE = "a person walks forward"
SECONDS = 2.0
FRAMES = int(SECONDS * 20)
SIZE = 128


def _config(**kw) -> ServiceConfig:
    return ServiceConfig(device="cpu", render=RenderConfig(width=SIZE, height=SIZE), **kw)


@pytest.fixture(scope="module")
def service() -> StudioService:
    return StudioService(_config(), safe_mode=False)


@pytest.fixture(scope="module")
def violent(service, tmp_path_factory):
    return service.compare(VIOLENT, seconds=SECONDS, out_dir=tmp_path_factory.mktemp("studio"))


def test_compare_violent_prompt_is_changed_and_judged(violent) -> None:
    assert violent.original.length_frames == violent.unlearned.length_frames == FRAMES
    assert violent.original.joints.shape == violent.unlearned.joints.shape == (FRAMES, 22, 3)
    assert violent.unlearned.gated and not violent.original.gated
    assert violent.changed
    assert violent.original_judge.violent and violent.original_judge.violence > violent.unlearned_judge.violence
    assert 0.0 <= violent.unlearned_judge.violence <= 1.0 and violent.unlearned_judge.action
    assert violent.report.method == "segment-repair" and violent.report.codes
    t = violent.timings
    assert t.generation > 0 and t.judging > 0 and t.rendering > 0 and t.total >= t.rendering


def test_compare_writes_videos_and_downloads(violent, service) -> None:
    sbs, alone = probe(violent.side_by_side_video), probe(violent.original_video)
    assert (sbs.frames, sbs.width, sbs.height, sbs.codec) == (FRAMES, 2 * SIZE, SIZE, "h264")
    assert (alone.frames, alone.width) == (FRAMES, SIZE)
    assert probe(violent.unlearned_video).frames == FRAMES
    for side, motion in (("original", violent.original), ("unlearned", violent.unlearned)):
        np.testing.assert_array_equal(np.load(violent.files[f"{side}_npy"]), motion.joints)
        assert read_bvh_joints(violent.files[f"{side}_bvh"]).shape == (FRAMES, 22, 3)
    assert all(p.parent == violent.folder or p.parent.parent == violent.folder for p in violent.files.values())
    edit, _ = load_edit(service.bundle, violent.files["edit_dir"])
    assert edit.report.codes == violent.report.codes and edit.constraint is not None


def test_same_seed_same_result_and_cached_edit(violent, service) -> None:
    again = service.compare(VIOLENT, seconds=SECONDS, render=False)
    assert again.edit_cached and not violent.edit_cached
    assert again.timings.edit < violent.timings.edit
    np.testing.assert_array_equal(again.original.joints, violent.original.joints)
    np.testing.assert_array_equal(again.unlearned.joints, violent.unlearned.joints)
    assert again.report is violent.report
    first, _ = service.unlearned("lcr-gated", " Violence ")
    assert first is service.unlearned("lcr-gated", "violence", {})[0]


def test_safe_prompt_passes_the_gate_unchanged(service) -> None:
    result = service.compare(SAFE, seconds=SECONDS, render=False)
    assert not result.unlearned.gated and not result.changed
    np.testing.assert_array_equal(result.original.joints, result.unlearned.joints)
    assert result.folder is None and result.side_by_side_video is None


def test_single_generation_matches_the_comparison(violent, service) -> None:
    plain = service.generate(VIOLENT, seconds=SECONDS, render=False)
    gated = service.generate(VIOLENT, seconds=SECONDS, method="segment-repair", render=False)
    np.testing.assert_array_equal(plain.motion.joints, violent.original.joints)
    np.testing.assert_array_equal(gated.motion.joints, violent.unlearned.joints)
    assert plain.method == "original" and plain.report is None and gated.edit_cached


def test_custom_concept_with_uce(service) -> None:
    result = service.compare("a person jumps forward", method="uce", concept="Jump,  hop , leap", seconds=SECONDS,
                             render=False)
    assert result.concept == "jump, hop, leap" and result.report.method == "uce"
    assert result.report.layers and result.changed


def test_safe_mode_never_returns_the_original(violent, monkeypatch, tmp_path) -> None:
    monkeypatch.setenv(SAFE_MODE_ENV, "1")
    safe = StudioService(_config())
    assert safe.safe_mode and not StudioService(_config(), safe_mode=False).safe_mode
    result = safe.compare(VIOLENT, seconds=SECONDS, out_dir=tmp_path)
    assert result.original is None and result.original_judge is None and result.original_video is None
    assert result.side_by_side_video is None and not any(k.startswith("original") for k in result.files)
    np.testing.assert_array_equal(result.unlearned.joints, violent.unlearned.joints)
    assert sorted(p.name for p in result.folder.iterdir()) == ["edit", "unlearned.bvh", "unlearned.glb",
                                                                "unlearned.mp4", "unlearned_joints.npy"]
    for method in (None, "original"):
        with pytest.raises(StudioError, match="safe mode"):
            safe.generate(VIOLENT, seconds=SECONDS, method=method, render=False)


def test_control_characters_are_replaced_by_spaces() -> None:
    assert clean_prompt("a person\x00walks\n\tforward\u200b ") == "a person walks forward"


@pytest.mark.parametrize("kwargs, message", [
    (dict(prompt=" \n\t "), "prompt is empty"),
    (dict(prompt="\x00\x07"), "prompt is empty"),
    (dict(prompt="walk " * 61), "at most 300"),
    (dict(prompt=42), "must be text"),
    (dict(seconds=0), "from 0.2 to 9.8 seconds"),
    (dict(seconds=0.01), "from 0.2 to 9.8 seconds"),
    (dict(seconds=float("nan")), "from 0.2 to 9.8 seconds"),
    (dict(seconds=9.9), "from 0.2 to 9.8 seconds"),
    (dict(seconds="3"), "from 0.2 to 9.8 seconds"),
    (dict(seed=-1), "seed"),
    (dict(backbone="t2m-gpt"), "unknown backbone"),
    (dict(method="erase-all"), "unknown method"),
    (dict(hyperparameters={"alpha": 1.0}), "no hyperparameter alpha"),
    (dict(hyperparameters={"k": -3}), "k must be"),
    (dict(hyperparameters={"threshold": "high"}), "threshold must be a number"),
    (dict(concept=" , "), "concept is empty"),
    (dict(concept="zzqx, qqzz"), "no training motion"),
])
def test_bad_input_gets_a_clear_error(service, violent, kwargs, message) -> None:
    cached = service._edits.keys()
    with pytest.raises(StudioError, match=message) as info:
        service.compare(**{"prompt": VIOLENT, "seconds": SECONDS, "render": False, **kwargs})
    assert "\n" not in str(info.value)
    assert service._edits.keys() == cached  # nothing already made is lost
    assert violent.side_by_side_video.is_file() and violent.files["edit_dir"].is_dir()


def test_missing_checkpoint_folder(tmp_path) -> None:
    broken = StudioService(_config(bundle_dir=tmp_path / "nowhere")).warm_up()  # starts anyway
    assert [p.part for p in broken.problems] == ["models", "code index"]
    with pytest.raises(StudioError, match="nowhere does not exist.*Fix: restore the file"):
        broken.compare("a person walks", seconds=2.0)


def test_edit_cache_is_bounded() -> None:
    small = StudioService(_config(cache_size=1), safe_mode=False)
    first, _ = small.unlearned("lcr", "violence")
    assert small.unlearned("lcr", "violence")[0] is first
    small.unlearned("lcr", "violence", {"k": 4})
    assert small.unlearned("lcr", "violence")[0] is not first


def test_concurrent_requests_share_one_edit(service) -> None:
    got: list = []
    threads = [threading.Thread(target=lambda: got.append(service.unlearned("lcr-orth", "violence")[0]))
               for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 3 and all(b is got[0] for b in got)


def test_code_video_through_an_edit_and_safe_mode_rules(service, tmp_path) -> None:
    _, report = service.unlearned("lcr-nearest")
    replaced = report.flagged[0]
    video = service.code_video(replaced.code, "lcr-nearest", out_dir=tmp_path)
    assert probe(video).frames == 16 and video.parent.parent == tmp_path
    with pytest.raises(StudioError, match="code must be an integer"):
        service.code_video(-1, "lcr-nearest")
    safe = StudioService(_config(), safe_mode=True)
    with pytest.raises(StudioError, match="safe mode"):
        safe.code_video(3, None)
    _, gated = safe.unlearned("lcr-gated")
    with pytest.raises(StudioError, match="flagged"):
        safe.code_video(gated.codes[0], "lcr-gated")
    unflagged = next(c for c in range(512) if c not in set(gated.codes))
    assert probe(safe.code_video(unflagged, "lcr-gated", out_dir=tmp_path)).frames == 16


def test_export_edit_writes_a_new_folder_each_time(service, tmp_path) -> None:
    first, report, _ = service.export_edit("lcr-gated", "jump, hop, leap", out_dir=tmp_path)
    second, _, cached = service.export_edit("lcr-gated", "Jump, hop,  leap", out_dir=tmp_path)
    assert cached and first != second
    assert sorted(p.name for p in first.iterdir()) == ["edit.json", "edit.safetensors"]
    loaded = load_edit(service.bundle, second)[0].report
    assert loaded.codes == report.codes and loaded.concept == report.concept


@pytest.mark.parametrize("method", ["uce", "lcr-gated"])
def test_keywords_matching_most_motions_are_refused(service, method) -> None:
    with pytest.raises(StudioError, match=r"match 100% of the training motions"):
        service.unlearned(method, "a, the, person, man, someone")
    with pytest.raises(StudioError, match="nothing would be left to keep"):
        service.unlearned(method, "person")
    service.unlearned(method, "jump, hop, leap")  # 24 % of the motions: fine
