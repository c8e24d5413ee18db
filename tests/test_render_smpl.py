"""The SMPL path end to end on a random SMPL-format model written by the test (6890 vertices)."""

from __future__ import annotations

import pickle
import sys
import types

import numpy as np
import pytest
from render_helpers import walk_joints, write_random_smpl_model

from hmu_demo.render import api
from hmu_demo.render.body_smpl import SmplBody, SmplModelError, find_smpl_file, load_smpl_data
from hmu_demo.render.config import RenderConfig
from hmu_demo.render.video import probe


@pytest.fixture(scope="module")
def smpl_dir(tmp_path_factory):
    directory = tmp_path_factory.mktemp("smpl")
    write_random_smpl_model(directory / "SMPL_NEUTRAL.pkl")
    return directory


@pytest.mark.parametrize("suffix", [".pkl", ".npz"])
def test_smpl_ik_reproduces_joints(tmp_path, suffix: str) -> None:
    path = write_random_smpl_model(tmp_path / f"SMPL_NEUTRAL{suffix}")
    body = SmplBody(path)
    joints = walk_joints(12).astype(np.float64)
    assert np.abs(body.posed_joints(joints) - joints).max() < 1e-4
    verts, mesh = body.pose(joints)
    assert verts.shape == (12, 6890, 3) and mesh.faces.shape == (13776, 3)


def test_smpl_scale_follows_the_motion(smpl_dir) -> None:
    body = SmplBody(find_smpl_file(smpl_dir))
    joints = walk_joints(6).astype(np.float64)
    small = joints * 0.5
    assert body.scale_for(joints) == pytest.approx(1.0, rel=1e-3)
    assert np.abs(body.posed_joints(small) - small).max() < 1e-4


def test_smpl_video_end_to_end(smpl_dir, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("HMU_SMPL_DIR", str(smpl_dir))
    out = api.render_video(walk_joints(8), tmp_path / "smpl.mp4", RenderConfig(body="smpl", width=96, height=96))
    info = probe(out)
    assert (info.codec, info.frames, info.width) == ("h264", 8, 96)


def test_missing_smpl_says_where_to_put_files(tmp_path) -> None:
    with pytest.raises(SmplModelError, match="no SMPL model in .*smpl_convert"):
        find_smpl_file(tmp_path / "nothing")


def test_pickles_with_code_are_refused(tmp_path) -> None:
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    path = tmp_path / "SMPL_NEUTRAL.pkl"
    path.write_bytes(pickle.dumps({"v_template": Evil()}))
    with pytest.raises(SmplModelError, match="refusing"):
        load_smpl_data(path)


def test_chumpy_pickle_is_converted_without_chumpy(tmp_path, monkeypatch) -> None:
    from hmu_demo.render.smpl_convert import main as convert_main

    # A stand-in 'chumpy.ch.Ch' exists only while pickling, as on the machine that made the file.
    module = types.ModuleType("chumpy.ch")

    class Ch:
        def __init__(self, x):
            self.x = x

    Ch.__module__, Ch.__qualname__ = "chumpy.ch", "Ch"
    module.Ch = Ch
    monkeypatch.setitem(sys.modules, "chumpy", types.ModuleType("chumpy"))
    monkeypatch.setitem(sys.modules, "chumpy.ch", module)
    plain = write_random_smpl_model(tmp_path / "plain.pkl")
    data = pickle.loads(plain.read_bytes())
    data["shapedirs"] = Ch(data["shapedirs"])
    data["v_template"] = Ch(data["v_template"])
    src = tmp_path / "official.pkl"
    src.write_bytes(pickle.dumps(data, protocol=2))
    monkeypatch.delitem(sys.modules, "chumpy.ch")
    monkeypatch.delitem(sys.modules, "chumpy")

    with pytest.raises(SmplModelError, match="chumpy"):
        load_smpl_data(src)
    dst = tmp_path / "SMPL_NEUTRAL.npz"
    assert convert_main([str(src), str(dst)]) == 0
    converted = load_smpl_data(dst)
    assert converted["shapedirs"].shape == (6890, 3, 10)
    assert converted["J_regressor"].shape == (24, 6890)
