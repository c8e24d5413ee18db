"""ModelBundle: our safetensors+JSON folder format, the official checkpoint folder, encoder checks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hmu_demo.models.bundle import BundleConfig, BundleError, ModelBundle
from hmu_demo.models.layers import TransformerConfig
from hmu_demo.models.official import CheckpointError
from hmu_demo.models.rvq import VQConfig
from hmu_demo.models.text import TextEncoder


def tiny_vq() -> VQConfig:
    return VQConfig(nb_code=16, code_dim=16, output_emb_width=16, width=16, depth=1, num_quantizers=6)


def tiny_transformer(clip_dim: int = 384, **kw) -> TransformerConfig:
    return TransformerConfig(latent_dim=32, ff_size=64, n_layers=1, n_heads=2, dropout=0.1, cond_drop_prob=0.1,
                             clip_dim=clip_dim, num_tokens=16, code_dim=16, num_quantizers=6, max_len=64,
                             max_motion_tokens=12, **kw)


def tiny_bundle(seed: int = 0, bamm: bool = True) -> ModelBundle:
    torch.manual_seed(seed)
    cfg = BundleConfig(vq=tiny_vq(), masked=tiny_transformer(), residual=tiny_transformer(),
                       bamm=tiny_transformer() if bamm else None, length_classes=50, length_hidden=16,
                       text_encoder="minilm", clip_dim=384)
    rng = np.random.default_rng(seed)
    bundle = ModelBundle(cfg, rng.standard_normal(263), rng.uniform(0.5, 1.5, 263))
    for layer in bundle.vq.quantizer.layers:  # trained-looking codebooks (the buffers start at zero)
        layer.codebook.normal_()
    return bundle


class FakeEncoder(TextEncoder):
    def __init__(self, name: str = "minilm", dim: int = 384) -> None:
        self.name, self.dim, self.device = name, dim, torch.device("cpu")

    def encode(self, texts):
        return torch.zeros(len(texts), self.dim)


def test_config_json_round_trip() -> None:
    cfg = tiny_bundle().config
    again = BundleConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg
    with pytest.raises(ValueError, match="num_tokens"):
        BundleConfig(vq=tiny_vq(), masked=tiny_transformer().with_(num_tokens=8), residual=tiny_transformer())
    with pytest.raises(ValueError, match="text_encoder"):
        BundleConfig(vq=tiny_vq(), masked=tiny_transformer(), residual=tiny_transformer(), text_encoder="glove")


def test_save_load_round_trip(tmp_path: Path) -> None:
    bundle = tiny_bundle()
    folder = bundle.save(tmp_path / "b")
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["bamm.safetensors", "bundle.json", "length.safetensors", "masked.safetensors", "mean.npy",
                     "residual.safetensors", "std.npy", "vq.safetensors"]
    loaded = ModelBundle.load(folder)
    assert loaded.config == bundle.config
    a, b = bundle.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(loaded.mean, bundle.mean)
    np.testing.assert_array_equal(loaded.std, bundle.std)
    assert not loaded.training
    # same outputs
    ids = torch.randint(0, 16, (2, 5, 6))
    torch.testing.assert_close(loaded.vq.forward_decoder(ids), bundle.vq.forward_decoder(ids), rtol=0, atol=0)
    cond = torch.randn(2, 384)
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    assert torch.equal(bundle.masked.generate(cond, [5, 3], timesteps=2, generator=g1),
                       loaded.masked.generate(cond, [5, 3], timesteps=2, generator=g2))
    # saving again over an existing bundle replaces it atomically; no temp folders are left behind
    tiny_bundle(seed=1, bamm=False).save(folder)
    assert ModelBundle.load(folder).bamm is None and not (folder / "bamm.safetensors").exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b"]


def test_load_errors_name_the_file(tmp_path: Path) -> None:
    folder = tiny_bundle(bamm=False).save(tmp_path / "b")
    (folder / "residual.safetensors").unlink()
    with pytest.raises(BundleError, match="residual.safetensors"):
        ModelBundle.load(folder)
    folder = tiny_bundle(bamm=False).save(tmp_path / "c")
    (folder / "masked.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(BundleError, match="masked.safetensors"):
        ModelBundle.load(folder)
    (folder / "std.npy").unlink()
    with pytest.raises(BundleError, match="std.npy"):
        ModelBundle.load(folder)
    with pytest.raises(BundleError, match="bundle.json"):
        ModelBundle.load(tmp_path)
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "f").write_text("keep me")
    with pytest.raises(BundleError, match="not a bundle"):
        tiny_bundle(bamm=False).save(tmp_path / "x")
    assert (tmp_path / "x" / "f").read_text() == "keep me"


def test_text_encoder_mismatch_refused() -> None:
    bundle = tiny_bundle(bamm=False)
    assert bundle.check_text_encoder(FakeEncoder()) is not None
    with pytest.raises(ValueError, match=r"trained with minilm \(384-dim\); got clip \(512-dim\)"):
        bundle.check_text_encoder(FakeEncoder("clip", 512))
    with pytest.raises(ValueError, match="got minilm"):
        bundle.check_text_encoder(FakeEncoder("minilm", 512))


# ------------------------------------------------------------------------------ official format

HEADER = "------------ Options -------------\n"
FOOTER = "-------------- End ----------------\n"
VQ_NAME = "rvq_nq6_dc16_nc16"


def write_opt(folder: Path, options: dict) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    body = "".join(f"{k}: {v}\n" for k, v in sorted(options.items()))
    (folder / "opt.txt").write_text(HEADER + body + FOOTER, encoding="utf-8")


def write_official(root: Path, bundle: ModelBundle) -> dict[str, Path]:
    """checkpoints/t2m in the official layout with the bundle's (tiny, clip_dim 512) weights."""
    vq, t2m = bundle.config.vq, root / "t2m"
    write_opt(t2m / VQ_NAME, dict(name=VQ_NAME, nb_code=vq.nb_code, code_dim=vq.code_dim,
                                  output_emb_width=vq.output_emb_width, down_t=vq.down_t, stride_t=vq.stride_t,
                                  width=vq.width, depth=vq.depth, dilation_growth_rate=3, vq_act="relu",
                                  vq_norm=None, num_quantizers=6, shared_codebook=False,
                                  quantize_dropout_prob=0.2, mu=0.99, dataset_name="t2m",
                                  milestones=[150000, 250000]))
    trans = dict(latent_dim=32, ff_size=64, n_layers=1, n_heads=2, dropout=0.1, dataset_name="t2m",
                 vq_name=VQ_NAME, milestones=[50000])
    write_opt(t2m / "t2m_tiny", dict(trans, name="t2m_tiny", cond_drop_prob=0.1))
    write_opt(t2m / "tres_tiny", dict(trans, name="tres_tiny", cond_drop_prob=0.2, share_weight=True))
    write_opt(t2m / "bamm_run", dict(trans, name="bamm_run", cond_drop_prob=0.1, trans="official"))
    files = {
        "vq": t2m / VQ_NAME / "model" / "net_best_fid.tar",
        "masked": t2m / "t2m_tiny" / "model" / "latest.tar",
        "residual": t2m / "tres_tiny" / "model" / "net_best_fid.tar",
        "bamm": t2m / "bamm_run" / "model" / "latest.tar",
        "length_estimator": t2m / "length_estimator" / "model" / "finest.tar",
    }
    content = {"vq": ("vq_model", "ep"), "masked": ("t2m_transformer", "ep"), "residual": ("res_transformer", "ep"),
               "bamm": ("t2m_transformer", "ep"), "length_estimator": ("estimator", "epoch")}
    for attr, path in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        key, ep = content[attr]
        torch.save({key: getattr(bundle, attr).state_dict(), ep: 7}, path)
    (t2m / VQ_NAME / "meta").mkdir()
    np.save(t2m / VQ_NAME / "meta" / "mean.npy", bundle.mean.astype(np.float32))
    np.save(t2m / VQ_NAME / "meta" / "std.npy", bundle.std.astype(np.float32))
    return files


