"""Faults the app must survive: broken checkpoints at start, a renderer that fails, a server killed
mid-request. Each runs the real service or the real ``python app.py``; the faults are real files
(truncated, missing) and a real failing encoder binary."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from hmu_demo.config import EMBEDDED_DIR
from hmu_demo.ui.outputs import STAGING_PREFIX
from hmu_demo.ui.service import ServiceConfig, StudioError, StudioService
from app_helpers import start_app

VIOLENT = "a man punches and then kicks"


def broken_bundle(tmp: Path, missing: tuple[str, ...] = (), corrupt: tuple[str, ...] = ()) -> Path:
    """The shipped bundle as links, with some files removed and some truncated to 100 bytes."""
    folder = tmp / "bundle"
    folder.mkdir(parents=True)
    for src in EMBEDDED_DIR.iterdir():
        if src.is_file() and src.name not in missing:
            (folder / src.name).symlink_to(src)
    for name in corrupt:
        (folder / name).unlink()
        (folder / name).write_bytes((EMBEDDED_DIR / name).read_bytes()[:100])
    return folder


def _service(bundle_dir: Path, judge_dir: Path | None = None) -> StudioService:
    return StudioService(ServiceConfig(bundle_dir=bundle_dir, judge_dir=judge_dir), safe_mode=False).warm_up()


@pytest.mark.slow
def test_optional_parts_missing_leave_the_rest_working(tmp_path) -> None:
    bundle = broken_bundle(tmp_path, missing=("length.safetensors",), corrupt=("bamm.safetensors",))
    service = _service(bundle, judge_dir=tmp_path / "no_judge")
    problems = {p.part: p.message() for p in service.problems}
    assert list(problems) == ["BAMM weights", "length estimator", "judge"]
    assert "bamm.safetensors" in problems["BAMM weights"] and "corrupt" in problems["BAMM weights"]
    assert "length.safetensors is missing" in problems["length estimator"]
    assert "judge.json is missing" in problems["judge"] and "python -m hmu_demo.train.judge" in problems["judge"]
    assert all("Fix:" in m for m in problems.values())
    assert service.backbones() == ["momask"]
    result = service.compare(VIOLENT, seconds=2.0, render=False)  # MoMask, no judge, given length
    assert result.unlearned.length_frames == 40 and result.original_judge is None and result.unlearned_judge is None
    with pytest.raises(StudioError, match="set the length in seconds"):
        service.compare(VIOLENT, render=False)
    with pytest.raises(StudioError, match="unknown backbone 'bamm'"):
        service.compare(VIOLENT, backbone="bamm", seconds=2.0, render=False)


def test_a_corrupt_core_file_is_named_with_its_fix(tmp_path) -> None:
    service = _service(broken_bundle(tmp_path, corrupt=("vq.safetensors",)))
    assert [p.part for p in service.problems] == ["models"]
    assert service.backbones() == ["momask"]  # the page can still be built
    for call in (lambda: service.compare(VIOLENT, seconds=2.0), lambda: service.generate(VIOLENT, seconds=2.0)):
        with pytest.raises(StudioError, match=r"vq\.safetensors.*Fix: .*git checkout -- checkpoints/embedded"):
            call()


def test_a_missing_code_index_disables_only_unlearning(tmp_path) -> None:
    service = _service(broken_bundle(tmp_path, missing=("code_index.json.gz",)))
    assert [p.part for p in service.problems] == ["code index"]
    assert service.generate("a person walks forward", seconds=2.0, render=False).motion.length_frames == 40
    with pytest.raises(StudioError, match=r"code_index\.json\.gz does not exist.*every unlearning method"):
        service.compare(VIOLENT, seconds=2.0, render=False)


@pytest.mark.slow
@pytest.mark.e2e
def test_app_starts_with_a_corrupt_checkpoint_and_says_which(tmp_path) -> None:
    from gradio_client import Client
    from gradio_client.exceptions import AppError

    bundle = broken_bundle(tmp_path, corrupt=("vq.safetensors",))
    app = start_app(tmp_path / "run", "--bundle", str(bundle), "--judge", str(tmp_path / "no_judge"), "--no-warm-up")
    try:
        log = app.log_text()
        assert f"{bundle / 'vq.safetensors'}" in log and "judge.json is missing" in log and "Fix:" in log
        with urllib.request.urlopen(app.url + "config", timeout=10) as response:
            page = response.read().decode("utf-8")
        assert "startup-problems" in page and "vq.safetensors" in page  # the banner on the page
        client = Client(app.url, verbose=False)
        with pytest.raises(AppError, match=r"vq\.safetensors"):
            client.predict(VIOLENT, "momask", "lcr-gated", 0, 2.0, "violence", "{}", api_name="/compare")
        assert app.proc.poll() is None
    finally:
        app.stop()


@pytest.fixture(scope="module")
def broken_encoder_app(tmp_path_factory):
    """The app with an ffmpeg that always fails: every render fails at the encoder."""
    tmp = tmp_path_factory.mktemp("render_fault")
    ffmpeg = tmp / "ffmpeg"
    ffmpeg.write_text("#!/bin/sh\necho 'ffmpeg: simulated encoder failure' >&2\nexit 1\n")
    ffmpeg.chmod(0o755)
    app = start_app(tmp, "--no-warm-up", IMAGEIO_FFMPEG_EXE=str(ffmpeg))
    yield app, tmp / "outputs"
    app.stop()


def _joints(path: str) -> np.ndarray:
    joints = np.load(path)
    assert joints.ndim == 3 and joints.shape[1:] == (22, 3) and np.isfinite(joints).all()
    return joints


@pytest.mark.slow
@pytest.mark.e2e
def test_a_failed_render_still_gives_the_motion_files(broken_encoder_app) -> None:
    from gradio_client import Client

    app, outputs = broken_encoder_app
    client = Client(app.url, verbose=False)
    job = client.submit(VIOLENT, "momask", "original", 0, 2.0, "violence", "{}", api_name="/generate")
    video, judge, npy, bvh = job.result(timeout=120)
    assert video is None and judge is not None
    assert _joints(npy).shape[0] == 40 and Path(bvh).read_text().startswith("HIERARCHY")
    composite, original, unlearned, judge_o, judge_u = client.predict(
        VIOLENT, "momask", "lcr-gated", 0, 2.0, "violence", "{}", api_name="/compare")
    assert composite is None and original is None and unlearned is None and judge_u is not None
    folders = sorted(p for p in outputs.iterdir() if p.is_dir())
    last = max(folders, key=lambda p: p.stat().st_mtime)
    assert sorted(p.name for p in last.iterdir()) == ["edit", "original.bvh", "original.glb", "original_joints.npy",
                                                      "unlearned.bvh", "unlearned.glb", "unlearned_joints.npy"]
    assert "rendering failed" in app.log_text() and "simulated encoder failure" in app.log_text()
    assert app.proc.poll() is None


def _check_complete(folder: Path) -> None:
    """Every file of a published call folder is whole: joints load, BVH ends its motion, the edit loads."""
    from hmu_demo.render.video import probe
    from hmu_demo.unlearning.edit_io import EDIT_JSON, EDIT_WEIGHTS, read_edit_meta
    from safetensors.torch import load_file

    for npy in folder.glob("*.npy"):
        _joints(str(npy))
    for video in folder.glob("*.mp4"):
        assert probe(video).frames > 0
    edit = folder / "edit"
    if edit.exists():
        meta = read_edit_meta(edit)
        assert sorted(p.name for p in edit.iterdir()) == [EDIT_JSON, EDIT_WEIGHTS] and meta["weights_sha256"]
        load_file(str(edit / EDIT_WEIGHTS))


@pytest.mark.slow
@pytest.mark.e2e
def test_killing_the_server_mid_request_leaves_no_half_written_result(tmp_path) -> None:
    from gradio_client import Client

    app = start_app(tmp_path, "--no-warm-up")
    outputs = tmp_path / "outputs"
    try:
        client = Client(app.url, verbose=False)
        client.predict(VIOLENT, "momask", "lcr-gated", 1, 2.0, "violence", "{}", api_name="/compare")
        finished = [p for p in outputs.iterdir() if not p.name.startswith(".")]
        client.submit(VIOLENT, "momask", "lcr", 2, 9.8, "violence", "{}", api_name="/compare")
        deadline, partial = time.monotonic() + 120, None
        while partial is None and time.monotonic() < deadline:  # wait until it is writing its videos
            partial = next((p for p in outputs.glob(STAGING_PREFIX + "*")
                            if any(f.stat().st_size for f in p.glob("*.mp4"))), None)
            time.sleep(0.02)
        assert partial is not None, app.log_text()[-2000:]
        os.kill(app.proc.pid, signal.SIGKILL)
        app.proc.wait(timeout=10)
    finally:
        app.stop()
    assert partial.exists()  # killed mid-request: the unfinished call is still hidden, not published
    assert [p for p in outputs.iterdir() if not p.name.startswith(".")] == finished
    restarted = start_app(tmp_path)  # the warm-up comparison writes (and first clears) the folder
    try:
        restarted.wait_warm()
        assert not list(outputs.glob(STAGING_PREFIX + "*"))
        published = [p for p in outputs.iterdir() if p.is_dir()]
        assert len(published) == 2
        for folder in published:
            _check_complete(folder)
        client = Client(restarted.url, verbose=False)
        assert client.predict(VIOLENT, "momask", "lcr", 2, 2.0, "violence", "{}", api_name="/compare")[2]
    finally:
        restarted.stop()
    assert json.loads((published[0] / "edit" / "edit.json").read_text())["format"] == "hmu-edit"
