"""Train a token transformer on the frozen RVQ-VAE's codes: MoMask masked, MoMask residual, or BAMM.

    python -m hmu_demo.train.transformer --model masked|residual|bamm --vq WORK/vq --out WORK/masked \\
        [--data DIR] [--captions FILE] [--preset embedded] [--steps N | --max-minutes M]

The objectives are the models' own ``forward`` (docs/models.md), as in the official trainers: cosine-
masked BERT corruption of the base layer, one teacher-forced residual layer per sample, BAMM's
hybrid causal/given mask with random-code corruption. Text conditions are cached caption embeddings
(``--captions``, built with the bundle's encoder when missing); each is zeroed with the model's
``cond_drop_prob`` for classifier-free guidance. AdamW (0.9, 0.99, wd 1e-5), warm-up, x0.1 at 60 %
of the run. Validation: loss and token accuracy on every val caption (fixed masking seed); the
weights with the lowest validation loss go to ``OUT/<model>.safetensors`` + ``OUT/<model>.json``.
"""

from __future__ import annotations

import argparse
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from hmu_demo.data.locate import resolve_data
from hmu_demo.models.bamm import BAMMTransformer
from hmu_demo.models.bundle import BundleConfig
from hmu_demo.models.layers import TransformerConfig
from hmu_demo.models.masked import MaskTransformer
from hmu_demo.models.residual import ResidualTransformer
from hmu_demo.models.rvq import RVQVAE, VQConfig
from hmu_demo.models.text import text_encoder
from hmu_demo.motion.normalization import Normalizer
from hmu_demo.train.cli import add_common_arguments, add_token_arguments, finished, run_trainer
from hmu_demo.train.config import TrainConfig
from hmu_demo.train.data import CaptionEmbeddings, MotionSplit, embed_captions
from hmu_demo.train.loop import (RunSpec, Schedule, export_weights, initialise_from, read_stage, run_distributed,
                                 setup_distributed)
from hmu_demo.train.state_io import StateFileError, load_state, save_state
from hmu_demo.train.tokens import TokenTable, encode_split

__all__ = ["MODELS", "load_vq", "caption_embeddings", "token_tables", "train_transformer", "main"]

MODELS = {"masked": MaskTransformer, "residual": ResidualTransformer, "bamm": BAMMTransformer}
TOKENS_FILE = "tokens.safetensors"


def load_vq(folder: Path, device: torch.device) -> tuple[RVQVAE, Normalizer]:
    """The trained VQ of a ``train.vq`` output folder and the normaliser it was trained with."""
    state, meta = read_stage(folder, "vq")
    vq = RVQVAE(VQConfig.from_dict(meta["config"]))
    vq.load_state_dict(state)
    return vq.to(device).eval(), Normalizer(np.load(folder / "mean.npy"), np.load(folder / "std.npy"))


def caption_embeddings(data: Path, splits: list[MotionSplit], cache: Path, encoder: str = "minilm",
                       progress: bool = True) -> CaptionEmbeddings:
    """Cached embeddings of every caption of ``splits`` (encodes only the ones the cache lacks)."""
    texts = list(dict.fromkeys(t for s in splits for t in s.texts()))
    if cache.is_file():
        known = CaptionEmbeddings.load(cache)
        if known.encoder == encoder and all(t in known.row for t in texts):
            return known
    return embed_captions(texts, text_encoder(encoder), cache, progress=progress)


def token_tables(data: Path, vq_folder: Path, captions: Path, device: torch.device, limit: int | None = None,
                 max_tokens: int = 49, progress: bool = True, splits: tuple[str, str] = ("train", "val")
                 ) -> tuple[dict[str, TokenTable], CaptionEmbeddings]:
    """Train/val token tables of the ``splits`` files (keyed "train" and "val"), cached in
    ``vq_folder/tokens.safetensors``.

    The cache is checked before the corpus is read (each training process of a pipeline calls this),
    and rebuilt when the VQ weights or the caption cache changed, or when it cannot be read.
    """
    cache = vq_folder / TOKENS_FILE
    weights = vq_folder / "vq.safetensors"

    def key() -> str:
        stamp = captions.stat() if captions.is_file() else None
        return repr({"data": str(Path(data).resolve()), "splits": list(splits), "limit": limit,
                     "max_tokens": max_tokens, "vq_mtime": weights.stat().st_mtime_ns,
                     "captions": None if stamp is None else (stamp.st_mtime_ns, stamp.st_size)})

    if cache.is_file() and captions.is_file():
        saved = _read_token_cache(cache)
        if saved.get("key") == key():
            return ({n: TokenTable.from_state(saved[n]) for n in ("train", "val")},
                    CaptionEmbeddings.load(captions))
    vq, normalizer = load_vq(vq_folder, device)
    loaded = {name: MotionSplit.load(data, split, normalizer, limit)
              for name, split in zip(("train", "val"), splits)}
    embeddings = caption_embeddings(data, list(loaded.values()), captions, progress=progress)
    tables = {n: encode_split(vq, s, embeddings, max_tokens) for n, s in loaded.items()}
    save_state({"key": key(), **{n: t.state() for n, t in tables.items()}}, cache)
    return tables, embeddings


