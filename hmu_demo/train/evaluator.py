"""Train the embedded text-motion evaluator (hmu_demo.models.evaluators.embedded) on SynthMotion.

    python -m hmu_demo.train.evaluator [--data DIR] [--out checkpoints/evaluator] [--work WORK]
        [--steps N | --minutes M] [--batch 128] [--resume] [--device cpu]

Training pairs are (caption, the frames its span covers), every caption line of the train split, as
the evaluation protocol pairs them. Loss: the official evaluator's contrastive (Hadsell) loss,
d(text, own motion)² + max(0, margin − d(text, other motion))², with every other pair of the batch
as a negative (the official code rolls the batch for one negative per sample) except pairs of the
same motion or the same caption text, which are not negatives. Model selection: R-precision top-1
(batches of 32) on the val split. At the end the chosen weights are scored on the test split (its
real clips), and that R-precision goes into ``evaluator.json``: it bounds every number the
evaluator gives.

Caption sentence embeddings (MiniLM) are computed once into ``WORK/captions.npz``; progress goes
to ``WORK/train.log``; ``--resume`` continues an interrupted run from ``WORK/train_state.safetensors``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from hmu_demo.config import resolve_device
from hmu_demo.data.humanml3d import MotionDataset
from hmu_demo.data.limits import MIN_FRAMES
from hmu_demo.data.locate import resolve_data
from hmu_demo.models.evaluators.embedded import (DEFAULT_EVALUATOR, PAD_FRAMES, UNIT, EmbeddedEvaluator,
                                                 EvaluatorConfig, EvaluatorNet)
from hmu_demo.models.evaluators.retrieval import matching_score, r_precision_hits
from hmu_demo.models.text import text_encoder
from hmu_demo.train.cli import run_trainer
from hmu_demo.train.config import TrainConfig
from hmu_demo.train.data import embed_captions
from hmu_demo.train.loop import RunSpec, Schedule, run

__all__ = ["PairSet", "load_pairs", "contrastive_loss", "r_precision_eval", "train_evaluator", "main"]

MAX_FRAMES = 196
MARGIN = 10.0
DEFAULT_WORK = Path("outputs/train_evaluator")


@dataclass
class PairSet:
    """Caption/motion-span pairs of one split, features normalised and held in memory."""

    motions: list[torch.Tensor]          # normalised (T, 263) per motion
    motion_index: np.ndarray             # (P,) pair -> motion
    spans: np.ndarray                    # (P, 2) [start, stop) frames, stop - start a multiple of UNIT
    texts: list[str]                     # (P,) caption texts
    sentences: torch.Tensor              # (P, 384) sentence embeddings

    def __len__(self) -> int:
        return len(self.texts)

    def batch(self, rows: np.ndarray, rng: np.random.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """Padded normalised motion windows of ``rows`` (a random MAX_FRAMES window of longer spans)."""
        clips = []
        for r in rows:
            start, stop = (int(v) for v in self.spans[r])
            if stop - start > MAX_FRAMES:
                shift = int(rng.integers(0, stop - start - MAX_FRAMES + 1)) if rng is not None else 0
                start = start + shift
                stop = start + MAX_FRAMES
            clips.append(self.motions[self.motion_index[r]][start:stop])
        lengths = torch.tensor([c.shape[0] for c in clips], dtype=torch.long)
        out = torch.zeros(len(clips), PAD_FRAMES, clips[0].shape[1])  # as EmbeddedEvaluator pads
        for i, c in enumerate(clips):
            out[i, : c.shape[0]] = c
        return out, lengths


def load_pairs(data: Path, split: str, mean: np.ndarray, std: np.ndarray, encoder, cache: Path | None) -> PairSet:
    """Every caption line of ``split`` whose span has at least MIN_FRAMES frames, cut to a multiple of UNIT."""
    ds = MotionDataset(data)
    motions, index, spans, texts = [], [], [], []
    for motion_id in ds.split_ids(split):
        feats = ds.features(motion_id)
        m = len(motions)
        motions.append(torch.from_numpy(((feats - mean) / std).astype(np.float32)))
        for caption in ds.captions(motion_id):
            start, stop = caption.frame_span(feats.shape[0])
            stop = start + (stop - start) // UNIT * UNIT
            if stop - start < MIN_FRAMES:
                continue
            index.append(m)
            spans.append((start, stop))
            texts.append(caption.text)
    if not texts:
        raise ValueError(f"split {split!r} of {data} has no caption spans of at least {MIN_FRAMES} frames")
    table = embed_captions(texts, encoder, cache, progress=True)
    sentences = torch.from_numpy(table.embeddings[table.rows(texts)].astype(np.float32))
    return PairSet(motions, np.asarray(index), np.asarray(spans), texts, sentences)


def contrastive_loss(text: torch.Tensor, motion: torch.Tensor, same: torch.Tensor,
                     margin: float = MARGIN) -> tuple[torch.Tensor, dict[str, float]]:
    """Hadsell loss over the batch; ``same`` (B, B) True where a pair is not a negative (diagonal included)."""
    d = torch.cdist(text, motion)
    pos = d.diagonal().pow(2).mean()
    neg_mask = ~same
    neg = (torch.relu(margin - d).pow(2) * neg_mask).sum() / neg_mask.sum().clamp(min=1)
    with torch.no_grad():
        top1 = (d.argmin(dim=1) == torch.arange(d.shape[0], device=d.device)).float().mean()
    return pos + neg, {"pos": float(pos.detach()), "neg": float(neg.detach()), "batch_top1": float(top1)}


@torch.no_grad()
def r_precision_eval(net: EvaluatorNet, pairs: PairSet, seed: int = 0, batch: int = 32,
                     device: torch.device = torch.device("cpu")) -> dict[str, float]:
    """R-precision top-1/2/3 and MM-Dist of the real pairs, batches of 32 in a seeded shuffle."""
    order = np.random.default_rng(seed).permutation(len(pairs))
    texts, motions = [], []
    for s in range(0, len(order), 256):
        rows = order[s:s + 256]
        x, lengths = pairs.batch(rows)
        motions.append(net.encode_motion(x.to(device), lengths).double().cpu().numpy())
        texts.append(net.encode_text(pairs.sentences[rows].to(device)).double().cpu().numpy())
    t, m = np.concatenate(texts), np.concatenate(motions)
    hits = r_precision_hits(t, m, top_k=3, batch_size=batch)
    return {"r_precision_top1": float(hits[0]), "r_precision_top2": float(hits[1]),
            "r_precision_top3": float(hits[2]), "mm_dist": float(matching_score(t, m)), "pairs": float(len(pairs))}


def train_evaluator(config: TrainConfig, model: EvaluatorConfig, command: str) -> dict:
    """Train the evaluator, export the best weights to ``config.out`` (log and state in ``config.folder``),
    score them on the test split and record how they were made (``command`` among it); returns the
    test metrics."""
    data = resolve_data(config.data, progress=not config.quiet)
    device = resolve_device(config.device)
    torch.manual_seed(config.seed)
    cache = config.folder / "captions.npz"
    mean, std = MotionDataset(data).statistics()
    std = np.maximum(std, 1e-6)
    encoder = text_encoder(model.text_encoder, device="cpu")
    train = load_pairs(data, "train", mean, std, encoder, cache)
    val = load_pairs(data, "val", mean, std, encoder, cache)
    rng = np.random.default_rng(config.seed)

    def sample(_generator: torch.Generator):
        rows = rng.choice(len(train), size=min(config.batch_size, len(train)), replace=False)
        x, lengths = train.batch(rows, rng)
        motion_of = torch.from_numpy(train.motion_index[rows])
        text_of = [train.texts[r] for r in rows]
        same = (motion_of[:, None] == motion_of[None, :]) | torch.tensor(
            [[a == b for b in text_of] for a in text_of])
        return x.to(device), lengths, train.sentences[rows].to(device), same.to(device)

    def loss(net: EvaluatorNet, batch):
        x, lengths, sentences, same = batch
        return contrastive_loss(net.encode_text(sentences), net.encode_motion(x, lengths), same)

    def export(net: EvaluatorNet, metrics: dict) -> None:
        EmbeddedEvaluator(net, mean, std, device=device).save(config.out, {"val": metrics, "data": str(data)})

    spec = RunSpec(name="evaluator", model=EvaluatorNet(model), sample=sample, loss=loss,
                   validate=lambda net: r_precision_eval(net, val, device=device), export=export,
                   score_key="r_precision_top1", higher_is_better=True,
                   schedule=Schedule(lr=config.lr, warmup=500, milestones=(0.7,), gamma=0.1), grad_clip=1.0,
                   info={"train pairs": len(train), "val pairs": len(val), "batch": config.batch_size})
    t0 = time.perf_counter()
    summary = run(spec, config)
    # score the chosen weights on the test split's real clips and record how they were made
    evaluator = EmbeddedEvaluator.load(config.out, device=device, text_encoder=encoder)
    test_metrics = r_precision_eval(evaluator.net, load_pairs(data, "test", mean, std, encoder, cache), device=device)
    corpus = Path(data) / "corpus.json"
    info = {"command": command, "val": evaluator.info.get("val"), "test": test_metrics, "data": str(data),
            "corpus": json.loads(corpus.read_text()) if corpus.is_file() else None,
            "training": {**{k: v for k, v in summary.items() if k != "main"}, "config": model.to_dict(),
                         "loss": f"Hadsell, margin {MARGIN}, all in-batch negatives", "batch": config.batch_size,
                         "lr": config.lr, "wall_seconds": round(time.perf_counter() - t0)}}
    evaluator.save(config.out, info)
    return test_metrics


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hmu_demo.train.evaluator", description=__doc__.split("\n\n")[0])
    p.add_argument("--data", type=Path, default=None, help="SynthMotion corpus (default: build or reuse the default)")
    p.add_argument("--out", type=Path, default=DEFAULT_EVALUATOR)
    p.add_argument("--work", type=Path, default=DEFAULT_WORK)
    p.add_argument("--steps", type=int, default=None)
    p.add_argument("--minutes", type=float, default=None, dest="max_minutes", metavar="MINUTES",
                   help="time budget (default 20 when --steps is not given)")
    p.add_argument("--batch", type=int, default=128, dest="batch_size", metavar="BATCH")
    p.add_argument("--lr", type=float, default=5e-4)
    p.add_argument("--dim", type=int, default=EvaluatorConfig.dim)
    p.add_argument("--hidden", type=int, default=EvaluatorConfig.motion_hidden)
    p.add_argument("--val-every", type=int, default=500)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--device", default=None)
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")
    command = "python -m hmu_demo.train.evaluator " + " ".join(sys.argv[1:] if argv is None else argv)

    def train(args: argparse.Namespace, config: TrainConfig) -> str:
        model = EvaluatorConfig(movement_hidden=args.hidden, movement_dim=args.hidden, motion_hidden=args.hidden,
                                text_hidden=args.hidden, dim=args.dim)
        return json.dumps({"out": str(config.out), "test": train_evaluator(config, model, command)})

    return run_trainer(p, argv, train, default_minutes=20.0)


if __name__ == "__main__":
    raise SystemExit(main())
