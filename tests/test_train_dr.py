"""The D_r reference bundle: ``python -m hmu_demo.train.embedded --retain-only CONCEPT``.

A 60-clip SynthMotion corpus with 30 % violent clips (forget motions in both train and val), the tiny
preset and a handful of steps per model, through the CLI; caption embeddings from the real MiniLM.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.lexicon import count_matching_lines, load_lexicon
from hmu_demo.models.bundle import ModelBundle
from hmu_demo.train.data import MotionSplit, model_normalizer
from hmu_demo.train.state_io import load_state
from hmu_demo.train.tokens import TokenTable
from hmu_demo.train.transformer import TOKENS_FILE

pytestmark = pytest.mark.slow  # every test reads one D_r training run of the whole embedded recipe

REPO = Path(__file__).resolve().parents[1]
STAGE_FILES = ("vq/vq.json", "masked/masked.json", "residual/residual.json", "bamm/bamm.json", "length/length.json")


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


def _embedded(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    # cwd outside the repository: the D_r run's default captions source (outputs/train_embedded) is absent
    return subprocess.run([sys.executable, "-m", "hmu_demo.train.embedded", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, env=_env())


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    from hmu_demo.data.synth.corpus import CorpusSpec, build_corpus

    return build_corpus(tmp_path_factory.mktemp("synth60") / "synth", CorpusSpec(size=60, violent_share=0.3),
                        workers=1, progress=False)


@pytest.fixture(scope="module")
def forget(corpus: Path) -> dict[str, set[str]]:
    """Forget ids of train and val: a caption line matching the violence lexicon (counted here directly)."""
    dataset, lexicon = MotionDataset(corpus), load_lexicon("violence")
    return {split: {i for i in dataset.split_ids(split) if count_matching_lines(dataset.caption_lines(i), lexicon)}
            for split in ("train", "val")}


@pytest.fixture(scope="module")
def dr_run(corpus: Path, tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("dr")
    work, out = root / "work", root / "bundle"
    res = _embedded("--retain-only", "violence", "--data", str(corpus), "--work", str(work), "--out", str(out),
                    "--preset", "tiny", "--vq-steps", "4", "--steps", "4", "--length-steps", "4", "--val-every", "2",
                    "--threads", "1", "--quiet", cwd=root)
    return work, out, res


def test_dr_bundle_loads_and_is_labelled(dr_run, forget) -> None:
    work, out, res = dr_run
    assert res.returncode == 0, res.stderr[-3000:]
    assert forget["train"] and forget["val"], "the corpus must put forget motions in both splits"
    bundle = ModelBundle.load(out)
    assert all(p.dtype == torch.float32 for p in bundle.parameters())
    info = json.loads((out / "bundle.json").read_text())["info"]
    retain = info["retain_only"]
    assert retain["reference"] == "D_r" and retain["concept"] == "violence"
    assert retain["match"] == "word" and retain["min_occurrence"] == 1
    assert retain["excluded"] == {"train": len(forget["train"]), "val": len(forget["val"]),
                                  "total": len(forget["train"]) + len(forget["val"])}
    assert retain["split_files"] == {"train": "kw_splits/train-wo-violence.txt", "val": "kw_splits/val-wo-violence.txt"}
    for stage in ("vq", "masked", "residual", "bamm", "length"):
        assert info["training"][stage]["steps"] == 4, stage
    assert not (out / "code_index.json.gz").exists()  # skipped by default for the reference
    assert json.loads((work / "run.json").read_text()) == {"retain_only": "violence"}


def test_dr_training_saw_no_forget_motion(dr_run, corpus: Path, forget) -> None:
    work, _, res = dr_run
    assert res.returncode == 0, res.stderr[-3000:]
    dataset = MotionDataset(corpus)
    files = {s: work.resolve() / "kw_splits" / f"{s}-wo-violence.txt" for s in ("train", "val")}
    for split, path in files.items():
        retain = path.read_text().split()
        assert retain and not set(retain) & forget[split], split
        assert sorted(retain + sorted(forget[split])) == sorted(dataset.split_ids(split))  # only forget dropped
        assert set((work / "kw_splits" / f"{split}-w-violence.txt").read_text().split()) == forget[split]
    for name in STAGE_FILES:  # every model was trained and validated on the retain files
        assert json.loads((work / name).read_text())["splits"] == [str(files["train"]), str(files["val"])], name
    # the token tables the transformers and the length estimator trained on hold the retain crops only
    saved = load_state(work / "vq" / TOKENS_FILE)
    norm = model_normalizer(corpus)
    for split in ("train", "val"):
        retain_crops = len(MotionSplit.load(corpus, files[split], norm).crops)
        assert TokenTable.from_state(saved[split]).n_crops == retain_crops
        assert retain_crops < len(MotionSplit.load(corpus, split, norm).crops)


def test_dr_work_and_init_refusals(dr_run, corpus: Path, tmp_path: Path) -> None:
    work, _, res = dr_run
    assert res.returncode == 0, res.stderr[-3000:]
    full = _embedded("--data", str(corpus), "--work", str(work), "--out", str(tmp_path / "b"), "--preset", "tiny",
                     "--vq-steps", "2", "--steps", "2", "--quiet", cwd=tmp_path)
    assert full.returncode != 0 and "use another --work" in full.stderr and "Traceback" not in full.stderr
    init = _embedded("--retain-only", "violence", "--data", str(corpus), "--init-from", str(tmp_path / "b"),
                     "--vq-steps", "2", "--steps", "2", cwd=tmp_path)
    assert init.returncode == 2 and "from scratch" in init.stderr
