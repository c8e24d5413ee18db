"""Train the judge (hmu_demo.models.judge) on a labelled SynthMotion corpus.

    python -m hmu_demo.train.judge --data DIR --out checkpoints/judge [--epochs N] [--resume]

Frame labels come from ``labels.jsonl`` segments: per-frame action (plus "stand" for padding)
and per-frame violence. Losses: class-weighted cross-entropy on actions, positively weighted
BCE on frame violence (violent frames are rare) and a clip-level BCE on the max of the smoothed
violence, which is exactly what the judge thresholds. Mirror augmentation (left <-> right).
The threshold is chosen on the val split after training. Training runs on the CPU (the net is
small; ``--threads`` sets how many cores it uses). Progress goes to ``OUT/train.log``;
after every epoch the weights and the optimiser state are written (``OUT/train_state.*``) so an
interrupted run continues with ``--resume``; the state is removed when training completes, so
the shipped folder holds only ``judge.safetensors`` + ``judge.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file

from hmu_demo.atomic import atomic_path, write_text
from hmu_demo.data.labelled import STAND, frame_labels, load_labelled_split
from hmu_demo.data.locate import DEFAULT_DATA, resolve_data
from hmu_demo.data.synth.actions import ACTIONS, VIOLENT_ACTIONS
from hmu_demo.models.judge.accuracy import best_threshold, evaluate
from hmu_demo.models.judge.features import FEATURE_DIM, body_features, pad_batch
from hmu_demo.models.judge.net import JudgeNet, smooth_masked
from hmu_demo.models.judge.scoring import CONFIG_FILE, DEFAULT_CHECKPOINT, WEIGHTS_FILE, Judge
from hmu_demo.motion.features import mirror_joints
from hmu_demo.train.cli import run_trainer
from hmu_demo.train.config import TrainConfig
from hmu_demo.train.loop import TrainLog

__all__ = ["class_names", "feature_stats", "train_judge", "main"]

STATE_WEIGHTS = "train_state.safetensors"
STATE_JSON = "train_state.json"


def class_names() -> list[str]:
    return list(ACTIONS) + [STAND]


def feature_stats(joints: list[np.ndarray], limit: int = 2000) -> tuple[np.ndarray, np.ndarray]:
    feats = []
    for c in joints[:limit]:
        j, n = pad_batch([c])
        feats.append(body_features(j, n)[0].numpy())
    x = np.concatenate(feats).astype(np.float64)
    mean, std = x.mean(0), x.std(0)
    return mean.astype(np.float32), np.maximum(std, 1e-2).astype(np.float32)


def _augment(joints: np.ndarray, act: np.ndarray, vio: np.ndarray, rng: np.random.Generator):
    """Random tempo (0.8x-1.25x, half of the clips) and joint jitter (up to 1.5 cm, half of the clips),
    so that the judge tolerates the speed and noise of generated motions."""
    if rng.random() < 0.5 and joints.shape[0] > 2:
        n_old = joints.shape[0]
        n_new = max(2, int(round(n_old * rng.uniform(0.8, 1.25))))
        t = np.linspace(0.0, n_old - 1, n_new)
        i0 = np.floor(t).astype(int)
        i1 = np.minimum(i0 + 1, n_old - 1)
        w = (t - i0)[:, None, None].astype(np.float32)
        joints = joints[i0] * (1 - w) + joints[i1] * w
        near = np.round(t).astype(int)
        act, vio = act[near], vio[near]
    if rng.random() < 0.5:
        joints = joints + rng.normal(0.0, rng.uniform(0.0, 0.015), joints.shape).astype(np.float32)
    return joints.astype(np.float32, copy=False), act, vio


def _save_state(out: Path, net: JudgeNet, opt: torch.optim.Optimizer, info: dict) -> None:
    tensors = {f"model.{k}": v.detach().contiguous() for k, v in net.state_dict().items()}
    steps = {}
    for i, st in opt.state_dict()["state"].items():
        for k, v in st.items():
            if k == "step":
                steps[str(i)] = float(v)
            else:
                tensors[f"opt.{i}.{k}"] = v.contiguous()
    with atomic_path(out / STATE_WEIGHTS) as tmp:
        save_file(tensors, str(tmp))
    write_text(out / STATE_JSON, json.dumps({**info, "steps": steps}, indent=1))


def _load_state(out: Path, net: JudgeNet, opt: torch.optim.Optimizer) -> dict:
    tensors = load_file(str(out / STATE_WEIGHTS))
    info = json.loads((out / STATE_JSON).read_text())
    net.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    sd = opt.state_dict()
    for i_str, step in info["steps"].items():
        i = int(i_str)
        sd["state"][i] = {"step": torch.tensor(step),
                          "exp_avg": tensors[f"opt.{i}.exp_avg"], "exp_avg_sq": tensors[f"opt.{i}.exp_avg_sq"]}
    opt.load_state_dict(sd)
    return info


def train_judge(config: TrainConfig, epochs: int = 12, hidden: int = 80) -> Path:
    """Train a judge of ``hidden`` channels for ``epochs`` epochs (or until ``config.max_minutes`` is spent,
    resumably) and write it to ``config.out``; ``config.batch_size`` clips a step at peak rate ``config.lr``
    (the CLI defaults: 32 clips, 3e-3)."""
    data = resolve_data(config.data, progress=not config.quiet)
    out, batch_size, lr, limit, max_minutes = config.out, config.batch_size, config.lr, config.limit, config.max_minutes
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    out.mkdir(parents=True, exist_ok=True)
    log = TrainLog(out, config.quiet)
    actions = class_names()
    violent = set(VIOLENT_ACTIONS)
    t_start = time.perf_counter()
    _, tr_joints, tr_labels = load_labelled_split(data, "train", limit)
    try:
        _, va_joints, va_labels = load_labelled_split(data, "val", limit)
    except ValueError:
        va_joints, va_labels = [], []
    targets = [frame_labels(l, j.shape[0], actions, violent) for j, l in zip(tr_joints, tr_labels)]
    log(f"data {data}: {len(tr_joints)} train, {len(va_joints)} val clips "
        f"(loaded in {time.perf_counter() - t_start:.1f}s)")

    mean, std = feature_stats(tr_joints)
    frame_act = np.concatenate([a for a, _ in targets])
    frame_vio = np.concatenate([v for _, v in targets])
    counts = np.bincount(frame_act, minlength=len(actions)).astype(np.float64)
    cw = np.where(counts > 0, 1.0 / np.sqrt(np.maximum(counts, 1)), 0.0)
    cw = cw / (cw[counts > 0] * counts[counts > 0]).sum() * counts.sum()
    pos = float(frame_vio.mean())
    pos_weight = float(np.clip((1 - pos) / max(pos, 1e-6), 1.0, 20.0) ** 0.5)

    arch = {"type": "residual dilated conv1d", "in_dim": FEATURE_DIM, "hidden": hidden, "kernel": 5,
            "dilations": [1, 2, 4, 8]}
    meta = {"format": "hmu-judge", "version": 1, "architecture": arch, "actions": actions,
              "violent_actions": sorted(violent), "feature": "body-centric positions+velocities+yaw rate (body_features)",
              "feature_mean": mean.tolist(), "feature_std": std.tolist(), "threshold": 0.5, "smooth_frames": 5,
              "fps": 20}
    net = JudgeNet(FEATURE_DIM, hidden, 5, tuple(arch["dilations"]), len(actions), dropout=0.1)
    opt = torch.optim.AdamW(net.parameters(), lr=lr, weight_decay=1e-4)
    steps_per_epoch = max(1, int(np.ceil(len(tr_joints) / batch_size)))
    total_steps = epochs * steps_per_epoch
    start_epoch = 0
    if config.resume and (out / STATE_WEIGHTS).is_file():
        info = _load_state(out, net, opt)
        start_epoch = int(info["epoch"])
        meta["feature_mean"], meta["feature_std"] = info["feature_mean"], info["feature_std"]
        log(f"resumed after epoch {start_epoch}")
    elif config.resume and (out / WEIGHTS_FILE).is_file():
        net.load_state_dict(load_file(str(out / WEIGHTS_FILE)))
        old = json.loads((out / CONFIG_FILE).read_text())
        meta["feature_mean"], meta["feature_std"] = old["feature_mean"], old["feature_std"]
        start_epoch = min(int(old.get("epochs_done", 0)), epochs - 1)
        log(f"resumed from the finished weights after epoch {start_epoch} (fresh optimiser)")
    mean_t = torch.tensor(meta["feature_mean"])
    std_t = torch.tensor(meta["feature_std"])
    cw_t = torch.tensor(cw, dtype=torch.float32)
    n_params = sum(p.numel() for p in net.parameters())
    log(f"JudgeNet {n_params} parameters, {epochs} epochs x {steps_per_epoch} steps, "
        f"violent frames {pos:.3f} (pos_weight {pos_weight:.2f})")

    lengths_all = np.array([j.shape[0] for j in tr_joints])
    for epoch in range(start_epoch, epochs):
        net.train()
        t0 = time.perf_counter()
        # length-bucketed batches: shuffle, sort within chunks of 8 batches, shuffle batch order
        perm = rng.permutation(len(tr_joints))
        batches = []
        chunk = batch_size * 8
        for s in range(0, len(perm), chunk):
            part = perm[s:s + chunk]
            part = part[np.argsort(lengths_all[part], kind="stable")]
            batches += [part[k:k + batch_size] for k in range(0, len(part), batch_size)]
        rng.shuffle(batches)
        tot = {"loss": 0.0, "act": 0.0, "vio": 0.0, "clip": 0.0}
        for b_i, idx in enumerate(batches):
            step = epoch * steps_per_epoch + b_i
            lr_now = lr * 0.5 * (1 + np.cos(np.pi * min(1.0, step / max(1, total_steps))))
            if step < 100:
                lr_now *= (step + 1) / 100
            for g in opt.param_groups:
                g["lr"] = lr_now
            items = [_augment(tr_joints[i], *targets[i], rng) for i in idx]
            joints, lengths = pad_batch([it[0] for it in items])
            flip = torch.rand(len(idx)) < 0.5
            if flip.any():
                joints[flip] = mirror_joints(joints[flip])
            scale = torch.empty(len(idx), 1, 1, 1).uniform_(0.9, 1.1)
            joints = joints * scale
            t = joints.shape[1]
            mask = torch.arange(t)[None] < lengths[:, None]
            x = (body_features(joints, lengths) - mean_t) / std_t
            act = torch.zeros(len(idx), t, dtype=torch.long)
            vio = torch.zeros(len(idx), t)
            for k, (_, a, v) in enumerate(items):
                act[k, :len(a)] = torch.from_numpy(a)
                vio[k, :len(v)] = torch.from_numpy(v)
            logits, vlogit = net(x, mask)
            m = mask.float()
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), act.reshape(-1), weight=cw_t, reduction="none")
            l_act = (ce * m.reshape(-1)).sum() / m.sum()
            bce = F.binary_cross_entropy_with_logits(vlogit, vio, pos_weight=torch.tensor(pos_weight), reduction="none")
            l_vio = (bce * m).sum() / m.sum()
            clip_p = smooth_masked(torch.sigmoid(vlogit), mask, int(meta["smooth_frames"])).amax(1).clamp(1e-5, 1 - 1e-5)
            clip_y = (vio.amax(1) > 0).float()
            l_clip = F.binary_cross_entropy(clip_p, clip_y)
            loss = l_act + l_vio + 0.5 * l_clip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
            opt.step()
            for k, v in (("loss", loss), ("act", l_act), ("vio", l_vio), ("clip", l_clip)):
                tot[k] += float(v.detach())
            if not config.quiet and b_i % 50 == 0:
                log(f"epoch {epoch + 1} step {b_i}/{len(batches)} loss {float(loss.detach()):.4f}", echo=False)
        n_b = len(batches)
        msg = (f"epoch {epoch + 1}/{epochs} loss {tot['loss'] / n_b:.4f} (action {tot['act'] / n_b:.4f}, "
               f"violence {tot['vio'] / n_b:.4f}, clip {tot['clip'] / n_b:.4f}) {time.perf_counter() - t0:.1f}s")
        meta["epochs_done"] = epoch + 1
        if va_joints:
            judge = Judge(net, dict(meta), "cpu")
            rep = evaluate(judge, va_joints, va_labels)
            net.train()
            msg += (f" | val violent_acc {rep['violent_accuracy']:.4f} action_top1 {rep['action_top1']:.4f}"
                    f" frame {rep['frame_action_accuracy']:.4f}")
        log(msg)
        _save_state(out, net, opt, {"epoch": epoch + 1, "feature_mean": meta["feature_mean"],
                                    "feature_std": meta["feature_std"]})
        if max_minutes is not None and (time.perf_counter() - t_start) / 60 > max_minutes and epoch + 1 < epochs:
            log(f"stopping after epoch {epoch + 1}: time budget of {max_minutes} min spent "
                "(run again with --resume to continue)")
            _export(out, net, meta, va_joints, va_labels, t_start, log, n_params, keep_state=True)
            return out
    _export(out, net, meta, va_joints, va_labels, t_start, log, n_params, keep_state=False)
    return out


def _export(out: Path, net: JudgeNet, meta: dict, va_joints, va_labels, t_start: float, log: TrainLog,
            n_params: int, keep_state: bool) -> None:
    """Write the checkpoint (threshold fitted on the val split); the resumable state goes unless ``keep_state``."""
    net.eval()
    if va_joints:
        judge = Judge(net, dict(meta), "cpu")
        rep = evaluate(judge, va_joints, va_labels)
        truth = np.array([bool(l["violent"]) for l in va_labels])
        meta["threshold"] = round(best_threshold(rep["_scores"], truth), 4)
    meta["parameters"] = n_params
    meta["training_seconds"] = round(time.perf_counter() - t_start, 1)
    state = {k: v.detach().contiguous() for k, v in net.state_dict().items()}
    with atomic_path(out / WEIGHTS_FILE) as tmp:
        save_file(state, str(tmp))
    write_text(out / CONFIG_FILE, json.dumps(meta) + "\n")
    if not keep_state:
        for name in (STATE_WEIGHTS, STATE_JSON):
            (out / name).unlink(missing_ok=True)
    log(f"wrote {out / WEIGHTS_FILE} (threshold {meta['threshold']}, {meta['training_seconds']}s)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.train.judge", description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=None, help=f"labelled corpus (default: build or reuse {DEFAULT_DATA})")
    parser.add_argument("--out", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--resume", action="store_true")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--hidden", type=int, default=80)
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips of each split")
    parser.add_argument("--max-minutes", type=float, default=None, help="stop (resumable) after this much time")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quiet", action="store_true")

    def train(args: argparse.Namespace, config: TrainConfig) -> None:
        train_judge(config, args.epochs, args.hidden)

    return run_trainer(parser, argv, train,
                       check=lambda args: "--epochs must be at least 1" if args.epochs < 1 else None)


if __name__ == "__main__":
    raise SystemExit(main())
