"""SynthMotion: the generated corpus, its plausibility checks, captions and labels."""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.lexicon import load_lexicon
from hmu_demo.data.splits import main as splits_main
from hmu_demo.data.synth.__main__ import main as synth_main
from hmu_demo.data.synth.actions import ACTIONS, SAFE_ACTIONS, VIOLENT_ACTIONS
from hmu_demo.data.synth.captions import gerund, make_caption, third_person
from hmu_demo.data.synth.compose import generate_clip
from hmu_demo.data.synth.corpus import CorpusSpec, build_corpus, ensure_corpus, read_spec
from hmu_demo.data.synth.keyframes import State, Style
from hmu_demo.data.synth.keys import Params
from hmu_demo.data.synth.phrases import EXPLICIT, IMPLICIT, SAFE
from hmu_demo.data.synth.preview import main as preview_main
from hmu_demo.data.synth.rig import pose_joints
from hmu_demo.data.synth.validate import check_clip, distance_to_support, pelvis_forward
from hmu_demo.data.synth.validate import main as validate_main
from hmu_demo.motion.features import features_to_joints, joints_to_features

REQUIRED_VIOLENT = {"jab", "cross", "hook", "uppercut", "front_kick", "side_kick", "roundhouse_kick", "knee_strike",
                    "elbow_strike", "stab", "slash", "club_strike", "shoot_handgun", "headbutt", "stomp", "shove"}
REQUIRED_SAFE = {"walk", "walk_circle", "turn_around", "jog", "run", "jump_in_place", "jump_forward", "hop", "wave",
                 "wave_both", "clap", "sit_stand", "squat", "lunge", "bow", "stretch", "arm_circles", "jumping_jacks",
                 "dance", "pick_up", "throw_ball", "climb_steps", "crouch", "balance", "look_around", "idle"}


