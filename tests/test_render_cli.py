"""The render CLI: outputs, and one-line errors with exit code 2 for bad input."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from render_helpers import walk_joints

from hmu_demo.motion.bvh import read_bvh_joints
from hmu_demo.render.__main__ import main
from hmu_demo.render.video import probe

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def walk_file(tmp_path) -> Path:
    path = tmp_path / "walk.npy"
    np.save(path, walk_joints(10))
    return path


def test_cli_writes_video_bvh_npy(walk_file: Path, tmp_path, capsys) -> None:
    out, bvh, npy = tmp_path / "v.mp4", tmp_path / "m.bvh", tmp_path / "j.npy"
    code = main([str(walk_file), "--out", str(out), "--body", "skeleton", "--size", "96", "--caption", "walk",
                 "--bvh", str(bvh), "--npy", str(npy)])
    assert code == 0
    assert probe(out).frames == 10
    assert np.abs(read_bvh_joints(bvh) - np.load(walk_file)).max() < 1e-3
    assert np.array_equal(np.load(npy), np.load(walk_file))
    assert "wrote" in capsys.readouterr().out


def test_cli_side_by_side(walk_file: Path, tmp_path) -> None:
    other = tmp_path / "other.npy"
    np.save(other, walk_joints(6, turn=-1.0))
    out = tmp_path / "pair.mp4"
    assert main([str(walk_file), "--out", str(out), "--side-by-side", str(other), "--body", "skeleton",
                 "--size", "64"]) == 0
    info = probe(out)
    assert (info.width, info.height, info.frames) == (128, 64, 10)


def _bad_inputs(tmp_path: Path) -> dict[str, tuple[Path, str]]:
    wrong = tmp_path / "wrong.npy"
    np.save(wrong, np.zeros((5, 21, 3)))
    nan = tmp_path / "nan.npy"
    arr = walk_joints(5)
    arr[2, 3, 0] = np.nan
    np.save(nan, arr)
    junk = tmp_path / "junk.npy"
    junk.write_text("not an array")
    return {"missing": (tmp_path / "nope.npy", "no such file"), "shape": (wrong, "shape (T, 22, 3)"),
            "nan": (nan, "NaN"), "junk": (junk, "not a readable")}


@pytest.mark.parametrize("case", ["missing", "shape", "nan", "junk"])
def test_cli_bad_input_exit_2_one_line(case: str, tmp_path, capsys) -> None:
    path, expected = _bad_inputs(tmp_path)[case]
    out = tmp_path / "x.mp4"
    assert main([str(path), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert expected in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()


def test_cli_smpl_without_files(walk_file: Path, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setenv("HMU_SMPL_DIR", str(tmp_path / "smpl"))
    assert main([str(walk_file), "--out", str(tmp_path / "x.mp4"), "--body", "smpl"]) == 2
    err = capsys.readouterr().err
    assert "no SMPL model in" in err and str(tmp_path / "smpl") in err and "Traceback" not in err


def test_cli_subprocess_no_traceback(tmp_path) -> None:
    result = subprocess.run([sys.executable, "-m", "hmu_demo.render", str(tmp_path / "none.npy"), "--out",
                             str(tmp_path / "x.mp4")], capture_output=True, text=True, cwd=REPO, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().startswith("error:") and "Traceback" not in result.stderr
