"""Train the RVQ-VAE motion tokeniser.

    python -m hmu_demo.train.vq --data DIR --out WORK/vq [--preset embedded] [--steps N | --max-minutes M]

MoMask's official recipe (``train_vq.py``) scaled to the corpus: random 64-frame windows of
the normalised training clips, SmoothL1 on all 263 dims + 0.5 SmoothL1 on the joint positions +
0.02 commitment, AdamW (0.9, 0.99), warm-up then x0.05 at 50 % and 83 % of the run (the official
150k/250k of 300k), EMA codebooks with dead-code reset and quantize dropout 0.2. Validation:
reconstruction MPJPE (cm, pelvis-aligned as published; the global error is logged too) on the val split; the best weights go to ``OUT/vq.safetensors`` with
``OUT/vq.json`` (config, metrics, splits) and the model-side ``mean.npy``/``std.npy``. ``--splits TRAIN VAL``
(every trainer has it) names other split files to train and validate on, e.g. retain-only keyword splits.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from hmu_demo.data.locate import resolve_data
from hmu_demo.models.bundle import BundleConfig
from hmu_demo.models.reconstruction import reconstruction_mpjpe_cm
from hmu_demo.models.rvq import RVQVAE, VQConfig, vq_training_loss
from hmu_demo.train.cli import add_common_arguments, finished, run_trainer
from hmu_demo.train.config import TrainConfig
from hmu_demo.train.data import MotionSplit, model_normalizer
from hmu_demo.train.loop import (RunSpec, Schedule, export_weights, initialise_from, run_distributed,
                                 setup_distributed)

__all__ = ["WindowSampler", "train_vq", "main"]


class WindowSampler:
    """Random fixed-length windows of the clips at least ``window`` frames long, held on ``device``."""

    def __init__(self, clips: list[np.ndarray], window: int, batch_size: int, device: torch.device) -> None:
        usable = [c for c in clips if c.shape[0] >= window]
        if not usable:
            raise ValueError(f"no training clip has {window} frames; use a smaller --window")
        self.window, self.batch_size = window, batch_size
        self.data = torch.from_numpy(np.concatenate(usable)).to(device)
        lengths = torch.tensor([c.shape[0] for c in usable])
        self.starts = torch.cumsum(lengths, 0) - lengths
        self.spans = lengths - window + 1  # valid window starts per clip
        self.weights = self.spans.double() / self.spans.sum()  # every window equally likely
        self.offsets = torch.arange(window, device=device)
        self.n_clips = len(usable)

    def __call__(self, generator: torch.Generator) -> torch.Tensor:
        clip = torch.multinomial(self.weights, self.batch_size, replacement=True, generator=generator)
        shift = (torch.rand(self.batch_size, generator=generator) * self.spans[clip]).long()
        first = (self.starts[clip] + shift).to(self.data.device)
        return self.data[first[:, None] + self.offsets[None]]


def train_vq(config: TrainConfig, vq: VQConfig, window: int = 64) -> dict:
    """Train and export the VQ of architecture ``vq`` on ``config.splits`` (train, val: split names or
    files, as ``MotionDataset.split_ids`` takes them); returns the run summary (steps, seconds, best
    val MPJPE)."""
    dist_info = setup_distributed(config.device)
    torch.manual_seed(config.seed + dist_info.rank)
    data = resolve_data(config.data, progress=not config.quiet)
    out, batch_size = config.out, config.batch_size
    normalizer = model_normalizer(data)
    train, val = (MotionSplit.load(data, split, normalizer, config.limit) for split in config.splits)
    window = min(window, max(c.shape[0] for c in train.features) // vq.downsample * vq.downsample)
    sampler = WindowSampler(train.features, window, batch_size, dist_info.device)
    model = initialise_from(RVQVAE(vq), config.init)

    def loss(net, x):
        recon, commit, perplexity = net(x)
        return vq_training_loss(recon, x, commit), {"commit": float(commit.detach()),
                                                    "perplexity": float(perplexity.detach())}

    def validate(net):
        aligned, global_ = reconstruction_mpjpe_cm(net, normalizer, val.features)
        return {"mpjpe_cm": aligned, "global_mpjpe_cm": global_}

    def export(net, metrics):
        export_weights(out, "vq", net, {"config": vq.to_dict(), "metrics": metrics, "window": window,
                                        "batch_size": batch_size * dist_info.world, "data": str(data),
                                        "splits": list(config.splits)})
        np.save(out / "mean.npy", normalizer.mean)
        np.save(out / "std.npy", normalizer.std)

    spec = RunSpec("vq", model, sampler, loss, validate, export, "mpjpe_cm",
                   schedule=Schedule(lr=config.lr, warmup=2000, milestones=(0.5, 0.83), gamma=0.05),
                   info={"train clips": sampler.n_clips, "window": window, "batch": batch_size})
    return run_distributed(spec, config, dist_info)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.train.vq", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)

    def train(args: argparse.Namespace, config: TrainConfig) -> str | None:
        summary = train_vq(config, BundleConfig.preset(args.preset).vq, args.window)
        return finished("vq", summary, "MPJPE {:.3f} cm")

    return run_trainer(parser, argv, train)


if __name__ == "__main__":
    raise SystemExit(main())
