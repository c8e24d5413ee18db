"""RVQ-VAE and length estimator: official state-dict layout, shapes, training behaviour."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from hmu_demo.models.length import LengthEstimator, sample_lengths
from hmu_demo.models.quantizer import QuantizeEMAReset
from hmu_demo.models.rvq import RVQVAE, VQConfig, vq_training_loss

C3 = (512, 512, 3)
C1 = (512, 512, 1)
B512 = (512,)

# The official RVQ-VAE state dict (MoMask release), written out in full: 72 tensors, 21,009,671 values.
OFFICIAL_VQ_SHAPES: dict[str, tuple[int, ...]] = {
    "encoder.model.0.weight": (512, 263, 3),
    "encoder.model.0.bias": B512,
    "encoder.model.2.0.weight": (512, 512, 4),
    "encoder.model.2.0.bias": B512,
    "encoder.model.2.1.model.0.conv1.weight": C3,
    "encoder.model.2.1.model.0.conv1.bias": B512,
    "encoder.model.2.1.model.0.conv2.weight": C1,
    "encoder.model.2.1.model.0.conv2.bias": B512,
    "encoder.model.2.1.model.1.conv1.weight": C3,
    "encoder.model.2.1.model.1.conv1.bias": B512,
    "encoder.model.2.1.model.1.conv2.weight": C1,
    "encoder.model.2.1.model.1.conv2.bias": B512,
    "encoder.model.2.1.model.2.conv1.weight": C3,
    "encoder.model.2.1.model.2.conv1.bias": B512,
    "encoder.model.2.1.model.2.conv2.weight": C1,
    "encoder.model.2.1.model.2.conv2.bias": B512,
    "encoder.model.3.0.weight": (512, 512, 4),
    "encoder.model.3.0.bias": B512,
    "encoder.model.3.1.model.0.conv1.weight": C3,
    "encoder.model.3.1.model.0.conv1.bias": B512,
    "encoder.model.3.1.model.0.conv2.weight": C1,
    "encoder.model.3.1.model.0.conv2.bias": B512,
    "encoder.model.3.1.model.1.conv1.weight": C3,
    "encoder.model.3.1.model.1.conv1.bias": B512,
    "encoder.model.3.1.model.1.conv2.weight": C1,
    "encoder.model.3.1.model.1.conv2.bias": B512,
    "encoder.model.3.1.model.2.conv1.weight": C3,
    "encoder.model.3.1.model.2.conv1.bias": B512,
    "encoder.model.3.1.model.2.conv2.weight": C1,
    "encoder.model.3.1.model.2.conv2.bias": B512,
    "encoder.model.4.weight": C3,
    "encoder.model.4.bias": B512,
    "decoder.model.0.weight": C3,
    "decoder.model.0.bias": B512,
    "decoder.model.2.0.model.0.conv1.weight": C3,
    "decoder.model.2.0.model.0.conv1.bias": B512,
    "decoder.model.2.0.model.0.conv2.weight": C1,
    "decoder.model.2.0.model.0.conv2.bias": B512,
    "decoder.model.2.0.model.1.conv1.weight": C3,
    "decoder.model.2.0.model.1.conv1.bias": B512,
    "decoder.model.2.0.model.1.conv2.weight": C1,
    "decoder.model.2.0.model.1.conv2.bias": B512,
    "decoder.model.2.0.model.2.conv1.weight": C3,
    "decoder.model.2.0.model.2.conv1.bias": B512,
    "decoder.model.2.0.model.2.conv2.weight": C1,
    "decoder.model.2.0.model.2.conv2.bias": B512,
    "decoder.model.2.2.weight": C3,
    "decoder.model.2.2.bias": B512,
    "decoder.model.3.0.model.0.conv1.weight": C3,
    "decoder.model.3.0.model.0.conv1.bias": B512,
    "decoder.model.3.0.model.0.conv2.weight": C1,
    "decoder.model.3.0.model.0.conv2.bias": B512,
    "decoder.model.3.0.model.1.conv1.weight": C3,
    "decoder.model.3.0.model.1.conv1.bias": B512,
    "decoder.model.3.0.model.1.conv2.weight": C1,
    "decoder.model.3.0.model.1.conv2.bias": B512,
    "decoder.model.3.0.model.2.conv1.weight": C3,
    "decoder.model.3.0.model.2.conv1.bias": B512,
    "decoder.model.3.0.model.2.conv2.weight": C1,
    "decoder.model.3.0.model.2.conv2.bias": B512,
    "decoder.model.3.2.weight": C3,
    "decoder.model.3.2.bias": B512,
    "decoder.model.4.weight": C3,
    "decoder.model.4.bias": B512,
    "decoder.model.6.weight": (263, 512, 3),
    "decoder.model.6.bias": (263,),
    "quantizer.layers.0.codebook": (512, 512),
    "quantizer.layers.1.codebook": (512, 512),
    "quantizer.layers.2.codebook": (512, 512),
    "quantizer.layers.3.codebook": (512, 512),
    "quantizer.layers.4.codebook": (512, 512),
    "quantizer.layers.5.codebook": (512, 512),
}

# The official length estimator state dict (MoMask release).
OFFICIAL_LENGTH_SHAPES: dict[str, tuple[int, ...]] = {
    "output.0.weight": (512, 512),
    "output.0.bias": (512,),
    "output.1.weight": (512,),
    "output.1.bias": (512,),
    "output.4.weight": (256, 512),
    "output.4.bias": (256,),
    "output.5.weight": (256,),
    "output.5.bias": (256,),
    "output.8.weight": (128, 256),
    "output.8.bias": (128,),
    "output.9.weight": (128,),
    "output.9.bias": (128,),
    "output.11.weight": (50, 128),
    "output.11.bias": (50,),
}


def tiny_config(**overrides) -> VQConfig:
    params = dict(nb_code=32, code_dim=16, output_emb_width=16, down_t=2, stride_t=2, width=32,
                  depth=1, dilation_growth_rate=3, num_quantizers=2, quantize_dropout_prob=0.2,
                  mu=0.99, dim_pose=263)
    params.update(overrides)
    return VQConfig(**params)


def synthetic_motion(batch: int = 8, frames: int = 64, dim: int = 263, seed: int = 0) -> torch.Tensor:
    """Smooth, varied, correlated sequences: a few random sinusoids mixed into all feature dims
    (real features are strongly correlated), roughly unit scale like normalised data."""
    g = torch.Generator().manual_seed(seed)
    k = 6
    t = torch.linspace(0, 1, frames)[None, :, None]
    freq = torch.rand(batch, 1, k, generator=g) * 3 + 0.5
    phase = torch.rand(batch, 1, k, generator=g) * 6.283
    amp = torch.rand(batch, 1, k, generator=g) + 0.5
    latent = amp * torch.sin(6.283 * freq * t + phase)  # (B, T, k)
    mixing = torch.randn(k, dim, generator=g) / k ** 0.5
    return latent @ mixing


@pytest.fixture(scope="module")
def trained_tiny() -> tuple[RVQVAE, torch.Tensor, float, float]:
    """A tiny RVQ-VAE after a few training steps, with its eval loss before and after."""
    torch.manual_seed(0)
    model = RVQVAE(tiny_config())
    x = synthetic_motion()

    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            recon, _, _ = model(x)
        return F.smooth_l1_loss(recon, x).item()

    model.train()
    model(x)  # first batch initialises the codebooks
    before = eval_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3, betas=(0.9, 0.99))
    model.train()
    for _ in range(60):
        recon, commit, _ = model(x)
        loss = vq_training_loss(recon, x, commit)
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    return model, x, before, after


# ---------------------------------------------------------------- (a) official layout


def test_official_vq_state_dict_matches_reference_table():
    assert len(OFFICIAL_VQ_SHAPES) == 72
    model = RVQVAE(VQConfig.official())
    sd = model.state_dict()
    assert set(sd) == set(OFFICIAL_VQ_SHAPES)
    for key, shape in OFFICIAL_VQ_SHAPES.items():
        assert tuple(sd[key].shape) == shape, key
    assert sum(v.numel() for v in sd.values()) == 21_009_671
    # EMA statistics are not state; only the codebook buffer is.
    assert not any("code_sum" in k or "code_count" in k for k in sd)
    assert "codebook" in dict(model.quantizer.layers[0].named_buffers())
    assert all(not p.requires_grad for n, p in model.named_buffers())


def test_official_dilations_and_strict_load():
    model = RVQVAE(VQConfig.official())
    for side, path in (("encoder", (2, 1)), ("decoder", (2, 0))):
        resnet = getattr(model, side).model[path[0]][path[1]]
        assert [blk.conv1.dilation[0] for blk in resnet.model] == [9, 3, 1]
        assert [blk.conv1.padding[0] for blk in resnet.model] == [9, 3, 1]
        assert isinstance(resnet.model[0].norm1, torch.nn.Identity)
        assert resnet.model[0].dropout.p == pytest.approx(0.2)
    # A checkpoint with exactly these keys loads strictly into a fresh model.
    fake = {k: torch.full(v, 0.5) for k, v in OFFICIAL_VQ_SHAPES.items()}
    RVQVAE(VQConfig.official()).load_state_dict(fake, strict=True)


def test_vq_config_from_opt_strings():
    opt = {
        "nb_code": 512, "code_dim": 512, "output_emb_width": 512, "down_t": 2, "stride_t": 2,
        "width": 512, "depth": 3, "dilation_growth_rate": 3, "vq_act": "relu", "vq_norm": "None",
        "num_quantizers": 6, "shared_codebook": False, "quantize_dropout_prob": 0.2, "mu": 0.99,
        "milestones": "[150000, 250000]", "dim_pose": 263, "batch_size": 256,
    }
    assert VQConfig.from_opt(opt) == VQConfig.official()
    as_strings = {k: str(v) for k, v in opt.items()}
    assert VQConfig.from_opt(as_strings) == VQConfig.official()
    kit = VQConfig.from_opt({**opt, "dim_pose": 251, "quantize_dropout_prob": "0.5"})
    assert kit.dim_pose == 251 and kit.quantize_dropout_prob == 0.5
    assert VQConfig.from_dict(VQConfig.official().to_dict()) == VQConfig.official()
    with pytest.raises(ValueError, match="output_emb_width"):
        VQConfig(code_dim=256)
    with pytest.raises(ValueError):
        VQConfig.from_opt({**opt, "nb_code": "many"})


def test_shared_codebook_keeps_one_key_per_layer():
    model = RVQVAE(tiny_config(shared_codebook=True, num_quantizers=3))
    keys = [k for k in model.state_dict() if k.startswith("quantizer.")]
    assert keys == [f"quantizer.layers.{q}.codebook" for q in range(3)]
    assert model.codebook(0) is model.codebook(2)


# ---------------------------------------------------------------- (b) length estimator


def test_length_estimator_state_dict_and_sampling():
    est = LengthEstimator(512, 50)
    sd = est.state_dict()
    assert set(sd) == set(OFFICIAL_LENGTH_SHAPES)
    for key, shape in OFFICIAL_LENGTH_SHAPES.items():
        assert tuple(sd[key].shape) == shape, key
    assert sum(v.numel() for v in sd.values()) == 435_122
    kinds = [type(m).__name__ for m in est.output]
    assert kinds == ["Linear", "LayerNorm", "LeakyReLU", "Dropout", "Linear", "LayerNorm", "LeakyReLU",
                     "Dropout", "Linear", "LayerNorm", "LeakyReLU", "Linear"]
    assert est.output[2].negative_slope == pytest.approx(0.2)
    est.eval()
    logits = est(torch.randn(3, 512))
    assert logits.shape == (3, 50)

    # Sampling follows the softmax, is reproducible with a generator, and never returns 0.
    peaked = torch.full((4, 50), -1e4)
    peaked[:, 0] = 0.0  # all mass on length 0: the official code would return 0 tokens
    assert sample_lengths(peaked).tolist() == [1, 1, 1, 1]
    peaked2 = torch.full((2, 50), -1e4)
    peaked2[:, 37] = 0.0
    assert sample_lengths(peaked2).tolist() == [37, 37]
    flat = torch.zeros(64, 50)
    a = sample_lengths(flat, torch.Generator().manual_seed(5))
    b = sample_lengths(flat, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and a.dtype == torch.long and int(a.min()) >= 1 and int(a.max()) <= 49
    assert len(set(a.tolist())) > 10  # a sample, not an argmax
    with pytest.raises(ValueError):
        est(torch.randn(2, 384))


# ---------------------------------------------------------------- (c) tiny shapes


def test_tiny_shapes_encode_decode_and_padding():
    torch.manual_seed(1)
    model = RVQVAE(tiny_config())
    x = synthetic_motion(batch=3)
    model.train()
    recon, commit, perplexity = model(x)  # initialises the codebooks
    assert recon.shape == (3, 64, 263) and commit.dim() == 0 and perplexity.dim() == 0
    model.eval()
    ids, quantised = model.encode(x)
    assert ids.shape == (3, 16, 2) and ids.dtype == torch.long
    assert int(ids.min()) >= 0 and int(ids.max()) < 32
    assert quantised.shape == (2, 3, 16, 16)  # (Q, B, code_dim, T/4)
    # Per-layer quantised vectors are the codebook rows of the ids.
    for q in range(2):
        rows = model.codebook(q)[ids[..., q]]  # (B, N, D)
        assert torch.allclose(quantised[q].permute(0, 2, 1), rows)
    out = model.forward_decoder(ids)
    assert out.shape == (3, 64, 263)
    # Index -1 is a zero vector: layer 1 = -1 decodes exactly like the base layer alone.
    padded = ids.clone()
    padded[..., 1] = -1
    base_only = model.forward_decoder(ids[..., :1])
    assert torch.allclose(model.forward_decoder(padded), base_only)
    codes = model.get_codes_from_indices(padded)
    assert codes.shape == (2, 3, 16, 16) and torch.count_nonzero(codes[1]) == 0
    assert not torch.allclose(base_only, out)  # the residual layer does contribute
    # Decoding the encoded ids reproduces the eval-mode reconstruction.
    with torch.no_grad():
        recon_eval, _, _ = model(x)
    assert torch.allclose(out, recon_eval, atol=1e-5)
    with pytest.raises(ValueError):
        model.forward_decoder(torch.zeros(1, 4, 3, dtype=torch.long))  # more layers than Q
    with pytest.raises(ValueError):
        model.forward_decoder(torch.full((1, 4, 2), 32))
    with pytest.raises(ValueError):
        model.encode(torch.zeros(1, 64, 251))
    with pytest.raises(IndexError):
        model.codebook(2)


# ---------------------------------------------------------------- (d) training


def test_training_reduces_reconstruction_loss(trained_tiny):
    model, x, before, after = trained_tiny
    assert after < 0.8 * before, (before, after)


def test_training_updates_codebook_but_encode_and_eval_do_not(trained_tiny):
    model, x, _, _ = trained_tiny
    model = copy.deepcopy(model)
    cb = model.codebook(0).clone()
    model.eval()
    with torch.no_grad():
        model(x)
    assert torch.equal(model.codebook(0), cb)
    model.train()
    model.encode(x)  # encoding never updates codebooks, whatever the mode
    assert torch.equal(model.codebook(0), cb)
    with torch.no_grad():
        model(x)
    assert not torch.equal(model.codebook(0), cb)


def test_ema_reset_revives_dead_codes():
    torch.manual_seed(2)
    layer = QuantizeEMAReset(nb_code=32, code_dim=8, mu=0.99)
    data = torch.randn(4, 8, 64) * 2.0  # (B, D, N): 256 vectors
    layer.train()
    layer(data)  # init from the first batch
    with torch.no_grad():
        layer.codebook[4:] = 1e3  # 28 codes that no vector will ever pick
    layer.eval()
    _, idx, _, _ = layer(data)
    dead_usage = len(torch.unique(idx))
    assert dead_usage <= 4
    layer.train()
    for _ in range(3):
        layer(data)
    assert float(layer.codebook.abs().max()) < 100.0  # every dead code was reset into the data
    layer.eval()
    _, idx, _, perplexity = layer(data)
    assert len(torch.unique(idx)) > 20 > dead_usage
    assert float(perplexity) > 10.0


def test_quantize_dropout_masks_trailing_layers():
    torch.manual_seed(3)
    model = RVQVAE(tiny_config(num_quantizers=4, quantize_dropout_prob=1.0))
    x = synthetic_motion(batch=2)
    model.train()
    seen_cuts = set()
    for _ in range(20):
        z = model.encoder(x.permute(0, 2, 1))
        _, ids, commit, _ = model.quantizer(z, 0.5)
        active = (ids[0, 0] >= 0).tolist()
        n_active = sum(active)
        assert active == [True] * n_active + [False] * (4 - n_active)  # a prefix stays
        assert n_active >= 1 and torch.isfinite(commit)
        seen_cuts.add(n_active)
    assert len(seen_cuts) >= 3


# ---------------------------------------------------------------- (e) determinism


def test_eval_mode_is_deterministic(trained_tiny):
    model, x, _, _ = trained_tiny
    model.eval()
    with torch.no_grad():
        r1, c1, p1 = model(x)
        r2, c2, p2 = model(x)
    assert torch.equal(r1, r2) and torch.equal(c1, c2) and torch.equal(p1, p2)
    ids1, _ = model.encode(x)
    ids2, _ = model.encode(x)
    assert torch.equal(ids1, ids2)
    assert torch.equal(model.forward_decoder(ids1), model.forward_decoder(ids2))


# ---------------------------------------------------------------- (f) round trip


def test_state_dict_round_trip(trained_tiny, tmp_path):
    from safetensors.torch import load_file, save_file

    model, x, _, _ = trained_tiny
    model.eval()
    path = tmp_path / "vq.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    clone = RVQVAE(VQConfig.from_dict(model.cfg.to_dict()))
    clone.load_state_dict(load_file(str(path)), strict=True)
    clone.eval()
    with torch.no_grad():
        assert torch.equal(clone(x)[0], model(x)[0])
    assert torch.equal(clone.encode(x)[0], model.encode(x)[0])
    # A loaded codebook counts as initialised: training continues from it instead of re-drawing it.
    assert all(layer.initted for layer in clone.quantizer.layers)

    def no_reinit(*args, **kwargs):
        raise AssertionError("a loaded codebook must not be re-initialised")

    for layer in clone.quantizer.layers:
        layer._init_from = no_reinit
    clone.train()
    with torch.no_grad():
        clone(x)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu(trained_tiny):
    model, x, _, _ = trained_tiny
    model = copy.deepcopy(model).eval()
    gpu = copy.deepcopy(model).cuda()
    with torch.no_grad():
        ref = model(x)[0]
        out = gpu(x.cuda())[0].cpu()
    assert torch.allclose(out, ref, atol=1e-3)
    ids = model.encode(x)[0]
    assert torch.equal(gpu.encode(x.cuda())[0].cpu(), ids)
    gpu.train()
    recon, commit, _ = gpu(x.cuda())  # training step on GPU (EMA stats follow the device)
    vq_training_loss(recon, x.cuda(), commit).backward()
