"""The code index: which base-layer RVQ codes each training motion uses, with its captions and label.

LCR (latent code replacement) and the codebook inspector need, per code, the motions whose
encoding uses it and whether those motions are violent. Encoding the corpus at run time would
need the corpus; the index is built once, when the models are trained, and shipped beside them
(``checkpoints/embedded/code_index.json.gz``, a few hundred KB).

Format (gzip JSON): ``{"format": "hmu-code-index", "version": 1, "nb_code", "layer": 0, "split",
"motions": [{"id", "captions", "violent", "actions", "codes", "counts"}]}`` where ``codes`` are the
distinct base-layer ids of the whole clip's encoding (ascending) and ``counts`` how many tokens use
each. ``violent`` and ``actions`` come from the corpus labels when it has them (SynthMotion), else
``violent`` is None and ``actions`` empty.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from hmu_demo.atomic import atomic_path
from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.models.bundle import ModelBundle

__all__ = ["CodeIndex", "IndexedMotion", "CodeIndexError"]

FORMAT = "hmu-code-index"
VERSION = 1


class CodeIndexError(ValueError):
    """The index file is missing, corrupt or of another format (the message names the file)."""


@dataclass(frozen=True)
class IndexedMotion:
    id: str
    captions: tuple[str, ...]
    violent: bool | None
    actions: tuple[str, ...]
    codes: tuple[int, ...]
    counts: tuple[int, ...]


@dataclass
class CodeIndex:
    nb_code: int
    motions: list[IndexedMotion]
    split: str = "train"
    layer: int = 0
    source: Path | None = field(default=None, compare=False)  # the file it was loaded from (caches live beside it)
    #: Derived results keyed by what they depend on (concept splits, caption embeddings), so a second
    #: edit with the same index does not redo them; the motions are not meant to change after loading.
    memo: dict = field(default_factory=dict, init=False, repr=False, compare=False)
    _by_code: dict[int, list[int]] | None = field(default=None, init=False, repr=False)

    def __len__(self) -> int:
        return len(self.motions)

    # ------------------------------------------------------------------ queries
    def motions_using(self, code: int) -> list[IndexedMotion]:
        """Motions whose encoding uses ``code``."""
        if not 0 <= code < self.nb_code:
            raise IndexError(f"code {code} is outside the codebook (0..{self.nb_code - 1})")
        if self._by_code is None:
            by: dict[int, list[int]] = {}
            for i, m in enumerate(self.motions):
                for c in m.codes:
                    by.setdefault(c, []).append(i)
            self._by_code = by
        return [self.motions[i] for i in self._by_code.get(code, [])]

    def usage(self, violent: bool | None = None) -> np.ndarray:
        """(nb_code,) number of motions using each code; only violent (True) or safe (False) ones if asked."""
        out = np.zeros(self.nb_code, dtype=np.int64)
        for m in self.motions:
            if violent is None or m.violent == violent:
                out[list(m.codes)] += 1
        return out

    # ------------------------------------------------------------------ build
    @classmethod
    @torch.no_grad()
    def build(cls, bundle: ModelBundle, data: str | Path, split: str = "train", batch_size: int = 128) -> "CodeIndex":
        """Encode every motion of ``split`` (whole clip, cropped to a multiple of 4 frames) with ``bundle.vq``."""
        dataset = MotionDataset(data)
        labels = dataset.labels() or {}
        vq, normalizer = bundle.vq.eval(), bundle.normalizer
        device = next(vq.parameters()).device
        down = vq.cfg.downsample
        ids = [i for i in dataset.split_ids(split)]
        clips = {}
        for motion_id in ids:
            feats = dataset.features(motion_id)
            n = feats.shape[0] // down * down
            if n >= down:
                clips[motion_id] = normalizer.normalize(feats[:n]).astype(np.float32)
        codes: dict[str, np.ndarray] = {}
        by_len: dict[int, list[str]] = {}
        for motion_id, clip in clips.items():
            by_len.setdefault(clip.shape[0], []).append(motion_id)
        for n, members in by_len.items():
            for s in range(0, len(members), batch_size):
                rows = members[s:s + batch_size]
                tokens, _ = vq.encode(torch.from_numpy(np.stack([clips[m] for m in rows])).to(device))
                for m, t in zip(rows, tokens[..., 0].cpu().numpy()):
                    codes[m] = t
        motions = []
        for motion_id in ids:
            if motion_id not in codes:
                continue
            values, counts = np.unique(codes[motion_id], return_counts=True)
            label = labels.get(motion_id)
            actions = tuple(dict.fromkeys(s["action"] for s in label.get("segments", []))) if label else ()
            motions.append(IndexedMotion(
                id=motion_id, captions=tuple(c.text for c in dataset.captions(motion_id)),
                violent=bool(label["violent"]) if label else None, actions=actions,
                codes=tuple(int(v) for v in values), counts=tuple(int(c) for c in counts)))
        return cls(vq.cfg.nb_code, motions, split, 0)

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        payload = {"format": FORMAT, "version": VERSION, "nb_code": self.nb_code, "layer": self.layer,
                   "split": self.split,
                   "motions": [{"id": m.id, "captions": list(m.captions), "violent": m.violent,
                                "actions": list(m.actions), "codes": list(m.codes), "counts": list(m.counts)}
                               for m in self.motions]}
        with atomic_path(path) as tmp, gzip.open(tmp, "wt", encoding="utf-8", compresslevel=9) as fh:
            json.dump(payload, fh, separators=(",", ":"))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "CodeIndex":
        path = Path(path)
        if not path.is_file():
            raise CodeIndexError(f"code index {path} does not exist")
        try:
            with gzip.open(path, "rt", encoding="utf-8") as fh:
                payload = json.load(fh)
        except (OSError, EOFError, ValueError) as err:
            raise CodeIndexError(f"cannot read code index {path}: {type(err).__name__}: {err}") from err
        if not isinstance(payload, dict) or payload.get("format") != FORMAT:
            raise CodeIndexError(f"{path} is not an {FORMAT} file")
        if int(payload.get("version", 0)) > VERSION:
            raise CodeIndexError(f"{path} has format version {payload.get('version')}, newer than this code")
        nb_code = int(payload["nb_code"])
        motions = []
        try:
            for m in payload["motions"]:
                codes, counts = tuple(int(c) for c in m["codes"]), tuple(int(c) for c in m["counts"])
                if len(codes) != len(counts) or any(not 0 <= c < nb_code for c in codes):
                    raise ValueError(f"motion {m.get('id')!r} has bad codes")
                motions.append(IndexedMotion(str(m["id"]), tuple(m["captions"]), m["violent"], tuple(m["actions"]),
                                             codes, counts))
        except (KeyError, TypeError, ValueError) as err:
            raise CodeIndexError(f"{path}: {err}") from err
        return cls(nb_code, motions, str(payload.get("split", "train")), int(payload.get("layer", 0)), path)
