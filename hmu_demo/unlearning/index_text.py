"""Per-motion caption embeddings of the code index, cached beside it.

LCR-gated's text check (nearest training motions of a prompt) and UCE/RECE's ``erase_motions`` /
``preserve_motions`` (captions of forget / retain motions as erase / preserve inputs) need the text
embedding of every indexed motion: the normalised mean of its captions' embeddings (paraphrases
averaged). Computing them is one pass of the text encoder over the index's captions, about a minute
on a laptop CPU for 8000 motions, so they are cached in ``<index>.text.npz`` (float16, keyed by the
encoder and a digest of the ids and captions: a stale cache is never used) and shipped with the
embedded checkpoints; reading the cache takes about 0.1 s.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from hmu_demo.atomic import atomic_path
from hmu_demo.unlearning.code_index import CodeIndex

__all__ = ["index_motion_text", "motion_text_embeddings", "text_cache_path"]

TEXT_CACHE_FORMAT = "hmu-code-index-text"
ENCODE_BATCH = 512


def text_cache_path(index_path: str | os.PathLike) -> Path:
    """``checkpoints/embedded/code_index.json.gz`` -> ``checkpoints/embedded/code_index.text.npz``."""
    path = Path(index_path)
    name = path.name
    for suffix in (".json.gz", ".json"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    return path.with_name(name + ".text.npz")


def _captions_digest(index: CodeIndex) -> str:
    """Changes whenever any motion's id or captions change (a stale cache is never used)."""
    digest = hashlib.sha256()
    for m in index.motions:
        digest.update(json.dumps([m.id, list(m.captions)]).encode("utf-8"))
    return digest.hexdigest()


def _read_cache(path: Path, index: CodeIndex, encoder_name: str, dim: int) -> Tensor | None:
    try:
        with np.load(path, allow_pickle=False) as data:
            if (str(data["format"]) != TEXT_CACHE_FORMAT or str(data["encoder"]) != encoder_name
                    or str(data["captions_sha256"]) != _captions_digest(index)):
                return None
            ids = [str(x) for x in data["ids"]]
            emb = data["embeddings"]
    except (OSError, KeyError, ValueError):
        return None
    if ids != [m.id for m in index.motions] or emb.shape != (len(ids), dim) or not np.isfinite(emb).all():
        return None
    return torch.from_numpy(emb.astype(np.float32))


def _cached_encoder(path: Path) -> str | None:
    """The encoder name a cache file holds, None when there is no readable cache."""
    try:
        with np.load(path, allow_pickle=False) as data:
            return str(data["encoder"])
    except (OSError, KeyError, ValueError):
        return None


def _write_cache(path: Path, index: CodeIndex, encoder_name: str, emb: Tensor) -> None:
    try:
        with atomic_path(path, suffix=".npz") as tmp:  # numpy would add .npz to any other name
            np.savez_compressed(tmp, format=np.array(TEXT_CACHE_FORMAT), encoder=np.array(encoder_name),
                                captions_sha256=np.array(_captions_digest(index)),
                                ids=np.array([m.id for m in index.motions]),
                                embeddings=emb.numpy().astype(np.float16))
    except OSError:  # a read-only checkout still works, just slower next time
        pass


@torch.no_grad()
def motion_text_embeddings(index: CodeIndex, encoder, cache: str | os.PathLike | None = None) -> Tensor:
    """(N, d) float32: per motion of ``index``, the normalised mean of its captions' embeddings.

    Read from ``cache`` when it holds this index's ids and encoder, else computed (one encoder pass
    over the distinct captions) and written there.
    """
    name, dim = str(getattr(encoder, "name", type(encoder).__name__)), int(encoder.dim)
    path = Path(cache) if cache is not None else None
    if path is not None and _cached_encoder(path) not in (None, name):
        path = path.with_name(f"{path.name[:-len('.npz')]}.{name}.npz")  # never replace another encoder's cache
    if path is not None and path.is_file():
        cached = _read_cache(path, index, name, dim)
        if cached is not None:
            return cached
    captions = list(dict.fromkeys(c for m in index.motions for c in m.captions))
    position = {c: i for i, c in enumerate(captions)}
    parts = [encoder.encode(captions[s:s + ENCODE_BATCH]).detach().float().cpu()
             for s in range(0, len(captions), ENCODE_BATCH)]
    caption_emb = torch.nn.functional.normalize(torch.cat(parts) if parts else torch.zeros(0, dim), dim=1)
    out = torch.zeros(len(index.motions), dim)
    for i, motion in enumerate(index.motions):
        if motion.captions:
            out[i] = caption_emb[[position[c] for c in motion.captions]].mean(0)
    out = torch.nn.functional.normalize(out, dim=1)
    if path is not None:
        _write_cache(path, index, name, out)
    return out


def index_motion_text(index: CodeIndex, encoder) -> Tensor:
    """:func:`motion_text_embeddings` with the cache beside the file ``index`` was loaded from (if any),
    kept in ``index.memo`` for the next edit."""
    key = ("motion_text", str(getattr(encoder, "name", type(encoder).__name__)), int(encoder.dim))
    if key not in index.memo:
        index.memo[key] = motion_text_embeddings(
            index, encoder, text_cache_path(index.source) if index.source is not None else None)
    return index.memo[key]
