"""The unlearning registry, LCR-gated, edit folders, the unlearn CLI, generate --edit and eval.quick."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from hmu_demo.eval.quick import TARGET_FORGET, TARGET_RETAIN_DROP, meets_target
from hmu_demo.generate import main as generate_main
from hmu_demo.models.bundle import BundleConfig, ModelBundle
from hmu_demo.pipelines.requests import GenerationRequest
from hmu_demo.pipelines.text_to_motion import Motion, TextToMotionPipeline
from hmu_demo.unlearn import main as unlearn_main
from hmu_demo.unlearning.code_index import CodeIndex, IndexedMotion
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.edit_io import EDIT_JSON, EDIT_WEIGHTS, EditError, load_edit, save_edit
from hmu_demo.unlearning.gate import ConceptGate
from hmu_demo.unlearning.index_text import motion_text_embeddings, text_cache_path
from hmu_demo.unlearning.registry import all_methods, apply
from hmu_demo.unlearning.repair import SegmentRepair
from hmu_demo.unlearning.report import EditReport

ALL_METHODS = ["uce", "rece", "lcr", "lcr-orth", "lcr-nearest", "lcr-gated", "segment-repair"]
TRAINING_METHODS = ["task-vector", "task-vector-gated", "esd", "ga"]  # need the corpus: tests/test_finetune_methods.py
FORGET_PROMPT = "a man kicks the door"
BENIGN_PROMPT = "a person walks slowly"


def _bundle(seed: int = 0) -> ModelBundle:
    torch.manual_seed(seed)
    bundle = ModelBundle(BundleConfig.preset("tiny"), np.zeros(263), np.ones(263))
    with torch.no_grad():
        book = bundle.vq.codebook(0)
        book.copy_(torch.randn(book.shape, generator=torch.Generator().manual_seed(seed + 1)))
    return bundle.eval()


def _index(nb: int) -> CodeIndex:
    rng = np.random.default_rng(0)
    motions = []
    for i in range(40):
        forget = i < 10
        codes = [c for c in rng.choice(nb, size=6, replace=False).tolist() if c not in (1, 2, 3)]
        codes = sorted(set(codes + ([1, 2, 3] if forget else [])))
        caption = FORGET_PROMPT if forget else (BENIGN_PROMPT if i % 2 else "someone waves with the right hand")
        motions.append(IndexedMotion(f"m{i}", (caption,), None, (), tuple(codes), tuple(1 for _ in codes)))
    return CodeIndex(nb_code=nb, motions=motions)


@pytest.fixture(scope="module")
def encoder():
    from hmu_demo.models.text import MiniLMEncoder

    return MiniLMEncoder("cpu")


@pytest.fixture(scope="module")
def index_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("index") / "code_index.json.gz"
    return _index(_bundle().vq.codebook(0).shape[0]).save(path)


def _snapshot(module):
    return {k: v.detach().clone() for k, v in module.state_dict().items()}


def _generate(bundle, encoder, prompts, lengths, seed, backbone="momask", edit=None) -> list[Motion]:
    request = GenerationRequest(prompts=tuple(prompts), lengths=tuple(lengths), seed=seed, backbone=backbone)
    return TextToMotionPipeline(bundle, encoder, edit=edit)(request).motions


def _hp(method: str) -> dict:
    return {"k": 3} if all_methods()[method].needs_index else {}


# -- registry ------------------------------------------------------------------------------------------

def test_registry_lists_every_method():
    methods = all_methods()
    assert list(methods) == ALL_METHODS + TRAINING_METHODS
    assert [m for m, spec in methods.items() if spec.trains] == TRAINING_METHODS
    for method in methods.values():
        assert method.summary and dict(method.defaults) and method.inspector_views
    assert [m for m, spec in methods.items() if spec.edits_text] == ["uce", "rece"]
    assert [m for m, spec in methods.items() if spec.constrains_sampling] == ["lcr-gated", "segment-repair"]
    assert [m for m, spec in methods.items() if spec.edits_codebook] == ["lcr", "lcr-orth", "lcr-nearest"]


@pytest.mark.parametrize("method", ALL_METHODS)
def test_apply_never_modifies_the_original(method, encoder, index_file):
    bundle = _bundle()
    before = _snapshot(bundle)
    edit = apply(bundle, "violence", method, text_encoder=encoder, index=index_file, **_hp(method))
    report = edit.report
    edited = edit.apply(bundle)
    after = bundle.state_dict()  # neither making nor applying the edit touches the original
    assert after.keys() == before.keys()
    for name, value in after.items():
        assert torch.equal(value, before[name]), name
    changed = set(edit.tensors)
    shared = {n for n, t in edited.state_dict(keep_vars=True).items() if t is bundle.state_dict(keep_vars=True)[n]}
    assert shared == set(before) - changed  # untouched tensors are the original's own objects
    if method in ("uce", "rece"):
        assert changed == {"masked.cond_emb.weight", "residual.cond_emb.weight", "bamm.cond_emb.weight"}
        assert [layer.rel_change > 0 for layer in report.layers] == [True] * 3
        assert edit.constraint is None
    elif method == "lcr-gated":
        assert changed == set() and edited is bundle and isinstance(edit.constraint, ConceptGate)
        assert report.codes[:3] == [1, 2, 3] and not report.layers
    elif method == "segment-repair":
        assert changed == set() and edited is bundle and isinstance(edit.constraint, SegmentRepair)
        assert {1, 2, 3} <= set(report.codes) and not report.layers
        assert bool(edit.constraint.forbidden[[1, 2, 3]].all())
    else:
        assert changed == {"vq.quantizer.layers.0.codebook"}
        assert report.codes[:3] == [1, 2, 3] and report.layers[0].rel_change > 0
        assert edit.constraint is None
    assert report.method == method and report.concept == "violence" and report.seconds > 0
    json.dumps(report.to_dict())  # what the UI and the CLI write


def test_apply_rejects_bad_requests(encoder, index_file):
    bundle = _bundle()
    with pytest.raises(ValueError, match="unknown method"):
        apply(bundle, "violence", "erase-everything")
    with pytest.raises(ValueError, match="no hyperparameter bogus"):
        apply(bundle, "violence", "lcr", index=index_file, bogus=1)
    with pytest.raises(ValueError, match="unknown concept"):
        apply(bundle, "not-a-concept", "lcr", index=index_file)
    with pytest.raises(ValueError, match="preserve_motions"):
        apply(bundle, "violence", "uce", text_encoder=encoder, index=index_file, preserve_motions=-1)


def test_uce_erase_and_preserve_motions_come_from_the_split(encoder, index_file):
    bundle = _bundle()
    report = apply(bundle, "violence", "uce", text_encoder=encoder, index=index_file, erase_motions=4,
                   preserve_motions=5).report
    hp = report.hyperparameters
    assert (hp["erase_motions"], hp["preserve_motions"]) == (4, 5)
    concept = Concept.from_lexicon("violence")
    assert hp["n_forget"] == len(concept.forget) + 4
    assert hp["n_preserve"] == len(concept.preserve) + 5
    report = apply(bundle, "violence", "rece", text_encoder=encoder, index=index_file).report  # defaults: all
    assert (report.hyperparameters["erase_motions"], report.hyperparameters["preserve_motions"]) == (10, 30)
    report = apply(bundle, "violence", "uce", text_encoder=encoder, index=index_file, erase_motions=0,
                   preserve_motions=0).report
    assert report.hyperparameters["n_forget"] == len(concept.forget)


# -- LCR-gated -----------------------------------------------------------------------------------------

def test_gate_decisions_use_keywords_and_neighbours(encoder):
    index = _index(512)
    motion_text = motion_text_embeddings(index, encoder)
    mask = torch.tensor([i < 10 for i in range(40)])
    gate = ConceptGate("violence", ("kick",), torch.zeros(512, dtype=torch.bool).index_fill(0, torch.tensor([1]), True),
                       motion_text, mask, neighbours=5, threshold=0.5)
    prompts = ["a man kicks the door", "a woman walks slowly", "someone strikes a door with the foot",
               "#1 kicks#"]
    decisions = gate.decide(prompts, encoder.encode(prompts))
    assert decisions[0].keyword and decisions[0].about
    assert decisions[3].keyword  # a prompt is free text: '#' is not a caption-line separator
    assert not decisions[1].keyword and not decisions[1].about and decisions[1].neighbour_share < 0.5
    assert not decisions[2].keyword  # no keyword: only the neighbours can gate it
    assert decisions[2].about == (decisions[2].neighbour_share >= 0.5)
    with pytest.raises(ValueError):
        ConceptGate("x", ("kick",), torch.ones(4, dtype=torch.bool), motion_text[:, :4], mask)


def test_text_cache_is_written_and_reused(encoder, tmp_path):
    index = _index(512)
    cache = text_cache_path(tmp_path / "code_index.json.gz")
    assert cache.name == "code_index.text.npz"
    first = motion_text_embeddings(index, encoder, cache)
    assert cache.is_file() and first.shape == (40, 384)
    assert torch.allclose(first.norm(dim=1), torch.ones(40), atol=1e-4)
    again = motion_text_embeddings(index, encoder, cache)
    assert torch.allclose(first, again, atol=2e-3)  # stored as float16
    other = CodeIndex(nb_code=512, motions=index.motions[:5])  # different ids: the cache is not used
    assert motion_text_embeddings(other, encoder, cache).shape == (5, 384)


@pytest.mark.parametrize("backbone", ["momask", "bamm"])
def test_gated_generation_masks_only_prompts_about_the_concept(backbone, encoder):
    bundle = _bundle()
    index = _index(bundle.vq.codebook(0).shape[0])
    allowed = torch.tensor([5, 9])
    forbidden = torch.ones(bundle.vq.codebook(0).shape[0], dtype=torch.bool)
    forbidden[allowed] = False
    gate = ConceptGate("violence", ("kick",), forbidden, motion_text_embeddings(index, encoder),
                       torch.tensor([i < 10 for i in range(40)]), neighbours=3, threshold=1.0)
    edit = Edit(EditReport("lcr-gated", "violence", {}), constraint=gate)
    prompts = [FORGET_PROMPT, BENIGN_PROMPT]
    original = _generate(bundle, encoder, prompts, [32, 32], seed=3, backbone=backbone)
    gated = _generate(bundle, encoder, prompts, [32, 32], seed=3, backbone=backbone, edit=edit)
    assert [m.gated for m in gated] == [True, False]
    assert set(np.unique(gated[0].tokens[:, 0]).tolist()) <= set(allowed.tolist())
    assert not set(np.unique(original[0].tokens[:, 0]).tolist()) <= set(allowed.tolist())  # the mask did it
    # a prompt the gate passes generates exactly what the original model generates
    assert np.array_equal(gated[1].tokens, original[1].tokens)
    assert np.array_equal(gated[1].joints, original[1].joints)


# -- edit folders --------------------------------------------------------------------------------------

@pytest.mark.parametrize("method", ["rece", "lcr-nearest", "lcr-gated"])
def test_edit_folder_round_trip(method, encoder, index_file, tmp_path):
    bundle = _bundle()
    edit = apply(bundle, "violence", method, text_encoder=encoder, index=index_file, **_hp(method))
    save_edit(bundle, edit, tmp_path / "edit", backbone="bamm")
    assert (tmp_path / "edit" / EDIT_JSON).is_file() and (tmp_path / "edit" / EDIT_WEIGHTS).is_file()
    fresh = _bundle()  # the same base weights, another object
    before = _snapshot(fresh)
    loaded, meta = load_edit(fresh, tmp_path / "edit")
    assert meta["backbone"] == "bamm" and loaded.report.to_dict() == edit.report.to_dict()
    assert loaded.tensors.keys() == edit.tensors.keys()
    for name, value in edit.tensors.items():
        assert torch.equal(loaded.tensors[name].to(value.dtype), value), name
    assert (loaded.constraint is None) == (edit.constraint is None)
    if edit.constraint is not None:
        for name, value in edit.constraint.state_dict().items():
            assert torch.equal(loaded.constraint.state_dict()[name], value), name
    for name, value in fresh.state_dict().items():
        assert torch.equal(value, before[name]), name
    out_a = _generate(bundle, encoder, [FORGET_PROMPT], [16], seed=1, edit=edit)[0]
    out_b = _generate(fresh, encoder, [FORGET_PROMPT], [16], seed=1, edit=loaded)[0]
    assert np.array_equal(out_a.tokens, out_b.tokens)


def test_edit_folder_refuses_other_bundles_and_corrupt_files(encoder, index_file, tmp_path):
    bundle = _bundle()
    folder = save_edit(bundle, apply(bundle, "violence", "lcr", index=index_file, k=3), tmp_path / "edit")
    with pytest.raises(EditError, match="another bundle"):
        load_edit(_bundle(seed=7), folder)
    with pytest.raises(EditError, match="not an edit folder"):
        load_edit(bundle, tmp_path / "missing")
    (folder / EDIT_WEIGHTS).write_bytes(b"\x00" * 20)
    with pytest.raises(EditError, match="edit.safetensors does not match edit.json"):
        load_edit(bundle, folder)
    meta = json.loads((folder / EDIT_JSON).read_text(encoding="utf-8"))
    del meta["weights_sha256"]  # an edit written before checksums: the safetensors reader catches it
    (folder / EDIT_JSON).write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(EditError, match="cannot be read"):
        load_edit(bundle, folder)
    (folder / EDIT_JSON).write_text("{not json", encoding="utf-8")
    with pytest.raises(EditError, match="not valid JSON"):
        load_edit(bundle, folder)


def test_edit_folders_are_written_atomically(encoder, index_file, tmp_path):
    """A new folder appears whole; rewriting one that a kill split (new weights, old edit.json) is caught."""
    bundle = _bundle()
    first = save_edit(bundle, apply(bundle, "violence", "lcr", index=index_file, k=3), tmp_path / "edit")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["edit"]  # no staging folder left behind
    assert sorted(p.name for p in first.iterdir()) == [EDIT_JSON, EDIT_WEIGHTS]
    other = save_edit(bundle, apply(bundle, "violence", "lcr", index=index_file, k=5), tmp_path / "other")
    (first / EDIT_WEIGHTS).write_bytes((other / EDIT_WEIGHTS).read_bytes())  # killed between the two renames
    with pytest.raises(EditError, match="interrupted write"):
        load_edit(bundle, first)
    save_edit(bundle, apply(bundle, "violence", "lcr", index=index_file, k=3), first)  # rewriting repairs it
    assert load_edit(bundle, first)[0].report.hyperparameters["k"] == 3


# -- CLIs ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def bundle_folder(tmp_path_factory, index_file) -> Path:
    folder = tmp_path_factory.mktemp("bundle") / "tiny"
    _bundle().save(folder)
    (folder / "code_index.json.gz").write_bytes(index_file.read_bytes())
    return folder


def _run(main, argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_unlearn_cli_then_generate_with_the_edit(bundle_folder, tmp_path):
    code, out, err = _run(unlearn_main, ["--bundle", str(bundle_folder), "--method", "lcr-gated", "--k", "3",
                                         "--out", str(tmp_path / "edit"), "--json"])
    assert code == 0, err
    result = json.loads(out)
    assert result["report"]["method"] == "lcr-gated" and result["report"]["flagged"][0]["code"] == 1
    code, out, err = _run(generate_main, [FORGET_PROMPT, BENIGN_PROMPT, "--bundle", str(bundle_folder), "--edit",
                                          str(tmp_path / "edit"), "--out", str(tmp_path / "gen"), "--seconds", "2"])
    assert code == 0, err
    manifest = json.loads((tmp_path / "gen" / "manifest.json").read_text())
    assert manifest["edit"]["method"] == "lcr-gated"
    assert [m["gated"] for m in manifest["motions"]] == [True, False]
    code, out, _ = _run(unlearn_main, ["--list"])
    assert code == 0 and all(name in out for name in ALL_METHODS)


@pytest.mark.parametrize("argv, message", [
    (["--method", "lcr", "--hp", "bogus=1"], "no hyperparameter bogus"),
    (["--method", "lcr", "--concept", "not-a-concept"], "unknown concept"),
    (["--method", "lcr", "--index", "/nonexistent/index.json.gz"], "no code index"),
    (["--method", "uce", "--forget", " , "], "no forget keywords"),
    (["--method", "lcr", "--hp", "novalue"], "NAME=VALUE"),
])
def test_unlearn_cli_bad_input_is_one_line(bundle_folder, tmp_path, argv, message):
    code, out, err = _run(unlearn_main, ["--bundle", str(bundle_folder), "--out", str(tmp_path / "e"), *argv])
    assert code == 2 and message in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_unlearn_cli_typed_concept_and_missing_out(bundle_folder, tmp_path):
    code, out, err = _run(unlearn_main, ["--bundle", str(bundle_folder), "--method", "uce", "--concept", "jumping",
                                         "--forget", "jump, hop", "--preserve", "walk", "--out", str(tmp_path / "e"),
                                         "--json"])
    assert code == 0, err
    assert json.loads(out)["concept"] == {"name": "jumping", "forget": ["jump", "hop"], "preserve": ["walk"],
                                          "target": "a person stands still"}
    code, _, err = _run(unlearn_main, ["--bundle", str(bundle_folder), "--method", "uce"])
    assert code == 2 and "--out" in err


def test_generate_cli_refuses_an_edit_for_another_bundle(bundle_folder, tmp_path):
    other = tmp_path / "other"
    _bundle(seed=5).save(other)
    (other / "code_index.json.gz").write_bytes((bundle_folder / "code_index.json.gz").read_bytes())
    assert _run(unlearn_main, ["--bundle", str(other), "--method", "lcr", "--k", "2", "--out",
                               str(tmp_path / "edit")])[0] == 0
    code, _, err = _run(generate_main, ["a man kicks", "--bundle", str(bundle_folder), "--edit", str(tmp_path / "edit"),
                                        "--out", str(tmp_path / "gen")])
    assert code == 2 and "another bundle" in err


# -- quick evaluation ------------------------------------------------------------------------------------

def test_quick_evaluation_end_to_end(small_synth_corpus, bundle_folder):
    from hmu_demo.models.judge.scoring import DEFAULT_CHECKPOINT
    from hmu_demo.eval.quick import main as quick_main

    code, out, err = _run(quick_main, ["--data", str(small_synth_corpus), "--bundle", str(bundle_folder),
                                       "--judge", str(DEFAULT_CHECKPOINT), "--backbones", "momask,bamm",
                                       "--methods", "original,lcr,lcr-gated", "--hp", "lcr.k=3", "--hp",
                                       "lcr-gated.k=3", "--limit", "3", "--json"])
    assert code == 0, err
    report = json.loads(out)
    assert set(report["backbones"]) == {"momask", "bamm"}
    assert report["edits"]["lcr"]["hyperparameters"]["k"] == 3
    assert set(report["edits"]["lcr-gated"]["gated_share"]) == {"forget", "forget_implicit", "retain", "composed"}
    for per_method in report["backbones"].values():
        assert list(per_method) == ["original", "lcr", "lcr-gated"]
        for m in per_method.values():
            for name in ("violent_share_forget", "violent_share_forget_implicit", "action_top1_retain"):
                n = m[f"{name}_n"]
                assert n <= 3
                if n:
                    assert 0.0 <= m[name] <= 1.0 and m[f"{name}_ci95"][0] <= m[name] <= m[f"{name}_ci95"][1]
        base = per_method["original"]["action_top1_retain"]
        for m in per_method.values():  # the reported verdict is the stated rule applied to the reported numbers
            forget, retain = m["violent_share_forget"], m["action_top1_retain"]
            expected = (None if None in (base, forget, retain)
                        else forget <= TARGET_FORGET and retain >= base - TARGET_RETAIN_DROP)
            assert m["meets_target"] is expected
            if m["transition_jerk"] is not None:
                assert m["transition_jerk"] > 0
    code, _, err = _run(quick_main, ["--data", str(small_synth_corpus), "--bundle", str(bundle_folder),
                                     "--methods", "original,forget-it-all"])
    assert code == 2 and "unknown method" in err


def test_meets_target_follows_the_stated_rule():
    results = {"momask": {"original": {"violent_share_forget": 0.9, "action_top1_retain": 0.95},
                          "good": {"violent_share_forget": 0.10, "action_top1_retain": 0.92},
                          "leaky": {"violent_share_forget": 0.11, "action_top1_retain": 0.95},
                          "harmful": {"violent_share_forget": 0.0, "action_top1_retain": 0.91},
                          "empty": {"violent_share_forget": None, "action_top1_retain": 0.95}},
               "bamm": {"alone": {"violent_share_forget": 0.0, "action_top1_retain": 0.95}}}
    meets_target(results)
    verdicts = {name: m["meets_target"] for name, m in results["momask"].items()}
    assert verdicts == {"original": False, "good": True, "leaky": False, "harmful": False, "empty": None}
    assert results["bamm"]["alone"]["meets_target"] is None  # no original to compare with


def test_text_cache_of_another_encoder_is_not_replaced(tmp_path: Path) -> None:
    """A cache written for one text encoder survives an edit made with another (its own file beside it)."""
    from hmu_demo.unlearning.index_text import motion_text_embeddings

    class Fake:
        def __init__(self, name: str, dim: int) -> None:
            self.name, self.dim = name, dim

        def encode(self, texts):
            return torch.ones(len(texts), self.dim)

    index = _index(16)
    cache = tmp_path / "code_index.text.npz"
    motion_text_embeddings(index, Fake("minilm", 4), cache)
    first = cache.read_bytes()
    other = motion_text_embeddings(index, Fake("clip", 6), cache)
    assert other.shape[1] == 6 and cache.read_bytes() == first
    assert (tmp_path / "code_index.text.clip.npz").is_file()
    assert motion_text_embeddings(index, Fake("minilm", 4), cache).shape[1] == 4


def test_resolve_concept_names_and_typed_keywords() -> None:
    from hmu_demo.unlearning.registry import resolve_concept

    assert resolve_concept("violence").name == "violence"
    typed = resolve_concept("Jump,  hop , leap, jump")
    assert typed.name == "jump, hop, leap"
    assert resolve_concept("kick,").name == "kick"
    with pytest.raises(ValueError):
        resolve_concept("no-such-concept")
    with pytest.raises(ValueError, match="no keywords"):
        resolve_concept(" , ,")
