"""BAMM incremental (key/value cache) decoding against the uncached reference: per-step logits, ids, cost."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import hmu_demo.models.bamm as bamm_module
from hmu_demo.models.bamm import BAMMTransformer
from hmu_demo.models.layers import TransformerConfig
from hmu_demo.models.sampling import lengths_to_mask

REPO = Path(__file__).resolve().parent.parent
T = 12
TINY = TransformerConfig(latent_dim=32, ff_size=64, n_layers=2, n_heads=2, dropout=0.1, cond_drop_prob=0.1,
                         max_len=64, max_motion_tokens=T)
LENS = [4, 12, 1, 7, 9]


def gens(seeds) -> list[torch.Generator]:
    return [torch.Generator().manual_seed(int(s)) for s in seeds]


@pytest.fixture(scope="module")
def model() -> BAMMTransformer:
    """Tiny float64 BAMM; weights scaled up from the N(0, 0.02) init so that logits are far from uniform."""
    torch.manual_seed(0)
    m = BAMMTransformer(TINY).double().eval()
    with torch.no_grad():
        for p in m.parameters():
            p.add_(torch.randn_like(p) * 0.3)
    return m


@pytest.fixture(scope="module")
def cond() -> torch.Tensor:
    return torch.randn(len(LENS), 512, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


@pytest.fixture
def record(monkeypatch):
    """Collects the (B, V) logits of every sampling step of either path."""
    steps: list[torch.Tensor] = []
    real = bamm_module.gumbel_sample

    def spy(logits, noise):
        steps.append(logits.clone())
        return real(logits, noise)

    monkeypatch.setattr(bamm_module, "gumbel_sample", spy)
    return steps


def _given(kind: str, ids: torch.Tensor, lens: torch.Tensor) -> torch.Tensor | None:
    """Given slots as generate builds them (remask 'first' / 'even'), random ones, or None (pass 1)."""
    if kind == "causal":
        return None
    keep = lengths_to_mask(lens, T + 1)
    end = torch.zeros_like(keep).scatter(1, lens.unsqueeze(1), True)
    if kind == "first":
        kept = torch.arange(T + 1)[None] >= torch.round(0.5 * lens.float()).clamp(min=1)[:, None]
    elif kind == "even":
        kept = torch.zeros_like(keep)
        kept[:, 1::2] = True
    else:
        kept = torch.rand(keep.shape, generator=torch.Generator().manual_seed(7)) < 0.4
    return (kept & keep) | end


@pytest.mark.parametrize("kind", ["causal", "first", "even", "random"])
@pytest.mark.parametrize("with_lens", [True, False])
def test_every_step_logits_match(model, cond, record, kind, with_lens):
    """prune=False: every output of every step (kept or discarded) equals the uncached forward's."""
    lens = torch.tensor(LENS)
    ids = torch.randint(0, 512, (len(LENS), T + 1), generator=torch.Generator().manual_seed(3))
    given = _given(kind, ids, lens)
    lens_arg = lens if with_lens else None
    allow_end = given is None and not with_lens
    ref = model._sample_pass_uncached(ids, cond, given, 3.0, allow_end, gens(range(5)), lens_arg)
    ref_steps = list(record)
    record.clear()
    out = model._sample_pass_cached(ids, cond, given, 3.0, allow_end, gens(range(5)), lens_arg, prune=False)
    assert len(record) == len(ref_steps) == (max(LENS) if with_lens else T)
    for k, (a, b) in enumerate(zip(ref_steps, record)):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-9), f"step {k}: {(a - b).abs().max()}"
    assert torch.equal(ref, out)


@pytest.mark.parametrize("kind", ["first", "even", "random"])
def test_pruned_pass_matches_where_generate_keeps(model, cond, record, kind):
    """prune=True (default): the slots generate keeps (not given, before the length) are identical, and
    their logits match; the network stops after the last such slot (noise is still drawn)."""
    lens = torch.tensor(LENS)
    ids = torch.randint(0, 512, (len(LENS), T + 1), generator=torch.Generator().manual_seed(4))
    given = _given(kind, ids, lens)
    g_ref, g_new = gens(range(5)), gens(range(5))
    ref = model._sample_pass_uncached(ids, cond, given, 3.0, False, g_ref, lens)
    ref_steps = list(record)
    record.clear()
    out = model._sample_pass_cached(ids, cond, given, 3.0, False, g_new, lens)
    wanted = ~given & lengths_to_mask(lens, T + 1)
    assert torch.equal(ref[wanted], out[wanted])
    for k, b in enumerate(record):
        rows = wanted[:, k]
        assert torch.allclose(ref_steps[k][rows], b[rows], rtol=1e-9, atol=1e-9)
    last = int(wanted.any(dim=0).nonzero().max())
    assert len(record) == last + 1
    assert [torch.rand(1, generator=g).item() for g in g_ref] == [torch.rand(1, generator=g).item() for g in g_new]


