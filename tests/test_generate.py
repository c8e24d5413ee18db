"""The text-to-motion pipeline, its request and the generate CLI, with a tiny random bundle (no trained
weights needed)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hmu_demo.models.bundle import BundleConfig, ModelBundle
from hmu_demo.models.layers import TransformerConfig
from hmu_demo.models.rvq import VQConfig
from hmu_demo.models.text import TextEncoder
from hmu_demo.pipelines.requests import MAX_BATCH_SIZE, MAX_STEPS, GenerationRequest, RequestError
from hmu_demo.pipelines.text_to_motion import Motion, TextToMotionPipeline, prompt_seed
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.report import EditReport

REPO = Path(__file__).resolve().parent.parent


def tiny_bundle(seed: int = 0) -> ModelBundle:
    torch.manual_seed(seed)
    t = TransformerConfig(latent_dim=32, ff_size=64, n_layers=1, n_heads=2, dropout=0.1, cond_drop_prob=0.1,
                          clip_dim=384, num_tokens=16, code_dim=16, num_quantizers=6, max_len=64,
                          max_motion_tokens=12)
    cfg = BundleConfig(vq=VQConfig(nb_code=16, code_dim=16, output_emb_width=16, width=16, depth=1),
                       masked=t, residual=t, bamm=t, length_hidden=16, text_encoder="minilm", clip_dim=384)
    rng = np.random.default_rng(seed)
    bundle = ModelBundle(cfg, rng.standard_normal(263) * 0.1, rng.uniform(0.05, 0.2, 263))
    for layer in bundle.vq.quantizer.layers:
        layer.codebook.normal_()
    return bundle


class HashEncoder(TextEncoder):
    """Deterministic stand-in for MiniLM (same name and width): a unit vector from the prompt's hash."""

    name, dim = "minilm", 384

    def __init__(self) -> None:
        self.device = torch.device("cpu")

    def encode(self, texts):
        rows = []
        for t in texts:
            g = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(t.encode()).digest()[:6], "little"))
            v = torch.randn(self.dim, generator=g)
            rows.append(v / v.norm())
        return torch.stack(rows) if rows else torch.zeros(0, self.dim)


@pytest.fixture(scope="module")
def pipeline() -> TextToMotionPipeline:
    return TextToMotionPipeline(tiny_bundle(), HashEncoder(), device="cpu")


def generate(pipeline: TextToMotionPipeline, prompts, lengths=None, **settings) -> list[Motion]:
    """The pipeline's motions for one request (lists in, as a caller has them)."""
    return pipeline(GenerationRequest(prompts, None if lengths is None else tuple(lengths), **settings)).motions


PROMPTS = ["a person jumps twice", "a man walks forward", "someone waves"]


def check_motion(m: Motion, frames: int) -> None:
    n = frames // 4
    assert m.length_frames == frames
    assert m.tokens.shape == (n, 6) and m.tokens.dtype == np.int64
    assert ((m.tokens[:, 0] >= 0) & (m.tokens[:, 0] < 16)).all()
    assert ((m.tokens >= -1) & (m.tokens < 16)).all()  # residual "no code" is -1
    assert m.features.shape == (frames, 263) and m.features.dtype == np.float32
    assert m.joints.shape == (frames, 22, 3) and m.joints.dtype == np.float32
    assert np.isfinite(m.features).all() and np.isfinite(m.joints).all()


@pytest.mark.parametrize("backbone", ["momask", "bamm"])
def test_shapes_lengths_and_batch_independence(pipeline: TextToMotionPipeline, backbone: str) -> None:
    batch = generate(pipeline, PROMPTS, [40, 22, 70], seed=5, steps=3, backbone=backbone)
    for m, frames in zip(batch, [40, 20, 48 if backbone == "bamm" else 68]):  # bamm horizon: 12 tokens
        check_motion(m, frames)
    alone = generate(pipeline, [PROMPTS[1]], [22], seed=5, steps=3, backbone=backbone)[0]
    np.testing.assert_array_equal(alone.tokens, batch[1].tokens)
    np.testing.assert_array_equal(alone.features, batch[1].features)
    np.testing.assert_array_equal(alone.joints, batch[1].joints)
    again = generate(pipeline, list(reversed(PROMPTS)), [70, 22, 40], seed=5, steps=3, backbone=backbone)
    np.testing.assert_array_equal(again[2].tokens, batch[0].tokens)
    np.testing.assert_array_equal(again[2].joints, batch[0].joints)


