"""MoMask masked/residual transformers and BAMM: official key tables, generation, CFG, training, tying."""

from __future__ import annotations

import math

import pytest
import torch

from hmu_demo.models.bamm import BAMMTransformer, hybrid_attention_mask
from hmu_demo.models.layers import TransformerConfig
from hmu_demo.models.masked import MaskTransformer
from hmu_demo.models.residual import ResidualTransformer
from hmu_demo.models.sampling import top_k_filter

TINY = TransformerConfig(latent_dim=32, ff_size=64, n_layers=2, n_heads=2, dropout=0.1, cond_drop_prob=0.1,
                         max_len=64, max_motion_tokens=12)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def encoder_table(n_layers: int = 8, d: int = 384, ff: int = 1024) -> dict[str, tuple[int, ...]]:
    table: dict[str, tuple[int, ...]] = {}
    for i in range(n_layers):
        p = f"seqTransEncoder.layers.{i}."
        table.update({
            p + "self_attn.in_proj_weight": (3 * d, d),
            p + "self_attn.in_proj_bias": (3 * d,),
            p + "self_attn.out_proj.weight": (d, d),
            p + "self_attn.out_proj.bias": (d,),
            p + "linear1.weight": (ff, d),
            p + "linear1.bias": (ff,),
            p + "linear2.weight": (d, ff),
            p + "linear2.bias": (d,),
            p + "norm1.weight": (d,),
            p + "norm1.bias": (d,),
            p + "norm2.weight": (d,),
            p + "norm2.bias": (d,),
        })
    return table


def common_table(out_classes: int) -> dict[str, tuple[int, ...]]:
    table = {
        "input_process.poseEmbedding.weight": (384, 512),
        "input_process.poseEmbedding.bias": (384,),
        "position_enc.pe": (5000, 1, 384),
        "cond_emb.weight": (384, 512),
        "cond_emb.bias": (384,),
        "output_process.dense.weight": (384, 384),
        "output_process.dense.bias": (384,),
        "output_process.LayerNorm.weight": (384,),
        "output_process.LayerNorm.bias": (384,),
        "output_process.poseFinal.weight": (out_classes, 384),
        "output_process.poseFinal.bias": (out_classes,),
    }
    table.update(encoder_table())
    return table


MASKED_TABLE = {**common_table(512), "token_emb.weight": (514, 512)}
RESIDUAL_TABLE = {
    **common_table(512),
    "embed_proj_shared_weight": (4, 513, 512),
    "token_embed_weight_": (1, 513, 512),
    "output_proj_weight_": (1, 513, 512),
    "quant_emb.weight": (384, 6),
    "quant_emb.bias": (384,),
}
BAMM_TABLE = {**common_table(513), "token_emb.weight": (515, 512)}


def assert_table(model: torch.nn.Module, table: dict, n_tensors: int, n_values: int) -> None:
    sd = model.state_dict()
    assert sorted(sd) == sorted(table)
    for key, shape in table.items():
        assert tuple(sd[key].shape) == shape, key
    assert len(sd) == n_tensors
    assert sum(v.numel() for v in sd.values()) == n_values


# ----------------------------------------------------------------------------- official tables
def test_official_masked_state_dict_table():
    assert_table(MaskTransformer(TransformerConfig.official_masked()), MASKED_TABLE, 108, 13_968_768)


def test_official_residual_state_dict_table():
    assert_table(ResidualTransformer(TransformerConfig.official_residual()), RESIDUAL_TABLE, 112, 15_284_224)


def test_official_bamm_state_dict_table():
    # MoMask's table with one more token row (515) and one more head class (513)
    assert_table(BAMMTransformer(TransformerConfig.official_bamm()), BAMM_TABLE, 108,
                 13_968_768 + 512 + 384 + 1)


def test_pe_buffer_sin_even_cos_odd():
    pe = MaskTransformer(TINY).position_enc.pe
    assert pe.shape == (64, 1, 32)
    pos = 5
    assert torch.allclose(pe[pos, 0, 0::2], torch.sin(pos * torch.exp(torch.arange(0, 32, 2) * (-math.log(1e4) / 32))))
    assert torch.allclose(pe[pos, 0, 1::2], torch.cos(pos * torch.exp(torch.arange(0, 32, 2) * (-math.log(1e4) / 32))))


