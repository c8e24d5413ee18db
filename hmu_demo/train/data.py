"""Training data for the text-to-motion models: normalised features, caption crops, text embeddings.

A :class:`MotionSplit` is one split of a HumanML3D-layout corpus held in memory: every motion's
(T, 263) features normalised with the *model* statistics (dataset Mean/Std with the root and
contact std divided by ``feat_bias``, as the official models train), and one :class:`Crop` per
distinct caption span. Captions with ``start#end`` times describe a part of the clip and train on
that part only, as the official loaders do; ``0.0#0.0`` captions describe the whole clip.

Caption embeddings are computed once with the bundle's text encoder and cached in an ``.npz`` file
(float16, keyed by the caption text) so that training on a GPU machine needs neither the encoder
nor its weights there.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from hmu_demo.atomic import atomic_path
from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.limits import MIN_FRAMES
from hmu_demo.motion.normalization import FEAT_BIAS, Normalizer, model_statistics

__all__ = ["Crop", "MotionSplit", "model_normalizer", "CaptionEmbeddings", "embed_captions"]


@dataclass(frozen=True)
class Crop:
    """A caption-described span ``[start, stop)`` of motion ``motion`` (an index into the split)."""

    motion: int
    start: int
    stop: int
    captions: tuple[str, ...]
    violent: tuple[bool, ...] = ()

    @property
    def n_frames(self) -> int:
        return self.stop - self.start


@dataclass
class MotionSplit:
    """One split in memory: ids, normalised features, labels and caption crops."""

    ids: list[str]
    features: list[np.ndarray]
    crops: list[Crop]
    labels: list[dict | None] = field(default_factory=list)

    @classmethod
    def load(cls, root: str | Path, split: str, normalizer: Normalizer, limit: int | None = None,
             min_frames: int = MIN_FRAMES) -> "MotionSplit":
        """Read ``split`` of the corpus at ``root``; spans shorter than ``min_frames`` are dropped."""
        dataset = MotionDataset(root)
        ids = dataset.split_ids(split)
        if limit is not None:
            ids = ids[:limit]
        labels_by_id = dataset.labels() or {}
        kept_ids: list[str] = []
        features: list[np.ndarray] = []
        crops: list[Crop] = []
        labels: list[dict | None] = []
        for motion_id in ids:
            feats = dataset.features(motion_id)
            if feats.shape[0] < min_frames:
                continue
            label = labels_by_id.get(motion_id)
            violent_by_text = {c["text"]: bool(c.get("violent")) for c in (label or {}).get("captions", [])}
            spans: dict[tuple[int, int], list[str]] = {}
            for caption in dataset.captions(motion_id):
                span = caption.frame_span(feats.shape[0])
                if span[1] - span[0] >= min_frames:
                    spans.setdefault(span, []).append(caption.text)
            if not spans:
                continue
            index = len(kept_ids)
            kept_ids.append(motion_id)
            features.append(normalizer.normalize(feats).astype(np.float32))
            labels.append(label)
            for (start, stop), texts in spans.items():
                crops.append(Crop(index, start, stop, tuple(texts),
                                  tuple(violent_by_text.get(t, False) for t in texts)))
        if not kept_ids:
            raise ValueError(f"split {split!r} of {root} has no usable motions (at least {min_frames} frames each)")
        return cls(kept_ids, features, crops, labels)

    def texts(self) -> list[str]:
        """Every distinct caption text of the split, in first-seen order."""
        return list(dict.fromkeys(t for c in self.crops for t in c.captions))

    def crop_features(self, crop: Crop) -> np.ndarray:
        return self.features[crop.motion][crop.start:crop.stop]


def model_normalizer(root: str | Path, feat_bias: float = FEAT_BIAS) -> Normalizer:
    """The model-side normaliser of a corpus: its Mean/Std with root/contact std divided by feat_bias."""
    mean, std = MotionDataset(root).statistics()
    mean, std = model_statistics(mean, std, feat_bias)
    return Normalizer(mean.astype(np.float32), std.astype(np.float32))


class CaptionEmbeddings:
    """Caption text -> embedding row, from an ``.npz`` cache (``texts``: the UTF-8 texts joined by
    newlines, which captions never contain; ``embeddings``; ``encoder``)."""

    def __init__(self, texts: list[str], embeddings: np.ndarray, encoder: str) -> None:
        if embeddings.shape[0] != len(texts):
            raise ValueError(f"{len(texts)} texts but {embeddings.shape[0]} embeddings")
        self.texts = texts
        self.embeddings = embeddings
        self.encoder = encoder
        self.row = {t: i for i, t in enumerate(texts)}

    @property
    def dim(self) -> int:
        return int(self.embeddings.shape[1])

    def rows(self, texts: list[str]) -> np.ndarray:
        missing = [t for t in texts if t not in self.row]
        if missing:
            raise KeyError(f"{len(missing)} caption(s) have no cached embedding, e.g. {missing[0]!r}; "
                           "re-run with the cache rebuilt")
        return np.array([self.row[t] for t in texts], dtype=np.int64)

    def tensor(self, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.from_numpy(self.embeddings.astype(np.float32)).to(device)

    def save(self, path: Path) -> None:
        packed = np.frombuffer("\n".join(self.texts).encode("utf-8"), dtype=np.uint8)
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:  # a file object: np.savez adds no suffix
            np.savez(fh, texts=packed, embeddings=self.embeddings.astype(np.float16),
                     encoder=np.array(json.dumps({"name": self.encoder})))

    @classmethod
    def load(cls, path: Path) -> "CaptionEmbeddings":
        with np.load(path, allow_pickle=False) as data:
            texts = data["texts"].tobytes().decode("utf-8").split("\n") if data["texts"].size else []
            return cls(texts, data["embeddings"], json.loads(str(data["encoder"]))["name"])


def embed_captions(texts: list[str], encoder, cache: Path | None = None, batch_size: int = 256,
                   progress: bool = False) -> CaptionEmbeddings:
    """Embeddings of ``texts`` with ``encoder`` (a TextEncoder), reusing and extending ``cache``.

    Stored as float16: the half-precision rounding (~1e-3 relative) is far below the spread of
    captions of one action, and it halves the file that travels to a training machine.
    """
    known: CaptionEmbeddings | None = None
    if cache is not None and cache.is_file():
        known = CaptionEmbeddings.load(cache)
        if known.encoder != encoder.name:
            known = None
    have = known.row if known is not None else {}
    todo = [t for t in dict.fromkeys(texts) if t not in have]
    if not todo and known is not None:
        return known
    chunks = []
    for i in tqdm(range(0, len(todo), batch_size), desc="captions", unit="batch", disable=not progress):
        chunks.append(encoder.encode(todo[i:i + batch_size]).cpu().numpy().astype(np.float16))
    new = np.concatenate(chunks) if chunks else np.zeros((0, encoder.dim), np.float16)
    all_texts = (known.texts if known is not None else []) + todo
    all_emb = np.concatenate([known.embeddings, new]) if known is not None else new
    result = CaptionEmbeddings(all_texts, all_emb.astype(np.float16), encoder.name)
    if cache is not None:
        result.save(cache)
    return result
