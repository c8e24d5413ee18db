"""Training: data crops, token tables, the loop (schedule, resume, time budget), DDP, the embedded pipeline.

Everything runs the real code on the tiny preset and a 40-clip SynthMotion corpus; caption
embeddings come from the real MiniLM encoder.
"""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hmu_demo.models.bundle import BundleConfig, ModelBundle
from hmu_demo.models.official import CheckpointError
from hmu_demo.models.rvq import RVQVAE
from hmu_demo.train.config import TrainConfig
from hmu_demo.train.data import CaptionEmbeddings, MotionSplit, model_normalizer
from hmu_demo.train.loop import STATE_FILE, Schedule, initialise_from
from hmu_demo.train.state_io import load_state
from hmu_demo.train.tokens import encode_split
from hmu_demo.train.transformer import caption_embeddings
from hmu_demo.train.vq import train_vq
from hmu_demo.unlearning.code_index import CodeIndex, CodeIndexError

REPO = Path(__file__).resolve().parents[1]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}


@pytest.fixture(scope="module")
def captions(small_synth_corpus: Path, tmp_path_factory) -> Path:
    """Real MiniLM embeddings of every caption of the corpus, cached once for the module."""
    norm = model_normalizer(small_synth_corpus)
    splits = [MotionSplit.load(small_synth_corpus, s, norm) for s in ("train", "val", "test")]
    path = tmp_path_factory.mktemp("captions") / "captions.npz"
    caption_embeddings(small_synth_corpus, splits, path, progress=False)
    return path


@pytest.fixture(scope="module")
def corpus(small_synth_corpus: Path) -> Path:
    return small_synth_corpus


@pytest.fixture(scope="module")
def pipeline(corpus: Path, captions: Path, tmp_path_factory) -> tuple[Path, Path, subprocess.CompletedProcess]:
    """The whole embedded recipe on the tiny preset, through its CLI."""
    root = tmp_path_factory.mktemp("pipeline")
    work, out = root / "work", root / "bundle"
    work.mkdir()
    (work / "captions.npz").write_bytes(captions.read_bytes())
    res = subprocess.run([sys.executable, "-m", "hmu_demo.train.embedded", "--data", str(corpus), "--work",
                          str(work), "--out", str(out), "--preset", "tiny", "--vq-steps", "6", "--steps", "6",
                          "--length-steps", "6", "--val-every", "3", "--threads", "1", "--quiet"],
                         capture_output=True, text=True, timeout=300, cwd=REPO, env=_env())
    return work, out, res


# ------------------------------------------------------------------------------------ pieces


def test_schedule_warms_up_then_steps_down() -> None:
    s = Schedule(lr=1e-3, warmup=100, milestones=(0.5, 0.8), gamma=0.1)
    assert s.at(0, 10_000) == pytest.approx(1e-5)
    assert s.at(99, 10_000) == pytest.approx(1e-3)
    assert s.at(4_999, 10_000) == pytest.approx(1e-3)
    assert s.at(5_000, 10_000) == pytest.approx(1e-4)
    assert s.at(8_000, 10_000) == pytest.approx(1e-5)
    # a short run shortens the warm-up to a tenth of the run
    assert s.at(9, 100) == pytest.approx(1e-3)


def test_motion_split_crops_follow_caption_spans(corpus: Path) -> None:
    norm = model_normalizer(corpus)
    split = MotionSplit.load(corpus, "train", norm)
    labels = {json.loads(line)["id"]: json.loads(line) for line in (corpus / "labels.jsonl").read_text().splitlines()}
    spans = [c for c in split.crops if (c.start, c.stop) != (0, split.features[c.motion].shape[0])]
    assert spans, "the corpus has span captions (start#end)"
    for crop in split.crops:
        label = labels[split.ids[crop.motion]]
        assert 0 <= crop.start < crop.stop <= label["n_frames"]
        by_text = {c["text"]: c for c in label["captions"]}
        for text, violent in zip(crop.captions, crop.violent):
            assert by_text[text]["violent"] == violent
            if by_text[text]["start"] or by_text[text]["end"]:
                assert crop.start == int(by_text[text]["start"] * 20)
    # features are normalised with the model statistics (root/contact std divided by 5)
    raw = np.load(corpus / "new_joint_vecs" / f"{split.ids[0]}.npy")
    np.testing.assert_allclose(norm.denormalize(split.features[0]), raw, atol=1e-4)