def test_encoder_is_post_ln_gelu_sequence_first():
    enc = MaskTransformer(TINY).seqTransEncoder
    layer = enc.layers[0]
    assert not layer.norm_first and not layer.self_attn.batch_first and enc.norm is None
    assert MaskTransformer(TINY).output_process.LayerNorm.eps == 1e-12


def test_config_from_opt():
    opt = {"latent_dim": 384, "ff_size": 1024, "n_layers": 8, "n_heads": 6, "dropout": 0.2,
           "cond_drop_prob": 0.1, "milestones": "[50000]", "vq_norm": "None", "vq_name": "rvq_nq6",
           "gamma": 0.1}
    assert TransformerConfig.from_opt(opt) == TransformerConfig.official_masked()
    res = TransformerConfig.from_opt({**opt, "cond_drop_prob": 0.2, "share_weight": "True", "nb_code": 512})
    assert res == TransformerConfig.official_residual()
    with pytest.raises(ValueError, match="latent_dim"):
        TransformerConfig.from_opt({**opt, "latent_dim": "None"})
    with pytest.raises(ValueError, match="missing"):
        TransformerConfig.from_opt({"latent_dim": 384})


# ----------------------------------------------------------------------------- masked transformer
def test_masked_generate_shapes_pads_ranges():
    torch.manual_seed(0)
    model = MaskTransformer(TINY)
    lens = torch.tensor([7, 3, 1])
    ids = model.generate(torch.randn(3, 512), lens, timesteps=4, generator=gen(0))
    assert ids.shape == (3, 7) and ids.dtype == torch.long
    valid = torch.arange(7)[None] < lens[:, None]
    assert (ids[~valid] == -1).all()
    assert ((ids[valid] >= 0) & (ids[valid] < 512)).all()
    assert model.training  # mode restored


def test_masked_generate_deterministic_and_batch_independent():
    torch.manual_seed(0)
    model = MaskTransformer(TINY)
    cond = torch.randn(3, 512) * 3
    a = model.generate(cond, [9, 5, 3], timesteps=5, generator=gen(7))
    b = model.generate(cond, [9, 5, 3], timesteps=5, generator=gen(7))
    assert torch.equal(a, b)
    assert not torch.equal(a, model.generate(cond, [9, 5, 3], timesteps=5, generator=gen(8)))
    # one generator per sample: a sample's tokens do not depend on its batch mates
    full = model.generate(cond, [9, 5, 3], timesteps=5, generator=[gen(1), gen(2), gen(3)])
    alone = model.generate(cond[1:2], [5], timesteps=5, generator=[gen(2)])
    assert torch.equal(full[1, :5], alone[0])


def test_masked_cfg_single_batched_forward():
    torch.manual_seed(0)
    model = MaskTransformer(TINY).eval()
    batches: list[int] = []
    model.seqTransEncoder.register_forward_hook(lambda m, i, o: batches.append(i[0].shape[1]))
    model.generate(torch.randn(2, 512), [6, 4], timesteps=3, cond_scale=4.0, generator=gen(0))
    assert batches == [4, 4, 4]  # one forward of 2B per step
    ids = torch.randint(0, 512, (2, 6))
    pad = torch.zeros(2, 6, dtype=torch.bool)
    cond = torch.randn(2, 512)
    scaled = model.forward_with_cond_scale(ids, cond, pad, 3.0)
    c, u = model.trans_forward(ids, cond, pad), model.trans_forward(ids, torch.zeros_like(cond), pad)
    assert torch.allclose(scaled, u + 3.0 * (c - u), atol=1e-5)


