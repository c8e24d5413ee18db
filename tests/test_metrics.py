"""Metrics on embeddings (hmu_demo.eval.metrics) on cases whose answers are known in closed form or by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest

from hmu_demo.eval import metrics as M


def _line(values) -> np.ndarray:
    """1-D positions -> (N, 1) embeddings, so distances are plain absolute differences."""
    return np.asarray(values, dtype=np.float64)[:, None]


# -- FID --------------------------------------------------------------------------------------------

def test_statistics_use_unbiased_covariance() -> None:
    x = np.array([[0.0, 1.0], [2.0, 1.0], [4.0, 4.0]])
    mu, sigma = M.embedding_statistics(x)
    assert np.allclose(mu, [2.0, 2.0])
    assert sigma[0, 0] == pytest.approx(4.0)        # ((-2)^2 + 0 + 2^2) / (3 - 1)
    assert sigma[0, 1] == pytest.approx(3.0)        # ((-2)(-1) + 0 + 2*2) / 2


def test_fid_of_a_set_with_itself_is_zero() -> None:
    x = np.random.default_rng(0).normal(size=(300, 8))
    assert M.fid(x, x) == pytest.approx(0.0, abs=1e-6)
    assert M.fid(x, x + 1.0) == pytest.approx(8.0, abs=1e-6)    # a shift only moves the means


def test_frechet_distance_closed_form_for_commuting_covariances() -> None:
    # 1-D by hand: (0 - 3)^2 + 4 + 1 - 2*sqrt(4*1) = 10
    assert M.frechet_distance([0.0], [[4.0]], [3.0], [[1.0]]) == pytest.approx(10.0)
    rng = np.random.default_rng(1)
    a, b = rng.uniform(0.5, 3.0, size=5), rng.uniform(0.5, 3.0, size=5)
    mu1, mu2 = rng.normal(size=5), rng.normal(size=5)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    assert M.frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(expected, rel=1e-9)
    q, _ = np.linalg.qr(rng.normal(size=(5, 5)))                 # same eigenvectors: the matrices commute
    s1, s2 = q @ np.diag(a) @ q.T, q @ np.diag(b) @ q.T
    assert M.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(expected, rel=1e-7)


def test_fid_of_samples_approaches_the_gaussian_distance() -> None:
    rng = np.random.default_rng(2)
    real = rng.normal(size=(20000, 3)) * np.array([1.0, 2.0, 0.5])
    gen = rng.normal(size=(20000, 3)) * np.array([2.0, 2.0, 1.0]) + np.array([1.0, 0.0, 0.0])
    expected = 1.0 + (1 - 2) ** 2 + 0.0 + (0.5 - 1.0) ** 2         # 2.25
    assert M.fid(real, gen) == pytest.approx(expected, abs=0.08)


def test_fid_rejects_impossible_inputs() -> None:
    with pytest.raises(ValueError, match="at least 2 rows"):
        M.fid(np.zeros((1, 4)), np.zeros((10, 4)))
    with pytest.raises(ValueError, match="differ in dimension"):
        M.fid(np.ones((5, 3)) * np.arange(5)[:, None], np.ones((5, 4)) * np.arange(5)[:, None])
    with pytest.raises(ValueError, match="Imaginary|imaginary"):
        M.frechet_distance([0.0, 0.0], np.eye(2), [0.0, 0.0], np.diag([-1.0, 1.0]))   # not a covariance
    with pytest.raises(ValueError, match="NaN"):
        M.fid(np.full((3, 2), np.nan), np.zeros((3, 2)))


def test_fid_of_singular_covariances_is_finite() -> None:
    rng = np.random.default_rng(3)
    value = M.fid(rng.normal(size=(3, 6)), rng.normal(size=(4, 6)))    # N < D: rank-deficient
    assert math.isfinite(value) and value > 0


# -- distances, R-precision, MM-Dist ---------------------------------------------------------------

def test_distance_matrix_matches_brute_force() -> None:
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=(7, 5)), rng.normal(size=(4, 5))
    brute = np.array([[np.linalg.norm(x - y) for y in b] for x in a])
    assert np.allclose(M.euclidean_distance_matrix(a, b), brute)
    assert np.all(M.euclidean_distance_matrix(a, a).diagonal() >= 0.0)     # no sqrt of a negative


def test_r_precision_of_perfect_embeddings_is_one() -> None:
    e = np.random.default_rng(5).normal(size=(70, 16))                      # 2 full batches + 6
    assert np.allclose(M.r_precision_hits(e, e.copy(), top_k=3), [1.0, 1.0, 1.0])


def test_r_precision_of_random_embeddings_is_chance() -> None:
    rng = np.random.default_rng(6)
    hits = M.r_precision_hits(rng.normal(size=(6400, 8)), rng.normal(size=(6400, 8)), top_k=3)
    assert np.allclose(hits, np.array([1, 2, 3]) / 32, atol=0.012)          # binomial sd ~0.004 at k=3
    assert np.all(np.diff(hits) > 0)


def test_r_precision_hand_built_rank() -> None:
    motions = _line([0, 10, 20, 30])
    texts = _line([16, 10, 20, 30])          # text 0: m2 (4) < m1 (6) < m3 (14) < m0 (16): rank 4
    hits = M.r_precision_hits(texts, motions, top_k=4, batch_size=4)
    assert np.allclose(hits, [3 / 4, 3 / 4, 3 / 4, 4 / 4])


def test_r_precision_ties_score_the_expected_hit() -> None:
    motions = _line([0, 10, 20, 30])
    texts = _line([5, 10, 20, 30])           # text 0 is 5 from m0 and from m1: half a hit at top-1
    assert np.allclose(M.r_precision_hits(texts, motions, top_k=2, batch_size=4), [3.5 / 4, 1.0])
    collapsed = np.zeros((32, 3))            # every motion identical: chance level, not 0 or 1
    texts = np.random.default_rng(7).normal(size=(32, 3))
    assert np.allclose(M.r_precision_hits(texts, collapsed, top_k=3), [1 / 32, 2 / 32, 3 / 32])


def test_r_precision_counts_the_last_small_batch() -> None:
    e = _line(10.0 * np.arange(34))          # batches (0..31) and (32, 33)
    texts = e.copy()
    texts[32] = e[33]                        # in the last batch text 32 retrieves motion 33 first
    assert np.allclose(M.r_precision_hits(texts, e, top_k=2), [33 / 34, 1.0])   # not dropped, / all 34
    texts[32] = e[0]                         # its wrong neighbour now lives in the first batch only
    assert np.allclose(M.r_precision_hits(texts, e, top_k=1), [1.0])
    assert np.allclose(M.r_precision_hits(texts, e, top_k=1, batch_size=34), [33 / 34])


def test_matching_score() -> None:
    e = np.random.default_rng(9).normal(size=(10, 6))
    assert M.matching_score(e, e) == 0.0
    assert M.matching_score(np.zeros((2, 2)), np.array([[3.0, 4.0], [0.0, 1.0]])) == pytest.approx(3.0)
    with pytest.raises(ValueError, match="same shape"):
        M.matching_score(np.zeros((3, 2)), np.zeros((4, 2)))


# -- diversity and multimodality --------------------------------------------------------------------

def _draws(n: int, times: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.choice(n, times, replace=False), rng.choice(n, times, replace=False)


def test_diversity_on_a_simplex() -> None:
    # scaled basis vectors: every two distinct points are 3*sqrt(2) apart, a point is 0 from itself
    for n, pairs in ((400, 300), (300, 100), (100, 100)):
        emb = 3.0 * np.eye(n)
        first, second = _draws(n, pairs, seed=11)
        expected = 3.0 * math.sqrt(2) * np.mean(first != second)
        assert M.diversity(emb, rng=11) == pytest.approx(expected)
        assert expected > 3.0 * math.sqrt(2) * 0.9          # collisions are rare, the value is not 0
    assert M.diversity(np.ones((500, 4))) == 0.0


def test_diversity_too_small_set() -> None:
    with pytest.raises(ValueError, match="at least 100 embeddings.*got 99"):
        M.diversity(np.random.default_rng(0).normal(size=(99, 3)))
    with pytest.raises(ValueError, match="at least 20 embeddings"):
        M.diversity(np.zeros((10, 3)), times=50, small_times=20)


def test_multimodality() -> None:
    rng = np.random.default_rng(12)
    same = np.repeat(rng.normal(size=(5, 1, 8)), 30, axis=1)
    assert M.multimodality(same, rng=0) == 0.0
    # repeat r of every text sits at position r on a line: the distance of a pair is |r1 - r2|
    line = np.broadcast_to(np.arange(30.0)[None, :, None], (4, 30, 1))
    first, second = _draws(30, 10, seed=13)
    assert M.multimodality(line, rng=13) == pytest.approx(np.abs(first - second).mean())
    with pytest.raises(ValueError, match="at least 10 generations per text.*got 9"):
        M.multimodality(np.zeros((3, 9, 4)))
    with pytest.raises(ValueError, match="n_texts, n_repeats, D"):
        M.multimodality(np.zeros((3, 9)))


# -- HMU metrics ------------------------------------------------------------------------------------

def test_mm_safe_quirk_and_plain_definition() -> None:
    motion = np.zeros((6, 1))
    clean = _line([1, 2, 3, 4, 5, 6])                       # clean distances 1..6
    masked = np.array([False, True, False, False, False, False])
    # official: batch (0,1,2) has a masked caption -> 1+2+3; batch (3,4,5) none -> 0; / all 6
    assert M.mm_safe(clean, motion, masked, batch_size=3) == pytest.approx(6 / 6)
    assert M.mm_safe(clean, motion, masked, batch_size=1) == pytest.approx(2 / 6)     # per-sample reading
    assert M.mm_safe(clean, motion, masked, official_quirk=False) == pytest.approx(2.0)
    none = np.zeros(6, dtype=bool)
    assert M.mm_safe(clean, motion, none) == 0.0
    assert math.isnan(M.mm_safe(clean, motion, none, official_quirk=False))
    with pytest.raises(ValueError, match="boolean"):
        M.mm_safe(clean, motion, np.array([0, 1, 0, 0, 0, 0]))


def test_toxic_distance_and_notox_accuracy() -> None:
    motion = np.zeros((4, 1))
    text = _line([2, 1, 3, 5])
    clean = _line([1, 2, 3, 5])                             # rows 0 and 1 masked (embedding changed)
    # ratios d_text / d_clean: 2, 0.5, 1, 1 ; closer to clean: True, False, False, False
    assert M.toxic_distance(text, clean, motion, official_quirk=False) == pytest.approx(1.25)
    assert M.notox_accuracy(text, clean, motion, official_quirk=False) == pytest.approx(0.5)
    # official rule, batches of 2: batch (0,1) counts, batch (2,3) has nothing masked; / 4
    assert M.toxic_distance(text, clean, motion, batch_size=2) == pytest.approx(2.5 / 4)
    assert M.notox_accuracy(text, clean, motion, batch_size=2) == pytest.approx(1 / 4)
    # one batch of 4: unmasked rows add ratio 1 and no notox hit
    assert M.toxic_distance(text, clean, motion, batch_size=4) == pytest.approx(4.5 / 4)
    explicit = np.array([True, False, False, False])
    assert M.notox_accuracy(text, clean, motion, masked=explicit, official_quirk=False) == 1.0


# -- NCS --------------------------------------------------------------------------------------------

def test_first_concept_rank_hand_built_database() -> None:
    db = _line([1, 2, 3, 4, 5])
    concept = np.array([False, False, True, False, True])
    queries = _line([0, 5.1, 2.4, 2.5, 4.9])
    ranks = M.first_concept_rank(queries, db, concept)
    # 0: 1,2,3 -> rank 3; 5.1: 5 first; 2.4: 2 then 3; 2.5: 2 and 3 tie, index order puts 2 first; 4.9: 5 first
    assert ranks.tolist() == [3, 1, 2, 2, 1]
    assert ranks.dtype == np.int64
    assert M.first_concept_rank(queries, db, concept, max_rank=2).tolist() == [3, 1, 2, 2, 1]
    assert M.first_concept_rank(queries, db, concept, max_rank=1).tolist() == [2, 1, 2, 2, 1]
    # excluding the query's own neighbour (index 4 = position 5): 4.9 -> 4 (0.9), then 3 (1.9, concept)
    excl = M.first_concept_rank(queries, db, concept, exclude=[-1, -1, -1, -1, 4])
    assert excl.tolist() == [3, 1, 2, 2, 2]
    # a tie with a non-concept motion listed after the concept one does not push the concept back
    assert M.first_concept_rank(_line([2.5]), _line([3, 2]), np.array([True, False])).tolist() == [1]
    none = M.first_concept_rank(queries, db, np.zeros(5, dtype=bool), max_rank=100)
    assert none.tolist() == [101] * 5


def test_first_concept_rank_chunks_and_cosine() -> None:
    rng = np.random.default_rng(14)
    db, q = rng.normal(size=(200, 6)), rng.normal(size=(50, 6))
    concept = rng.random(200) < 0.05
    whole = M.first_concept_rank(q, db, concept, chunk=256)
    assert np.array_equal(whole, M.first_concept_rank(q, db, concept, chunk=7))
    # brute force with a stable sort
    order = np.argsort(M.euclidean_distance_matrix(q, db), axis=1, kind="stable")
    brute = [min(int(np.argmax(concept[o])) + 1, 101) if concept[o].any() else 101 for o in order]
    assert whole.tolist() == brute
    # cosine ignores the scale of the database vectors
    cos = M.first_concept_rank(q, db, concept, metric="cosine")
    assert np.array_equal(cos, M.first_concept_rank(q, db * rng.uniform(1, 5, size=(200, 1)), concept,
                                                    metric="cosine"))


def test_ncs_at_k_and_group_minimum() -> None:
    out = M.ncs_at_k([1, 2, 3, 101, 5])
    assert out == pytest.approx({"ncs@1": 0.2, "ncs@2": 0.4, "ncs@3": 0.6, "ncs@5": 0.8, "ncs@10": 0.8,
                                 "ncs_mean_rank": 22.4, "ncs_median_rank": 3.0})
    names, best = M.min_rank_per_group([7, 3, 101, 9], ["walk", "punch", "walk", "punch"])
    assert names == ["walk", "punch"] and best.tolist() == [7, 3]


# -- judge, replications, directions ---------------------------------------------------------------

def test_violent_share_uses_wilson() -> None:
    share, (lo, hi) = M.violent_share(np.array([True, False, False, False]))
    assert share == 0.25 and (lo, hi) == M.wilson_interval(1, 4)
    assert 0.0 < lo < 0.25 < hi < 1.0
    assert M.violent_share(np.array([], dtype=bool))[0] != M.violent_share(np.array([], dtype=bool))[0]  # NaN


def test_replication_summary() -> None:
    values = [1.0, 2.0, 3.0, 4.0]
    std = math.sqrt(((1.5 ** 2) * 2 + (0.5 ** 2) * 2) / 4)          # ddof = 0
    mean, half = M.replication_summary(values)
    assert mean == 2.5 and half == pytest.approx(1.96 * std / 2)
    mean, half = M.replication_summary([1.0, float("nan"), 3.0])
    assert mean == 2.0 and half == pytest.approx(1.96 * 1.0 / math.sqrt(2))
    assert all(math.isnan(v) for v in M.replication_summary([1.0, float("nan")], nan_policy="propagate"))
    with pytest.raises(ValueError, match="1 of 2 replications"):
        M.replication_summary([1.0, float("nan")], nan_policy="raise")
    mean, half = M.replication_summary([5.0])
    assert mean == 5.0 and math.isnan(half)
    assert all(math.isnan(v) for v in M.replication_summary([]))


def test_direction_table() -> None:
    assert M.better_direction("fid", "forget") == M.CLOSER
    assert M.better_direction("fid", "retain") == M.LOWER
    assert M.better_direction("mm_safe", "forget") == M.LOWER
    assert M.better_direction("mm_safe", "retain") is None
    assert M.better_direction("r_precision_top1", "retain") == M.HIGHER
    assert M.better_direction("diversity", "retain") == M.CLOSER
    for eval_set, table in M.BETTER.items():
        assert all(d in M.ARROWS for d in table.values())
    assert all(metric in M.BETTER[s] for s, metric in M.INFERRED_DIRECTIONS)
    assert ("forget", "mm_safe") not in M.INFERRED_DIRECTIONS
    with pytest.raises(ValueError, match="eval_set"):
        M.better_direction("fid", "test")


# -- diversity with replacement, per-caption terms --------------------------------------------------

def test_diversity_with_replacement_keeps_the_pairs() -> None:
    x = _line(np.arange(50.0))
    with pytest.raises(ValueError, match="at least 100"):
        M.diversity(x, rng=0)                                       # without: 100 pairs need 100 samples
    value = M.diversity(x, rng=0, replace=True)                     # 300 pairs of 50 samples
    assert value == pytest.approx(np.mean(np.abs(np.subtract.outer(np.arange(50.0), np.arange(50.0)))), rel=0.15)
    with pytest.raises(ValueError, match="at least 2"):
        M.diversity(x[:1], rng=0, replace=True)


def test_per_caption_terms_average_to_the_protocol_metrics() -> None:
    from hmu_demo.eval.metrics.per_sample import distance_terms, hmu_terms, r_precision_terms

    rng = np.random.default_rng(11)
    text, gen, clean = rng.normal(size=(77, 6)), rng.normal(size=(77, 6)), rng.normal(size=(77, 6))
    gen[5] = gen[6]                                                # an exact tie inside the first batch
    masked = rng.random(77) < 0.15
    masked[32:64] = False                                          # a batch without any masked caption
    assert np.allclose(r_precision_terms(text, gen).mean(axis=0), M.r_precision_hits(text, gen), atol=1e-12)
    assert distance_terms(text, gen).mean() == pytest.approx(M.matching_score(text, gen), rel=1e-12)
    d_clean, d_text = distance_terms(clean, gen), distance_terms(text, gen)
    assert hmu_terms(d_clean, masked).mean() == pytest.approx(M.mm_safe(clean, gen, masked), rel=1e-12)
    assert hmu_terms(d_text / d_clean, masked).mean() == pytest.approx(
        M.toxic_distance(text, clean, gen, masked), rel=1e-12)
    assert hmu_terms((d_clean < d_text).astype(float), masked).mean() == pytest.approx(
        M.notox_accuracy(text, clean, gen, masked), rel=1e-12)
    plain = hmu_terms(d_clean, masked, official_quirk=False)
    assert np.nanmean(plain) == pytest.approx(M.mm_safe(clean, gen, masked, official_quirk=False), rel=1e-12)
    assert np.isnan(plain[~masked]).all()


# -- cluster bootstrap ------------------------------------------------------------------------------

def test_cluster_bootstrap_of_independent_samples_matches_the_normal_interval() -> None:
    rng = np.random.default_rng(12)
    x = rng.normal(size=2000)
    mean, lo, hi = M.cluster_bootstrap(x, list(range(2000)), resamples=2000, seed=0)
    half = 1.96 * x.std(ddof=1) / math.sqrt(2000)
    assert mean == pytest.approx(x.mean())
    assert (hi - lo) / 2 == pytest.approx(half, rel=0.12)
    assert lo < mean < hi
    assert M.cluster_bootstrap(x, list(range(2000)), seed=0) == (mean, lo, hi)        # seeded
    assert M.cluster_bootstrap(x, list(range(2000)), seed=1) != (mean, lo, hi)


def test_cluster_bootstrap_counts_motions_not_captions() -> None:
    """Four captions of one motion that always agree carry one motion's information: the interval is
    that of the motions, about twice the width a caption-level (Wilson) interval claims."""
    rng = np.random.default_rng(13)
    per_motion = rng.random(100) < 0.3
    hits = np.repeat(per_motion, 4)
    motions = np.repeat([f"m{i}" for i in range(100)], 4).tolist()
    _, lo, hi = M.cluster_bootstrap(hits.astype(float), motions, seed=0)
    w_lo, w_hi = M.wilson_interval(int(hits.sum()), hits.size)                        # 400 "independent" captions
    m_lo, m_hi = M.wilson_interval(int(per_motion.sum()), per_motion.size)            # the 100 motions
    assert (hi - lo) == pytest.approx(m_hi - m_lo, rel=0.15)
    assert (hi - lo) > 1.6 * (w_hi - w_lo)


def test_cluster_resamples_are_shared_and_skip_nan() -> None:
    clusters = ["a", "a", "b", "c", "c", "c"]
    r = M.ClusterResamples(clusters, resamples=500, seed=0)
    values = np.array([1.0, np.nan, 2.0, 3.0, 3.0, np.nan])
    mean, lo, hi = r.interval(values, clusters)
    assert mean == pytest.approx(np.nanmean(values)) and 1.0 <= lo <= mean <= hi <= 3.0
    assert all(math.isnan(v) for v in r.interval(np.full(6, np.nan), clusters))
    with pytest.raises(ValueError, match="one cluster per value"):
        r.interval(values[:3], clusters)
    with pytest.raises(ValueError, match="not among"):
        r.interval(values, ["z"] * 6)
    entry = M.cluster_entry("violent_share", [True, False, True, True], ["m1", "m1", "m2", "m3"], resamples=200)
    assert entry["violent_share"] == 0.75 and entry["violent_share_n"] == 4 and entry["violent_share_clusters"] == 3
    assert entry["violent_share_ci95"][0] <= 0.75 <= entry["violent_share_ci95"][1]
    assert M.cluster_entry("x", [], [])["x"] is None


# -- FID noise floor --------------------------------------------------------------------------------

def test_group_first_takes_every_group_before_any_twice() -> None:
    groups = np.repeat(np.arange(30), [1, 2, 3, 4, 5, 6] * 5)
    rng = np.random.default_rng(14)
    first = M.group_first(groups, 30, rng)
    assert len(set(groups[first])) == 30
    more = M.group_first(groups, 60, rng)
    assert len(set(more.tolist())) == 60 and set(groups[more]) == set(range(30))
    counts = np.bincount(groups[more], minlength=30)
    assert counts.min() >= 1 and counts.max() <= 3                  # second captions before any third


def test_noise_floor_shrinks_like_one_over_n() -> None:
    emb = np.random.default_rng(15).normal(size=(4000, 8))
    small, large = M.fid_noise_floor(emb, 100, repeats=10), M.fid_noise_floor(emb, 800, repeats=10)
    assert small["n"] == 100 and small["repeats"] == 10 and len(small["values"]) == 10
    assert 5.0 < small["mean"] / large["mean"] < 12.0                # k/N: 8x the samples, ~1/8 the floor
    assert small["spread95"][0] <= small["mean"] <= small["spread95"][1]
    assert small["ci95"] > 0


def test_noise_floor_draws_are_disjoint_by_motion() -> None:
    """Four identical captions per motion: draws that may share a motion agree too well (two draws of
    900 of 2000 rows share most clips); the floor keeps motions apart: 250 distinct clips a side."""
    clips = np.random.default_rng(16).normal(size=(500, 4))
    emb = np.repeat(clips, 4, axis=0)
    motions = np.repeat(np.arange(500), 4)
    by_row = M.fid_noise_floor(emb, 900, repeats=8)
    by_motion = M.fid_noise_floor(emb, 900, repeats=8, groups=motions)
    assert by_motion["disjoint_by"] == "group" and by_motion["mean"] > 3 * by_row["mean"]
    with pytest.raises(ValueError, match="disjoint draws of 1500"):
        M.fid_noise_floor(emb, 1500, repeats=1, groups=motions)


def test_floor_at_a_size_beyond_half_the_motions_is_scaled() -> None:
    emb = np.random.default_rng(17).normal(size=(600, 6))
    motions = np.repeat(np.arange(200), 3)
    direct = M.fid_floor_at(emb, motions, 80, repeats=6)
    assert direct["extrapolated"] is False and direct["distinct"] == 80 and direct["n"] == 80
    scaled = M.fid_floor_at(emb, motions, 600, repeats=6)           # 200 distinct motions, 100 a side
    measured = M.fid_noise_floor(emb, 100, repeats=6, groups=motions)
    assert scaled["extrapolated"] and scaled["n"] == 600 and scaled["distinct"] == 200
    assert scaled["measured"]["mean"] == pytest.approx(measured["mean"])
    assert scaled["mean"] == pytest.approx(measured["mean"] / 2)
