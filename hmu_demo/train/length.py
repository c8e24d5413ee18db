"""Train MoMask's length estimator: caption embedding -> distribution over motion lengths in tokens.

    python -m hmu_demo.train.length --vq WORK/vq --out WORK/length [--data DIR] [--steps N | --max-minutes M]

The official repository ships the estimator but no training script;
we train it the obvious way: cross-entropy between its logits and the token length (frames // 4)
of the crop each caption describes. Sampling lengths from the softmax at generation time then
reproduces the spread of lengths a caption was seen with. It reuses the token tables of
``hmu_demo.train.transformer`` (the lengths are what it needs from them).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch
import torch.nn.functional as F

from hmu_demo.data.locate import resolve_data
from hmu_demo.models.bundle import BundleConfig
from hmu_demo.models.length import LengthEstimator
from hmu_demo.train.cli import add_common_arguments, add_token_arguments, finished, run_trainer
from hmu_demo.train.config import TrainConfig
from hmu_demo.train.loop import (RunSpec, Schedule, export_weights, initialise_from, run_distributed,
                                 setup_distributed)
from hmu_demo.train.tokens import TokenTable
from hmu_demo.train.transformer import token_tables

__all__ = ["caption_lengths", "train_length", "main"]


def caption_lengths(table: TokenTable) -> tuple[torch.Tensor, torch.Tensor]:
    """(embedding row, token length of the whole crop) for every caption of a token table."""
    crop_of = torch.repeat_interleave(torch.arange(table.n_crops, device=table.lengths.device), table.caption_count)
    return table.caption_rows, table.lengths[table.variants[crop_of, 0]]


def train_length(config: TrainConfig, vq_folder: Path, classes: int = 50, hidden: int = 512,
                 captions: Path | None = None) -> dict:
    """Train and export the estimator (``classes`` token lengths, ``hidden`` units) on the token tables of
    the VQ in ``vq_folder``; returns the run summary."""
    dist_info = setup_distributed(config.device)
    torch.manual_seed(config.seed + dist_info.rank)
    data = resolve_data(config.data, progress=not config.quiet)
    tables, embeddings = token_tables(data, vq_folder, captions or vq_folder / "captions.npz", dist_info.device,
                                      config.limit, progress=not config.quiet, splits=config.splits)
    emb = embeddings.tensor(dist_info.device)
    train_rows, train_len = (t.to(dist_info.device) for t in caption_lengths(tables["train"]))
    val_rows, val_len = (t.to(dist_info.device) for t in caption_lengths(tables["val"]))
    train_len, val_len = train_len.clamp(max=classes - 1), val_len.clamp(max=classes - 1)
    model = initialise_from(LengthEstimator(embeddings.dim, classes, hidden), config.init)

    def sample(generator):
        pick = torch.randint(0, train_rows.shape[0], (config.batch_size,), generator=generator).to(dist_info.device)
        return emb[train_rows[pick]], train_len[pick]

    def loss(net, batch):
        x, y = batch
        logits = net(x)
        return F.cross_entropy(logits, y), {"acc": float((logits.argmax(-1) == y).float().mean())}

    def validate(net):
        logits = net(emb[val_rows])
        near = ((logits.argmax(-1) - val_len).abs() <= 2).float().mean()
        return {"loss": float(F.cross_entropy(logits, val_len)), "acc": float((logits.argmax(-1) == val_len).float().mean()),
                "within_2_tokens": float(near)}

    def export(net, metrics):
        export_weights(config.out, "length", net, {"classes": classes, "hidden": hidden, "input": embeddings.dim,
                                                   "metrics": metrics, "splits": list(config.splits),
                                                   "text_encoder": embeddings.encoder})

    spec = RunSpec("length", model, sample, loss, validate, export, "loss",
                   schedule=Schedule(lr=config.lr, warmup=200, milestones=(0.6,), gamma=0.1), weight_decay=1e-4,
                   info={"train captions": int(train_rows.shape[0])})
    return run_distributed(spec, config, dist_info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.train.length", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    add_token_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-3)

    def train(args: argparse.Namespace, config: TrainConfig) -> str | None:
        preset = BundleConfig.preset(args.preset)
        summary = train_length(config, args.vq, preset.length_classes, preset.length_hidden, args.captions)
        return finished("length", summary, "loss {:.4f}")

    return run_trainer(parser, argv, train)


if __name__ == "__main__":
    raise SystemExit(main())