def test_batches_are_capped_and_give_the_same_motions(pipeline: TextToMotionPipeline) -> None:
    """Many prompts run in bounded batches; a prompt's motion does not depend on its batch."""
    whole = generate(pipeline, PROMPTS, [40, 22, 70], seed=5, steps=2)
    in_ones = generate(pipeline, PROMPTS, [40, 22, 70], seed=5, steps=2, batch_size=1)
    for a, b in zip(whole, in_ones):
        np.testing.assert_array_equal(a.joints, b.joints)
    for bad in (0, -1, MAX_BATCH_SIZE + 1, 2.5, True):
        with pytest.raises(ValueError, match="batch_size must be an integer from 1 to 64"):
            generate(pipeline, PROMPTS, [40, 22, 70], batch_size=bad)
    with pytest.raises(ValueError, match=f"steps must be an integer from 1 to {MAX_STEPS}"):
        generate(pipeline, PROMPTS, [40, 22, 70], steps=MAX_STEPS + 1)


def test_seed_determinism_and_estimated_lengths(pipeline: TextToMotionPipeline) -> None:
    a = generate(pipeline, PROMPTS, None, seed=1, steps=2)
    b = generate(pipeline, PROMPTS, None, seed=1, steps=2)
    for x, y in zip(a, b):
        assert x.length_frames == y.length_frames and x.length_frames % 4 == 0 and 4 <= x.length_frames <= 196
        check_motion(x, x.length_frames)
        np.testing.assert_array_equal(x.tokens, y.tokens)
        np.testing.assert_array_equal(x.joints, y.joints)
    c = generate(pipeline, PROMPTS, None, seed=2, steps=2)
    assert any(x.length_frames != y.length_frames or not np.array_equal(x.tokens, y.tokens) for x, y in zip(a, c))
    # mixed: one given length, others estimated; the estimated one matches its all-estimated run
    mixed = generate(pipeline, PROMPTS, [None, 12, None], seed=1, steps=2)
    assert mixed[1].length_frames == 12 and mixed[0].length_frames == a[0].length_frames
    np.testing.assert_array_equal(mixed[0].tokens, a[0].tokens)
    assert prompt_seed(1, "x") == prompt_seed(1, "x") != prompt_seed(2, "x")


def test_features_are_denormalised(pipeline: TextToMotionPipeline) -> None:
    m = generate(pipeline, ["a person jumps twice"], [16], seed=0, steps=1)[0]
    bundle = pipeline.bundle
    ids = torch.as_tensor(m.tokens).unsqueeze(0)
    normed = bundle.vq.forward_decoder(ids)[0].detach().numpy()
    np.testing.assert_allclose(m.features, normed * bundle.std + bundle.mean, rtol=1e-5, atol=1e-5)


def test_bad_input_rejected(pipeline: TextToMotionPipeline) -> None:
    for bad in (0, -4, float("nan"), float("inf"), "40", True):
        with pytest.raises(ValueError, match="length of prompt 1"):
            generate(pipeline, ["a", "b"], [8, bad])
    with pytest.raises(ValueError, match="2 lengths for 1 prompts"):
        generate(pipeline, ["a"], [8, 8])
    with pytest.raises(ValueError, match="backbone"):
        generate(pipeline, ["a"], [8], backbone="gpt")
    with pytest.raises(ValueError, match="list of strings"):
        generate(pipeline, "a person walks")
    assert generate(pipeline, ["a"], [1000])[0].length_frames == 196  # clamped
    assert generate(pipeline, ["a"], [3])[0].length_frames == 4
    with pytest.raises(ValueError, match="trained with minilm"):
        clip = HashEncoder()
        clip.name, clip.dim = "clip", 512
        TextToMotionPipeline(pipeline.bundle, clip)


def test_requests_check_and_clean_their_input() -> None:
    request = GenerationRequest(["a  person\n walks"], [40.5], seed=3)  # a dataset caption: kept as it is
    assert request.prompts == ("a  person\n walks",) and request.lengths == (40.5,) and request.seed == 3
    typed = GenerationRequest.from_seconds(["a  person\n walks\u200b"], None, seed=3)  # a typed prompt: cleaned
    assert typed.prompts == ("a person walks",)
    for bad, message in ((dict(seed=-1), "seed must be a whole number from 0 to 2\\^63-1"),
                         (dict(seed=2 ** 63), "seed must be a whole number"), (dict(seed=1.0), "seed"),
                         (dict(steps=0), "steps must be an integer from 1 to 100"),
                         (dict(cond_scale=float("nan")), "cond_scale must be a finite number")):
        with pytest.raises(RequestError, match=message) as info:
            GenerationRequest(["a person walks"], **bad)
        assert info.value.field == next(iter(bad))
    for bad, message in (([" \n "], "must not be empty"), ([3], "list of strings")):
        with pytest.raises(RequestError, match=message):
            GenerationRequest(bad)
    for bad, message in (([" \n "], "prompt is empty"), (["walk " * 61], "at most 300"), ([3], "list of strings")):
        with pytest.raises(RequestError, match=message):
            GenerationRequest.from_seconds(bad, None)
    seconds = GenerationRequest.from_seconds(["a", "b"], 2.0)
    assert seconds.lengths == (40.0, 40.0) and GenerationRequest.from_seconds(["a"], None).lengths is None
    for bad in (0.1, 9.9, float("nan"), "3", True):
        with pytest.raises(RequestError, match="the length must be from 0.2 to 9.8 seconds"):
            GenerationRequest.from_seconds(["a"], bad)


