"""Keyword lexicons, match modes and the forget/retain split CLI."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from hmu_demo.data.captions import parse_caption_line
from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.lexicon import (
    Lexicon,
    LexiconError,
    count_matching_lines,
    default_list_name,
    inflections,
    known_concepts,
    load_lexicon,
)
from hmu_demo.data.splits import build_splits, main

REPO = Path(__file__).resolve().parents[1]

# -- lexicon and match modes -------------------------------------------------------------------


def test_paper_lists_and_default() -> None:
    assert load_lexicon("violence", "humanml3d").keywords == (
        "kick", "punch", "hit", "beat", "boxe", "boxing", "jab", "uppercut", "hook")
    motionx = load_lexicon("violence", "motionx").keywords
    assert motionx[:5] == ("punch", "jab", "box", "hit", "beat") and len(motionx) == 16
    project = load_lexicon("violence")
    assert project.name == "violence"
    assert set(load_lexicon("violence", "humanml3d").keywords) | set(motionx) <= set(project.keywords)
    assert {"strike", "stomp", "shove", "headbutt", "knife", "pistol", "attack", "fight"} <= set(project.keywords)
    assert "bat" not in project.keywords
    for concept in ("crawl_creep_slide", "jump_leap_hop", "kick", "punch_jab_box_hit_beat", "zombie",
                    "duck_squat", "throw"):
        assert concept in known_concepts()
        assert load_lexicon(concept).keywords
    assert default_list_name("kick") == "humanml3d"
    assert load_lexicon("jump").keywords == ("jump", "leap", "hop")  # alias of jump_leap_hop


def test_substring_versus_word() -> None:
    lexicon = load_lexicon("violence", "humanml3d")
    white = "a person in a white shirt waves.#a/DET person/NOUN white/ADJ shirt/NOUN wave/VERB#0.0#0.0"
    boxes = "a person picks up boxes.#a/DET person/NOUN pick/VERB up/ADP box/NOUN#0.0#0.0"
    for line in (white, boxes):
        assert lexicon.matches(line, "substring")
        assert not lexicon.matches(line, "word")
    assert not load_lexicon("violence", "motionx").matches(boxes, "word")  # "box" list too
    for text in ("a man is jabbing", "he kicked the ball", "she punches twice", "a boxer shadow boxing",
                 "Kicks high", "he hit the wall", "hitting a bag", "was beaten", "an uppercut"):
        assert lexicon.matches(text, "word"), text
        assert lexicon.matches(parse_caption_line(f"{text}#x/X#0.0#0.0"), "word"), text
    project = load_lexicon("violence")
    for text in ("stabbed with a knife", "striking someone", "he shoved me", "struck twice", "knives", "kung fu"):
        assert project.matches(text, "word"), text
    assert not lexicon.matches("Kick", "substring")  # case-sensitive, like grep
    lines = [white, boxes, "kicks#kick/VERB#0.0#0.0", "walks#walk/VERB#0.0#0.0"]
    assert count_matching_lines(lines, lexicon, "substring") == 3
    assert count_matching_lines(lines, lexicon, "word") == 1
    with pytest.raises(ValueError, match="match mode"):
        lexicon.matches("kick", "regex")  # type: ignore[arg-type]


def test_inflection_rules() -> None:
    assert {"jabs", "jabbed", "jabbing"} <= inflections("jab")
    assert {"hits", "hitting"} <= inflections("hit") and "hiting" not in inflections("hit")
    assert {"stabbed", "stabbing"} <= inflections("stab")
    assert {"strikes", "striking", "striker"} <= inflections("strike")
    assert {"shoved", "shoving"} <= inflections("shove")
    assert {"punches", "punched", "punching", "puncher", "punchers"} <= inflections("punch")
    assert {"squatting", "squatted"} <= inflections("squat")
    assert "hoping" not in inflections("hop") and "hopping" in inflections("hop")
    assert {"uppercutting", "uppercuts"} <= inflections("uppercut")
    box = load_lexicon("violence", "motionx").forms("box")
    assert {"box", "boxing", "boxer", "boxers", "boxed"} <= box and "boxes" not in box
    assert "boxes" not in load_lexicon("violence", "humanml3d").forms("boxe")
    assert "beaten" in load_lexicon("violence").forms("beat")
    custom = Lexicon("x", ("box",), word_forms={}, extra_forms={})
    assert "boxes" in custom.forms("box")  # without the override the regular rule applies


def test_load_lexicon_sources(tmp_path: Path) -> None:
    typed = load_lexicon("jump", "jump, hop, leap")
    assert typed.keywords == ("jump", "hop", "leap") and typed.name == "custom"
    assert load_lexicon("anything", "kick,").keywords == ("kick",)
    path = tmp_path / "kw.txt"
    path.write_text("# my list\nkick\n\npunch  # fists\n")
    assert load_lexicon("dance", str(path)).keywords == ("kick", "punch")
    with pytest.raises(LexiconError, match="unknown concept 'dance'.*known concepts: violence"):
        load_lexicon("dance")
    with pytest.raises(LexiconError, match="unknown lexicon 'humanml'.*humanml3d"):
        load_lexicon("violence", "humanml")
    with pytest.raises(LexiconError, match="no keywords"):
        load_lexicon("violence", " , ,")
    with pytest.raises(LexiconError, match="does not exist"):
        load_lexicon("violence", str(tmp_path / "missing.txt"))
    (tmp_path / "empty.txt").write_text("# nothing\n")
    with pytest.raises(LexiconError, match="no keywords"):
        load_lexicon("violence", str(tmp_path / "empty.txt"))


@pytest.mark.skipif(shutil.which("grep") is None, reason="grep not installed")
def test_substring_mode_equals_official_grep(make_humanml3d) -> None:
    root = make_humanml3d(_VIOLENCE_MOTIONS)
    for which in ("humanml3d", "motionx", "violence"):
        lexicon = load_lexicon("violence", which)
        pattern = "|".join(lexicon.keywords)
        data = MotionDataset(root)
        for motion_id in _VIOLENCE_MOTIONS:
            path = root / "texts" / f"{motion_id}.txt"
            grep = subprocess.run(["grep", "-Ec", pattern, str(path)], capture_output=True, text=True)
            ours = count_matching_lines(data.caption_lines(motion_id), lexicon, "substring")
            assert ours == int(grep.stdout), (which, motion_id)


# -- split CLI ---------------------------------------------------------------------------------

_VIOLENCE_MOTIONS = {
    "v1": ["a man kicks with his left leg.", "someone walks forward."],
    "v2": ["a person jabbing twice.", "a person throws two quick blows."],
    "v3": ["a person throws a quick blow at someone."],
    "n1": ["a person in a white shirt waves."],
    "n2": ["a person picks up boxes."],
    "n3": ["a person walks in a circle."],
    "t1": ["the man punches the air.", "a man punches twice."],
    "t2": ["a person jumps."],
}
_TRAIN_VAL = ["v1", "v2", "v3", "n1", "n2", "n3"]


def _caption(violent: bool, implicit: bool = False) -> dict:
    return {"text": "", "start": 0.0, "end": 0.0, "violent": violent, "implicit": implicit}


_VIOLENCE_LABELS = [
    {"id": "v1", "violent": True, "captions": [_caption(True), _caption(False)]},
    {"id": "v2", "violent": True, "captions": [_caption(True), _caption(True, implicit=True)]},
    {"id": "v3", "violent": True, "captions": [_caption(True, implicit=True)]},
    {"id": "n1", "violent": False, "captions": [_caption(False)]},
    {"id": "n2", "violent": False, "captions": [_caption(False)]},
    {"id": "n3", "violent": False, "captions": [_caption(False)]},
    {"id": "t1", "violent": True, "captions": [_caption(True), _caption(True)]},
    {"id": "t2", "violent": False, "captions": [_caption(False)]},
]


@pytest.fixture
def violence_root(make_humanml3d) -> Path:
    return make_humanml3d(
        _VIOLENCE_MOTIONS,
        splits={"train_val": _TRAIN_VAL, "test": ["t1", "t2"], "all": list(_VIOLENCE_MOTIONS)},
        labels=_VIOLENCE_LABELS,
    )


def _run_json(capsys, *argv: str) -> dict:
    assert main([*argv, "--json"]) == 0
    out = capsys.readouterr().out
    assert len(out.strip().splitlines()) == 1
    return json.loads(out)


def _ids(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_split_files_and_ground_truth(violence_root: Path, capsys) -> None:
    report = _run_json(capsys, "--data", str(violence_root), "--concept", "violence")
    kw = violence_root / "kw_splits"
    assert sorted(p.name for p in kw.iterdir()) == [
        "test-w-violence.txt", "test-wo-violence.txt", "train_val-w-violence.txt", "train_val-wo-violence.txt"]
    assert _ids(kw / "train_val-w-violence.txt") == ["v1", "v2"]
    assert _ids(kw / "train_val-wo-violence.txt") == ["v3", "n1", "n2", "n3"]
    assert _ids(kw / "test-w-violence.txt") == ["t1"]
    assert _ids(kw / "test-wo-violence.txt") == ["t2"]
    assert (kw / "test-w-violence.txt").read_text() == "t1\n"
    assert report["concept"] == "violence" and report["lexicon"] == "violence"
    assert report["match"] == "word" and report["min_occurrence"] == 1
    assert report["forget"] == {"train_val": 2, "test": 1, "total": 3}
    assert report["retain"] == {"train_val": 4, "test": 1, "total": 5}
    assert report["forget_share"] == pytest.approx(3 / 8)
    assert report["precision"] == 1.0
    assert report["recall"] == pytest.approx(3 / 4)
    assert report["recall_explicit"] == 1.0  # v1[0], v2[0], t1[0], t1[1]
    assert report["recall_implicit"] == 0.5  # v2[1] forgotten, v3[0] not
    assert report["labelled_motions"] == 8 and report["positive_motions"] == 4
    assert report["by_split"]["test"]["recall"] == 1.0
    assert report["by_split"]["train_val"]["recall"] == pytest.approx(2 / 3)
    assert report["files"]["test"]["forget"] == str(kw / "test-w-violence.txt")


def test_substring_mode_reproduces_paper_false_positives(violence_root: Path, capsys) -> None:
    report = _run_json(capsys, "--data", str(violence_root), "--lexicon", "humanml3d", "--match", "substring")
    assert report["lexicon"] == "humanml3d" and report["match"] == "substring"
    assert _ids(violence_root / "kw_splits" / "train_val-w-violence.txt") == ["v1", "v2", "n1", "n2"]
    assert report["precision"] == pytest.approx(3 / 5)


def test_min_occurrence(violence_root: Path, capsys) -> None:
    report = _run_json(capsys, "--data", str(violence_root), "--min-occurrence", "2")
    assert report["min_occurrence"] == 2
    assert report["forget"] == {"train_val": 0, "test": 1, "total": 1}
    assert _ids(violence_root / "kw_splits" / "train_val-w-violence.txt") == []
    assert _ids(violence_root / "kw_splits" / "test-w-violence.txt") == ["t1"]


def test_user_typed_lexicon_for_another_concept(make_humanml3d, capsys) -> None:
    motions = {
        "a": ["a person jumps up.", "someone hops on one foot."],
        "b": ["a person leaps forward."],
        "c": ["a person walks."],
        "d": ["a person springs into the air."],
    }
    labels = [
        {"id": "a", "violent": False, "segments": [{"action": "jump", "tags": ["jump"]}]},
        {"id": "b", "violent": False, "segments": [{"action": "leap", "tags": ["jump"]}]},
        {"id": "c", "violent": False, "segments": [{"action": "walk", "tags": ["walk"]}]},
        {"id": "d", "violent": False, "segments": [{"action": "jump", "tags": ["jump"]}]},
    ]
    root = make_humanml3d(motions, splits={"train_val": ["a", "b", "c"], "test": ["d"]}, labels=labels)
    report = _run_json(capsys, "--data", str(root), "--concept", "jump", "--lexicon", "jump, hop, leap")
    assert report["keywords"] == ["jump", "hop", "leap"]
    assert _ids(root / "kw_splits" / "train_val-w-jump.txt") == ["a", "b"]
    assert _ids(root / "kw_splits" / "test-wo-jump.txt") == ["d"]
    assert report["precision"] == 1.0 and report["recall"] == pytest.approx(2 / 3)
    assert "recall_explicit" not in report
    # labels without segment tags give no ground truth for a non-violence concept
    (root / "labels.jsonl").write_text("".join(json.dumps({"id": i, "violent": False}) + "\n" for i in motions))
    report = _run_json(capsys, "--data", str(root), "--concept", "jump", "--lexicon", "jump, hop, leap")
    assert "precision" not in report and "recall" not in report


def test_no_labels_no_ground_truth_and_human_report(make_humanml3d, capsys) -> None:
    root = make_humanml3d({"a": ["kicks"], "b": ["walks"]}, splits={"train_val": ["a"], "test": ["b"]})
    report = _run_json(capsys, "--data", str(root))
    assert "precision" not in report and "recall_implicit" not in report
    assert main(["--data", str(root)]) == 0
    out = capsys.readouterr().out
    assert "train_val" in out and "kw_splits/train_val-w-violence.txt" in out and "forget share 50.0%" in out


def test_rewrite_is_atomic_and_overwrites(violence_root: Path, capsys) -> None:
    kw = violence_root / "kw_splits"
    kw.mkdir()
    (kw / "train_val-w-violence.txt").write_text("stale\n")
    _run_json(capsys, "--data", str(violence_root))
    assert _ids(kw / "train_val-w-violence.txt") == ["v1", "v2"]
    assert not [p for p in kw.iterdir() if p.name.startswith(".")]


def test_build_splits_api(violence_root: Path) -> None:
    data = MotionDataset(violence_root)
    result = build_splits(data, "violence", load_lexicon("violence"), "word", 1)
    assert result.forget == {"train_val": ["v1", "v2"], "test": ["t1"]}
    assert result.counts["t1"] == 2
    with pytest.raises(ValueError, match="min_occurrence"):
        build_splits(data, "violence", load_lexicon("violence"), "word", 0)


def _error_line(capsys, argv: list[str]) -> str:
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    return err


def test_cli_errors(violence_root: Path, make_humanml3d, tmp_path: Path, capsys) -> None:
    assert "does not exist" in _error_line(capsys, ["--data", str(tmp_path / "nowhere")])
    assert "no keywords" in _error_line(capsys, ["--data", str(violence_root), "--lexicon", " , "])
    assert "min-occurrence" in _error_line(capsys, ["--data", str(violence_root), "--min-occurrence", "0"])
    assert "min-occurrence" in _error_line(capsys, ["--data", str(violence_root), "--min-occurrence", "x"])
    message = _error_line(capsys, ["--data", str(violence_root), "--concept", "dance"])
    assert "known concepts" in message and "violence" in message
    assert "--match" in _error_line(capsys, ["--data", str(violence_root), "--match", "regex"])
    assert "--data" in _error_line(capsys, [])
    assert not (violence_root / "kw_splits").exists()  # nothing written on error

    no_test = make_humanml3d({"a": ["kicks"]}, splits={"train_val": ["a"]})
    assert "test.txt" in _error_line(capsys, ["--data", str(no_test)])
    assert not (no_test / "kw_splits").exists()
    broken = make_humanml3d({"a": ["kicks"], "b": ["walks"]}, splits={"train_val": ["a"], "test": ["b"]})
    (broken / "texts" / "b.txt").write_text("walks#walk/VERB\n")
    assert "b.txt, line 1" in _error_line(capsys, ["--data", str(broken)])
    ghost = make_humanml3d({"a": ["kicks"]}, splits={"train_val": ["a"], "test": ["ghost"]})
    message = _error_line(capsys, ["--data", str(ghost)])
    assert "ghost.txt" in message and "test.txt" in message


def test_cli_subprocess_error_exit_code(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "hmu_demo.data.splits", "--data", str(tmp_path / "missing"), "--json"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert str(tmp_path / "missing") in proc.stderr