def tiny_clip_bundle() -> ModelBundle:
    torch.manual_seed(1)
    clip = tiny_transformer(clip_dim=512)
    cfg = BundleConfig(vq=tiny_vq(), masked=clip, residual=clip.with_(cond_drop_prob=0.2), bamm=clip,
                       length_hidden=16, text_encoder="clip", clip_dim=512)
    bundle = ModelBundle(cfg, np.zeros(263), np.ones(263))
    for layer in bundle.vq.quantizer.layers:
        layer.codebook.normal_()
    return bundle


def test_from_official_loads_every_model(tmp_path: Path) -> None:
    source = tiny_clip_bundle()
    write_official(tmp_path / "checkpoints", source)
    loaded = ModelBundle.from_official(tmp_path / "checkpoints")
    cfg = loaded.config
    assert cfg.text_encoder == "clip" and cfg.clip_dim == 512 and loaded.bamm is not None
    assert cfg.masked.num_tokens == 16 and cfg.residual.num_quantizers == 6 and cfg.masked.max_len == 64
    assert cfg.residual.cond_drop_prob == 0.2 and cfg.length_hidden == 16 and cfg.length_classes == 50
    a, b = source.state_dict(), loaded.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    np.testing.assert_array_equal(loaded.std, source.std)
    # and it round-trips through our own format
    again = ModelBundle.load(loaded.save(tmp_path / "ours"))
    assert again.config == cfg
    # BAMM is optional
    import shutil

    shutil.rmtree(tmp_path / "checkpoints" / "t2m" / "bamm_run")
    assert ModelBundle.from_official(tmp_path / "checkpoints").bamm is None


def test_from_official_wrong_shape_names_file_and_key(tmp_path: Path) -> None:
    source = tiny_clip_bundle()
    files = write_official(tmp_path, source)
    state = source.residual.state_dict()
    state["quant_emb.weight"] = torch.zeros(32, 5)
    torch.save({"res_transformer": state, "ep": 1}, files["residual"])
    with pytest.raises(CheckpointError) as err:
        ModelBundle.from_official(tmp_path)
    assert str(files["residual"]) in str(err.value) and "quant_emb.weight" in str(err.value)
