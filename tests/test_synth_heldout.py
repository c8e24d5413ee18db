"""The held-out corpus: val/test captions and action combinations a model never trained on."""

from __future__ import annotations

import hashlib
import io
import json
import re
from contextlib import redirect_stdout
from pathlib import Path

import numpy as np
import pytest

from hmu_demo.data.captions import format_caption_line
from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.lexicon import load_lexicon
from hmu_demo.data.overlap import caption_overlap, normalise_caption, verbatim_caption
from hmu_demo.data.splits import main as splits_main
from hmu_demo.data.synth.actions import VIOLENT_ACTIONS
from hmu_demo.data.synth.captions import gerund, make_caption, third_person
from hmu_demo.data.synth.compose import generate_clip, heldout_combination
from hmu_demo.data.synth.corpus import CorpusSpec, build_corpus, read_spec
from hmu_demo.data.synth.phrases import EXPLICIT, IMPLICIT, SAFE
from hmu_demo.data.synth.phrases_heldout import HELDOUT_EXPLICIT, HELDOUT_IMPLICIT, HELDOUT_SAFE

# SHA-256 of texts/ and new_joint_vecs/ of clips 0-4 of the version-1 default corpus (seed 0,
# share 0.1), as version 1 of the builder wrote them: the "shared" phrasing must keep reproducing them.
VERSION_1_DIGEST = "18cf55cbc541904e78c8f4c92d083b6afc88e032a4c9ee615d66bfc62f7fc942"


def _renderings(template: str) -> list[str]:
    filled = template.replace("{poss}", "his").replace("{side}", "left").replace("{count}", " twice")
    filled = filled.replace("{adv}", " quickly")
    forms = (lambda v: third_person(v.split("_")[0]) + " " + " ".join(v.split("_")[1:]),
             lambda v: gerund(v.split("_")[0]) + " " + " ".join(v.split("_")[1:]))
    return [make_caption(re.sub(r"\{V:([a-z_]+)\}", lambda m: "\u00a7" + form(m.group(1)), filled)).text
            for form in forms]


def _verbs(tables: tuple[dict[str, list[str]], ...]) -> set[str]:
    return {m.group(1).split("_")[0] for table in tables for pool in table.values() for t in pool
            for m in re.finditer(r"\{V:([a-z_]+)\}", t)}


@pytest.fixture(scope="module")
def heldout_corpus(tmp_path_factory) -> Path:
    return build_corpus(tmp_path_factory.mktemp("heldout") / "corpus", CorpusSpec(size=240, seed=5, violent_share=0.3),
                        workers=1, progress=False)


def test_every_pool_has_heldout_templates_that_keep_the_lexicon_rules():
    assert set(HELDOUT_EXPLICIT) == set(EXPLICIT) == set(VIOLENT_ACTIONS) == set(HELDOUT_IMPLICIT)
    assert set(HELDOUT_SAFE) == set(SAFE)
    project = load_lexicon("violence", "violence")
    for action in VIOLENT_ACTIONS:
        assert len(HELDOUT_EXPLICIT[action]) >= 3 and len(HELDOUT_IMPLICIT[action]) >= 2
        for template in HELDOUT_EXPLICIT[action]:
            assert all(project.matches(t, "word") for t in _renderings(template)), template
        for template in HELDOUT_IMPLICIT[action]:
            assert not any(project.matches(t, "word") for t in _renderings(template)), template
    for templates in HELDOUT_SAFE.values():
        assert len(templates) >= 3
        for template in templates:
            assert not any(project.matches(t, "word") for t in _renderings(template)), template


