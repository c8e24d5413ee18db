"""Rendered videos: codec, size, frame count, non-blank moving body, side-by-side, threads, fallback."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from render_helpers import walk_joints

from hmu_demo.render import api
from hmu_demo.render.config import RenderConfig
from hmu_demo.render.gl import RenderBackendError
from hmu_demo.render.video import probe, read_frames, write_mp4

SIZE = 128
SMALL = dict(width=SIZE, height=SIZE)


def _shirt_mask(frame: np.ndarray) -> np.ndarray:
    """Pixels of the default (blue) shirt: clearly bluer than red."""
    f = frame.astype(int)
    return (f[..., 2] - f[..., 0] > 60) & (f[..., 2] > 90)


@pytest.fixture(scope="module")
def walk() -> np.ndarray:
    return walk_joints(24)


@pytest.fixture(scope="module")
def default_frames(walk: np.ndarray) -> list[np.ndarray]:
    return list(api.motion_frames(walk, RenderConfig(**SMALL)))


def test_mp4_is_browser_playable_h264(walk: np.ndarray, tmp_path) -> None:
    out = api.render_video(walk, tmp_path / "walk.mp4", RenderConfig(**SMALL))
    info = probe(out)
    assert (info.codec, info.pix_fmt) == ("h264", "yuv420p")
    assert (info.width, info.height) == (SIZE, SIZE)
    assert info.fps == pytest.approx(20.0)
    assert info.frames == len(walk)
    decoded = list(read_frames(out))
    assert len(decoded) == len(walk) and decoded[0].shape == (SIZE, SIZE, 3)
    assert not list(tmp_path.glob(".*partial*")), "temporary file left behind"


def test_body_is_visible_and_moves(default_frames: list[np.ndarray]) -> None:
    assert len(default_frames) == 24
    first, later = default_frames[0], default_frames[12]
    assert first.shape == (SIZE, SIZE, 3) and first.dtype == np.uint8
    for frame in (first, later):
        assert _shirt_mask(frame).sum() > 40, "no shirt pixels: the body is not drawn"
        assert frame.std() > 10, "frame is nearly uniform"
    moved = np.abs(first.astype(int) - later.astype(int)).mean()
    assert moved > 1.0, "frames do not change while the body walks"


def test_body_stands_on_floor_and_is_centred(default_frames: list[np.ndarray]) -> None:
    ys, xs = np.nonzero(_shirt_mask(default_frames[12]))
    assert SIZE * 0.2 < xs.mean() < SIZE * 0.8
    assert SIZE * 0.1 < ys.mean() < SIZE * 0.7


def test_skeleton_body_colours_left_and_right(walk: np.ndarray) -> None:
    frame = next(iter(api.motion_frames(walk, RenderConfig(body="skeleton", **SMALL))))
    f = frame.astype(int)
    red = (f[..., 0] - f[..., 2] > 80).sum()
    blue = (f[..., 2] - f[..., 0] > 80).sum()
    assert red > 20 and blue > 20


def test_caption_is_burned_in(walk: np.ndarray, default_frames: list[np.ndarray]) -> None:
    captioned = next(iter(api.motion_frames(walk[:2], RenderConfig(caption="a person walks", **SMALL))))
    plain = next(iter(api.motion_frames(walk[:2], RenderConfig(**SMALL))))
    band = slice(int(SIZE * 0.85), SIZE)
    assert captioned[band].mean() < plain[band].mean() - 20  # dark band
    assert (captioned[band] > 240).all(axis=-1).sum() > 10  # white letters


def test_side_by_side_layout_sync_and_padding(tmp_path) -> None:
    long, short = walk_joints(16), walk_joints(10, turn=-1.0)
    config = RenderConfig(body="skeleton", **SMALL)
    frames = list(api.comparison_frames(long, short, config))
    assert len(frames) == 16
    assert frames[0].shape == (SIZE, 2 * SIZE, 3)
    right = [f[:, SIZE + 2:] for f in frames]
    # The shorter clip holds its last frame; the longer one keeps moving.
    for t in range(10, 16):
        assert np.array_equal(right[t], right[9])
    assert not np.array_equal(frames[15][:, :SIZE - 2], frames[9][:, :SIZE - 2])
    out = api.render_side_by_side(long, short, tmp_path / "pair.mp4", config)
    info = probe(out)
    assert (info.width, info.height, info.frames, info.codec) == (2 * SIZE, SIZE, 16, "h264")


def test_comparison_writes_composite_and_both_halves_from_one_pass(tmp_path) -> None:
    long, short = walk_joints(12), walk_joints(8, turn=-1.0)
    config = RenderConfig(caption="a person walks", **SMALL)
    paths = api.render_comparison(long, short, tmp_path / "pair.mp4", tmp_path / "a.mp4", tmp_path / "b.mp4", config)
    infos = [probe(p) for p in paths]
    assert [(i.width, i.height, i.frames) for i in infos] == [(2 * SIZE, SIZE, 12), (SIZE, SIZE, 12), (SIZE, SIZE, 12)]
    composite = list(read_frames(paths[0]))[6].astype(int)
    left, right = (list(read_frames(p))[6].astype(int) for p in paths[1:])
    # The singles are the composite's halves (away from the divider and the caption band).
    body = slice(0, SIZE * 3 // 4)
    assert np.abs(composite[body, 4:SIZE - 4] - left[body, 4:SIZE - 4]).mean() < 6
    assert np.abs(composite[body, SIZE + 4:-4] - right[body, 4:SIZE - 4]).mean() < 6
    assert np.abs(left - right).mean() > 1.0


def test_failed_encoding_leaves_the_earlier_video(walk: np.ndarray, tmp_path) -> None:
    out = api.render_video(walk, tmp_path / "walk.mp4", RenderConfig(**SMALL))
    before = out.read_bytes()

    def broken():
        yield from api.motion_frames(walk[:4], RenderConfig(**SMALL))
        raise RuntimeError("render failed mid-clip")

    with pytest.raises(RuntimeError, match="mid-clip"):
        write_mp4(broken(), out)
    assert out.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["walk.mp4"]


def test_side_by_side_same_camera_and_scale() -> None:
    joints = walk_joints(6)
    frame = next(iter(api.comparison_frames(joints, joints, RenderConfig(body="skeleton", **SMALL),
                                            labels=("", ""))))
    left, right = frame[:, 1:SIZE - 1].astype(int), frame[:, SIZE + 1:2 * SIZE - 1].astype(int)
    assert np.abs(left - right).mean() < 1.0


def test_side_by_side_labels_drawn() -> None:
    joints = walk_joints(4)
    labelled = next(iter(api.comparison_frames(joints, joints, RenderConfig(body="skeleton", **SMALL))))
    plain = next(iter(api.comparison_frames(joints, joints, RenderConfig(body="skeleton", **SMALL),
                                            labels=("", ""))))
    corner = (slice(0, SIZE // 6), slice(0, SIZE // 3))
    for offset in (0, SIZE):
        region = (corner[0], slice(corner[1].start + offset, corner[1].stop + offset))
        assert np.abs(labelled[region].astype(int) - plain[region].astype(int)).mean() > 20


def test_renders_from_worker_threads() -> None:
    joints = walk_joints(4)
    results: list[object] = []

    def work() -> None:
        try:
            results.append(len(list(api.motion_frames(joints, RenderConfig(body="skeleton", **SMALL)))))
        except Exception as exc:  # pragma: no cover - reported below
            results.append(exc)

    threads = [threading.Thread(target=work) for _ in range(2)]
    for thread in threads:
        thread.start()
        thread.join()
    assert results == [4, 4]


def test_falls_back_to_matplotlib_without_gl(monkeypatch) -> None:
    def no_gl(*args, **kwargs):
        raise RenderBackendError("no EGL here")
        yield  # pragma: no cover

    monkeypatch.setattr(api, "render_panels", no_gl)
    frames = list(api.motion_frames(walk_joints(3), RenderConfig(**SMALL)))
    assert len(frames) == 3 and frames[0].shape == (SIZE, SIZE, 3)
    assert frames[0].std() > 5


def test_preview_frame_matches_video_frame(walk: np.ndarray, default_frames: list[np.ndarray]) -> None:
    frame = api.preview_frame(walk, 12, RenderConfig(**SMALL))
    # Same pose, camera and floor contact; only shadow-texture sampling may differ slightly.
    assert np.abs(frame.astype(int) - default_frames[12].astype(int)).mean() < 1.5
