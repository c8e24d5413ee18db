"""Write a SynthMotion corpus as a complete HumanML3D-layout folder.

Clips are generated in worker processes (each from its own (seed, index) generator, so the
result does not depend on the number of workers), written to a hidden staging folder beside ``DIR``
and moved into place only when everything is there: an interrupted build never leaves a half corpus that looks
complete. ``corpus.json`` records how the corpus was made so callers can reuse it.
"""

from __future__ import annotations

import json
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from hmu_demo.atomic import atomic_folder
from hmu_demo.config import ConfigBase
from hmu_demo.data.captions import format_caption_line
from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.overlap import caption_overlap
from hmu_demo.data.synth.compose import generate_clip
from hmu_demo.motion.normalization import dataset_statistics

CORPUS_VERSION = 2
PHRASINGS = ("heldout", "shared")
DEFAULT_SIZE = 10000
DEFAULT_SEED = 0
DEFAULT_VIOLENT_SHARE = 0.10
SPLIT_SHARES = {"train": 0.80, "val": 0.05, "test": 0.15}  # HumanML3D's proportions


@dataclass(frozen=True)
class CorpusSpec(ConfigBase):
    """What determines a corpus: same spec -> byte-identical files.

    ``phrasing``: "heldout" (the default) captions val/test clips only with held-out templates,
    subjects and sentence frames, and keeps one multi-action combination in four for val/test
    clips; "shared" is the version-1 corpus (one phrasing pool, free combinations), kept to
    reproduce figures made before the held-out split.
    """

    size: int = DEFAULT_SIZE
    seed: int = DEFAULT_SEED
    violent_share: float = DEFAULT_VIOLENT_SHARE
    version: int = CORPUS_VERSION
    phrasing: str = "heldout"

    @classmethod
    def shared(cls, size: int = DEFAULT_SIZE, seed: int = DEFAULT_SEED,
               violent_share: float = DEFAULT_VIOLENT_SHARE) -> "CorpusSpec":
        """The version-1 corpus (shared phrasing), byte-identical to what version 1 wrote."""
        return cls(size, seed, violent_share, version=1, phrasing="shared")

    def heldout_for(self, split: str) -> bool | None:
        """``generate_clip``'s ``heldout`` argument for a clip of ``split``."""
        return None if self.phrasing == "shared" else split != "train"


def clip_id(index: int) -> str:
    return f"{index:06d}"


def _single_threaded() -> None:
    """Each worker is one process on one core; extra math threads would only compete."""
    import torch

    torch.set_num_threads(1)


def _write_chunk(args: tuple[Path, CorpusSpec, list[tuple[int, str]]]) -> list[str]:
    """Generate and write clips (index, split); returns their label lines (JSON)."""
    root, spec, indices = args
    lines = []
    for index, split in indices:
        clip = generate_clip(spec.seed, index, spec.violent_share, spec.heldout_for(split))
        name = clip_id(index)
        np.save(root / "new_joint_vecs" / f"{name}.npy", clip.features)
        np.save(root / "new_joints" / f"{name}.npy", clip.joints)
        text = "\n".join(format_caption_line(c) for c in clip.captions) + "\n"
        (root / "texts" / f"{name}.txt").write_text(text, encoding="utf-8")
        lines.append(json.dumps(clip.label(name), sort_keys=True))
    return lines


def split_ids(spec: CorpusSpec) -> dict[str, list[str]]:
    """Random train/val/test assignment (seeded), plus train_val and all, as HumanML3D has."""
    order = np.random.default_rng([spec.seed, 7919]).permutation(spec.size)
    n_train = int(round(spec.size * SPLIT_SHARES["train"]))
    n_val = int(round(spec.size * SPLIT_SHARES["val"]))
    parts = {"train": order[:n_train], "val": order[n_train:n_train + n_val], "test": order[n_train + n_val:]}
    splits = {name: [clip_id(i) for i in sorted(idx)] for name, idx in parts.items()}
    splits["train_val"] = sorted(splits["train"] + splits["val"])
    splits["all"] = [clip_id(i) for i in range(spec.size)]
    return splits