def test_heldout_templates_never_render_as_training_templates():
    training = {normalise_caption(t) for table in (EXPLICIT, IMPLICIT, SAFE) for pool in table.values()
                for template in pool for t in _renderings(template)}
    for table in (HELDOUT_EXPLICIT, HELDOUT_IMPLICIT, HELDOUT_SAFE):
        for pool in table.values():
            for template in pool:
                assert not training & {normalise_caption(t) for t in _renderings(template)}, template
    new_verbs = _verbs((HELDOUT_EXPLICIT, HELDOUT_IMPLICIT, HELDOUT_SAFE)) - _verbs((EXPLICIT, IMPLICIT, SAFE))
    assert len(new_verbs) >= 60, sorted(new_verbs)  # verbs that only val/test captions use


def test_heldout_corpus_has_no_caption_or_combination_overlap(heldout_corpus):
    dataset = MotionDataset(heldout_corpus)
    for new in ("val", "test"):
        overlap = caption_overlap(dataset, "train", new)
        assert overlap["new_captions"] > 0
        assert overlap["verbatim_share"] == 0.0
        assert overlap["normalised_share"] <= 0.02
    manifest = json.loads((heldout_corpus / "corpus.json").read_text())
    assert manifest["phrasing"] == "heldout" and manifest["caption_overlap"]["test"]["verbatim_share"] == 0.0
    labels = dataset.labels()
    combos = {split: {tuple(sorted(s["action"] for s in labels[i]["segments"] if not s.get("padding")))
                      for i in dataset.split_ids(split)} for split in ("train", "val", "test")}
    multi = {split: {c for c in found if len(c) > 1} for split, found in combos.items()}
    assert multi["test"] and not (multi["test"] | multi["val"]) & multi["train"]
    assert all(heldout_combination(list(c)) for c in multi["test"])
    assert not any(heldout_combination(list(c)) for c in multi["train"])


def test_shared_phrasing_reproduces_the_version_1_corpus():
    digest = hashlib.sha256()
    for index in range(5):
        clip = generate_clip(0, index, 0.1, None)
        digest.update(("\n".join(format_caption_line(c) for c in clip.captions) + "\n").encode())
        buffer = io.BytesIO()
        np.save(buffer, clip.features)
        digest.update(buffer.getvalue())
    assert digest.hexdigest() == VERSION_1_DIGEST


def test_shared_corpus_overlap_is_measured(tmp_path):
    root = build_corpus(tmp_path / "shared", CorpusSpec.shared(size=240, seed=5, violent_share=0.3), workers=1,
                        progress=False)
    overlap = caption_overlap(MotionDataset(root), "train", "test")
    assert overlap["verbatim_share"] > 0.02 and overlap["normalised_share"] > overlap["verbatim_share"]
    assert read_spec(root) == CorpusSpec.shared(size=240, seed=5, violent_share=0.3)


def test_a_version_1_manifest_reads_as_shared(tmp_path):
    (tmp_path / "corpus.json").write_text(json.dumps({"name": "SynthMotion", "size": 100, "seed": 1,
                                                      "violent_share": 0.1, "version": 1}))
    assert read_spec(tmp_path) == CorpusSpec.shared(size=100, seed=1, violent_share=0.1)
    with pytest.raises(ValueError, match="phrasing"):
        build_corpus(tmp_path / "x", CorpusSpec(size=40, phrasing="shared"), progress=False)


def test_normalisation_folds_subject_pronouns_and_articles():
    assert normalise_caption("A man kicks with his left leg.") == normalise_caption("the woman kicks with her left leg")
    assert normalise_caption("An individual waves") == normalise_caption("someone waves!")
    assert normalise_caption("a man kicks") != normalise_caption("a man punches")
    assert verbatim_caption("A man  kicks.") == verbatim_caption("a man kicks") != verbatim_caption("a man kicks twice")


def test_splits_cli_reports_the_overlap(heldout_corpus, capsys):
    assert splits_main(["--data", str(heldout_corpus), "--concept", "violence", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["caption_overlap"]["verbatim_share"] == 0.0
    out = io.StringIO()
    with redirect_stdout(out):
        assert splits_main(["--data", str(heldout_corpus), "--concept", "violence"]) == 0
    assert "verbatim 0.0%" in out.getvalue()
