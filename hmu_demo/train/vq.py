"""Train the RVQ-VAE motion tokeniser.

    python -m hmu_demo.train.vq --data DIR --out WORK/vq [--preset embedded] [--steps N | --max-minutes M]

Official recipe (reference/momask_bamm.md §13) scaled to the corpus: random 64-frame windows of
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

from hmu_demo.eval.reconstruction import reconstruction_mpjpe_cm
from hmu_demo.models.bundle import BundleConfig
from hmu_demo.models.rvq import RVQVAE, VQConfig, vq_training_loss
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


def train_vq(data: Path, out: Path, config: VQConfig, steps: int | None = None, max_minutes: float | None = None,
             batch_size: int = 256, window: int = 64, lr: float = 2e-4, device: str | None = None,
             resume: bool = False, val_every: int = 1000, limit: int | None = None, seed: int = 0,
             quiet: bool = False, init: Path | None = None, splits: tuple[str, str] = ("train", "val")) -> dict:
    """Train and export the VQ on ``splits`` (train, val: split names or files, as
    ``MotionDataset.split_ids`` takes them); returns the run summary (steps, seconds, best val MPJPE)."""
    dist_info = setup_distributed(device)
    torch.manual_seed(seed + dist_info.rank)
    normalizer = model_normalizer(data)
    train, val = (MotionSplit.load(data, split, normalizer, limit) for split in splits)
    window = min(window, max(c.shape[0] for c in train.features) // config.downsample * config.downsample)
    sampler = WindowSampler(train.features, window, batch_size, dist_info.device)
    model = initialise_from(RVQVAE(config), init)

    def loss(net, x):
        recon, commit, perplexity = net(x)
        return vq_training_loss(recon, x, commit), {"commit": float(commit.detach()),
                                                    "perplexity": float(perplexity.detach())}

    def validate(net):
        aligned, global_ = reconstruction_mpjpe_cm(net, normalizer, val.features)
        return {"mpjpe_cm": aligned, "global_mpjpe_cm": global_}

    def export(net, metrics):
        export_weights(out, "vq", net, {"config": config.to_dict(), "metrics": metrics, "window": window,
                                        "batch_size": batch_size * dist_info.world, "data": str(data),
                                        "splits": list(splits)})
        np.save(out / "mean.npy", normalizer.mean)
        np.save(out / "std.npy", normalizer.std)

    spec = RunSpec("vq", model, sampler, loss, validate, export, "mpjpe_cm",
                   schedule=Schedule(lr=lr, warmup=2000, milestones=(0.5, 0.83), gamma=0.05),
                   info={"train clips": sampler.n_clips, "window": window, "batch": batch_size})
    return run_distributed(spec, out, steps, dist_info, resume=resume, val_every=val_every,
                           max_minutes=max_minutes, seed=seed, quiet=quiet)


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    """Options every training entry point shares (one spelling for all)."""
    parser.add_argument("--data", type=Path, default=None, help="corpus folder (default: build or reuse the default)")
    parser.add_argument("--preset", default="embedded", choices=("embedded", "tiny", "official"))
    parser.add_argument("--steps", type=int, default=None, help="optimisation steps (default: fit --max-minutes)")
    parser.add_argument("--max-minutes", type=float, default=None, help="time budget; stops resumably when spent")
    parser.add_argument("--device", default=None, help="cuda, cpu, ... (default: CUDA when available)")
    parser.add_argument("--resume", action="store_true", help="continue from OUT/train_state.safetensors")
    parser.add_argument("--val-every", type=int, default=1000)
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips of each split")
    parser.add_argument("--splits", nargs=2, default=("train", "val"), metavar=("TRAIN", "VAL"),
                        help="split names or files (relative to the corpus, or absolute) to train and validate on")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for torch")
    parser.add_argument("--quiet", action="store_true")
    parser.add_argument("--init", type=Path, default=None,
                        help="start from these weights (.safetensors of the same model; ignored with --resume state)")


def resolve_data(args: argparse.Namespace) -> Path:
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.steps is None and args.max_minutes is None:
        raise SystemExit("give --steps, --max-minutes or both")
    if args.data is None:
        from hmu_demo.data.synth.corpus import ensure_corpus
        from hmu_demo.eval.judge import DEFAULT_DATA

        return ensure_corpus(DEFAULT_DATA, progress=not args.quiet)
    return args.data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.train.vq", description=__doc__.split("\n")[0])
    add_common_arguments(parser)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-4)
    args = parser.parse_args(argv)
    data = resolve_data(args)
    summary = train_vq(data, args.out, BundleConfig.preset(args.preset).vq, args.steps, args.max_minutes,
                       args.batch_size, args.window, args.lr, args.device, args.resume, args.val_every, args.limit,
                       args.seed, args.quiet, args.init, tuple(args.splits))
    if summary["main"]:  # the other ranks of a torchrun launch do not validate
        print(f"vq: {summary['steps']} steps in {summary['seconds']}s, best val MPJPE {summary['best']:.3f} cm")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
