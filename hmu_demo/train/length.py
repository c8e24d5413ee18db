"""Train MoMask's length estimator: caption embedding -> distribution over motion lengths in tokens.

    python -m hmu_demo.train.length --vq WORK/vq --out WORK/length [--data DIR] [--steps N | --max-minutes M]

The official repository ships the estimator but no training script (reference/momask_bamm.md §5);
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

from hmu_demo.models.bundle import BundleConfig
from hmu_demo.models.length import LengthEstimator
from hmu_demo.train.loop import (RunSpec, Schedule, export_weights, initialise_from, run_distributed,
                                 setup_distributed)
from hmu_demo.train.tokens import TokenTable
from hmu_demo.train.transformer import add_token_arguments, token_tables

__all__ = ["caption_lengths", "train_length", "main"]


def caption_lengths(table: TokenTable) -> tuple[torch.Tensor, torch.Tensor]:
    """(embedding row, token length of the whole crop) for every caption of a token table."""
    crop_of = torch.repeat_interleave(torch.arange(table.n_crops, device=table.lengths.device), table.caption_count)
    return table.caption_rows, table.lengths[table.variants[crop_of, 0]]


def train_length(data: Path, vq_folder: Path, out: Path, classes: int = 50, hidden: int = 512,
                 captions: Path | None = None, steps: int | None = None, max_minutes: float | None = None,
                 batch_size: int = 512, lr: float = 1e-3, device: str | None = None, resume: bool = False,
                 val_every: int = 500, limit: int | None = None, seed: int = 0, quiet: bool = False,
                 init: Path | None = None, splits: tuple[str, str] = ("train", "val")) -> dict:
    dist_info = setup_distributed(device)
    torch.manual_seed(seed + dist_info.rank)
    tables, embeddings = token_tables(data, vq_folder, captions or vq_folder / "captions.npz", dist_info.device,
                                      limit, progress=not quiet, splits=splits)
    emb = embeddings.tensor(dist_info.device)
    train_rows, train_len = (t.to(dist_info.device) for t in caption_lengths(tables["train"]))
    val_rows, val_len = (t.to(dist_info.device) for t in caption_lengths(tables["val"]))
    train_len, val_len = train_len.clamp(max=classes - 1), val_len.clamp(max=classes - 1)
    model = initialise_from(LengthEstimator(embeddings.dim, classes, hidden), init)

    def sample(generator):
        pick = torch.randint(0, train_rows.shape[0], (batch_size,), generator=generator).to(dist_info.device)
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
        export_weights(out, "length", net, {"classes": classes, "hidden": hidden, "input": embeddings.dim,
                                            "metrics": metrics, "splits": list(splits),
                                            "text_encoder": embeddings.encoder})

    spec = RunSpec("length", model, sample, loss, validate, export, "loss",
                   schedule=Schedule(lr=lr, warmup=200, milestones=(0.6,), gamma=0.1), weight_decay=1e-4,
                   info={"train captions": int(train_rows.shape[0])})
    return run_distributed(spec, out, steps, dist_info, resume=resume, val_every=val_every,
                           max_minutes=max_minutes, seed=seed, quiet=quiet)


def main(argv: list[str] | None = None) -> int:
    from hmu_demo.train.vq import add_common_arguments, resolve_data

    parser = argparse.ArgumentParser(prog="python -m hmu_demo.train.length", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    add_token_arguments(parser)
    parser.add_argument("--batch-size", type=int, default=512)
    parser.add_argument("--lr", type=float, default=1e-3)
    args = parser.parse_args(argv)
    data = resolve_data(args)
    preset = BundleConfig.preset(args.preset)
    summary = train_length(data, args.vq, args.out, preset.length_classes, preset.length_hidden, args.captions,
                           args.steps, args.max_minutes, args.batch_size, args.lr, args.device, args.resume,
                           args.val_every, args.limit, args.seed, args.quiet, args.init, tuple(args.splits))
    if summary["main"]:  # the other ranks of a torchrun launch do not validate
        print(f"length: {summary['steps']} steps in {summary['seconds']}s, best val loss {summary['best']:.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