def build_corpus(out: Path, spec: CorpusSpec = CorpusSpec(), workers: int | None = None,
                 progress: bool = True, overwrite: bool = False) -> Path:
    """Build the corpus into ``out``; refuses to replace an existing folder unless ``overwrite``."""
    out = Path(out)
    if spec.size < 20:
        raise ValueError(f"corpus size must be at least 20 clips (got {spec.size})")
    if not 0.0 <= spec.violent_share <= 1.0:
        raise ValueError(f"violent share must be between 0 and 1 (got {spec.violent_share})")
    if spec.phrasing not in PHRASINGS or (spec.phrasing == "shared") != (spec.version == 1):
        raise ValueError(f"phrasing must be one of {', '.join(PHRASINGS)} (version 1 is 'shared'); "
                         f"got {spec.phrasing!r} at version {spec.version}")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FileExistsError(f"{out} already exists and is not empty (use --overwrite to replace it)")
    with atomic_folder(out) as partial:
        _write_corpus(partial, spec, workers, progress)
    return out


def _write_corpus(partial: Path, spec: CorpusSpec, workers: int | None, progress: bool) -> None:
    """Every file of the corpus into the (empty) staging folder ``partial``."""
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (partial / sub).mkdir(parents=True)
    workers = workers or min(os.cpu_count() or 1, 8)
    chunk = 50
    splits = split_ids(spec)
    split_of = {int(i): name for name in ("train", "val", "test") for i in splits[name]}
    jobs = [(partial, spec, [(j, split_of[j]) for j in range(i, min(i + chunk, spec.size))])
            for i in range(0, spec.size, chunk)]
    labels: list[str] = []
    bar = tqdm(total=spec.size, desc="SynthMotion", unit="clip", disable=not progress)
    if workers == 1:
        for job in jobs:
            labels += _write_chunk(job)
            bar.update(len(job[2]))
    else:
        # spawn, not fork: a forked child of a process whose torch/OpenMP threads are running can hang.
        with ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_single_threaded) as pool:
            for job, lines in zip(jobs, pool.map(_write_chunk, jobs)):
                labels += lines
                bar.update(len(job[2]))
    bar.close()

    for name, ids in splits.items():
        (partial / f"{name}.txt").write_text("\n".join(ids) + "\n")
    (partial / "labels.jsonl").write_text("\n".join(labels) + "\n")
    train = (np.load(partial / "new_joint_vecs" / f"{i}.npy") for i in splits["train"])  # streamed
    mean, std = dataset_statistics(train)
    np.save(partial / "Mean.npy", mean.astype(np.float32))
    np.save(partial / "Std.npy", std.astype(np.float32))
    redrawn = sum(1 for line in labels if json.loads(line).get("attempt", 0) > 0)
    dataset = MotionDataset(partial)
    overlap = {new: {k: v for k, v in caption_overlap(dataset, "train", new).items() if k.endswith(("_share", "captions"))}
               for new in ("val", "test")}
    manifest = {"name": "SynthMotion", **spec.to_dict(), "redrawn_clips": redrawn, "caption_overlap": overlap}
    (partial / "corpus.json").write_text(json.dumps(manifest, indent=2) + "\n")


def read_manifest(root: Path) -> dict | None:
    """``corpus.json`` of a built corpus (how it was made, its train/val/test caption overlap), or None."""
    manifest = Path(root) / "corpus.json"
    return json.loads(manifest.read_text()) if manifest.is_file() else None


def read_spec(root: Path) -> CorpusSpec | None:
    """The spec a folder was built with, or None when it is not a (complete) SynthMotion corpus."""
    data = read_manifest(root)
    if data is None:
        return None
    fields = {k: data[k] for k in ("size", "seed", "violent_share", "version")}
    return CorpusSpec.from_dict({**fields, "phrasing": data.get("phrasing", "shared")})


def ensure_corpus(root: Path, spec: CorpusSpec = CorpusSpec(), progress: bool = True) -> Path:
    """Reuse ``root`` if it holds this exact corpus; build it otherwise (later CLIs default to this)."""
    if read_spec(root) == spec:
        return Path(root)
    return build_corpus(root, spec, progress=progress, overwrite=True)
