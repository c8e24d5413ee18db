"""A method registered from outside the package reaches every place that lists or runs methods:
the unlearn CLI, the app's method dropdown, the benchmark, edit folders and generation."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
import torch

from hmu_demo.eval.generation import ORIGINAL, default_methods, generate_motions, make_contenders
from hmu_demo.generate import main as generate_main
from hmu_demo.models.bundle import BundleConfig, ModelBundle
from hmu_demo.pipelines.requests import GenerationRequest
from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline
from hmu_demo.ui.layout import build_app
from hmu_demo.ui.service import StudioService
from hmu_demo.unlearn import main as unlearn_main
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.edit_io import load_edit
from hmu_demo.unlearning.registry import Method, all_methods, apply, register, unregister
from hmu_demo.unlearning.report import EditReport

TOY = "toy-codebook-scale"
CODEBOOK = "vq.quantizer.layers.0.codebook"


def _scale_codebook(bundle, concept: Concept, *, text_encoder=None, index=None, scale: float = 0.5) -> Edit:
    """Scales every base-layer code: nonsense as unlearning, but a real edit of one tensor."""
    book = bundle.vq.codebook(0).detach().clone() * float(scale)
    return Edit(EditReport(TOY, concept.name, {"scale": float(scale)}), {CODEBOOK: book})


@pytest.fixture()
def toy_method():
    method = register(Method(TOY, "scales the base codebook (a test plug-in)", _scale_codebook, {"scale": 0.5},
                             edits_codebook=True, inspector_views=("codebook",), order=1000))
    yield method
    unregister(TOY)
    assert TOY not in all_methods()


def _bundle() -> ModelBundle:
    torch.manual_seed(0)
    bundle = ModelBundle(BundleConfig.preset("tiny"), np.zeros(263), np.ones(263))
    with torch.no_grad():  # a fresh codebook is all zeros, which scaling would not change
        bundle.vq.codebook(0).copy_(torch.randn(bundle.vq.codebook(0).shape, generator=torch.Generator().manual_seed(1)))
    return bundle.eval()


def _run(main, argv) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    return code, out.getvalue(), err.getvalue()


def test_registered_method_runs_through_the_registry_and_the_pipeline(toy_method):
    bundle = _bundle()
    assert list(all_methods())[-1] == TOY
    edit = apply(bundle, "violence", TOY, scale=0.25)
    assert edit.report.hyperparameters == {"scale": 0.25} and set(edit.tensors) == {CODEBOOK}
    with pytest.raises(ValueError, match="must be a number"):
        apply(bundle, "violence", TOY, scale="big")
    encoder = bundle.make_text_encoder()
    request = GenerationRequest(prompts=("a man kicks",), lengths=(16,), seed=2)
    original = TextToMotionPipeline(bundle, encoder)(request).motions[0]
    edited = TextToMotionPipeline(bundle, encoder, edit=edit)(request).motions[0]
    assert not np.array_equal(original.joints, edited.joints)


def test_registered_method_is_in_the_unlearn_cli(toy_method, tmp_path: Path):
    code, out, _ = _run(unlearn_main, ["--list"])
    assert code == 0 and TOY in out and "scale=0.5" in out
    folder = tmp_path / "tiny"
    bundle = _bundle()
    bundle.save(folder)
    code, out, err = _run(unlearn_main, ["--bundle", str(folder), "--method", TOY, "--hp", "scale=0.75",
                                         "--out", str(tmp_path / "edit"), "--json"])
    assert code == 0, err
    assert json.loads(out)["report"]["hyperparameters"] == {"scale": 0.75}
    loaded, _ = load_edit(bundle, tmp_path / "edit")
    assert torch.equal(loaded.tensors[CODEBOOK], bundle.vq.codebook(0).detach() * 0.75)
    code, _, err = _run(generate_main, ["a person waves", "--bundle", str(folder), "--edit", str(tmp_path / "edit"),
                                        "--seconds", "1", "--out", str(tmp_path / "gen")])
    assert code == 0, err
    assert json.loads((tmp_path / "gen" / "manifest.json").read_text())["edit"]["method"] == TOY


def test_registered_method_is_in_the_app_dropdown(toy_method):
    demo = build_app(StudioService())
    dropdowns = [block for block in demo.blocks.values() if isinstance(block, gr.Dropdown)]
    choices = [[value for _, value in block.choices] for block in dropdowns]
    assert any(TOY in values and "lcr-gated" in values for values in choices)


def test_registered_method_is_in_the_benchmark(toy_method):
    assert default_methods()[-1] == TOY
    bundle = _bundle()
    encoder = bundle.make_text_encoder()
    contenders = make_contenders(bundle, encoder, [ORIGINAL, TOY], "violence", torch.device("cpu"),
                                 hyperparameters={TOY: {"scale": 2.0}})
    assert [c.name for c in contenders] == [ORIGINAL, TOY]
    assert contenders[1].info["hyperparameters"] == {"scale": 2.0}
    keys = [("a man kicks the door", 16)]
    original, toy = (generate_motions(c.pipeline, keys, "momask", seed=0, batch_size=4)[keys[0]] for c in contenders)
    assert np.array_equal(original.tokens, toy.tokens) and not np.array_equal(original.joints, toy.joints)
