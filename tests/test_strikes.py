"""The kinematic strike detector: strikes in generated jabs and kicks, none in walking or standing,
invariance to where the body stands and faces, thresholds files, the fit and evaluation commands."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hmu_demo.data.synth.compose import generate_clip
from hmu_demo.data.synth.corpus import CorpusSpec, build_corpus
from hmu_demo.eval import strikes as eval_strikes
from hmu_demo.motion.skeleton import FPS, rest_pose
from hmu_demo.motion.strikes import (DEFAULT_STRIKES, KINDS, Strike, StrikeThresholds, detect_strikes, is_violent,
                                     load_thresholds, save_thresholds, strike_frames, strike_scores,
                                     verdict_metrics)
from hmu_demo.train import strikes as train_strikes

SEED = 4242  # not the shipped corpus's seed


def single_action_clip(action: str, violent_share: float, skip: int = 0):
    """The first generated clip (after ``skip`` of them) whose only action (padding aside) is ``action``."""
    for index in range(400):
        clip = generate_clip(SEED, index, violent_share)
        if [s.action for s in clip.segments if s.action != "stand"] == [action]:
            if skip == 0:
                return clip
            skip -= 1
    raise AssertionError(f"no single-{action} clip among the first 400 of seed {SEED}")


@pytest.fixture(scope="module")
def shipped() -> StrikeThresholds:
    return load_thresholds(DEFAULT_STRIKES)


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("strikes") / "tiny"
    return build_corpus(root, CorpusSpec(size=60, seed=1, violent_share=0.4), workers=1, progress=False)


@pytest.mark.parametrize("action,wrist_side", [("jab", True), ("cross", True), ("front_kick", False)])
def test_strikes_are_found_inside_clear_jabs_and_kicks(shipped, action, wrist_side):
    for skip in range(2):
        clip = single_action_clip(action, 1.0, skip)
        segment = next(s for s in clip.segments if s.action == action)
        strikes = detect_strikes(clip.joints, shipped)
        assert strikes and is_violent(clip.joints, shipped), (action, strike_scores(clip.joints, shipped))
        assert all(isinstance(s, Strike) and s.peak_speed > 0 for s in strikes)
        # the strikes happen during the labelled action, with the limb the label names
        inside = [s for s in strikes if s.start < segment.end and s.end > segment.start]
        assert inside, (strikes, segment.start, segment.end)
        side = "R_" if segment.params.side == "right" else "L_"
        wanted = {side + "wrist"} if wrist_side else {side + "ankle", side + "knee"}
        assert wanted & {s.effector for s in inside}, (inside, segment.params.side)


@pytest.mark.parametrize("action", ["walk", "idle", "jog"])
def test_walking_and_standing_hold_no_strikes(shipped, action):
    clip = single_action_clip(action, 0.0)
    assert detect_strikes(clip.joints, shipped) == []
    assert not is_violent(clip.joints, shipped)
    assert not strike_frames(clip.joints, shipped).any()
    still = np.repeat(rest_pose()[None], 60, axis=0)
    assert detect_strikes(still, shipped) == [] and not is_violent(still, shipped)


def test_strike_frames_cover_exactly_the_strikes(shipped):
    clip = single_action_clip("hook", 1.0)
    strikes = detect_strikes(clip.joints, shipped)
    frames = strike_frames(clip.joints, shipped)
    assert frames.shape == (clip.joints.shape[0],) and frames.dtype == bool
    expected = np.zeros_like(frames)
    for s in strikes:
        assert 0 <= s.start < s.end <= len(frames)
        expected[s.start:s.end] = True
    assert frames.any() and np.array_equal(frames, expected)


def test_strikes_do_not_depend_on_where_the_body_stands_or_faces(shipped):
    clip = single_action_clip("front_kick", 1.0)
    angle = np.deg2rad(110.0)
    turn = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]])
    moved = clip.joints.astype(np.float64) @ turn.T + np.array([3.0, 0.0, -2.0])
    a, b = detect_strikes(clip.joints, shipped), detect_strikes(moved, shipped)
    assert [(s.effector, s.start, s.end) for s in a] == [(s.effector, s.start, s.end) for s in b]
    assert np.allclose([s.peak_speed for s in a], [s.peak_speed for s in b], atol=1e-3)


def test_speeds_are_in_metres_per_second(shipped):
    """The same frames read at twice the frame rate are twice as fast: speeds scale with fps."""
    clip = single_action_clip("jab", 1.0)
    slow = {s.effector: s.peak_speed for s in detect_strikes(clip.joints, shipped, fps=FPS)}
    fast = {s.effector: s.peak_speed for s in detect_strikes(clip.joints, shipped, fps=2 * FPS)}
    common = set(slow) & set(fast)
    assert common
    for effector in common:
        assert fast[effector] == pytest.approx(2 * slow[effector], rel=0.05)


def test_thresholds_round_trip_and_bad_files(tmp_path):
    custom = StrikeThresholds(punch_speed=1.7, rise_reach=-0.05, stop_window=0.25)
    path = save_thresholds(tmp_path / "out" / "strikes.json", custom, {"note": "test"})
    assert load_thresholds(path) == custom
    assert json.loads(path.read_text())["note"] == "test"
    with pytest.raises(FileNotFoundError, match="missing.*hmu_demo.train.strikes"):
        load_thresholds(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="cannot read"):
        load_thresholds(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text(json.dumps({"format": "something-else"}))
    with pytest.raises(ValueError, match="not a strike thresholds file"):
        load_thresholds(tmp_path / "other.json")
    (tmp_path / "typo.json").write_text(json.dumps({"format": "hmu-strikes", "thresholds": {"punch_sped": 2.0}}))
    with pytest.raises(ValueError, match="unknown StrikeThresholds keys"):
        load_thresholds(tmp_path / "typo.json")


@pytest.mark.parametrize("bad,message", [
    (dict(punch_speed=0.0), "punch_speed must be > 0"),
    (dict(stop_ratio=1.0), "stop_ratio"),
    (dict(smooth_frames=4), "smooth_frames"),
    (dict(head_reach=float("nan")), "head_reach must be a finite number"),
    (dict(stop_window="0.3"), "stop_window must be a finite number"),
])
def test_bad_thresholds_are_refused(bad, message):
    with pytest.raises(ValueError, match=message):
        StrikeThresholds(**bad)


@pytest.mark.parametrize("joints,message", [
    (np.zeros((30, 21, 3)), r"shape \(T, 22, 3\)"),
    (np.zeros((30, 22)), r"shape \(T, 22, 3\)"),
    (np.zeros((4, 22, 3)), "at least 5 frames"),
    (np.full((30, 22, 3), np.nan), "NaN or infinite"),
    (np.array([["a"] * 3] * 22 * 30).reshape(30, 22, 3), "real numbers"),
])
def test_bad_clips_get_a_clear_value_error(joints, message):
    for call in (detect_strikes, strike_frames, is_violent, strike_scores):
        with pytest.raises(ValueError, match=message):
            call(joints)


def test_strike_scores_name_the_kind_that_fired(shipped):
    clip = single_action_clip("stomp", 1.0)
    scores = strike_scores(clip.joints, shipped)
    assert set(scores) == set(KINDS)
    assert scores["stomp"] >= shipped.stomp_speed


def test_verdict_metrics_and_agreement_by_hand():
    m = verdict_metrics(np.array([1, 1, 0, 0, 1]), np.array([1, 0, 0, 0, 1]))
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (2, 1, 2, 0)
    assert m["recall"] == 1.0 and m["precision"] == pytest.approx(2 / 3)
    assert m["balanced_accuracy"] == pytest.approx((1.0 + 2 / 3) / 2)
    # observed 0.75, chance 0.5 * 0.25 + 0.5 * 0.75 = 0.5 -> kappa 0.5
    a = eval_strikes.agreement(np.array([1, 1, 0, 0]), np.array([1, 0, 0, 0]))
    assert a["agree"] == 0.75 and a["kappa"] == pytest.approx(0.5)
    assert (a["detector_only"], a["judge_only"], a["both_violent"], a["both_safe"]) == (1, 0, 1, 2)


def test_fit_command_writes_thresholds_deterministically(tiny_corpus, tmp_path, capsys):
    for out in ("a", "b"):
        code = train_strikes.main(["--data", str(tiny_corpus), "--out", str(tmp_path / out), "--quiet"])
        assert code == 0
        assert "wrote" in capsys.readouterr().out
    first, second = (json.loads((tmp_path / o / "strikes.json").read_text()) for o in ("a", "b"))
    assert first["thresholds"] == second["thresholds"]
    assert load_thresholds(tmp_path / "a" / "strikes.json") == StrikeThresholds(**first["thresholds"])
    assert first["split"] == "train" and {"train", "val", "fit_sample"} <= set(first["metrics"])
    train = first["metrics"]["train"]
    assert train["clips"] == len((tiny_corpus / "train.txt").read_text().split())
    assert train["balanced_accuracy"] > 0.5   # better than a coin on its own training clips


def test_evaluation_reports_labels_judge_and_actions(tiny_corpus, capsys):
    code = eval_strikes.main(["--data", str(tiny_corpus), "--split", "train", "--thresholds", str(DEFAULT_STRIKES),
                              "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["detector"]["clips"] == report["agreement"]["clips"] == report["judge"]["clips"]
    agree = report["agreement"]
    assert agree["both_violent"] + agree["both_safe"] + agree["detector_only"] + agree["judge_only"] == agree["clips"]
    assert report["clips_per_second"] > 0
    rows = report["per_action"]
    assert rows and all(0.0 <= r["rate"] <= 1.0 and r["hit"] <= r["segments"] for r in rows.values())
    assert any(r["violent"] for r in rows.values()) and any(not r["violent"] for r in rows.values())


@pytest.mark.parametrize("argv,needle", [
    (["--data", "/no/such/folder"], "does not exist"),
    (["--data", "{corpus}", "--split", "nosuchsplit"], "split file"),
    (["--data", "{corpus}", "--out", "{file}"], "not a folder"),
])
def test_fit_command_bad_paths_exit_2(tiny_corpus, tmp_path, capsys, argv, needle):
    (tmp_path / "plain").write_text("x")
    argv = [a.format(corpus=tiny_corpus, file=tmp_path / "plain") for a in argv]
    if "--out" not in argv:
        argv += ["--out", str(tmp_path / "out")]
    assert train_strikes.main(argv + ["--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "\n" not in err


@pytest.mark.parametrize("argv,needle", [
    (["--data", "/no/such/folder"], "does not exist"),
    (["--data", "{corpus}", "--thresholds", "{missing}"], "missing"),
    (["--data", "{corpus}", "--judge", "{missing}"], "judge checkpoint"),
])
def test_evaluation_bad_paths_exit_2(tiny_corpus, tmp_path, capsys, argv, needle):
    argv = [a.format(corpus=tiny_corpus, missing=tmp_path / "missing") for a in argv]
    assert eval_strikes.main(argv + ["--json"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and needle in err and "\n" not in err