def test_masked_schedule_remasks_only_last_predictions():
    torch.manual_seed(0)
    model = MaskTransformer(TINY)
    lens = torch.tensor([9, 4])
    inputs: list[torch.Tensor] = []
    original = model.trans_forward
    model.trans_forward = lambda ids, cond, pad: (inputs.append(ids[:2].clone()), original(ids, cond, pad))[1]
    model.generate(torch.randn(2, 512), lens, timesteps=6, generator=gen(5))
    assert len(inputs) == 6
    previous = None
    for step, tau in enumerate(torch.linspace(0, 1, 6)):
        masked = inputs[step] == model.mask_id
        expected = torch.clamp(torch.round(torch.cos(tau * math.pi / 2) * lens), min=1)
        assert masked.sum(1).tolist() == expected.long().tolist()
        valid = torch.arange(9)[None] < lens[:, None]
        assert not (masked & ~valid).any()
        if previous is not None:
            assert not (masked & ~previous).any()  # only tokens predicted in the previous step
        previous = masked


def test_top_k_counts():
    logits = torch.randn(2, 3, 512)
    assert (top_k_filter(logits, 0.9).isfinite().sum(-1) == 52).all()
    assert (top_k_filter(torch.randn(2, 3, 513), 0.9).isfinite().sum(-1) == 52).all()
    kept = top_k_filter(logits, 0.9)
    assert torch.equal(kept.argmax(-1), logits.argmax(-1))


def test_topk_one_makes_generation_greedy():
    torch.manual_seed(0)
    model = MaskTransformer(TINY)
    cond = torch.randn(2, 512)
    a = model.generate(cond, [6, 4], timesteps=3, topk_filter_thres=0.999, generator=gen(1))
    b = model.generate(cond, [6, 4], timesteps=3, topk_filter_thres=0.999, generator=gen(2))
    assert torch.equal(a, b)


def test_masked_rejects_bad_lengths():
    model = MaskTransformer(TINY)
    with pytest.raises(ValueError, match=">= 1"):
        model.generate(torch.randn(2, 512), [3, 0])
    with pytest.raises(ValueError, match="cond"):
        model.generate(torch.randn(2, 384), [3, 2])


# training tests use a small vocabulary/code width as well, to stay fast on 2 CPU cores
TRAIN = TINY.with_(num_tokens=32, code_dim=32, clip_dim=16)