def test_caption_embeddings_cache_round_trip(captions: Path) -> None:
    emb = CaptionEmbeddings.load(captions)
    assert emb.encoder == "minilm" and emb.dim == 384 and emb.embeddings.dtype == np.float16
    norms = np.linalg.norm(emb.embeddings.astype(np.float32), axis=1)
    np.testing.assert_allclose(norms, 1.0, atol=2e-3)  # unit vectors, rounded to float16
    with pytest.raises(KeyError, match="no cached embedding"):
        emb.rows(["a caption nobody wrote"])


def test_token_table_views_and_sampling(corpus: Path, captions: Path) -> None:
    torch.manual_seed(0)
    vq = RVQVAE(BundleConfig.preset("tiny").vq).eval()
    for layer in vq.quantizer.layers:
        layer.codebook.normal_()
    split = MotionSplit.load(corpus, "train", model_normalizer(corpus))
    emb = CaptionEmbeddings.load(captions)
    table = encode_split(vq, split, emb)
    assert table.n_crops == len(split.crops)
    for c, crop in enumerate(split.crops[:10]):
        views = table.variants[c].unique().tolist()
        for offset, v in enumerate(views):
            n = int(table.lengths[v])
            assert n == min((crop.n_frames - offset) // 4, 49)
            assert (table.ids[v, :n] >= 0).all() and (table.ids[v, n:] == -1).all()
        # view 0 equals encoding the crop directly
        n = int(table.lengths[table.variants[c, 0]])
        x = torch.from_numpy(split.crop_features(crop)[: n * 4]).unsqueeze(0)
        direct, _ = vq.encode(x)
        assert torch.equal(direct[0], table.ids[table.variants[c, 0], :n])
        rows = table.caption_rows[table.caption_start[c]: table.caption_start[c] + table.caption_count[c]]
        assert [emb.texts[r] for r in rows.tolist()] == list(crop.captions)
    ids, lengths, rows = table.sample(16, torch.Generator().manual_seed(1))
    assert ids.shape[0] == 16 and ids.shape[1] == int(lengths.max()) and ids.shape[2] == 6
    for i in range(16):
        assert (ids[i, : lengths[i]] >= 0).all() and (ids[i, lengths[i]:] == -1).all()
    seen = sum(len(b[2]) for b in table.batches(7))
    assert seen == int(table.caption_count.sum())


# ------------------------------------------------------------------------------------ the loop


def _train_vq(corpus: Path, out: Path, **kw) -> dict:
    config = TrainConfig(out=out, data=corpus, batch_size=8, device="cpu", val_every=4, quiet=True, **kw)
    return train_vq(config, BundleConfig.preset("tiny").vq, window=32)


def test_vq_training_resumes_where_it_stopped(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "vq"
    first = _train_vq(corpus, out, steps=4)
    assert first["finished"] and first["steps"] == 4
    state = load_state(out / STATE_FILE)
    assert state["step"] == 4
    meta = json.loads((out / "vq.json").read_text())
    assert meta["metrics"]["mpjpe_cm"] > 0 and "global_mpjpe_cm" in meta["metrics"]
    second = _train_vq(corpus, out, steps=8, resume=True)
    assert second["steps"] == 8 and second["finished"]
    log = (out / "train.log").read_text()
    assert "resumed at step 4" in log
    assert load_state(out / STATE_FILE)["step"] == 8


def test_time_budget_stops_resumably(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "vq"
    summary = _train_vq(corpus, out, steps=10_000, max_minutes=1e-6)
    assert not summary["finished"] and summary["steps"] == 1
    assert (out / "vq.safetensors").is_file()  # the best-so-far weights are exported on the way out
    assert "run again with --resume" in (out / "train.log").read_text()


def test_vq_cli_refuses_without_length_or_budget(corpus: Path, tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "hmu_demo.train.vq", "--data", str(corpus), "--out",
                          str(tmp_path / "vq")], capture_output=True, text=True, timeout=60, cwd=REPO, env=_env())
    assert res.returncode != 0 and "--steps" in res.stderr and "Traceback" not in res.stderr


@pytest.mark.slow
def test_torchrun_two_processes_on_cpu(corpus: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          "-m", "hmu_demo.train.vq", "--data", str(corpus), "--out", str(out), "--preset", "tiny",
                          "--steps", "4", "--val-every", "2", "--batch-size", "4", "--window", "32", "--device",
                          "cpu", "--threads", "1", "--quiet"],
                         capture_output=True, text=True, timeout=180, cwd=REPO, env=_env())
    assert res.returncode == 0, res.stderr[-2000:]
    log = (out / "train.log").read_text()
    assert "x2" in log and "finished 4 steps" in log
    assert json.loads((out / "vq.json").read_text())["batch_size"] == 8  # per-process batch x world size


# ------------------------------------------------------------------------------------ the pipeline


@pytest.mark.slow
def test_embedded_pipeline_builds_a_bundle_that_generates(pipeline, corpus: Path) -> None:
    work, out, res = pipeline
    assert res.returncode == 0, res.stderr[-3000:]
    meta = json.loads((out / "bundle.json").read_text())
    assert meta["weights_dtype"] == "float16"
    training = meta["info"]["training"]
    for stage in ("vq", "masked", "residual", "bamm", "length"):
        assert training[stage]["steps"] == 6, stage
        assert (work / stage / "train.log").is_file()
    bundle = ModelBundle.load(out)
    assert all(p.dtype == torch.float32 for p in bundle.parameters())
    from hmu_demo.pipelines.requests import GenerationRequest
    from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline

    gen = TextToMotionPipeline(bundle, bundle.make_text_encoder("cpu"), device="cpu")
    for backbone in ("momask", "bamm"):
        (motion,) = gen(GenerationRequest(("a person jumps twice",), (40,), seed=1, steps=2, backbone=backbone)).motions
        assert motion.tokens.shape == (10, 6) and motion.joints.shape == (40, 22, 3)
        assert np.isfinite(motion.joints).all()


@pytest.mark.slow
def test_pipeline_rerun_skips_finished_stages(pipeline, corpus: Path) -> None:
    work, out, _ = pipeline
    before = {s: (work / s / "train.log").read_text() for s in ("vq", "masked", "length")}
    res = subprocess.run([sys.executable, "-m", "hmu_demo.train.embedded", "--data", str(corpus), "--work",
                          str(work), "--out", str(out), "--preset", "tiny", "--vq-steps", "6", "--steps", "6",
                          "--threads", "1", "--quiet"],
                         capture_output=True, text=True, timeout=300, cwd=REPO, env=_env())
    assert res.returncode == 0, res.stderr[-2000:]
    for stage, text in before.items():
        assert (work / stage / "train.log").read_text() == text, f"{stage} was trained again"
    assert (out / "code_index.json.gz").is_file()  # the re-assembled bundle gets its index again


@pytest.mark.slow
def test_vq_from_reuses_a_bundles_tokenizer(pipeline, corpus: Path, captions: Path, tmp_path: Path) -> None:
    """--vq-from: the new bundle's VQ and normaliser are the given bundle's, bit for bit; the rest is trained."""
    _, source, _ = pipeline
    work, out = tmp_path / "work", tmp_path / "bundle"
    work.mkdir()
    (work / "captions.npz").write_bytes(captions.read_bytes())
    res = subprocess.run([sys.executable, "-m", "hmu_demo.train.embedded", "--data", str(corpus), "--work",
                          str(work), "--out", str(out), "--preset", "tiny", "--vq-from", str(source), "--steps", "4",
                          "--steps-of", "bamm=3", "--length-steps", "4", "--val-every", "2", "--threads", "1", "--no-code-index", "--quiet"],
                         capture_output=True, text=True, timeout=300, cwd=REPO, env=_env())
    assert res.returncode == 0, res.stderr[-2000:]
    old, new = ModelBundle.load(source), ModelBundle.load(out)
    for key, value in old.vq.state_dict().items():
        assert torch.equal(new.vq.state_dict()[key], value), key
    np.testing.assert_array_equal(new.mean, old.mean)
    np.testing.assert_array_equal(new.std, old.std)
    assert not (work / "vq" / "train.log").exists()  # nothing was trained for the VQ
    info = json.loads((out / "bundle.json").read_text())["info"]["training"]
    assert info["vq"]["reused_from"] == str(source)
    assert (info["masked"]["steps"], info["bamm"]["steps"]) == (4, 3)
    refused = subprocess.run([sys.executable, "-m", "hmu_demo.train.embedded", "--data", str(corpus), "--retain-only",
                              "violence", "--vq-from", str(source), "--steps", "4"],
                             capture_output=True, text=True, timeout=120, cwd=REPO, env=_env())
    assert refused.returncode == 2 and "saw the forget motions" in refused.stderr


@pytest.mark.slow
def test_code_index_matches_the_bundle(pipeline, corpus: Path) -> None:
    _, out, _ = pipeline
    index = CodeIndex.load(out / "code_index.json.gz")
    bundle = ModelBundle.load(out)
    train_ids = (corpus / "train.txt").read_text().split()
    assert [m.id for m in index.motions] == train_ids
    labels = {json.loads(line)["id"]: json.loads(line) for line in (corpus / "labels.jsonl").read_text().splitlines()}
    norm = bundle.normalizer
    for m in index.motions[:5]:
        feats = np.load(corpus / "new_joint_vecs" / f"{m.id}.npy")
        n = feats.shape[0] // 4 * 4
        ids, _ = bundle.vq.encode(torch.from_numpy(norm.normalize(feats[:n]).astype(np.float32))[None])
        values, counts = np.unique(ids[0, :, 0].numpy(), return_counts=True)
        assert m.codes == tuple(values.tolist()) and m.counts == tuple(counts.tolist())
        assert m.violent == labels[m.id]["violent"]
        assert set(m.actions) == {s["action"] for s in labels[m.id]["segments"]}
        assert m.captions == tuple(c["text"] for c in labels[m.id]["captions"])
    used = index.usage()
    assert used.sum() == sum(len(m.codes) for m in index.motions)
    code = int(np.argmax(used))
    assert len(index.motions_using(code)) == used[code]
    assert index.usage(True).sum() + index.usage(False).sum() == used.sum()


def test_code_index_rejects_bad_files(tmp_path: Path) -> None:
    with pytest.raises(CodeIndexError, match="does not exist"):
        CodeIndex.load(tmp_path / "missing.json.gz")
    bad = tmp_path / "bad.json.gz"
    bad.write_bytes(b"not gzip")
    with pytest.raises(CodeIndexError, match="cannot read"):
        CodeIndex.load(bad)
    other = tmp_path / "other.json.gz"
    with gzip.open(other, "wt") as fh:
        json.dump({"format": "something-else"}, fh)
    with pytest.raises(CodeIndexError, match="not an hmu-code-index"):
        CodeIndex.load(other)
    wrong = tmp_path / "wrong.json.gz"
    with gzip.open(wrong, "wt") as fh:
        json.dump({"format": "hmu-code-index", "version": 1, "nb_code": 4,
                   "motions": [{"id": "a", "captions": [], "violent": None, "actions": [], "codes": [9],
                                "counts": [1]}]}, fh)
    with pytest.raises(CodeIndexError, match="bad codes"):
        CodeIndex.load(wrong)


def test_init_from_weights_and_refusal_of_wrong_ones(corpus: Path, tmp_path: Path) -> None:
    first = tmp_path / "a"
    _train_vq(corpus, first, steps=2)
    second = _train_vq(corpus, tmp_path / "b", steps=2, init=first / "vq.safetensors")
    assert second["finished"]
    with pytest.raises(CheckpointError, match="vq.safetensors"):
        initialise_from(RVQVAE(BundleConfig.preset("embedded").vq), first / "vq.safetensors")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        initialise_from(RVQVAE(BundleConfig.preset("tiny").vq), tmp_path / "none.safetensors")
