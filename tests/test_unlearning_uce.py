"""UCE / RECE closed forms, Concept validation and bundle edits."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hmu_demo.models.bundle import BundleConfig, ModelBundle
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.rece import adversarial_embeddings, rece_edit, rece_weights
from hmu_demo.unlearning.uce import cond_layers, uce_edit, uce_solve, uce_targets

EMBEDDED = Path(__file__).resolve().parents[1] / "checkpoints" / "embedded"


def _toy(seed=0, d_out=12, d_in=20, n_e=3, n_p=5):
    g = torch.Generator().manual_seed(seed)
    W = torch.randn(d_out, d_in, generator=g, dtype=torch.float64)
    C_e = torch.randn(n_e, d_in, generator=g, dtype=torch.float64)
    C_t = torch.randn(1, d_in, generator=g, dtype=torch.float64)
    C_p = torch.randn(n_p, d_in, generator=g, dtype=torch.float64)
    return W, C_e, C_t, C_p


def _objective(W_new, W_old, C_e, V, C_p, lam, se, sp):
    return (se * ((C_e @ W_new.T - V) ** 2).sum() + sp * ((C_p @ (W_new - W_old).T) ** 2).sum()
            + lam * ((W_new - W_old) ** 2).sum())


# ----------------------------------------------------------------------------- closed form


@pytest.mark.parametrize("mode", ["replace", "tensor"])
def test_uce_solution_is_stationary_point_of_objective(mode):
    W, C_e, C_t, C_p = _toy()
    lam, se, sp = 0.3, 1.5, 0.7
    W_new = uce_solve(W, C_e, C_t, C_p, lam, se, sp, mode)
    V = uce_targets(W, C_e, C_t, mode)
    X = W_new.clone().requires_grad_(True)
    loss = _objective(X, W, C_e, V, C_p, lam, se, sp)
    (grad,) = torch.autograd.grad(loss, X)
    assert grad.abs().max() < 1e-9 * max(1.0, loss.detach().item())
    # and it is a minimum: any perturbation increases the (convex) objective
    with torch.no_grad():
        base = float(_objective(W_new, W, C_e, V, C_p, lam, se, sp))
        for s in range(3):
            d = torch.randn(W.shape, generator=torch.Generator().manual_seed(s), dtype=torch.float64) * 1e-3
            assert float(_objective(W_new + d, W, C_e, V, C_p, lam, se, sp)) > base


def test_uce_matches_full_closed_form_and_keeps_dtype():
    W, C_e, C_t, C_p = _toy(1)
    lam, se, sp = 0.1, 1.0, 0.5
    V = C_t @ W.T
    M = lam * torch.eye(W.shape[1], dtype=torch.float64) + se * C_e.T @ C_e + sp * C_p.T @ C_p
    full = (lam * W + se * V.expand(C_e.shape[0], -1).T @ C_e + sp * W @ C_p.T @ C_p) @ torch.linalg.inv(M)
    got = uce_solve(W, C_e, C_t, C_p, lam, se, sp)
    assert torch.allclose(got, full, atol=1e-10)
    got32 = uce_solve(W.float(), C_e.float(), C_t.float(), C_p.float(), lam, se, sp)
    assert got32.dtype == torch.float32
    assert torch.allclose(got32.double(), full, atol=1e-4)


def test_uce_reaches_erase_target_without_preserve_and_small_lam():
    W, C_e, C_t, _ = _toy(2)
    W_new = uce_solve(W, C_e, C_t, None, lam=1e-8, erase_scale=1.0, preserve_scale=0.0)
    assert torch.allclose(C_e @ W_new.T, (C_t @ W.T).expand(C_e.shape[0], -1), atol=1e-5)


def test_uce_large_preserve_scale_keeps_preserved_outputs():
    W, C_e, C_t, C_p = _toy(3)
    small = uce_solve(W, C_e, C_t, C_p, 0.1, 1.0, 0.01)
    large = uce_solve(W, C_e, C_t, C_p, 0.1, 1.0, 1e4)
    drift = lambda W2: float((C_p @ (W2 - W).T).norm() / (C_p @ W.T).norm())  # noqa: E731
    assert drift(large) < 1e-3 < drift(small)
    # the erase targets still move toward the target (5 + 3 < 20 dims: no conflict)
    target = (C_t @ W.T).expand(C_e.shape[0], -1)
    assert (C_e @ large.T - target).norm() < 0.2 * (C_e @ W.T - target).norm()


def test_uce_tensor_target_is_orthogonal_to_concept_output():
    W, C_e, C_t, _ = _toy(4)
    V = uce_targets(W, C_e, C_t, "tensor")
    assert torch.allclose((V * (C_e @ W.T)).sum(1), torch.zeros(C_e.shape[0], dtype=torch.float64), atol=1e-9)


def test_uce_rejects_bad_hyperparameters_and_shapes():
    W, C_e, C_t, C_p = _toy()
    with pytest.raises(ValueError, match="lam"):
        uce_solve(W, C_e, C_t, C_p, lam=0.0)
    with pytest.raises(ValueError, match="preserve_scale"):
        uce_solve(W, C_e, C_t, C_p, preserve_scale=float("nan"))
    with pytest.raises(ValueError, match="C_erase"):
        uce_solve(W, C_e[:, :5], C_t, C_p)
    with pytest.raises(ValueError, match="mode"):
        uce_solve(W, C_e, C_t, C_p, mode="nope")


# ----------------------------------------------------------------------------- RECE closed form


def test_adversarial_embedding_faithful_vs_official():
    W, C_e, C_t, C_p = _toy(5, d_out=20, d_in=20, n_e=1)
    W1 = uce_solve(W, C_e, C_t, None, 0.1, 1.0, 0.0)
    faithful = adversarial_embeddings([W1], [W], C_e, 0.0)
    # square full-rank toy, λ_r = 0: c' recovers the original output exactly (§4.2)
    assert torch.allclose(faithful @ W1.T, C_e @ W.T, atol=1e-6)
    official = adversarial_embeddings([W1], [W], C_e, 1e-3, official_variant=True)
    assert (official - C_e).norm() < 0.05 * C_e.norm()  # ≈ c slightly shrunk (§4.3)
    assert official.norm() < C_e.norm()
    assert (faithful - C_e).norm() > 0.1 * C_e.norm()  # the faithful one is a real attack


def test_rece_erases_concept_response_further_than_uce():
    W, C_e, C_t, C_p = _toy(6, d_out=16, d_in=24, n_e=2, n_p=4)
    kw = dict(lam=0.5, erase_scale=1.0, preserve_scale=0.1, mode="replace")
    uce = uce_solve(W, C_e, C_t, C_p, **kw)
    rece, history = rece_weights({"w": W}, C_e, C_t, C_p, epochs=2, lam_r=1e-3, official_variant=False, **kw)
    # the concept response = what the best adversarial input can still recover of the original output
    def recoverable(W2):
        adv = adversarial_embeddings([W2], [W], C_e, 1e-3)
        return float((adv @ W2.T - C_e @ W.T).norm() / (C_e @ W.T).norm())

    assert recoverable(rece["w"]) > 2 * recoverable(uce)
    assert len(history) == 2 and all(h["recovery_error"] >= 0 for h in history)
    rece0, _ = rece_weights({"w": W}, C_e, C_t, C_p, epochs=0, lam_r=1e-3, official_variant=False, **kw)
    assert torch.allclose(rece0["w"], uce)


# ----------------------------------------------------------------------------- Concept


def test_concept_from_lexicon():
    c = Concept.from_lexicon("violence")
    assert "kick" in c.forget and "punch" in c.forget
    assert c.preserve and not set(c.preserve) & set(c.forget)
    assert c.target == "a person stands still"  # the neutral caption (HMU's "" measured worse)
    assert Concept.from_lexicon("violence", target="").target == ""
    assert Concept.from_lexicon("violent").name == "violence"
    assert Concept.from_lexicon("violence", which="humanml3d").forget[0] == "kick"
    with pytest.raises(ValueError, match="unknown concept"):
        Concept.from_lexicon("no-such-concept")
    with pytest.raises(ValueError, match="no list"):
        Concept.from_lexicon("violence", which="nope")


def test_concept_from_text_and_validation():
    c = Concept.from_text("jumping", " jump, hop,, leap , jump ", "walk, jump, run", "a person stands still")
    assert c.forget == ("jump", "hop", "leap")
    assert c.preserve == ("walk", "run")  # a forget word cannot be preserved
    assert c.target == "a person stands still"
    assert json.loads(json.dumps(c.to_dict()))["forget"] == ["jump", "hop", "leap"]
    with pytest.raises(ValueError, match="no forget keywords"):
        Concept.from_text("x", " , ,")
    with pytest.raises(ValueError, match="characters"):
        Concept.from_text("x", "kick", target="a" * 5000)
    with pytest.raises(ValueError, match="characters"):
        Concept.from_text("x", "k" * 300)
    with pytest.raises(ValueError, match="string"):
        Concept.from_text("x", ["kick"])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="string"):
        Concept("x", ("kick", 3))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="name"):
        Concept.from_text("  ", "kick")
    with pytest.raises(ValueError, match="target"):
        Concept.from_text("x", "kick", target="kick")


# ----------------------------------------------------------------------------- bundle edits


@pytest.fixture(scope="module")
def encoder():
    from hmu_demo.models.text import MiniLMEncoder

    return MiniLMEncoder("cpu")


@pytest.fixture(scope="module")
def tiny_bundle():
    torch.manual_seed(0)
    return ModelBundle(BundleConfig.preset("tiny"), np.zeros(263), np.ones(263))


def _snapshot(bundle):
    return {k: v.detach().clone() for k, v in bundle.state_dict().items()}


@pytest.mark.parametrize("method", ["uce", "rece", "rece_official"])
def test_bundle_edit_is_a_value(tiny_bundle, encoder, method):
    concept = Concept.from_text("violence", "kick, punch", "walk, run")
    before = _snapshot(tiny_bundle)
    if method == "uce":
        edit = uce_edit(tiny_bundle, concept, encoder, preserve_texts=["a person waves"])
    else:
        edit = rece_edit(tiny_bundle, concept, encoder, epochs=1, official_variant=method == "rece_official")
    assert set(edit.tensors) == {"masked.cond_emb.weight", "residual.cond_emb.weight", "bamm.cond_emb.weight"}
    edited, report = edit.apply(tiny_bundle), edit.report
    after = tiny_bundle.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert torch.equal(value, after[key]), f"original bundle tensor {key} changed"
    names = {"masked.cond_emb", "residual.cond_emb", "bamm.cond_emb"}
    assert {layer.name for layer in report.layers} == names
    assert all(layer.rel_change > 0 for layer in report.layers)
    orig_layers, new_layers = cond_layers(tiny_bundle), cond_layers(edited)
    for name in names:
        assert not torch.equal(orig_layers[name].weight, new_layers[name].weight)
        assert new_layers[name].weight.data_ptr() != orig_layers[name].weight.data_ptr()
        assert torch.equal(orig_layers[name].bias, new_layers[name].bias)  # bias untouched
    # every other tensor is shared, not copied
    edited_params = dict(edited.named_parameters())
    for key, value in tiny_bundle.named_parameters():
        if not key.endswith("cond_emb.weight"):
            assert edited_params[key] is value
    d = json.loads(json.dumps(report.to_dict()))
    assert d["method"] == method.split("_")[0] and d["concept"] == "violence" and d["seconds"] > 0


def test_uce_edit_moves_concept_toward_target(tiny_bundle, encoder):
    concept = Concept.from_text("violence", "kick, punch", "walk, run")
    edited = uce_edit(tiny_bundle, concept, encoder).apply(tiny_bundle)
    emb = encoder.encode(["kick", "punch", concept.target]).double()
    W, W2 = tiny_bundle.masked.cond_emb.weight.double(), edited.masked.cond_emb.weight.double()
    before = (emb[:2] @ W.T - emb[2:] @ W.T).norm()
    after = (emb[:2] @ W2.T - emb[2:] @ W.T).norm()
    assert after < 0.5 * before


@pytest.mark.skipif(not (EMBEDDED / "bundle.json").is_file(), reason="checkpoints/embedded not present")
def test_embedded_bundle_edits_every_cond_emb(encoder):
    """On the shipped bundle both text-side methods edit every cond_emb it has (apply time: benchmarks/unlearn_speed.py)."""
    bundle = ModelBundle.load(EMBEDDED)
    concept = Concept.from_lexicon("violence")
    for fn in (uce_edit, rece_edit):
        edit = fn(bundle, concept, encoder)
        assert len(edit.report.layers) == len(cond_layers(bundle)) == len(edit.tensors)