def _read_token_cache(cache: Path) -> dict:
    """The cached tables, or {} when the file is damaged: it is only a cache, so it is rebuilt."""
    try:
        return load_state(cache)
    except StateFileError:
        return {}


def _objective(kind: str, net: torch.nn.Module, ids: torch.Tensor, cond: torch.Tensor, lengths: torch.Tensor,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    if kind == "residual":
        return net(ids, cond, lengths, generator=generator)
    return net(ids[..., 0], cond, lengths, generator=generator)


def train_transformer(config: TrainConfig, kind: str, vq_folder: Path, model: TransformerConfig,
                      captions: Path | None = None) -> dict:
    """Train and export one ``kind`` transformer of architecture ``model`` (from ``config.init`` weights
    when given) on the tokens of the VQ in ``vq_folder``, on the (train, val) ``config.splits``;
    returns the run summary."""
    if kind not in MODELS:
        raise ValueError(f"model must be one of {', '.join(MODELS)}, got {kind!r}")
    dist_info = setup_distributed(config.device)
    torch.manual_seed(config.seed + dist_info.rank)
    data = resolve_data(config.data, progress=not config.quiet)
    tables, embeddings = token_tables(data, vq_folder, captions or vq_folder / "captions.npz", dist_info.device,
                                      config.limit, model.max_motion_tokens, progress=not config.quiet,
                                      splits=config.splits)
    if embeddings.dim != model.clip_dim:
        raise ValueError(f"caption embeddings are {embeddings.dim}-d, the {kind} config expects {model.clip_dim}")
    train, val = tables["train"].to(dist_info.device), tables["val"].to(dist_info.device)
    emb = embeddings.tensor(dist_info.device)
    net = initialise_from(MODELS[kind](model), config.init)

    def sample(generator):
        return train.sample(config.batch_size, generator)

    def loss(net, batch):
        ids, lengths, rows = batch
        value, acc = _objective(kind, net, ids, emb[rows], lengths)
        return value, {"acc": float(acc)}

    def validate(net):
        generator = torch.Generator().manual_seed(1234)
        total, acc, n = 0.0, 0.0, 0
        for ids, lengths, rows in val.batches(512):
            value, a = _objective(kind, net, ids, emb[rows], lengths, generator)
            total, acc, n = total + float(value) * len(rows), acc + float(a) * len(rows), n + len(rows)
        return {"loss": total / n, "acc": acc / n}

    def export(trained, metrics):
        export_weights(config.out, kind, trained, {"model": kind, "config": asdict(model), "metrics": metrics,
                                                   "batch_size": config.batch_size * dist_info.world,
                                                   "data": str(data), "splits": list(config.splits),
                                                   "text_encoder": embeddings.encoder})

    spec = RunSpec(kind, net, sample, loss, validate, export, "loss",
                   schedule=Schedule(lr=config.lr, warmup=2000, milestones=(0.6,), gamma=0.1), weight_decay=1e-5,
                   info={"train crops": train.n_crops, "val captions": int(val.caption_rows.shape[0]),
                         "batch": config.batch_size})
    return run_distributed(spec, config, dist_info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.train.transformer",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("--model", required=True, choices=tuple(MODELS))
    add_common_arguments(parser)
    add_token_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-4)

    def train(args: argparse.Namespace, config: TrainConfig) -> str | None:
        model = getattr(BundleConfig.preset(args.preset), args.model)
        return finished(args.model, train_transformer(config, args.model, args.vq, model, args.captions),
                        "loss {:.4f}")

    return run_trainer(parser, argv, train)


if __name__ == "__main__":
    raise SystemExit(main())
