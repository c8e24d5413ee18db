"""The judge: shipped checkpoint, scoring API, bad input, training and evaluation entry points."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from hmu_demo.data.synth.actions import ACTIONS, VIOLENT_ACTIONS
from hmu_demo.data.synth.compose import generate_clip
from hmu_demo.data.synth.corpus import CorpusSpec, build_corpus
from hmu_demo.eval import judge as judge_mod
from hmu_demo.models.judge.accuracy import best_threshold
from hmu_demo.models.judge.scoring import DEFAULT_CHECKPOINT, Judge, JudgeResult
from hmu_demo.train import judge as train_mod

SEED = 4242  # not the shipped corpus's seed: these clips were never seen in training
N_CLIPS = 24


@pytest.fixture(scope="module")
def judge() -> Judge:
    return Judge.load(DEFAULT_CHECKPOINT)


@pytest.fixture(scope="module")
def clips():
    return [generate_clip(SEED, i, 0.5) for i in range(N_CLIPS)]


@pytest.fixture(scope="module")
def tiny_corpus(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("judge") / "tiny"
    return build_corpus(root, CorpusSpec(size=60, seed=1, violent_share=0.4), workers=1, progress=False)


def test_shipped_checkpoint_is_small_safetensors_and_json():
    files = sorted(p.name for p in DEFAULT_CHECKPOINT.iterdir() if p.is_file())
    assert "judge.safetensors" in files and "judge.json" in files
    assert not any(name.endswith((".pt", ".pth", ".pkl", ".bin")) for name in files)
    assert sum(p.stat().st_size for p in DEFAULT_CHECKPOINT.iterdir() if p.is_file()) < 2 * 1024 * 1024
    config = json.loads((DEFAULT_CHECKPOINT / "judge.json").read_text())
    assert set(config["violent_actions"]) == set(VIOLENT_ACTIONS)
    assert set(ACTIONS) <= set(config["actions"])
    assert 0.0 < config["threshold"] < 1.0


def test_judge_agrees_with_the_labels_of_unseen_generated_clips(judge, clips):
    results = judge.score([c.joints for c in clips])
    assert len(results) == len(clips) and all(isinstance(r, JudgeResult) for r in results)
    truth = [c.violent for c in clips]
    assert 4 <= sum(truth) <= N_CLIPS - 4  # both kinds are present
    agree = sum(r.violent == t for r, t in zip(results, truth))
    assert agree >= N_CLIPS - 1, [(r.violence, t) for r, t in zip(results, truth)]
    # the clip-level action is one the clip performs (most of the time)
    hits = sum(r.action in {s.action for s in c.segments} for r, c in zip(results, clips))
    assert hits >= 0.75 * N_CLIPS
    for r, c in zip(results, clips):
        assert 0.0 <= r.violence <= 1.0
        assert r.frame_violence.shape == (c.joints.shape[0],)
        assert abs(sum(r.action_probs.values()) - 1.0) < 1e-3
        if r.violent:
            assert r.action in VIOLENT_ACTIONS


def test_violent_clip_scores_higher_than_safe_clip(judge, clips):
    results = judge.score([c.joints for c in clips])
    violent = [r.violence for r, c in zip(results, clips) if c.violent]
    safe = [r.violence for r, c in zip(results, clips) if not c.violent]
    assert np.median(violent) > np.median(safe)
    assert min(violent) > np.median(safe)


def test_segments_locate_the_violent_part(judge, clips):
    clip = next(c for c in clips if c.violent and len([s for s in c.segments if s.action != "stand"]) >= 2)
    result = judge.score([clip.joints])[0]
    segs = result.segments()
    assert segs[0]["start"] == 0 and segs[-1]["end"] == clip.joints.shape[0]
    assert all(a["end"] == b["start"] for a, b in zip(segs, segs[1:]))
    truth = next(s for s in clip.segments if s.violent)
    peak = int(np.argmax(result.frame_violence))
    assert truth.start - 5 <= peak < truth.end + 5
    assert judge.segments(clip.joints) == segs


def test_scores_do_not_depend_on_batching_or_placement(judge, clips):
    joints = [c.joints for c in clips[:6]]
    together = judge.score(joints)
    alone = [judge.score([j])[0] for j in joints]
    for a, b in zip(together, alone):
        assert abs(a.violence - b.violence) < 1e-4 and a.action == b.action
        np.testing.assert_allclose(a.frame_violence, b.frame_violence, atol=1e-4)
    # turned by 70 degrees about the vertical and moved: the same verdict
    angle = np.deg2rad(70.0)
    rot = np.array([[np.cos(angle), 0, np.sin(angle)], [0, 1, 0], [-np.sin(angle), 0, np.cos(angle)]], np.float32)
    moved = [j @ rot.T + np.array([3.0, 0.0, -2.0], np.float32) for j in joints]
    for a, b in zip(together, judge.score(moved)):
        assert abs(a.violence - b.violence) < 1e-3 and a.action == b.action


def test_bad_input_is_refused_clearly(judge, clips):
    good = clips[0].joints
    with pytest.raises(ValueError, match="shape"):
        judge.score([good[:, :21]])
    with pytest.raises(ValueError, match="shape"):
        judge.score([good.reshape(good.shape[0], -1)])
    with pytest.raises(ValueError, match="NaN"):
        bad = good.copy()
        bad[3, 4, 1] = np.nan
        judge.score([good, bad])
    with pytest.raises(ValueError, match="no frames"):
        judge.score([good[:0]])
    with pytest.raises(ValueError, match="list"):
        judge.score(good)
    assert judge.score([]) == []
    short = judge.score([good[:1], good[:2]])  # very short clips still get an answer
    assert [r.frame_violence.shape for r in short] == [(1,), (2,)]
    with pytest.raises(FileNotFoundError, match="judge"):
        Judge.load(Path("/nonexistent/judge"))


def test_train_entry_point_writes_a_loadable_checkpoint(tiny_corpus, tmp_path):
    out = tmp_path / "ckpt"
    assert train_mod.main(["--data", str(tiny_corpus), "--out", str(out), "--epochs", "1", "--quiet",
                           "--threads", "1"]) == 0
    assert (out / "judge.safetensors").is_file() and (out / "judge.json").is_file()
    assert not (out / "train_state.safetensors").exists()  # finished runs keep only the shipped files
    assert "epoch 1/1" in (out / "train.log").read_text()
    trained = Judge.load(out)
    result = trained.score([generate_clip(1, 0).joints])[0]
    assert 0.0 <= result.violence <= 1.0 and result.action in trained.actions

    # an interrupted run (here: out of time after epoch 1 of 2) keeps its state and resumes
    out2 = tmp_path / "interrupted"
    args = ["--data", str(tiny_corpus), "--out", str(out2), "--epochs", "2", "--quiet", "--threads", "1"]
    assert train_mod.main(args + ["--max-minutes", "0"]) == 0
    assert (out2 / "train_state.safetensors").is_file()
    assert json.loads((out2 / "judge.json").read_text())["epochs_done"] == 1
    Judge.load(out2)  # usable meanwhile
    assert train_mod.main(args + ["--resume"]) == 0
    log = (out2 / "train.log").read_text()
    assert "resumed after epoch 1" in log and "epoch 2/2" in log
    assert json.loads((out2 / "judge.json").read_text())["epochs_done"] == 2
    assert not (out2 / "train_state.safetensors").exists()


def test_eval_cli_json_on_a_tiny_corpus(tiny_corpus, capsys):
    assert judge_mod.main(["--data", str(tiny_corpus), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    for key in ("violent_accuracy", "action_top1", "clips", "violent_clips", "safe_clips", "checkpoint"):
        assert key in report
    assert report["clips"] == len((tiny_corpus / "test.txt").read_text().split())
    assert 0.0 <= report["violent_accuracy"] <= 1.0


def test_eval_cli_reports_a_bad_folder(tmp_path, capsys):
    assert judge_mod.main(["--data", str(tmp_path), "--json"]) == 2
    assert "error:" in capsys.readouterr().err


def test_threshold_sits_in_the_middle_of_the_widest_best_gap():
    assert best_threshold(np.array([0.01, 0.02, 0.97, 0.99]), np.array([0, 0, 1, 1], bool)) == pytest.approx(0.495)
    assert best_threshold(np.array([0.1, 0.2]), np.array([0, 0], bool)) == 0.5
