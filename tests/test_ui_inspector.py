"""Codebook inspector data and figures on the real embedded bundle, its code index and real edits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hmu_demo.pipelines.requests import GenerationRequest
from hmu_demo.pipelines.text_to_motion import Motion, TextToMotionPipeline
from hmu_demo.models.bundle import ModelBundle
from hmu_demo.models.text import MiniLMEncoder
from hmu_demo.ui.inspector import (
    code_motion_joints,
    codebook_map,
    codebook_map_data,
    condition_shift,
    condition_shift_data,
    pca_2d,
    token_timeline,
    token_timeline_data,
)
from hmu_demo.unlearning import flagging, registry

EMBEDDED = Path(__file__).resolve().parents[1] / "checkpoints" / "embedded"
pytestmark = pytest.mark.skipif(not (EMBEDDED / "bundle.json").is_file(), reason="embedded bundle not trained")

VIOLENT = "a man kicks the door twice"
SAFE = ["a person walks forward", "someone waves with the right hand"]


@pytest.fixture(scope="module")
def bundle():
    return ModelBundle.load(EMBEDDED)


@pytest.fixture(scope="module")
def encoder():
    return MiniLMEncoder("cpu")


@pytest.fixture(scope="module")
def index():
    return flagging.load_index(EMBEDDED / "code_index.json.gz")


@pytest.fixture(scope="module")
def edits(bundle, encoder, index):
    """method -> (edited bundle, report), each edit made once for the module."""
    made = {m: registry.apply(bundle, "violence", m, text_encoder=encoder, index=index)
            for m in ("lcr", "lcr-nearest", "lcr-gated")}
    # fewer index motions than the default keeps the test fast; it is still a real UCE edit
    made["uce"] = registry.apply(bundle, "violence", "uce", text_encoder=encoder, index=index,
                                 erase_motions=128, preserve_motions=128)
    return {m: (edit.apply(bundle), edit.report) for m, edit in made.items()}


# ----------------------------------------------------------------------------- PCA


def test_pca_orders_axes_by_variance():
    rng = np.random.default_rng(0)
    # exactly uncorrelated centred scores with variances 100, 4, 0.01, laid along rotated axes
    q, _ = np.linalg.qr(rng.standard_normal((400, 3)) - rng.standard_normal((400, 3)).mean(0))
    q -= q.mean(0)
    q, _ = np.linalg.qr(q)
    z = q * np.array([10.0, 2.0, 0.1]) * np.sqrt(400)
    basis = np.array([[1, 1, 0], [0, 0, 1], [1, -1, 0]]) / np.array([[2 ** 0.5], [1.0], [2 ** 0.5]])
    x = z @ basis + np.array([5.0, -3.0, 1.0])
    xy, ratio = pca_2d(x)
    assert xy.shape == (400, 2)
    var = xy.var(0)
    assert var[0] > var[1] > 0
    np.testing.assert_allclose(var, [100.0, 4.0], rtol=1e-6)
    np.testing.assert_allclose(ratio, np.array([100.0, 4.0]) / 104.01, rtol=1e-6)
    # the coordinates are the scores on the true axes, up to each axis's sign
    for j in range(2):
        sign = np.sign(xy[:, j] @ z[:, j])
        np.testing.assert_allclose(xy[:, j], sign * z[:, j], atol=1e-8)
    with pytest.raises(ValueError):
        pca_2d(np.zeros(3))


def test_pca_of_the_codebook(bundle):
    xy, ratio = pca_2d(bundle.vq.codebook(0))
    assert xy.shape == (512, 2) and np.isfinite(xy).all()
    assert xy[:, 0].var() >= xy[:, 1].var() and 0 < ratio[1] <= ratio[0] < 1


# ----------------------------------------------------------------------------- codebook map


def test_map_scores_and_flags_match_lcr(bundle, index, edits):
    _, report = edits["lcr"]
    data = codebook_map_data(bundle, index, report)
    _, _, stats, default_flagged = flagging.flag_codes(bundle, "violence", index=index)
    assert data.xy.shape == (512, 2)
    np.testing.assert_array_equal(data.scores, stats.score1)
    np.testing.assert_array_equal(data.counts[:, 0], stats.n_forget)
    np.testing.assert_array_equal(data.counts[:, 1], stats.n_retain)
    assert data.flagged == report.codes
    for f in report.flagged:  # the report's own numbers agree with the map's
        assert data.scores[f.code] == pytest.approx(f.score1)
        assert tuple(data.counts[f.code]) == (f.n_forget, f.n_retain)
    # official LCR: every flagged code points at its target
    assert data.replacements == {f.code: f.source for f in report.flagged}
    # no report (or a text-side one): LCR's own selection at its default k, no arrows
    for other in (None, edits["uce"][1]):
        plain = codebook_map_data(bundle, index, other)
        assert plain.flagged == default_flagged and len(plain.flagged) >= flagging.DEFAULT_K
        assert plain.replacements == {}


def test_nearest_arrows_point_to_report_replacements(bundle, index, edits):
    _, report = edits["lcr-nearest"]
    data = codebook_map_data(bundle, index, report)
    assert data.flagged == report.codes
    assert data.replacements == {f.code: f.source for f in report.flagged}
    assert not set(data.replacements.values()) & set(data.flagged)
    fig = codebook_map(bundle, index, report)
    arrows = [(a.ax, a.ay, a.x, a.y) for a in fig.layout.annotations if a.showarrow]
    assert len(arrows) == len(report.flagged)
    expected = {(float(data.xy[f.code, 0]), float(data.xy[f.code, 1]),
                 float(data.xy[f.source, 0]), float(data.xy[f.source, 1])) for f in report.flagged}
    assert set(arrows) == expected


def test_gated_report_flags_without_arrows(bundle, index, edits):
    _, report = edits["lcr-gated"]
    data = codebook_map_data(bundle, index, report)
    assert data.flagged == report.codes and data.replacements == {}


def test_map_hover_captions_come_from_motions_using_the_code(bundle, index, edits):
    data = codebook_map_data(bundle, index, edits["lcr"][1], max_captions=2)
    used = np.flatnonzero(data.used)
    assert used.size > 0
    for code in range(512):
        captions = data.captions[code]
        assert len(captions) <= 2
        if not data.used[code]:
            assert captions == []
            continue
        assert captions
        allowed = {c for m in index.motions_using(code) for c in m.captions}
        assert set(captions) <= allowed
    fig = codebook_map(bundle, index, edits["lcr"][1], max_captions=2)
    points = {}
    for trace in fig.data:
        for code, text in zip(trace.customdata, trace.hovertext):
            points.setdefault(int(code), text)
    assert sorted(points) == list(range(512))
    code = int(used[0])
    n_f, n_r = data.counts[code]
    assert f"code {code}" in points[code] and f"forget motions: {n_f}" in points[code]
    assert f"retain motions: {n_r}" in points[code] and data.captions[code][0] in points[code]
    # unused codes are drawn grey, flagged ones outlined
    grey = next(t for t in fig.data if t.name.startswith("unused"))
    assert sorted(int(c) for c in grey.customdata) == np.flatnonzero(~data.used).tolist()
    outlined = next(t for t in fig.data if t.name.startswith("flagged"))
    assert [int(c) for c in outlined.customdata] == data.flagged


def test_map_rejects_bad_input(bundle, index):
    with pytest.raises(ValueError):
        codebook_map_data(bundle, index, None, max_captions=-1)


# ----------------------------------------------------------------------------- timeline


@pytest.fixture(scope="module")
def kick(bundle, encoder) -> Motion:
    return TextToMotionPipeline(bundle, encoder, device="cpu")(GenerationRequest((VIOLENT,), (64,), seed=0,
                                                                                 steps=3)).motions[0]


def test_timeline_one_point_per_token_with_statuses(kick, edits):
    base = kick.tokens[:, 0]
    assert len(base) == 16
    codes = [int(c) for c in dict.fromkeys(base.tolist())]
    flagged = {codes[0], codes[1]}
    replaced = {codes[0]: 7}
    forbidden = {codes[2]} if len(codes) > 2 else set()
    data = token_timeline_data(kick, flagged, forbidden, replaced)
    assert len(data.statuses) == len(data.codes) == len(data.times) == 16
    np.testing.assert_array_equal(data.codes, base)
    np.testing.assert_allclose(data.times, np.arange(16) * 4 / 20)
    for code, status, by in zip(base, data.statuses, data.replaced_by):
        code = int(code)
        want = ("replaced" if code in replaced else "forbidden-avoided" if code in forbidden
                else "flagged" if code in flagged else "normal")
        assert status == want
        assert by == replaced.get(code)
    fig = token_timeline(kick, flagged, forbidden, replaced)
    assert sum(len(t.x) for t in fig.data) == 16
    for trace in fig.data:
        rows = [i for i, s in enumerate(data.statuses) if s == trace.name]
        assert [int(c) for c in trace.customdata] == base[rows].tolist()
    # with the real nearest edit: the kick's flagged tokens are exactly the replaced ones
    report = edits["lcr-nearest"][1]
    real = token_timeline_data(kick, set(report.codes), replaced={f.code: f.source for f in report.flagged})
    assert [s == "replaced" for s in real.statuses] == [int(c) in set(report.codes) for c in base]


def test_timeline_rejects_bad_tokens():
    with pytest.raises(ValueError):
        token_timeline_data(np.zeros((4, 6)), set())
    assert token_timeline_data(np.array([1, 2, 3]), {2}).statuses == ["normal", "flagged", "normal"]


# ----------------------------------------------------------------------------- condition shift


def test_condition_shift_positive_for_uce_zero_for_lcr(bundle, encoder, edits):
    uce = condition_shift_data(bundle, edits["uce"][0], encoder, VIOLENT, SAFE)
    assert uce.prompts == [VIOLENT, *SAFE]
    assert set(uce.modules) >= {"masked", "residual"}
    assert uce.distances.shape == (3, len(uce.modules))
    assert (uce.distances[0] > 0).all()
    # the edit moves the violent prompt more than the safe ones (the preserve term at work)
    assert uce.distances[0].mean() > uce.distances[1:].mean()
    for method in ("lcr", "lcr-gated"):
        same = condition_shift_data(bundle, edits[method][0], encoder, VIOLENT, SAFE)
        assert (same.distances == 0).all()
    fig = condition_shift(bundle, edits["uce"][0], encoder, VIOLENT, SAFE)
    assert [t.name for t in fig.data] == uce.modules
    np.testing.assert_allclose(fig.data[0].y, uce.distances[:, 0])
    with pytest.raises(ValueError):
        condition_shift_data(bundle, bundle, encoder, VIOLENT, "not a list")


# ----------------------------------------------------------------------------- code motion


def test_code_motion_joints(bundle, edits):
    code = edits["lcr-nearest"][1].flagged[0]
    joints = code_motion_joints(bundle, code.code, repeats=3)
    assert joints.shape == (12, 22, 3) and joints.dtype == np.float32 and np.isfinite(joints).all()
    assert code_motion_joints(bundle, 5).shape == (16, 22, 3)
    # lcr-nearest with alpha 0: a flagged code now decodes exactly as its replacement
    np.testing.assert_allclose(code_motion_joints(edits["lcr-nearest"][0], code.code, 3),
                               code_motion_joints(bundle, code.source, 3), atol=1e-5)
    for bad in (-1, 512, 1.5):
        with pytest.raises(ValueError):
            code_motion_joints(bundle, bad)
    with pytest.raises(ValueError):
        code_motion_joints(bundle, 0, repeats=0)
