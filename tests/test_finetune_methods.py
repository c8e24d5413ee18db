"""The training-based baselines (task-vector negation, ESD, gradient ascent) on tiny models and a tiny
corpus: what each objective must do to the forget and retain likelihoods, low-rank factors saved and
loaded bit for bit, the resumable loop, the shipped-edit shortcut, and clear messages for bad values."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from hmu_demo.models.bundle import BundleConfig, ModelBundle
from hmu_demo.models.masked import MaskTransformer
from hmu_demo.models.text import MiniLMEncoder
from hmu_demo.pipelines.requests import GenerationRequest
from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning import finetune, finetune_methods
from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.edit_io import load_edit, save_edit
from hmu_demo.unlearning.finetune import FineTuneSettings, finetune_networks
from hmu_demo.unlearning.finetune_data import forget_retain_sets
from hmu_demo.unlearning.flagging import concept_split
from hmu_demo.unlearning.lora import add_adapters, remove_adapters
from hmu_demo.unlearning.registry import apply, method_names, resolve_concept
from hmu_demo.unlearning.token_objective import token_nll

FAST = {"steps": 60, "lr": 3e-3, "batch_size": 16, "forget_motions": 64}


@pytest.fixture(scope="module")
def setup(small_synth_corpus, tmp_path_factory, monkeypatch_module):
    torch.manual_seed(0)
    bundle = ModelBundle(BundleConfig.preset("tiny"), *_stats(small_synth_corpus)).eval()
    _spread_codebook(bundle, small_synth_corpus)
    index = CodeIndex.build(bundle, small_synth_corpus, "train")
    monkeypatch_module.setattr(finetune, "STATE_DIR", tmp_path_factory.mktemp("finetune_state"))
    encoder = MiniLMEncoder("cpu")
    _pretrain(bundle, index, encoder, small_synth_corpus)
    return bundle, index, encoder, small_synth_corpus


@pytest.fixture(scope="module")
def monkeypatch_module():
    patch = pytest.MonkeyPatch()
    yield patch
    patch.undo()


def _spread_codebook(bundle: ModelBundle, corpus) -> None:
    """A random tiny VQ maps every frame to one code; seeding its base codebook with encoder outputs of
    the corpus gives the token rows the variety a trained one has."""
    from hmu_demo.data.humanml3d import MotionDataset

    data = MotionDataset(corpus)
    latents = []
    with torch.no_grad():
        for motion_id in data.split_ids("train"):
            feats = data.features(motion_id)
            n = feats.shape[0] // 4 * 4
            clip = torch.from_numpy(bundle.normalizer.normalize(feats[:n]).astype(np.float32))[None]
            latents.append(bundle.vq.encoder(clip.permute(0, 2, 1))[0].T)  # (tokens, width)
        pool = torch.cat(latents)
        codebook = bundle.vq.quantizer.layers[0].codebook
        picks = torch.randperm(pool.shape[0], generator=torch.Generator().manual_seed(0))[: codebook.shape[0]]
        codebook[: len(picks)] = pool[picks]


def _pretrain(bundle: ModelBundle, index: CodeIndex, encoder, corpus, steps: int = 300) -> None:
    """Train the tiny base transformers on every training motion: a task vector means something only for
    a model that has learned the concept (near a random model, either sign of it lowers the loss)."""
    forget, retain = forget_retain_sets(bundle, index, resolve_concept("violence"), encoder, forget_motions=4096,
                                        retain_motions=4096, data=str(corpus))
    ids = torch.cat([_pad(forget.ids, 49), _pad(retain.ids, 49)])
    lengths, cond = torch.cat([forget.lengths, retain.lengths]), torch.cat([forget.cond, retain.cond])
    generator = torch.Generator().manual_seed(0)
    for net in (bundle.masked, bundle.bamm):
        optimiser = torch.optim.AdamW(net.parameters(), lr=3e-3)
        net.train()
        for _ in range(steps):
            rows = torch.randint(len(ids), (32,), generator=generator)
            n = int(lengths[rows].max())
            loss, _ = net(ids[rows, :n], cond[rows], lengths[rows], generator=generator)
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
        net.eval()


def _pad(ids: torch.Tensor, width: int) -> torch.Tensor:
    return torch.nn.functional.pad(ids, (0, width - ids.shape[1]))


def _stats(corpus):
    from hmu_demo.data.humanml3d import MotionDataset

    return MotionDataset(corpus).statistics()


def _nll(net, data, seed: int = 7) -> float:
    """Mean training loss over the whole set, averaged over a few fixed maskings."""
    with torch.no_grad():
        values = [float(token_nll(net, data.ids, data.lengths, data.cond, torch.Generator().manual_seed(seed + k)))
                  for k in range(4)]
    return float(np.mean(values))


def _sets(setup):
    bundle, index, encoder, corpus = setup
    return forget_retain_sets(bundle, index, resolve_concept("violence"), encoder, forget_motions=64,
                              retain_motions=64, data=str(corpus))


def test_methods_are_registered() -> None:
    assert {"task-vector", "task-vector-gated", "esd", "ga"} <= set(method_names())


def test_adapters_start_as_the_original_and_leave_it_untouched() -> None:
    net = MaskTransformer(BundleConfig.preset("tiny").masked).eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    ids = torch.randint(0, net.num_tokens, (2, 6))
    cond = torch.randn(2, net.cfg.clip_dim)
    pad = torch.zeros(2, 6, dtype=torch.bool)
    reference = net.trans_forward(ids, cond, pad)
    adapters = add_adapters(net, rank=2, alpha=2.0)
    assert torch.equal(net.trans_forward(ids, cond, pad), reference)  # up starts at zero
    with torch.no_grad():
        for a in adapters.values():
            a.up.normal_()
    assert not torch.allclose(net.trans_forward(ids, cond, pad), reference)
    remove_adapters(net, adapters)
    after = net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in before.items())


def test_forget_set_is_the_index_split_encoded_from_the_corpus(setup) -> None:
    bundle, index, encoder, corpus = setup
    forget, retain = _sets(setup)
    mask = concept_split(index, resolve_concept("violence"))
    forget_ids = {m.id for m, f in zip(index.motions, mask) if f}
    assert len(forget) > 0 and set(forget.motion_ids) <= forget_ids
    assert not set(retain.motion_ids) & forget_ids
    by_id = {m.id: m for m in index.motions}
    compared = 0
    for row, motion_id in enumerate(forget.motion_ids):
        n = int(forget.lengths[row])
        if n < 49:  # the whole clip was encoded, as the index did: the same codes
            assert sorted(set(forget.ids[row, :n].tolist())) == list(by_id[motion_id].codes)
            compared += 1
    assert compared > 0


@pytest.mark.parametrize("method", ["task-vector", "ga"])
def test_forget_likelihood_falls_more_than_retain(setup, method: str) -> None:
    bundle, index, encoder, corpus = setup
    forget, retain = _sets(setup)
    hp = dict(FAST, data=str(corpus), **({} if method == "task-vector" else {"retain_motions": 64}))
    edit = apply(bundle, "violence", method, text_encoder=encoder, index=index, **hp)
    edited = edit.apply(bundle)
    rise_forget = _nll(edited.masked, forget) - _nll(bundle.masked, forget)
    rise_retain = _nll(edited.masked, retain) - _nll(bundle.masked, retain)
    assert rise_forget > 0 and rise_forget > 2 * rise_retain, (rise_forget, rise_retain)
    assert {n.split(".")[0] for n in edit.tensors} == {"masked", "bamm"}  # base transformers only
    for name, (up, down) in edit.factors.items():
        assert up.shape[1] <= 8 and torch.linalg.matrix_rank(edit.tensors[name] - bundle.state_dict()[name]) <= 8


def test_esd_moves_forget_towards_negative_guidance(setup) -> None:
    bundle, index, encoder, corpus = setup
    edit = apply(bundle, "violence", "esd", text_encoder=encoder, index=index, **FAST, data=str(corpus),
                 retain_motions=64)
    for net in ("masked", "bamm"):
        history = edit.report.details["networks"][net]["history"]
        assert history[-1]["forget_kl"] < 0.7 * history[0]["forget_kl"], history
        assert history[-1]["retain_kl"] < history[-1]["forget_kl"]


def test_factors_round_trip_bit_for_bit(setup, tmp_path) -> None:
    bundle, index, encoder, corpus = setup
    edit = apply(bundle, "violence", "ga", text_encoder=encoder, index=index, **dict(FAST, steps=3, rank=2),
                 data=str(corpus), retain_motions=16)
    folder = save_edit(bundle, edit, tmp_path / "ga")
    size = (folder / "edit.safetensors").stat().st_size
    full = sum(t.numel() * t.element_size() for t in edit.tensors.values())
    assert size < full / 4  # factors, not matrices
    loaded, meta = load_edit(bundle, folder)
    assert meta["low_rank"] == sorted(edit.tensors)
    assert all(torch.equal(loaded.tensors[n], t) for n, t in edit.tensors.items())
    other = ModelBundle(BundleConfig.preset("tiny"), *_stats(corpus))  # other weights: refused
    with pytest.raises(ValueError, match="another bundle"):
        load_edit(other, folder)


def test_interrupted_loop_resumes_to_the_same_result(setup) -> None:
    bundle, index, encoder, corpus = setup
    forget, _ = _sets(setup)
    settings = FineTuneSettings(steps=6, lr=3e-3, batch_size=8, rank=2, alpha=2.0)
    calls = {"n": 0}

    def step(edited, original, batch, retain, generator, stop_at=None):
        calls["n"] += 1
        if stop_at is not None and calls["n"] == stop_at:
            raise KeyboardInterrupt
        return finetune_methods.task_vector_step(edited, original, batch, retain, generator)

    reference, _, _ = finetune_networks(bundle, step, forget, None, settings, {"test": "ref"}, progress=False)
    calls["n"] = 0
    with pytest.raises(KeyboardInterrupt):
        finetune_networks(bundle, lambda *a: step(*a, stop_at=4), forget, None, settings, {"test": "cut"},
                          progress=False)
    assert list(finetune.STATE_DIR.glob("*.pt"))
    resumed, _, details = finetune_networks(bundle, step, forget, None, settings, {"test": "cut"}, progress=False)
    assert details["masked"]["resumed_at"] == 3
    assert all(torch.allclose(resumed[n][0], reference[n][0], atol=1e-6) for n in reference)
    assert not list(finetune.STATE_DIR.glob("*.pt"))  # removed when done


def test_shipped_edit_is_used_only_for_the_same_request(setup, tmp_path, monkeypatch) -> None:
    bundle, index, encoder, corpus = setup
    made = apply(bundle, "violence", "task-vector", text_encoder=encoder, index=index, **dict(FAST, steps=2),
                 data=str(corpus))
    request = {**made.report.details["request"], "data": ""}  # as if made on the default corpus
    made.report.details["request"] = request
    save_edit(bundle, made, tmp_path / "task-vector")
    monkeypatch.setattr(finetune_methods, "SHIPPED_EDITS", tmp_path)
    concept = resolve_concept("violence")
    found = finetune_methods.shipped_edit(bundle, "task-vector", concept, request, None)
    assert found is not None and found.report.details["precomputed"] == str(tmp_path / "task-vector")
    assert all(torch.equal(found.tensors[n], t) for n, t in made.tensors.items())
    assert finetune_methods.shipped_edit(bundle, "task-vector", concept, {**request, "steps": 3}, None) is None
    doubled = finetune_methods.shipped_edit(bundle, "task-vector", concept, {**request, "scale": 2.0}, None)
    weights = bundle.state_dict()
    for name, tensor in made.tensors.items():  # the scale is applied after training: the factors are rescaled
        torch.testing.assert_close(doubled.tensors[name] - weights[name], 2 * (tensor - weights[name]), atol=1e-6, rtol=0)
    assert doubled.report.hyperparameters["scale"] == 2.0
    assert finetune_methods.shipped_edit(bundle, "task-vector", resolve_concept("kick,"), request, None) is None
    assert finetune_methods.shipped_edit(bundle, "task-vector", concept, {**request, "data": str(corpus)},
                                         None) is None
    other = ModelBundle(BundleConfig.preset("tiny"), *_stats(corpus))
    assert finetune_methods.shipped_edit(other, "task-vector", concept, request, None) is None


@pytest.mark.parametrize("hp, message", [({"steps": 0}, "steps must be an integer"),
                                         ({"rank": 0}, "rank must be an integer"),
                                         ({"forget_motions": 10**6}, "forget_motions must be an integer"),
                                         ({"scale": -1.0}, "scale must be a number")])
def test_bad_values_get_clear_messages(setup, hp: dict, message: str) -> None:
    bundle, index, encoder, corpus = setup
    with pytest.raises(ValueError, match=message):
        apply(bundle, "violence", "task-vector", text_encoder=encoder, index=index, data=str(corpus), **hp)


def test_wrong_corpus_is_refused(setup, make_humanml3d) -> None:
    bundle, index, encoder, _ = setup
    other = make_humanml3d({"x1": ["a person punches the air"], "x2": ["a person walks"]})
    with pytest.raises(ValueError, match="not the corpus the index was built from"):
        apply(bundle, "violence", "ga", text_encoder=encoder, index=index, data=str(other), steps=2)


def test_gated_task_vector_edits_only_the_prompts_its_gate_selects(setup, tmp_path) -> None:
    bundle, index, encoder, corpus = setup
    edit = apply(bundle, "violence", "task-vector-gated", text_encoder=encoder, index=index,
                 **dict(FAST, steps=20, scale=3.0), data=str(corpus), threshold=1.0)  # keywords only
    assert edit.route is not None and edit.constraint is None
    request = GenerationRequest(prompts=("a man punches the air", "a person waves"), lengths=(40, 40), seed=3)
    original = TextToMotionPipeline(bundle, encoder)(request).motions
    everywhere = TextToMotionPipeline(bundle, encoder, edit=Edit(edit.report, edit.tensors))(request).motions
    routed = TextToMotionPipeline(bundle, encoder, edit=edit)(request).motions
    assert routed[0].gated and not routed[1].gated
    assert np.array_equal(routed[0].tokens, everywhere[0].tokens)  # selected: the negated weights
    assert np.array_equal(routed[1].tokens, original[1].tokens)  # not selected: the original model
    assert not np.array_equal(everywhere[0].tokens, original[0].tokens)  # the weights do change the motion
    loaded, meta = load_edit(bundle, save_edit(bundle, edit, tmp_path / "gated"))
    assert meta["route"]["threshold"] == 1.0
    again = TextToMotionPipeline(bundle, encoder, edit=loaded)(request).motions
    assert all(np.array_equal(a.tokens, b.tokens) for a, b in zip(again, routed))


def test_interactive_requests_never_train() -> None:
    """The app's edit requests: the shipped edits serve the default concept (task-vector at any scale, the
    gated form at any gate setting); a typed concept or a changed training setting is refused with a
    message naming the CLI, never minutes of CPU inside a request."""
    from hmu_demo.pipelines.requests import EditRequest, RequestError

    for method in ("task-vector", "task-vector-gated", "esd", "ga"):
        assert EditRequest(method).method == method
    EditRequest("task-vector", "violence", {"scale": 2.0})
    EditRequest("task-vector-gated", "violence", {"threshold": 0.5})
    for method, concept, hp in (("esd", "jump, hop", {}), ("ga", "violence", {"steps": 3}),
                                ("task-vector", "violence", {"data": "/elsewhere"})):
        with pytest.raises(RequestError, match="python -m hmu_demo.unlearn"):
            EditRequest(method, concept, hp)
