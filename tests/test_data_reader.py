"""HumanML3D-layout reader and caption lines: shapes, laziness, and errors that name the file."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hmu_demo.data.captions import Caption, format_caption_line, parse_caption_line
from hmu_demo.data.humanml3d import DatasetError, MotionDataset, MotionRecord

# -- captions ----------------------------------------------------------------------------------


def test_parse_caption_line_fields() -> None:
    line = "a man kicks something with his left leg.#a/DET man/NOUN kick/VERB something/PRON#0.0#0.0\n"
    caption = parse_caption_line(line)
    assert caption.text == "a man kicks something with his left leg."
    assert caption.tokens == ("a/DET", "man/NOUN", "kick/VERB", "something/PRON")
    assert caption.is_whole_clip
    assert caption.frame_span(120) == (0, 120)


def test_caption_round_trip() -> None:
    for line in (
        "a person jumps.#a/DET person/NOUN jump/VERB#0.0#0.0",
        "he waves then sits#he/PRON wave/VERB then/ADV sit/VERB#1.5#4.25",
        "no tokens here##0.0#2.0",
    ):
        caption = parse_caption_line(line)
        assert format_caption_line(caption) == line
        assert parse_caption_line(format_caption_line(caption)) == caption


def test_caption_nan_and_span() -> None:
    caption = parse_caption_line("walks#walk/VERB#nan#nan")
    assert caption.start == 0.0 and caption.end == 0.0 and caption.is_whole_clip
    assert parse_caption_line("walks#walk/VERB#NaN#NaN") == caption
    part = parse_caption_line("walks#walk/VERB#1.03#3.49")
    assert not part.is_whole_clip
    assert part.frame_span(200) == (int(1.03 * 20), int(3.49 * 20))
    assert part.frame_span(50) == (20, 50)  # clamped to the clip
    assert parse_caption_line("walks#walk/VERB#nan#2.0").frame_span(100) == (0, 40)
    assert Caption("walks", (), math.nan, math.nan) == Caption("walks")


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("a man walks#a/DET man/NOUN#0.0", "3 '#'-separated field(s), expected 4"),
        ("a man walks", "1 '#'-separated field(s), expected 4"),
        ("a # man walks#a/DET#0.0#0.0", "5 '#'-separated field(s), expected 4"),
        ("a man walks#a/DET#zero#0.0", "start time 'zero' is not a number"),
        ("a man walks#a/DET#0.0#", "end time '' is not a number"),
        ("#a/DET#0.0#0.0", "caption text is empty"),
        ("   ", "caption line is empty"),
    ],
)
def test_parse_caption_line_errors(line: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        parse_caption_line(line)


def test_caption_rejects_unwritable_text() -> None:
    with pytest.raises(ValueError, match="'#'"):
        Caption("kick # punch")
    with pytest.raises(ValueError, match="empty"):
        Caption("  ")


# -- reader ------------------------------------------------------------------------------------


def test_reader_reads_everything(make_humanml3d) -> None:
    root = make_humanml3d(
        {"000001": ["a person kicks.", "someone kicks with the left leg#x/X#0.5#1.5"], "M000001": ["a person walks."]},
        splits={"train_val": ["000001", "M000001"], "test": ["M000001"], "kw_splits/test-w-violence": ["000001"]},
        n_frames={"000001": 60, "M000001": 30},
        labels=[{"id": "000001", "violent": True}],
    )
    data = MotionDataset(root)
    assert data.split_ids("train_val") == ["000001", "M000001"]
    assert data.split_ids("kw_splits/test-w-violence.txt") == ["000001"]
    assert data.split_ids("kw_splits/test-w-violence") == ["000001"]
    assert data.split_ids(root / "test.txt") == ["M000001"]
    captions = data.captions("000001")
    assert [c.text for c in captions] == ["a person kicks.", "someone kicks with the left leg"]
    assert captions[1].frame_span(60) == (10, 30)
    features = data.features("000001")
    assert features.shape == (60, 263) and features.dtype == np.float32
    joints = data.joints("M000001")
    assert joints.shape == (30, 22, 3) and joints.dtype == np.float32
    mean, std = data.statistics()
    assert mean.shape == std.shape == (263,)
    assert data.labels() == {"000001": {"id": "000001", "violent": True}}
    records = list(data.records("train_val", with_joints=True))
    assert [r.id for r in records] == ["000001", "M000001"]
    assert isinstance(records[0], MotionRecord) and records[0].joints is not None
    assert records[1].features.shape == (30, 263) and records[1].captions[0].text == "a person walks."
    assert next(data.records("test")).joints is None


def test_labels_absent_is_none(make_humanml3d) -> None:
    assert MotionDataset(make_humanml3d({"a": ["walks"]})).labels() is None


def test_reader_is_lazy(make_humanml3d) -> None:
    root = make_humanml3d({"good": ["walks"], "bad": ["runs"]})
    (root / "new_joint_vecs" / "bad.npy").write_bytes(b"not an npy file")
    (root / "texts" / "bad.txt").write_text("")
    data = MotionDataset(root)  # nothing read yet, so no error
    assert data.features("good").shape == (40, 263)


def test_missing_root_and_layout(tmp_path) -> None:
    with pytest.raises(DatasetError, match="does not exist") as info:
        MotionDataset(tmp_path / "nowhere")
    assert str(tmp_path / "nowhere") in str(info.value)
    (tmp_path / "half").mkdir()
    (tmp_path / "half" / "texts").mkdir()
    with pytest.raises(DatasetError, match="not a HumanML3D-layout folder: missing new_joint_vecs/"):
        MotionDataset(tmp_path / "half")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="missing texts/, new_joint_vecs/"):
        MotionDataset(tmp_path / "empty")
    assert issubclass(DatasetError, ValueError)


def _error(call) -> str:
    with pytest.raises(DatasetError) as info:
        call()
    return str(info.value)


def test_file_errors_name_the_file(make_humanml3d) -> None:
    root = make_humanml3d(
        {"ok": ["walks"], "short": ["runs"], "junk": ["jumps"], "empty": ["sits"], "bad": ["waves"]},
        splits={"train_val": ["ok", "ghost"]},
    )
    np.save(root / "new_joint_vecs" / "short.npy", np.zeros((40, 250), dtype=np.float32))
    (root / "new_joint_vecs" / "junk.npy").write_bytes(b"\x93NUMPY garbage")
    (root / "texts" / "empty.txt").write_text("\n\n")
    (root / "texts" / "bad.txt").write_text("a person waves#a/DET#0.0#0.0\na person waves twice#0.0#0.0\n")
    np.save(root / "new_joints" / "ok.npy", np.zeros((40, 21, 3)))
    np.save(root / "Mean.npy", np.zeros(251))
    np.save(root / "new_joint_vecs" / "obj.npy", np.array([{"a": 1}], dtype=object))
    data = MotionDataset(root)

    expected = [  # call -> what its one-line message must name
        (lambda: data.features("short"), ("short.npy", "(40, 250)", "(T, 263)")),
        (lambda: data.features("junk"), ("junk.npy", "not a readable .npy")),
        (lambda: data.features("obj"), ("obj.npy",)),
        (lambda: data.captions("empty"), ("empty.txt", "is empty")),
        (lambda: data.captions("bad"), ("bad.txt, line 2", "expected 4")),
        (lambda: data.joints("ok"), ("ok.npy", "(T, 22, 3)")),
        (data.statistics, ("Mean.npy", "(251,)")),
        (lambda: data.features("ghost"), ("ghost.npy", "does not exist")),
        (lambda: data.captions("ghost"), ("ghost.txt",)),
        (lambda: data.split_ids("kw_splits/nothing.txt"), ("nothing.txt", "does not exist")),
        (lambda: list(data.records("train_val")), ("'ghost'", "train_val.txt", "ghost.txt")),
        (lambda: data.split_ids("train_val", check_files=True), ("ghost",)),
    ]
    for call, parts in expected:
        message = _error(call)
        assert all(part in message for part in parts), (message, parts)


def test_missing_joints_folder_and_statistics(make_humanml3d) -> None:
    data = MotionDataset(make_humanml3d({"a": ["walks"]}, with_joints=False, with_statistics=False))
    assert "new_joints" in _error(lambda: data.joints("a"))
    assert "Mean.npy" in _error(data.statistics)
    assert data.features("a").shape == (40, 263)


def test_nonfinite_features_rejected(make_humanml3d) -> None:
    root = make_humanml3d({"a": ["walks"]})
    array = np.zeros((10, 263), dtype=np.float32)
    array[3, 7] = np.nan
    np.save(root / "new_joint_vecs" / "a.npy", array)
    assert "a.npy contains NaN" in _error(lambda: MotionDataset(root).features("a"))


def test_corrupt_labels(make_humanml3d) -> None:
    root = make_humanml3d({"a": ["walks"]})
    (root / "labels.jsonl").write_text('{"id": "a"}\n{"id": broken\n')
    message = _error(MotionDataset(root).labels)
    assert "labels.jsonl, line 2" in message and "invalid JSON" in message
    (root / "labels.jsonl").write_text('{"id": "a"}\n{"n_frames": 3}\n')
    assert "string \"id\"" in _error(MotionDataset(root).labels)