class ForbidAllButZero:
    """A sampling constraint that forbids every code but 0, for prompts that mention kicking."""

    def forbidden_rows(self, prompts, cond):
        about = [("kick" in p) for p in prompts]
        if not any(about):
            return None
        rows = torch.zeros(len(prompts), 16, dtype=torch.bool)
        rows[torch.tensor(about), 1:] = True
        return rows


def test_an_edit_is_applied_once_and_its_constraint_gates_sampling(pipeline: TextToMotionPipeline) -> None:
    bundle = tiny_bundle()
    edit = Edit(EditReport("test", "kick", {}), constraint=ForbidAllButZero())
    gated = TextToMotionPipeline(bundle, HashEncoder(), device="cpu", edit=edit)
    assert gated.bundle is bundle  # no tensor changed: nothing copied
    prompts = ["a man kicks", "a man walks forward"]
    out = generate(gated, prompts, [16, 16], seed=2, steps=2)
    plain = generate(pipeline, prompts, [16, 16], seed=2, steps=2)
    assert out[0].gated and not out[1].gated and not plain[0].gated
    assert (out[0].tokens[:, 0] == 0).all()
    np.testing.assert_array_equal(out[1].joints, plain[1].joints)  # an ungated prompt is the original's
    codebook = "vq.quantizer.layers.0.codebook"
    edited = TextToMotionPipeline(bundle, HashEncoder(), device="cpu",
                                  edit=Edit(EditReport("test", "x", {}),
                                            {codebook: torch.zeros(16, 16)}))
    assert edited.bundle is not bundle and bundle.state_dict()[codebook].abs().sum() > 0
    assert edited.bundle.vq.quantizer.layers[1].codebook is bundle.vq.quantizer.layers[1].codebook


# ------------------------------------------------------------------------------------------- CLI


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "hmu_demo.generate", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


@pytest.mark.slow
def test_cli_uses_the_shipped_embedded_models(tmp_path: Path) -> None:
    """From a clean checkout the CLI generates with both backbones from checkpoints/embedded."""
    for backbone in ("momask", "bamm"):
        out = tmp_path / backbone
        res = run_cli("a person jumps twice", "--out", str(out), "--backbone", backbone, "--seconds", "2",
                      "--device", "cpu")
        assert res.returncode == 0, res.stderr[-2000:]
        manifest = json.loads((out / "manifest.json").read_text())
        assert manifest["bundle"].endswith("embedded") and manifest["backbone"] == backbone
        assert np.load(out / "0_joints.npy").shape == (40, 22, 3)
        assert np.load(out / "0_tokens.npy").shape == (10, 6)


def test_cli_without_models_exits_2(tmp_path: Path, monkeypatch, capsys) -> None:
    import hmu_demo.generate as generate

    monkeypatch.setattr(generate, "EMBEDDED_DIR", tmp_path / "no-embedded")
    assert generate.main(["a person walks", "--out", str(tmp_path / "o")]) == 2
    lines = [ln for ln in capsys.readouterr().err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "not trained yet" in lines[0] and "--bundle" in lines[0]
    res = run_cli("a person walks", "--out", str(tmp_path / "o"), "--bundle", str(tmp_path / "missing"))
    assert res.returncode == 2 and "Traceback" not in res.stderr and "does not exist" in res.stderr
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_writes_motions(tmp_path: Path) -> None:
    folder = tiny_bundle().save(tmp_path / "bundle")
    out = tmp_path / "out"
    res = run_cli("a person jumps twice", "a man walks", "--out", str(out), "--bundle", str(folder),
                  "--seconds", "2", "--seed", "3", "--steps", "2", "--backbone", "bamm", "--device", "cpu")
    assert res.returncode == 0, res.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert [m["prompt"] for m in manifest["motions"]] == ["a person jumps twice", "a man walks"]
    assert manifest["backbone"] == "bamm" and manifest["seed"] == 3
    for k in range(2):
        assert np.load(out / f"{k}_joints.npy").shape == (40, 22, 3)
        assert np.load(out / f"{k}_features.npy").shape == (40, 263)
        assert np.load(out / f"{k}_tokens.npy").shape == (10, 6)


def test_cli_refuses_bad_flags_in_one_line(tmp_path: Path, capsys) -> None:
    import hmu_demo.generate as generate

    for argv, fragment in ((["--steps", "0"], "argument --steps: steps must be an integer from 1 to 100"),
                           (["--batch-size", "65"], "argument --batch-size: batch_size must be an integer"),
                           (["--seconds", "12"], "the length must be from 0.2 to 9.8 seconds"),
                           (["--seed", "-3"], "argument --seed: seed must be a whole number")):
        assert generate.main(["a person walks", "--out", str(tmp_path / "o"), *argv]) == 2
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and fragment in err and len(err.splitlines()) == 1
    assert not (tmp_path / "o").exists()
