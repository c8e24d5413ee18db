"""LCR / LCR-nearest: statistics, scores, selection, split, replacement variants, embedded run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from hmu_demo.data.lexicon import Lexicon, load_lexicon
from hmu_demo.models.bundle import BundleConfig, ModelBundle
from hmu_demo.unlearning.code_index import CodeIndex, IndexedMotion
from hmu_demo.unlearning.flagging import (
    EPS,
    CodeStats,
    code_statistics,
    concept_split,
    select_codes,
    select_per_concept,
)
from hmu_demo.unlearning.lcr import lcr_edit

EMBEDDED = Path(__file__).resolve().parents[1] / "checkpoints" / "embedded"


def _edited(bundle, *args, **kwargs):
    """(the edited model, the report) of an LCR edit of ``bundle``."""
    edit = lcr_edit(bundle, *args, **kwargs)
    assert set(edit.tensors) <= {"vq.quantizer.layers.0.codebook"} and edit.constraint is None
    return edit.apply(bundle), edit.report


def _motion(i: int, captions, codes) -> IndexedMotion:
    codes = tuple(sorted(set(codes)))
    return IndexedMotion(f"m{i}", tuple(captions), None, (), codes, tuple(1 for _ in codes))


@pytest.fixture()
def small_index() -> CodeIndex:
    #   motion  captions                                  codes      forget (violence, word mode)
    rows = [
        (["a man kicks the ball", "he walks"], (0, 1, 2)),                # yes ("kicks")
        (["a person punches twice"], (1, 2)),                             # yes ("punches")
        (["someone jabbing forward", "a boxer moves"], (2, 3)),           # yes
        (["a man walks in a white shirt"], (2, 3, 4)),                    # no ("white" has "hit")
        (["a person picks up boxes"], (0, 4, 5)),                         # no ("boxes" excluded)
        (["a person waves"], (5,)),                                       # no
    ]
    return CodeIndex(nb_code=8, motions=[_motion(i, c, k) for i, (c, k) in enumerate(rows)])


FORGET = np.array([True, True, True, False, False, False])


def test_concept_split_uses_keyword_matching(small_index):
    mask = concept_split(small_index, load_lexicon("violence"))
    assert mask.dtype == np.bool_
    assert mask.tolist() == FORGET.tolist()
    assert concept_split(small_index, "violence").tolist() == FORGET.tolist()
    # substring mode (the paper's grep) brings back the false positives
    sub = concept_split(small_index, Lexicon("v", ("kick", "punch", "hit", "box", "jab")), match="substring")
    assert sub.tolist() == [True, True, True, True, True, False]
    # min_occurrence counts matching lines: only motion 2 has two ("jabbing", "boxer")
    assert concept_split(small_index, "violence", min_occurrence=2).tolist() == [False, False, True] + [False] * 3
    assert concept_split(small_index, ["wave"]).tolist() == [False] * 5 + [True]
    with pytest.raises(ValueError):
        concept_split(small_index, "violence", min_occurrence=0)


def test_statistics_and_scores_exact(small_index):
    stats = code_statistics(small_index, FORGET)
    n_f = [1, 2, 3, 1, 0, 0, 0, 0]
    n_r = [1, 0, 1, 1, 2, 2, 0, 0]
    assert stats.n_forget.tolist() == n_f and stats.n_retain.tolist() == n_r
    assert (stats.motions_forget, stats.motions_retain) == (3, 3)
    np.testing.assert_allclose(stats.freq_forget, np.array(n_f) / 3)
    np.testing.assert_allclose(stats.freq_retain, np.array(n_r) / 3)
    sf, sr = sum(n_f), sum(n_r)
    for c in range(8):
        assert stats.score1[c] == n_f[c] / (n_r[c] + EPS)
        assert stats.score2[c] == pytest.approx((n_f[c] / sf) / (n_r[c] / sr + EPS), rel=1e-12)
    assert stats.score1[1] == pytest.approx(2e8)
    # rank: 1 (retain-free), 2 (3/1), then the tie 0 vs 3 (1/1) broken by lower id
    assert select_codes(stats, 1) == [1]
    assert select_codes(stats, 3) == [1, 2, 0]
    assert select_codes(stats, 4) == [1, 2, 0, 3]
    assert select_codes(stats, 0) == []
    assert len(select_codes(stats, 100)) == 8
    with pytest.raises(ValueError):
        code_statistics(small_index, FORGET[:3])
    with pytest.raises(ValueError):
        code_statistics(small_index, FORGET.astype(int))


def test_select_codes_is_union_of_both_topk():
    z = np.zeros(6, dtype=np.int64)
    stats = CodeStats(z, z, 0, 0, score1=np.array([5.0, 4, 3, 2, 1, 0]), score2=np.array([0.0, 1, 2, 3, 9, 8]))
    assert select_codes(stats, 2) == [0, 1, 4, 5]       # score1 top-2, then score2's new ones in rank order
    assert select_codes(stats, 3) == [0, 1, 2, 4, 5, 3]
    same = CodeStats(z, z, 0, 0, score1=np.array([5.0, 4, 3, 2, 1, 0]), score2=np.array([5.0, 4, 3, 2, 1, 0]))
    assert select_codes(same, 3) == [0, 1, 2]


def test_select_per_concept_unions_own_splits(small_index):
    # "kick,": forget = motion 0 only -> n_f = [1,1,1,0,0,0,0,0], n_r = [1,1,3,2,2,2,0,0]:
    # codes 0 and 1 tie at 1/1 (lower id first), code 2 scores 1/3
    kick = select_per_concept(small_index, {"kick,": 1})
    assert kick == [0]
    stats = code_statistics(small_index, concept_split(small_index, "kick,"))
    assert stats.n_retain.tolist() == [1, 1, 3, 2, 2, 2, 0, 0]
    both = select_per_concept(small_index, {"kick,": 1, "violence": 2})
    assert both == [0, 1, 2]


def _tiny_bundle() -> ModelBundle:
    torch.manual_seed(0)
    bundle = ModelBundle(BundleConfig.preset("tiny"), np.zeros(263), np.ones(263))
    book = bundle.vq.codebook(0)
    with torch.no_grad():
        book.copy_(torch.randn(book.shape, generator=torch.Generator().manual_seed(1)))
    return bundle


def _tiny_index(bundle: ModelBundle) -> CodeIndex:
    nb = bundle.vq.codebook(0).shape[0]
    rng = np.random.default_rng(0)
    motions = []
    for i in range(40):
        forget = i < 10
        base = rng.choice(nb, size=6, replace=False).tolist()
        codes = base + ([1, 2, 3] if forget else [])
        if not forget:
            codes = [c for c in codes if c not in (1, 2, 3)]
        caption = "a man kicks the door" if forget else "a person walks slowly"
        motions.append(_motion(i, [caption], codes))
    return CodeIndex(nb_code=nb, motions=motions)


def _snapshot(bundle):
    return {k: v.detach().clone() for k, v in bundle.state_dict().items()}


def _assert_same(bundle, snap):
    state = bundle.state_dict()
    assert state.keys() == snap.keys()
    for key, value in state.items():
        assert torch.equal(value, snap[key]), key


@pytest.mark.parametrize("variant", ["official", "orth", "nearest"])
def test_variants_edit_only_flagged_rows_of_a_copy(variant):
    bundle = _tiny_bundle()
    index = _tiny_index(bundle)
    snap = _snapshot(bundle)
    edited, report = _edited(bundle, "violence", index=index, k=3, alpha=0.5, variant=variant, seed=3)
    _assert_same(bundle, snap)  # original untouched, every tensor
    assert report.codes[:3] == [1, 2, 3]
    old, new = snap["vq.quantizer.layers.0.codebook"], edited.vq.codebook(0)
    flagged = report.codes
    others = [c for c in range(old.shape[0]) if c not in flagged]
    assert torch.equal(new[others], old[others])
    assert not torch.equal(new[flagged], old[flagged])
    for row in range(old.shape[0]):
        if row in flagged:
            assert not torch.equal(new[row], old[row])
    # every other tensor is identical (and shared, not copied)
    for key, value in edited.state_dict().items():
        if key != "vq.quantizer.layers.0.codebook":
            assert torch.equal(value, snap[key]), key
    assert edited.masked.cond_emb.weight is bundle.masked.cond_emb.weight
    assert edited.vq.codebook(0) is not bundle.vq.codebook(0)
    # deterministic for a seed, different for another
    again, report2 = _edited(bundle, "violence", index=index, k=3, alpha=0.5, variant=variant, seed=3)
    assert torch.equal(again.vq.codebook(0), new)
    if variant != "orth":
        other, _ = _edited(bundle, "violence", index=index, k=3, alpha=0.5, variant=variant, seed=4)
        assert not torch.equal(other.vq.codebook(0), new)
    # report content
    hp = report.hyperparameters
    assert hp["variant"] == variant and hp["k"] == 3 and hp["alpha"] == 0.5 and report.seconds >= 0
    assert report.layers[0].name == "vq.codebook0" and report.layers[0].rel_change > 0
    assert report.method == {"official": "lcr", "orth": "lcr-orth", "nearest": "lcr-nearest"}[variant]
    f = report.flagged[0]
    assert (f.n_forget, f.n_retain) == (10, 0) and f.score1 == pytest.approx(1e9) and f.replacement
    assert isinstance(report.to_dict()["flagged"][0], dict)


def test_official_formula_and_orth_formula():
    bundle = _tiny_bundle()
    index = _tiny_index(bundle)
    old = bundle.vq.codebook(0).detach().clone().double()
    sigma = old.std().item()
    edited, report = _edited(bundle, "violence", index=index, k=3, alpha=0.0, variant="official")
    assert report.details["target"] == 0 and report.details["sigma"] == pytest.approx(sigma)
    for c in report.codes:
        assert torch.equal(edited.vq.codebook(0)[c], bundle.vq.codebook(0)[0])
    # noise scale is alpha * sigma
    edited, report = _edited(bundle, "violence", index=index, k=3, alpha=2.0, variant="official")
    dev = (edited.vq.codebook(0)[report.codes].double() - old[0]) / (2.0 * sigma)
    assert 0.5 < dev.std().item() < 1.5
    # target 0 flagged -> redrawn among unflagged codes
    _, report = _edited(bundle, "violence", index=index, codes=[0, 5], alpha=1.0)
    assert report.details["target"] not in (0, 5) and report.codes == [0, 5]
    # orth: rows lose alpha times their component on the normalised mean of flagged rows
    edited, report = _edited(bundle, "violence", index=index, k=3, alpha=1.0, variant="orth")
    d = old[report.codes].mean(0)
    d = d / d.norm()
    new = edited.vq.codebook(0)[report.codes].double()
    assert torch.allclose(new @ d, torch.zeros(len(report.codes), dtype=torch.float64), atol=1e-5)


def test_nearest_picks_true_nearest_unflagged_code():
    bundle = _tiny_bundle()
    index = _tiny_index(bundle)
    old = bundle.vq.codebook(0).detach().clone()
    edited, report = _edited(bundle, "violence", index=index, k=3, alpha=0.0, variant="nearest")
    stats = code_statistics(index, concept_split(index, "violence"))
    flagged = set(report.codes)
    pool = [c for c in range(old.shape[0]) if c not in flagged and stats.n_retain[c] > 0]
    for f in report.flagged:
        dists = [(torch.dist(old[f.code].double(), old[c].double()).item(), c) for c in pool]
        best = min(dists)[1]
        assert f.source == best and f.source not in flagged
        assert torch.equal(edited.vq.codebook(0)[f.code], old[best])
        assert str(best) in f.replacement


def test_bad_inputs():
    bundle = _tiny_bundle()
    index = _tiny_index(bundle)
    with pytest.raises(ValueError):
        lcr_edit(bundle, "violence", index=index, variant="bogus")
    with pytest.raises(ValueError):
        lcr_edit(bundle, "violence", index=CodeIndex(nb_code=7, motions=[]))
    with pytest.raises(ValueError):
        lcr_edit(bundle, "violence", index=index, codes=[10_000])


@pytest.mark.skipif(not (EMBEDDED / "bundle.json").is_file(), reason="embedded checkpoints missing")
def test_embedded_violence_run():
    bundle = ModelBundle.load(EMBEDDED)
    index = CodeIndex.load(EMBEDDED / "code_index.json.gz")
    snap = _snapshot(bundle)
    for variant in ("official", "nearest"):
        edited, report = _edited(bundle, "violence", index=index, variant=variant)
        print(f"\nLCR {variant}: k={report.hyperparameters['k']} flagged {len(report.codes)} codes {report.codes} "
              f"forget motions {report.details['motions_forget']}/{len(index)} in {report.seconds:.3f} s")
        for f in report.flagged[:5]:
            print(f"  code {f.code}: n_f={f.n_forget} n_r={f.n_retain} s1={f.score1:.3g} s2={f.score2:.3g} "
                  f"-> {f.replacement}")
        assert len(report.codes) >= report.hyperparameters["k"]
        assert 0 < report.details["motions_forget"] < len(index)
        # each flagged code is used by a larger share of forget motions than of retain motions
        n_f, n_r = report.details["motions_forget"], report.details["motions_retain"]
        assert all(f.n_forget / n_f > f.n_retain / n_r for f in report.flagged)
    _assert_same(bundle, snap)