@pytest.mark.parametrize("remask", ["first", "even"])
@pytest.mark.parametrize("lengths", [LENS, None])
@pytest.mark.parametrize("forbid", [False, True])
def test_generate_ids_identical(model, cond, remask, lengths, forbid):
    forbidden = None
    if forbid:
        forbidden = torch.zeros(len(LENS), 512, dtype=torch.bool)
        forbidden[0, :300] = True
        forbidden[3, ::2] = True
    if lengths is None:  # predicted lengths: make END likely enough that the lengths vary
        bias = model.output_process.poseFinal.bias
        saved = bias[512].item()
        bias.data[512] = saved + 4.0
    try:
        seen_lens = set()
        for seed in range(4):
            kwargs = dict(remask=remask, forbidden=forbidden)
            a = model.generate(cond, lengths, generator=gens(range(seed * 10, seed * 10 + 5)), cache=False, **kwargs)
            b = model.generate(cond, lengths, generator=gens(range(seed * 10, seed * 10 + 5)), **kwargs)
            assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]), seed
            c = model.generate(cond, lengths, generator=torch.Generator().manual_seed(seed), cache=False, **kwargs)
            d = model.generate(cond, lengths, generator=torch.Generator().manual_seed(seed), **kwargs)
            assert torch.equal(c[0], d[0]) and torch.equal(c[1], d[1]), seed
            if forbid:
                assert not bool(b[0][0][b[0][0] >= 0].lt(300).any())
                assert bool((b[0][3][b[0][3] >= 0] % 2 == 1).all())
            seen_lens.update(b[1].tolist())
        if lengths is None:
            assert len(seen_lens) > 2
    finally:
        if lengths is None:
            bias.data[512] = saved


@pytest.mark.parametrize("remask", ["first", "even"])
def test_cached_batch_order_independent(model, cond, remask):
    """A sample's result does not depend on the rest of the batch (one generator per sample)."""
    ids, lens = model.generate(cond, LENS, remask=remask, generator=gens(range(5)))
    perm = [3, 0, 4, 2, 1]
    again, lens2 = model.generate(cond[perm], [LENS[i] for i in perm], remask=remask,
                                  generator=gens(perm))
    assert torch.equal(lens2, lens[perm])
    for row, i in enumerate(perm):
        assert torch.equal(again[row, : LENS[i]], ids[i, : LENS[i]])
    alone, _ = model.generate(cond[1:2], [LENS[1]], remask=remask, generator=gens([1]))
    assert torch.equal(alone[0], ids[1, : LENS[1]])


def test_cached_cost_one_position_per_step(model, cond):
    """Pass 1: one new position per step; pass 2 ('first'): one full step, then one position per step up
    to the last re-masked slot. The uncached encoder never runs; cache=False runs it 2 x T times."""
    widths: list[int] = []
    real = model._encode_cached

    def spy(x, *args):
        widths.append(x.shape[1])
        return real(x, *args)

    calls: list[int] = []
    hook = model.seqTransEncoder.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[1]))
    model._encode_cached = spy
    try:
        model.generate(cond[:3], [4, 12, 1], generator=gens(range(3)))
        assert calls == []
        # pass 1: 12 steps; pass 2: re-masked slots round(0.5 len) = 2, 6, 1 -> steps 0..5, step 0 full
        # over the positions up to the longest sample's END (slot 12 -> position 13)
        assert widths == [1] * 12 + [14] + [1] * 5
        model.generate(cond[:3], [4, 12, 1], generator=gens(range(3)), cache=False)
        assert calls == [6] * (2 * 12)
    finally:
        hook.remove()
        del model._encode_cached


def test_float32_model_and_training_forward_unchanged():
    """The default float32 model decodes the same with and without the cache; training forward still works."""
    torch.manual_seed(0)
    m = BAMMTransformer(TINY)
    c = torch.randn(3, 512)
    a = m.generate(c, [5, 12, 2], generator=gens(range(3)), cache=False)
    b = m.generate(c, [5, 12, 2], generator=gens(range(3)))
    assert torch.equal(a[0], b[0])
    assert m.training  # generate restores the mode
    loss, _ = m(torch.randint(0, 512, (3, T)), c, [5, 12, 2], generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(loss)


@pytest.fixture(scope="module")
def embedded_bamm() -> BAMMTransformer:
    if not (REPO / "checkpoints" / "embedded" / "bundle.json").is_file():
        pytest.skip("no embedded bundle")
    from hmu_demo.models.bundle import ModelBundle

    bundle = ModelBundle.load(REPO / "checkpoints" / "embedded")
    if bundle.bamm is None:
        pytest.skip("embedded bundle has no BAMM")
    return bundle.bamm


def test_embedded_bundle_same_ids(embedded_bamm, record):
    """Trained weights (float32): same ids with and without the cache; per-step logits close."""
    bamm = embedded_bamm
    cond = torch.randn(4, bamm.cfg.clip_dim, generator=torch.Generator().manual_seed(0))
    cond = cond / cond.norm(dim=1, keepdim=True)
    lens = [3, 11, 7, 12]
    for seed in range(2):
        record.clear()
        a = bamm.generate(cond, lens, generator=gens(range(seed * 4, seed * 4 + 4)), cache=False)
        ref_steps = list(record)
        record.clear()
        b = bamm.generate(cond, lens, generator=gens(range(seed * 4, seed * 4 + 4)))
        assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])
        for x, y in zip(ref_steps[:12], record[:12]):  # pass 1, every step
            assert torch.allclose(x, y, rtol=1e-4, atol=1e-4)
