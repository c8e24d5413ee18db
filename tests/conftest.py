"""Shared test helpers: tiny HumanML3D-layout folders written on the fly."""

from __future__ import annotations

import json
import re
import zlib
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest
import torch

from hmu_demo.motion.skeleton import FEATURE_DIM, NUM_JOINTS



@pytest.fixture(scope="session", autouse=True)
def one_torch_thread():
    """Every test uses tiny models: intra-op threads gain nothing there, and on a busy 2-core
    runner they made small training steps 10-20x slower. Restored after the session."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="session")
def small_synth_corpus(tmp_path_factory) -> Path:
    """A labelled 40-clip SynthMotion corpus (train/val/test splits), built once per session (~3 s)."""
    from hmu_demo.data.synth.corpus import CorpusSpec, build_corpus

    return build_corpus(tmp_path_factory.mktemp("synth40") / "synth", CorpusSpec(size=40), workers=1, progress=False)


def caption_line(text: str, start: float = 0.0, end: float = 0.0) -> str:
    """A HumanML3D caption line for ``text`` with naive ``word/POS`` tokens."""
    words = re.findall(r"[a-zA-Z]+", text.lower())
    tokens = " ".join(f"{w}/{'VERB' if w.endswith(('s', 'ing', 'ed')) else 'NOUN'}" for w in words)
    return f"{text}#{tokens}#{start}#{end}"


def write_humanml3d_folder(
    root: str | Path,
    motions: Mapping[str, Sequence[str]],
    splits: Mapping[str, Sequence[str]] | None = None,
    labels: Sequence[Mapping] | None = None,
    n_frames: int | Mapping[str, int] = 40,
    with_joints: bool = True,
    with_statistics: bool = True,
) -> Path:
    """Write a HumanML3D-layout folder and return its root.

    ``motions`` maps id -> captions; a caption without '#' is completed into a full
    ``caption#tokens#0.0#0.0`` line, one with '#' is written verbatim. Features/joints are
    deterministic noise of the right shapes. ``splits`` maps split name (or relative path such as
    ``kw_splits/x``) -> ids; by default every id is in train, train_val and all, none in val/test.
    ``labels`` are written as labels.jsonl when given.
    """
    root = Path(root)
    for folder in ("texts", "new_joint_vecs", "new_joints" if with_joints else None):
        if folder:
            (root / folder).mkdir(parents=True, exist_ok=True)
    for motion_id, captions in motions.items():
        lines = [c if "#" in c else caption_line(c) for c in captions]
        (root / "texts" / f"{motion_id}.txt").write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
        frames = n_frames if isinstance(n_frames, int) else n_frames.get(motion_id, 40)
        rng = np.random.default_rng(zlib.crc32(motion_id.encode()))
        features = rng.standard_normal((frames, FEATURE_DIM)).astype(np.float32)
        np.save(root / "new_joint_vecs" / f"{motion_id}.npy", features)
        if with_joints:
            joints = rng.standard_normal((frames, NUM_JOINTS, 3)).astype(np.float32)
            np.save(root / "new_joints" / f"{motion_id}.npy", joints)
    if with_statistics:
        np.save(root / "Mean.npy", np.zeros(FEATURE_DIM, dtype=np.float32))
        np.save(root / "Std.npy", np.ones(FEATURE_DIM, dtype=np.float32))
    ids = list(motions)
    if splits is None:
        splits = {"train": ids, "val": [], "test": [], "train_val": ids, "all": ids}
    for name, split_ids in splits.items():
        path = root / (name if name.endswith(".txt") else f"{name}.txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(f"{i}\n" for i in split_ids), encoding="utf-8")
    if labels is not None:
        (root / "labels.jsonl").write_text("".join(json.dumps(dict(e)) + "\n" for e in labels), encoding="utf-8")
    return root


@pytest.fixture
def make_humanml3d(tmp_path: Path) -> Callable[..., Path]:
    """``make_humanml3d(motions, **kw)`` writes a folder under tmp_path (see write_humanml3d_folder)."""
    counter = iter(range(1_000_000))

    def make(motions: Mapping[str, Sequence[str]], **kwargs) -> Path:
        return write_humanml3d_folder(tmp_path / f"dataset{next(counter)}", motions, **kwargs)

    return make


@pytest.fixture(scope="session")
def app(tmp_path_factory):
    """One real ``python app.py`` on loopback for the API, browser and bad-input tests (warmed up)."""
    from app_helpers import start_app

    server = start_app(tmp_path_factory.mktemp("app"))
    server.wait_warm()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def client(app, tmp_path_factory):
    """A ``gradio_client`` on :func:`app`, downloading into a temporary folder."""
    from gradio_client import Client

    return Client(app.url, download_files=str(tmp_path_factory.mktemp("downloads")), verbose=False)
