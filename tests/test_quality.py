"""hmu_demo.eval.quality: rates with Wilson intervals, single-action captions, the CLI end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.models.judge.scoring import DEFAULT_CHECKPOINT
from hmu_demo.data.lexicon import load_lexicon
from hmu_demo.eval.cases import caption_actions, load_cases, single_action, split_groups
from hmu_demo.eval.metrics import wilson_interval
from hmu_demo.eval.quality import main

RATES = ("action_top1", "violent_share_on_violent_prompts")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def corpus(small_synth_corpus: Path) -> Path:
    return small_synth_corpus


@pytest.fixture(scope="module")
def bundle(corpus: Path, tmp_path_factory) -> Path:
    from hmu_demo.models.bundle import BundleConfig, ModelBundle
    from hmu_demo.train.data import model_normalizer

    norm = model_normalizer(corpus)
    folder = tmp_path_factory.mktemp("quality") / "bundle"
    ModelBundle(BundleConfig.preset("tiny"), norm.mean, norm.std).save(folder)
    return folder


@pytest.fixture(scope="module")
def report(corpus: Path, bundle: Path) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["--data", str(corpus), "--bundle", str(bundle), "--judge", str(DEFAULT_CHECKPOINT),
                     "--json", "--limit", "4"])
    assert code == 0
    lines = out.getvalue().strip().splitlines()
    assert len(lines) == 1
    return json.loads(lines[0])


# -- pure functions ----------------------------------------------------------------------------------

@pytest.mark.parametrize("k, n, lo, hi", [(0, 10, 0.0, 0.2775), (10, 10, 0.7225, 1.0), (5, 10, 0.2366, 0.7634),
                                          (1, 1, 0.2065, 1.0)])
def test_wilson_interval_known_values(k: int, n: int, lo: float, hi: float) -> None:
    got = wilson_interval(k, n)
    assert got == pytest.approx((lo, hi), abs=1e-4)


def test_wilson_interval_edge_cases() -> None:
    assert all(math.isnan(v) for v in wilson_interval(0, 0))
    with pytest.raises(ValueError):
        wilson_interval(3, 2)


LABEL = {"segments": [
    {"action": "stand", "start": 0, "end": 10},
    {"action": "walk", "start": 10, "end": 50},
    {"action": "punch", "start": 50, "end": 70},
    {"action": "walk", "start": 70, "end": 90},
    {"action": "wave", "start": 95, "end": 95},     # empty: ignored
    {"action": "kick", "start": 100, "end": 130},   # past the clip's 90 frames: ignored
]}


@pytest.mark.parametrize("span, actions", [
    ((0, 30), ("walk",)),                  # stand padding does not count
    ((0, 10), ()),                         # only padding
    ((10, 50), ("walk",)),                 # end is exclusive: touching the punch is no overlap
    ((40, 60), ("walk", "punch")),
    ((0, 90), ("walk", "punch")),          # whole clip; walk twice is still one action
    ((55, 65), ("punch",)),
])
def test_caption_actions_and_single_action(span: tuple[int, int], actions: tuple[str, ...]) -> None:
    assert caption_actions(LABEL, span, 90) == actions
    assert single_action(LABEL, span, 90) == (actions[0] if len(actions) == 1 else None)


def test_load_cases_follow_labels(corpus: Path) -> None:
    ids, cases = load_cases(corpus, "test")
    ds = MotionDataset(corpus)
    assert ids == ds.split_ids("test")
    assert [c.motion_id for c in cases] == sorted([c.motion_id for c in cases], key=ids.index)
    labels = ds.labels()
    violent = [e for i in ids for e in labels[i]["captions"] if e["violent"]]
    assert sum(c.violent for c in cases) == len(violent)
    assert sum(c.implicit for c in cases if c.violent) == sum(e["implicit"] for e in violent)
    assert all(c.frames >= 8 for c in cases)
    for c in cases:
        if c.action is not None:  # a single-action caption's action is labelled in its clip
            assert c.action in {s["action"] for s in labels[c.motion_id]["segments"]}


def test_quick_groups_hold_one_caption_per_motion(corpus: Path) -> None:
    _, cases = load_cases(corpus, "test")
    assert len({c.motion_id for c in cases}) < len(cases)  # the corpus has several captions per motion
    groups = split_groups(cases, None)
    for group in (groups.forget, groups.forget_implicit, groups.retain, groups.composed):
        ids = [c.motion_id for c in group]
        assert len(ids) == len(set(ids))
    lexicon = load_lexicon("violence")
    eligible = {c.motion_id for c in cases if c.action is not None and not c.violent and not lexicon.matches_prompt(c.text)}
    assert eligible and {c.motion_id for c in groups.retain} == eligible  # every motion, once
    assert len(split_groups(cases, 2).retain) <= 2


# -- the CLI -------------------------------------------------------------------------------------------

def test_cli_json_report(report: dict, corpus: Path, bundle: Path) -> None:
    assert report["data"] == str(corpus) and report["split"] == "test" and report["seed"] == 0
    assert report["bundle"] == str(bundle.resolve()) and report["judge"] == str(DEFAULT_CHECKPOINT.resolve())
    assert "ground-truth crop lengths" in report["evaluator"] and report["seconds"] > 0
    assert set(report["backbones"]) == {"momask", "bamm"}
    _, cases = load_cases(corpus, "test")
    expected_n = {"action_top1": min(4, sum(c.action is not None for c in cases)),
                  "violent_share_on_violent_prompts": min(4, sum(c.violent for c in cases))}
    assert expected_n["action_top1"] == 4  # the fixture corpus has enough of both
    assert expected_n["violent_share_on_violent_prompts"] >= 1
    for metrics in report["backbones"].values():
        assert math.isfinite(metrics["recon_mpjpe_cm"]) and metrics["recon_mpjpe_cm"] > 0
        assert metrics["recon_clips"] == 4
        for name in RATES:
            assert metrics[f"{name}_n"] == expected_n[name]
            value, (lo, hi) = metrics[name], metrics[f"{name}_ci95"]
            assert 0.0 <= lo <= value <= hi <= 1.0
        split_n = (metrics["violent_share_on_violent_prompts_explicit_n"]
                   + metrics["violent_share_on_violent_prompts_implicit_n"])
        assert split_n == expected_n["violent_share_on_violent_prompts"]
    # the backbones share the VQ
    assert report["backbones"]["momask"]["recon_mpjpe_cm"] == report["backbones"]["bamm"]["recon_mpjpe_cm"]


def test_cli_table(corpus: Path, bundle: Path, capsys) -> None:
    assert main(["--data", str(corpus), "--bundle", str(bundle), "--backbones", "momask", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "momask:" in out and "bamm:" not in out and "action top-1" in out and "recon MPJPE" in out


def test_cli_missing_bundle_exits_2(corpus: Path, tmp_path: Path) -> None:
    proc = subprocess.run([sys.executable, "-m", "hmu_demo.eval.quality", "--data", str(corpus),
                           "--bundle", str(tmp_path / "nowhere"), "--json"],
                          cwd=REPO, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and "nowhere" in lines[0]


def test_cli_missing_judge_exits_2(corpus: Path, bundle: Path, tmp_path: Path, capsys) -> None:
    assert main(["--data", str(corpus), "--bundle", str(bundle), "--judge", str(tmp_path), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "judge" in err[0]


def test_cli_unlabelled_data_exits_2(bundle: Path, make_humanml3d, capsys) -> None:
    data = make_humanml3d({"a": ["a man walks"]}, splits={"test": ["a"], "train": ["a"]})
    assert main(["--data", str(data), "--bundle", str(bundle), "--json"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "labels.jsonl" in err[0]