def tree_digest(root: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        digest.update(str(path.relative_to(root)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    """A small corpus with many violent clips, so split figures have something to measure."""
    return build_corpus(tmp_path_factory.mktemp("synth") / "corpus", CorpusSpec(size=160, seed=3, violent_share=0.35),
                        workers=2, progress=False)


def test_action_inventory_covers_the_issue():
    assert REQUIRED_VIOLENT <= set(VIOLENT_ACTIONS)
    assert REQUIRED_SAFE <= set(SAFE_ACTIONS)
    assert len(ACTIONS) >= 35 and len(VIOLENT_ACTIONS) >= 12
    walk = ACTIONS["walk"]
    assert {"forward", "backward", "left", "right"} <= set(walk.directions)


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_every_action_is_plausible_for_both_sides_and_extreme_parameters(name):
    spec = ACTIONS[name]
    style = Style()
    for side in ("left", "right"):
        for speed, count, amplitude in ((spec.speed_range[0], spec.count_range[0], 0.88),
                                        (spec.speed_range[1], spec.count_range[1], 1.12)):
            distance = spec.distance_range[1] if spec.distance_range[1] else 0.0
            params = Params(side=side, speed=speed, count=count, amplitude=amplitude, distance=distance,
                            direction=spec.directions[-1])
            channels, _ = spec.build(params, State.initial(style), style)
            joints = pose_joints(style.body, channels)
            assert np.isfinite(joints).all()
            recovered = features_to_joints(joints_to_features(joints).astype(np.float64))
            label = {"segments": [{"action": name, "start": 0, "end": len(recovered), "speed": speed}]}
            problems = check_clip(name, recovered, label).violations()
            assert not problems, f"{name} {side} speed={speed:.2f}: {problems}"


def test_build_is_deterministic_and_independent_of_workers(tmp_path):
    spec = CorpusSpec(size=24, seed=11)
    one = build_corpus(tmp_path / "one", spec, workers=1, progress=False)
    two = build_corpus(tmp_path / "two", spec, workers=2, progress=False)
    other = build_corpus(tmp_path / "other", CorpusSpec(size=24, seed=12), workers=1, progress=False)
    assert tree_digest(one) == tree_digest(two)
    assert tree_digest(one) != tree_digest(other)


def test_corpus_has_the_humanml3d_layout(corpus):
    for name in ("train", "val", "test", "train_val", "all"):
        assert (corpus / f"{name}.txt").is_file()
    dataset = MotionDataset(corpus)
    ids = dataset.split_ids("all")
    assert len(ids) == 160
    train, val, test = (set(dataset.split_ids(n)) for n in ("train", "val", "test"))
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(ids)
    assert set(dataset.split_ids("train_val")) == train | val
    mean, std = dataset.statistics()
    assert mean.shape == std.shape == (263,) and (std > 0).all()
    labels = dataset.labels()
    assert set(labels) == set(ids)
    for clip_id in ids[:40]:
        features, joints = dataset.features(clip_id), dataset.joints(clip_id)
        assert 40 <= len(features) <= 196 and features.shape[1] == 263
        np.testing.assert_allclose(features_to_joints(features.astype(np.float64)), joints, atol=1e-5)
        captions = dataset.captions(clip_id)
        label = labels[clip_id]
        assert len(captions) >= 3 and len(captions) == len(label["captions"])
        assert label["n_frames"] == len(features)
        for caption, caption_label in zip(captions, label["captions"]):
            assert caption.text == caption_label["text"]
            assert all(re.fullmatch(r"[a-z']+/[A-Z]+", token) for token in caption.tokens)
        spans = [(s["start"], s["end"]) for s in label["segments"]]
        assert spans[0][0] == 0 and spans[-1][1] == label["n_frames"]
        assert all(a[1] == b[0] for a, b in zip(spans, spans[1:]))
        assert label["violent"] == any(s["violent"] for s in label["segments"])


@pytest.mark.slow
def test_violent_share_follows_the_flag(tmp_path):
    share = {}
    for value in (0.1, 0.5):
        labels = [generate_clip(5, i, value).violent for i in range(250)]
        share[value] = float(np.mean(labels))
    assert 0.05 <= share[0.1] <= 0.16
    assert 0.42 <= share[0.5] <= 0.58


def test_validator_passes_on_the_corpus(corpus, capsys):
    assert validate_main([str(corpus)]) == 0
    assert "0 fail" in capsys.readouterr().out


def _clip(index: int = 1) -> tuple[np.ndarray, dict]:
    clip = generate_clip(0, index)
    return clip.joints.astype(np.float64), clip.label("x")


def _walking_clip() -> tuple[np.ndarray, dict]:
    for index in range(200):
        clip = generate_clip(0, index)
        if [s.action for s in clip.segments if s.action != "stand"] == ["walk"]:
            return clip.joints.astype(np.float64), clip.label("x")
    raise AssertionError("no walking clip in the first 200")


def test_validator_flags_each_kind_of_violation():
    joints, label = _walking_clip()
    assert not check_clip("ok", joints, label).violations()

    stretched = joints.copy()
    stretched[10:, 21] += np.array([0.0, 0.05, 0.0])  # the right forearm grows 5 cm
    assert "bone length" in " ".join(check_clip("x", stretched, label).violations())

    sunk = joints.copy()
    sunk[20, 21, 1] = -0.1  # a wrist through the floor
    assert "below the floor" in " ".join(check_clip("x", sunk, label).violations())

    sliding = joints.copy()
    contact = np.flatnonzero(np.linalg.norm(np.diff(joints[:, 10], axis=0), axis=-1) < 1e-4)
    start = contact[0]
    drift = np.zeros((len(joints), 3))
    drift[start:start + 8, 0] = np.linspace(0, 0.06, 8)  # slow drift of a planted foot
    drift[start + 8:, 0] = 0.06
    sliding[:, [7, 10]] += drift[:, None]
    assert "slides" in " ".join(check_clip("x", sliding, label).violations())

    teleport = joints.copy()
    teleport[30:] += np.array([0.8, 0.0, 0.0])
    assert "per-frame jump" in " ".join(check_clip("x", teleport, label).violations())


def test_validator_flags_backward_knees_and_folded_elbows():
    joints, label = _clip(2)
    bent = joints.copy()
    bent[:, 4] -= 0.15 * pelvis_forward(bent)  # the left knee 15 cm behind its hip-ankle line
    assert "knee" in " ".join(check_clip("x", bent, label).violations())
    folded = joints.copy()
    folded[:, 20] = folded[:, 16] + 0.02 * (folded[:, 18] - folded[:, 16])  # wrist inside the upper arm
    assert "elbow" in " ".join(check_clip("x", folded, label).violations())


def test_validator_cli_rejects_bad_input(tmp_path, capsys):
    assert validate_main([str(tmp_path)]) == 2
    (tmp_path / "new_joints").mkdir()
    np.save(tmp_path / "new_joints" / "bad.npy", np.zeros((10, 21, 3)))
    assert validate_main([str(tmp_path)]) == 2
    assert "bad.npy" in capsys.readouterr().err


def test_templates_respect_the_lexicons():
    project = load_lexicon("violence", "violence")
    papers = [load_lexicon("violence", "humanml3d"), load_lexicon("violence", "motionx")]
    for action in VIOLENT_ACTIONS:
        assert len(EXPLICIT[action]) >= 6 and len(IMPLICIT[action]) >= 4
    for templates in SAFE.values():
        assert len(templates) >= 6

    def texts(template: str) -> list[str]:
        filled = template.replace("{poss}", "his").replace("{side}", "left").replace("{count}", " twice")
        filled = filled.replace("{adv}", " quickly")
        return [make_caption(re.sub(r"\{V:([a-z_]+)\}", lambda m: "\u00a7" + form(m.group(1)), filled)).text
                for form in (lambda v: third_person(v.split("_")[0]) + " " + " ".join(v.split("_")[1:]),
                             lambda v: gerund(v.split("_")[0]) + " " + " ".join(v.split("_")[1:]))]

    for action in VIOLENT_ACTIONS:
        for template in EXPLICIT[action]:
            assert all(project.matches(t, "word") for t in texts(template)), template
        for template in IMPLICIT[action]:
            for text in texts(template):
                assert not project.matches(text, "word"), text
                assert not any(p.matches(text, "substring") for p in papers), text
    for templates in SAFE.values():
        for template in templates:
            assert not any(project.matches(t, "word") for t in texts(template)), template


def test_conjugation():
    assert [third_person(v) for v in ("punch", "carry", "kick", "go", "have")] == [
        "punches", "carries", "kicks", "goes", "has"]
    assert [gerund(v) for v in ("jab", "stab", "dance", "lie", "kick", "see")] == [
        "jabbing", "stabbing", "dancing", "lying", "kicking", "seeing"]


def test_caption_labels_mark_implicit_violence(corpus):
    labels = MotionDataset(corpus).labels()
    project = load_lexicon("violence", "violence")
    violent = [c for label in labels.values() for c in label["captions"] if c["violent"]]
    implicit = [c for c in violent if c["implicit"]]
    assert implicit and len(implicit) < len(violent)
    assert all(not project.matches(c["text"], "word") for c in implicit)
    assert all(project.matches(c["text"], "word") for c in violent if not c["implicit"])
    assert 0.08 <= len(implicit) / len(violent) <= 0.35  # about one in five


def test_splits_on_the_corpus_reach_the_targets(corpus, capsys):
    assert splits_main(["--data", str(corpus), "--concept", "violence", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["precision"] >= 0.98
    assert report["recall_explicit"] >= 0.98
    assert report["recall_implicit"] < 0.6
    for name in ("train_val-w-violence", "train_val-wo-violence", "test-w-violence", "test-wo-violence"):
        assert (corpus / "kw_splits" / f"{name}.txt").is_file()


def test_preview_draws_a_png(corpus, tmp_path):
    out = tmp_path / "strip.png"
    assert preview_main([str(corpus), "000000", "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 5000
    assert preview_main([str(corpus), "999999", "--out", str(out)]) == 2


@pytest.mark.slow
def test_build_cli_errors_are_one_line(tmp_path):
    existing = tmp_path / "taken"
    existing.mkdir()
    (existing / "file").write_text("x")
    for args in (["--out", str(tmp_path / "a"), "--size", "0"],
                 ["--out", str(tmp_path / "b"), "--violent-share", "1.5"],
                 ["--out", str(existing), "--size", "30"]):
        result = subprocess.run([sys.executable, "-m", "hmu_demo.data.synth", *args, "--quiet"],
                                capture_output=True, text=True, timeout=120)
        assert result.returncode == 2, result.stderr
        assert result.stderr.startswith("error:") and "Traceback" not in result.stderr
    assert synth_main(["--out", str(tmp_path / "ok"), "--size", "20", "--quiet", "--workers", "1"]) == 0


def test_ensure_corpus_reuses_a_matching_corpus(tmp_path):
    spec = CorpusSpec(size=20, seed=4)
    root = ensure_corpus(tmp_path / "c", spec, progress=False)
    stamp = (root / "labels.jsonl").stat().st_mtime_ns
    assert read_spec(root) == spec
    assert ensure_corpus(root, spec, progress=False) == root
    assert (root / "labels.jsonl").stat().st_mtime_ns == stamp


def test_support_distance_on_known_geometry():
    square = np.array([[[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]] * 4)
    points = np.array([[0.5, 0.5], [2.0, 0.5], [0.5, -0.3], [3.0, 4.0]])
    everything = np.ones((4, 4), dtype=bool)
    np.testing.assert_allclose(distance_to_support(points, square, everything), [0.0, 1.0, 0.3, np.hypot(2, 3)])
    one_foot = np.zeros((4, 4), dtype=bool)
    one_foot[:, 0] = True
    np.testing.assert_allclose(distance_to_support(points, square, one_foot),
                               np.linalg.norm(points - square[:, 0], axis=-1))


def test_generated_clips_pass_the_checks_and_record_redraws():
    for index in range(30):
        clip = generate_clip(1, index)
        label = clip.label("x")
        assert label["attempt"] == clip.attempt >= 0
        assert not check_clip("x", clip.joints, label).violations()