def _dataset(n_layers: int | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = gen(123)
    shape = (8, 10) if n_layers is None else (8, 10, n_layers)
    ids = torch.randint(0, 8, shape, generator=g)  # a few codes of the 32: learnable
    cond = torch.randn(8, TRAIN.clip_dim, generator=g)
    lens = torch.tensor([10, 9, 8, 7, 10, 6, 5, 10])
    return ids, cond, lens


def _train_lowers_loss(model: torch.nn.Module, ids, cond, lens, steps: int = 30) -> None:
    def eval_loss() -> float:
        model.eval()
        with torch.no_grad():
            return sum(float(model(ids, cond, lens, generator=gen(s))[0]) for s in range(4)) / 4

    before = eval_loss()
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for step in range(steps):
        loss, acc = model(ids, cond, lens, generator=gen(1000 + step))
        assert 0.0 <= float(acc) <= 1.0
        opt.zero_grad()
        loss.backward()
        opt.step()
    after = eval_loss()
    assert after < 0.75 * before, (before, after)


def test_masked_training_lowers_loss():
    torch.manual_seed(0)
    ids, cond, lens = _dataset()
    _train_lowers_loss(MaskTransformer(TRAIN), ids, cond, lens)


# ----------------------------------------------------------------------------- residual transformer
def test_residual_tying():
    model = ResidualTransformer(TINY)
    for q in range(1, 5):
        out_w, emb_w = model.output_projection_table(q), model.token_embedding_table(q)
        assert out_w.data_ptr() == emb_w.data_ptr() and out_w.shape == emb_w.shape == (513, 512)
        assert torch.equal(model.output_proj_weight[q - 1], model.token_embed_weight[q])
    assert model.token_embedding_table(0).data_ptr() == model.token_embed_weight_.data_ptr()
    assert model.output_projection_table(5).data_ptr() == model.output_proj_weight_.data_ptr()
    all_ptrs = {model.token_embedding_table(0).data_ptr(), model.output_projection_table(5).data_ptr()}
    assert not all_ptrs & {model.embed_proj_shared_weight[j].data_ptr() for j in range(4)}
    assert {n for n, _ in model.named_parameters()} >= {"embed_proj_shared_weight", "token_embed_weight_",
                                                        "output_proj_weight_"}


def test_residual_generate_shapes_and_pads():
    torch.manual_seed(0)
    model = ResidualTransformer(TINY)
    lens = torch.tensor([6, 2])
    base = torch.tensor([[1, 2, 3, 4, 5, 6], [7, 8, -1, -1, -1, -1]])
    cond = torch.randn(2, 512)
    out = model.generate(base, cond, lens, generator=gen(0))
    assert out.shape == (2, 6, 6)
    assert torch.equal(out[..., 0], base)
    valid = torch.arange(6)[None] < lens[:, None]
    assert (out[~valid] == -1).all()
    assert ((out[valid] >= -1) & (out[valid] < 512)).all()
    with pytest.raises(ValueError, match="codes"):
        model.generate(torch.tensor([[1, -1, 3]]), torch.randn(1, 512), [3])
    partial = model.generate(base, cond, lens, generator=gen(0), res_layers=2)
    assert partial.shape == (2, 6, 6) and (partial[..., 3:] == -1).all()
    assert torch.equal(partial[..., :3], out[..., :3])  # same seed: the first layers draw the same noise


def test_residual_generate_single_token_sequences():
    model = ResidualTransformer(TINY)
    out = model.generate(torch.tensor([[5], [9]]), torch.randn(2, 512), [1, 1], generator=gen(0))
    assert out.shape == (2, 1, 6) and torch.equal(out[:, 0, 0], torch.tensor([5, 9]))


def test_residual_deterministic_and_one_forward_per_layer():
    torch.manual_seed(0)
    model = ResidualTransformer(TINY)
    cond = torch.randn(3, 512) * 3
    base = torch.randint(0, 512, (3, 8))
    batches: list[int] = []
    h = model.seqTransEncoder.register_forward_hook(lambda m, i, o: batches.append(i[0].shape[1]))
    a = model.generate(base, cond, [8, 5, 2], generator=gen(3))
    h.remove()
    assert batches == [6] * 5
    assert torch.equal(a, model.generate(base, cond, [8, 5, 2], generator=gen(3)))
    full = model.generate(base, cond, [8, 5, 2], generator=[gen(1), gen(2), gen(3)])
    alone = model.generate(base[1:2, :5], cond[1:2], [5], generator=[gen(2)])
    assert torch.equal(full[1, :5], alone[0])


def test_residual_cfg_matches_two_passes():
    torch.manual_seed(0)
    model = ResidualTransformer(TINY).eval()
    hist = torch.randn(2, 5, 512)
    pad = torch.tensor([[False] * 5, [False, False, True, True, True]])
    cond = torch.randn(2, 512)
    q = torch.full((2,), 3)
    scaled = model.forward_with_cond_scale(hist, 3, cond, pad, 5.0)
    c = model.project(model.trans_forward(hist, q, cond, pad), q)
    u = model.project(model.trans_forward(hist, q, torch.zeros_like(cond), pad), q)
    assert scaled.shape == (2, 513, 5)
    assert torch.allclose(scaled[0], (u + 5.0 * (c - u))[0], atol=1e-4)
    assert torch.allclose(scaled[1, :, :2], (u + 5.0 * (c - u))[1, :, :2], atol=1e-4)


def test_residual_training_lowers_loss():
    torch.manual_seed(0)
    ids, cond, lens = _dataset(n_layers=6)
    _train_lowers_loss(ResidualTransformer(TRAIN), ids, cond, lens)


# ----------------------------------------------------------------------------- BAMM
def test_hybrid_attention_mask_small_example():
    given = torch.tensor([[False, False, True, False, False]])  # text (pos 0) is forced given
    expected = torch.tensor([
        [1, 0, 1, 0, 0],  # text: given -> sees given only
        [1, 1, 1, 0, 0],  # causal past + given column 2
        [1, 0, 1, 0, 0],  # given -> given only
        [1, 1, 1, 1, 0],
        [1, 1, 1, 1, 1],
    ], dtype=torch.bool)
    assert torch.equal(hybrid_attention_mask(given)[0], expected)
    causal = hybrid_attention_mask(torch.zeros(1, 4, dtype=torch.bool))[0]
    assert torch.equal(causal, torch.ones(4, 4, dtype=torch.bool).tril())


def test_bamm_attention_is_applied():
    torch.manual_seed(0)
    model = BAMMTransformer(TINY).eval()
    cond = torch.randn(1, 512)
    ids = torch.randint(0, 512, (1, 6))
    given = torch.tensor([[False, False, False, False, True, False]])
    base = model.trans_forward(ids, cond, given)
    changed = ids.clone()
    changed[0, 2] = (ids[0, 2] + 1) % 512  # non-given token 2 = sequence position 3
    out = model.trans_forward(changed, cond, given)
    assert torch.allclose(base[..., :3], out[..., :3], atol=1e-6)  # causal: earlier outputs unchanged
    assert not torch.allclose(base[..., 3:], out[..., 3:])
    changed = ids.clone()
    changed[0, 4] = (ids[0, 4] + 1) % 512  # given token 4 is visible to every position
    assert not torch.allclose(base[..., 0], model.trans_forward(changed, cond, given)[..., 0])


def test_bamm_generate_given_and_predicted_lengths():
    torch.manual_seed(0)
    model = BAMMTransformer(TINY)
    cond = torch.randn(3, 512)
    batches: list[int] = []
    h = model.seqTransEncoder.register_forward_hook(lambda m, i, o: batches.append(i[0].shape[1]))
    ids, lens = model.generate(cond, [4, 12, 1], generator=gen(0), cache=False)
    h.remove()
    assert batches == [6] * (2 * 12)  # two passes of T steps, cond+uncond batched
    assert lens.tolist() == [4, 12, 1] and ids.shape == (3, 12)
    valid = torch.arange(12)[None] < lens[:, None]
    assert (ids[~valid] == -1).all() and ((ids[valid] >= 0) & (ids[valid] < 512)).all()
    again, _ = model.generate(cond, [4, 12, 1], generator=gen(0))
    assert torch.equal(ids, again)
    # predicted lengths: make END likely so lengths vary
    with torch.no_grad():
        model.output_process.poseFinal.bias[512] = 6.0
    ids, lens = model.generate(cond, None, generator=gen(1))
    assert ((lens >= 1) & (lens <= 12)).all() and ids.shape[1] == int(lens.max())
    valid = torch.arange(ids.shape[1])[None] < lens[:, None]
    assert (ids[~valid] == -1).all() and ((ids[valid] >= 0) & (ids[valid] < 512)).all()
    full, _ = model.generate(cond, [5, 3, 7], generator=[gen(1), gen(2), gen(3)])
    alone, _ = model.generate(cond[1:2], [3], generator=[gen(2)])
    assert torch.equal(full[1, :3], alone[0])
    with pytest.raises(ValueError, match="<= 12"):
        model.generate(cond, [4, 13, 1])


@pytest.mark.parametrize("remask, kept", [("first", [False, False, True, True, True]),
                                          ("even", [False, True, False, True, False])])
def test_bamm_refinement_keeps_given_tokens(remask, kept):
    """Pass 2 restores the kept pass-1 tokens; re-masked ones are resampled under the hybrid mask."""
    torch.manual_seed(0)
    model = BAMMTransformer(TINY)
    cond = torch.randn(1, 512)
    calls: list[torch.Tensor] = []
    original = model._sample_pass

    def spy(ids, cond_, given, *args):
        out = original(ids, cond_, given, *args)
        calls.append(out.clone())
        if given is not None:
            calls.append(given.clone())
        return out

    model._sample_pass = spy
    ids, lens = model.generate(cond, [5], remask=remask, generator=gen(4))
    pass1, pass2, given = calls
    assert given[0, :5].tolist() == kept and bool(given[0, 5])  # END slot given
    assert torch.equal(ids[0, torch.tensor(kept)], pass1[0, :5][torch.tensor(kept)])
    assert torch.equal(ids[0, ~torch.tensor(kept)], pass2[0, :5][~torch.tensor(kept)])


def test_bamm_training_lowers_loss():
    torch.manual_seed(0)
    ids, cond, lens = _dataset()
    _train_lowers_loss(BAMMTransformer(TRAIN), ids, cond, lens)
