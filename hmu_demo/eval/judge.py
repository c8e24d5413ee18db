"""The judge: a per-frame action / violence classifier over joint positions (T, 22, 3) at 20 fps.

Input features are body-centric, hence invariant to where the motion happens and which way it
faces: every joint relative to the pelvis (x, z) and to the clip's floor (y), rotated into the
per-frame facing frame (hips + shoulders), their velocities in that frame, and the yaw velocity.
They are normalised with statistics stored in the checkpoint and fed to a small residual
dilated 1D-conv network whose outputs are per frame: action logits (every SynthMotion action plus
"stand", the padding before/after short clips) and one violence logit.

Clip level: ``violence`` is the maximum over time of the per-frame violence probability smoothed
by a short moving average (a single punch inside a long walk is caught), ``violent`` compares it
with the threshold chosen on the validation split; ``action`` is the class with the most
probability mass over the clip ("stand" excluded), restricted to violent actions when the clip is
judged violent. Padded frames are masked after every layer, so a clip gets the same scores alone
or in any batch.

Checkpoint: ``judge.safetensors`` (weights) + ``judge.json`` (architecture, normalisation stats,
class names, threshold, how it was trained). ``python -m hmu_demo.eval.judge --data DIR --json``
reports violent/safe accuracy and action top-1 on a split of a labelled (SynthMotion) corpus.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from hmu_demo.motion.skeleton import FPS, JOINT_INDEX, NUM_JOINTS

__all__ = ["Judge", "JudgeResult", "JudgeNet", "body_features", "evaluate", "frame_labels", "main",
           "DEFAULT_CHECKPOINT", "DEFAULT_DATA", "FEATURE_DIM", "STAND"]

DEFAULT_CHECKPOINT = Path(__file__).resolve().parents[2] / "checkpoints" / "judge"
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "data" / "synthmotion"
STAND = "stand"
FEATURE_DIM = NUM_JOINTS * 3 * 2 + 1  # local positions, local velocities, yaw velocity
WEIGHTS_FILE = "judge.safetensors"
CONFIG_FILE = "judge.json"

_L_HIP, _R_HIP = JOINT_INDEX["L_hip"], JOINT_INDEX["R_hip"]
_L_SH, _R_SH = JOINT_INDEX["L_shoulder"], JOINT_INDEX["R_shoulder"]


# -- features ------------------------------------------------------------------------------------

def body_features(joints: torch.Tensor, lengths: torch.Tensor | None = None) -> torch.Tensor:
    """(B, T, 22, 3) joints -> (B, T, FEATURE_DIM) body-centric features (un-normalised).

    Frames past ``lengths[b]`` must already repeat the last valid frame (``pad_batch`` does so),
    which keeps their velocities at zero and the floor estimate unchanged.
    """
    joints = joints.float()
    b, t = joints.shape[:2]
    across = (joints[:, :, _L_HIP] - joints[:, :, _R_HIP]) + (joints[:, :, _L_SH] - joints[:, :, _R_SH])
    across = across[..., [0, 2]]                                      # (B, T, 2) in the ground plane
    if t > 2:  # light temporal smoothing of the facing (3-tap), edges replicated
        padded = torch.cat([across[:, :1], across, across[:, -1:]], dim=1)
        across = 0.25 * padded[:, :-2] + 0.5 * padded[:, 1:-1] + 0.25 * padded[:, 2:]
    # forward = up x across; heading angle of forward in the xz plane
    fx, fz = across[..., 1], -across[..., 0]
    theta = torch.atan2(fx, fz)                                       # 0 when facing +z
    cos, sin = torch.cos(theta), torch.sin(theta)

    def rotate(v: torch.Tensor) -> torch.Tensor:                     # rotate xz by -theta
        x, y, z = v[..., 0], v[..., 1], v[..., 2]
        c, s = cos[..., None], sin[..., None]
        return torch.stack([c * x - s * z, y, s * x + c * z], dim=-1)

    floor = joints[..., 1].amin(dim=(1, 2))                           # (B,) lowest point of the clip
    root = joints[:, :, :1].clone()
    root[..., 1] = floor[:, None, None]
    local = rotate(joints - root)                                     # (B, T, 22, 3)
    step = torch.zeros_like(joints)
    step[:, :-1] = joints[:, 1:] - joints[:, :-1]
    if t > 1:
        step[:, -1] = step[:, -2]
    vel = rotate(step) * FPS
    dtheta = torch.zeros_like(theta)
    dtheta[:, :-1] = torch.remainder(theta[:, 1:] - theta[:, :-1] + math.pi, 2 * math.pi) - math.pi
    if t > 1:
        dtheta[:, -1] = dtheta[:, -2]
    if lengths is not None:  # the last valid frame repeats its predecessor's velocity
        idx = (lengths - 1).clamp(min=0)
        prev = (lengths - 2).clamp(min=0)
        ar = torch.arange(b, device=joints.device)
        vel[ar, idx] = vel[ar, prev]
        dtheta[ar, idx] = dtheta[ar, prev]
    return torch.cat([local.reshape(b, t, -1), vel.reshape(b, t, -1), dtheta[..., None] * FPS], dim=-1)


def check_joints(joints: np.ndarray, index: int = 0) -> np.ndarray:
    """Validate one clip: (T, 22, 3), T >= 1, finite; returns float32."""
    array = np.asarray(joints)
    if array.ndim != 3 or array.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"clip {index}: joints must have shape (T, {NUM_JOINTS}, 3), got {array.shape}")
    if array.shape[0] < 1:
        raise ValueError(f"clip {index}: joints have no frames")
    if not np.issubdtype(array.dtype, np.number) or np.issubdtype(array.dtype, np.complexfloating):
        raise ValueError(f"clip {index}: joints must be real numbers, got dtype {array.dtype}")
    if not np.isfinite(array).all():
        raise ValueError(f"clip {index}: joints contain NaN or infinite values")
    return array.astype(np.float32, copy=False)


def pad_batch(clips: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack clips into (B, Tmax, 22, 3), padding each with its last frame; returns (joints, lengths)."""
    lengths = torch.tensor([c.shape[0] for c in clips], dtype=torch.long)
    t = int(lengths.max())
    out = np.empty((len(clips), t, NUM_JOINTS, 3), dtype=np.float32)
    for i, c in enumerate(clips):
        out[i, :len(c)] = c
        out[i, len(c):] = c[-1]
    return torch.from_numpy(out), lengths


# -- network -------------------------------------------------------------------------------------

class _Block(nn.Module):
    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.norm = nn.GroupNorm(1, channels)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        h = F.gelu(self.conv(x))
        h = self.dropout(self.mix(h))
        return (x + h) * mask


class JudgeNet(nn.Module):
    """Residual dilated temporal conv net; per-frame action logits and violence logit."""

    def __init__(self, in_dim: int = FEATURE_DIM, hidden: int = 80, kernel: int = 5,
                 dilations: tuple[int, ...] = (1, 2, 4, 8), n_actions: int = 45, dropout: float = 0.1) -> None:
        super().__init__()
        self.inp = nn.Conv1d(in_dim, hidden, 3, padding=1)
        self.blocks = nn.ModuleList(_Block(hidden, kernel, d, dropout) for d in dilations)
        self.action_head = nn.Conv1d(hidden, n_actions, 1)
        self.violence_head = nn.Conv1d(hidden, 1, 1)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, C) normalised features, mask (B, T) -> action logits (B, T, A), violence (B, T)."""
        m = mask[:, None, :].to(x.dtype)
        h = self.inp(x.transpose(1, 2) * m) * m
        for block in self.blocks:
            h = block(h, m)
        return self.action_head(h).transpose(1, 2), self.violence_head(h)[:, 0]


def smooth_masked(p: torch.Tensor, mask: torch.Tensor, width: int) -> torch.Tensor:
    """Moving average of (B, T) over ``width`` frames, counting only valid frames."""
    if width <= 1:
        return p * mask
    m = mask.to(p.dtype)
    kernel = torch.ones(1, 1, width, dtype=p.dtype, device=p.device)
    num = F.conv1d((p * m)[:, None], kernel, padding=width // 2)[:, 0, :p.shape[1]]
    den = F.conv1d(m[:, None], kernel, padding=width // 2)[:, 0, :p.shape[1]]
    return num / den.clamp(min=1.0) * m


# -- results ---------------------------------------------------------------------------------------

@dataclass
class JudgeResult:
    """The judge's verdict on one clip."""

    violence: float                      # 0..1, max over time of smoothed per-frame violence
    violent: bool                        # violence >= the checkpoint's threshold
    action: str                          # dominant action ("stand" excluded; a violent one if violent)
    action_probs: dict[str, float]       # clip-level distribution (mean of per-frame probabilities)
    frame_violence: np.ndarray           # (T,) smoothed per-frame violence probability
    frame_actions: list[str] = field(default_factory=list, repr=False)   # (T,) per-frame argmax
    threshold: float = 0.5

    def segments(self) -> list[dict]:
        """Runs of equal per-frame action: [{action, start, end, violence (max), violent}]."""
        out: list[dict] = []
        start = 0
        for t in range(1, len(self.frame_actions) + 1):
            if t == len(self.frame_actions) or self.frame_actions[t] != self.frame_actions[start]:
                v = float(self.frame_violence[start:t].max())
                out.append({"action": self.frame_actions[start], "start": start, "end": t,
                            "violence": v, "violent": v >= self.threshold})
                start = t
        return out


# -- the judge -------------------------------------------------------------------------------------

class Judge:
    """A loaded judge checkpoint; ``score`` a list of (T, 22, 3) clips."""

    def __init__(self, net: JudgeNet, config: dict, device: str | torch.device = "cpu", folder: Path | None = None):
        self.net = net.to(device).eval()
        self.config = config
        self.device = torch.device(device)
        self.folder = folder
        self.actions: list[str] = list(config["actions"])
        self.violent_actions: set[str] = set(config["violent_actions"])
        self.threshold = float(config.get("threshold", 0.5))
        self.smooth = int(config.get("smooth_frames", 5))
        self.mean = torch.tensor(config["feature_mean"], dtype=torch.float32, device=self.device)
        self.std = torch.tensor(config["feature_std"], dtype=torch.float32, device=self.device)
        self._stand = self.actions.index(STAND) if STAND in self.actions else -1
        self._violent_mask = torch.tensor([a in self.violent_actions for a in self.actions], device=self.device)

    @classmethod
    def load(cls, folder: str | Path = DEFAULT_CHECKPOINT, device: str | torch.device = "cpu") -> "Judge":
        from safetensors.torch import load_file

        folder = Path(folder)
        config_path, weights_path = folder / CONFIG_FILE, folder / WEIGHTS_FILE
        for path in (config_path, weights_path):
            if not path.is_file():
                raise FileNotFoundError(f"judge checkpoint file {path} is missing "
                                        "(train one with `python -m hmu_demo.train.judge`)")
        try:
            config = json.loads(config_path.read_text())
            net = build_net(config)
        except (OSError, ValueError, KeyError, TypeError) as err:
            raise ValueError(f"cannot read judge config {config_path}: {type(err).__name__}: {err}") from err
        try:
            net.load_state_dict(load_file(str(weights_path)))
        except Exception as err:  # safetensors' own error type is not an OSError
            raise ValueError(f"cannot read judge weights {weights_path} (corrupt or from another config?): "
                             f"{type(err).__name__}: {err}") from err
        return cls(net, config, device, folder)

    def normalise(self, joints: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return (body_features(joints.to(self.device), lengths.to(self.device)) - self.mean) / self.std

    @torch.no_grad()
    def forward_batch(self, joints: torch.Tensor, lengths: torch.Tensor):
        """Padded batch -> (action probs (B,T,A), smoothed violence (B,T), mask (B,T))."""
        lengths = lengths.to(self.device)
        mask = torch.arange(joints.shape[1], device=self.device)[None] < lengths[:, None]
        logits, vlogit = self.net(self.normalise(joints, lengths), mask)
        probs = logits.softmax(-1)
        violence = smooth_masked(torch.sigmoid(vlogit), mask, self.smooth)
        return probs, violence, mask

    def score(self, joints_list: list[np.ndarray], batch_size: int = 64) -> list[JudgeResult]:
        """Judge each clip; clips are batched by length (padded + masked), results in input order."""
        if isinstance(joints_list, np.ndarray) and joints_list.ndim == 3:
            raise ValueError("score() takes a list of (T, 22, 3) arrays; wrap a single clip in a list")
        clips = [check_joints(c, i) for i, c in enumerate(joints_list)]
        order = sorted(range(len(clips)), key=lambda i: clips[i].shape[0])
        results: list[JudgeResult | None] = [None] * len(clips)
        for s in range(0, len(order), batch_size):
            idx = order[s:s + batch_size]
            joints, lengths = pad_batch([clips[i] for i in idx])
            probs, violence, mask = self.forward_batch(joints, lengths)
            for k, i in enumerate(idx):
                n = int(lengths[k])
                results[i] = self._result(probs[k, :n], violence[k, :n])
        return results  # type: ignore[return-value]

    def _result(self, probs: torch.Tensor, violence: torch.Tensor) -> JudgeResult:
        v = float(violence.max())
        violent = v >= self.threshold
        mass = probs.mean(0)
        pick = mass.clone()
        if self._stand >= 0:
            pick[self._stand] = -1.0
        if violent:
            # the violent action most present where violence is high
            weight = violence / violence.max().clamp(min=1e-6)
            vmass = (probs * weight[:, None]).sum(0)
            pick = torch.where(self._violent_mask, vmass, torch.full_like(vmass, -1.0))
        action = self.actions[int(pick.argmax())]
        frame_idx = probs.argmax(-1).tolist()
        return JudgeResult(violence=v, violent=bool(violent), action=action,
                           action_probs={a: float(p) for a, p in zip(self.actions, mass.tolist())},
                           frame_violence=violence.cpu().numpy().astype(np.float32),
                           frame_actions=[self.actions[i] for i in frame_idx], threshold=self.threshold)

    def segments(self, joints: np.ndarray) -> list[dict]:
        """Per-frame predictions of one clip, as runs of equal action (see JudgeResult.segments)."""
        return self.score([joints])[0].segments()


def build_net(config: dict) -> JudgeNet:
    arch = config["architecture"]
    return JudgeNet(in_dim=arch["in_dim"], hidden=arch["hidden"], kernel=arch["kernel"],
                    dilations=tuple(arch["dilations"]), n_actions=len(config["actions"]), dropout=0.0)


# -- labels and evaluation ------------------------------------------------------------------------

def frame_labels(label: dict, n_frames: int, actions: list[str], violent_actions: set[str]) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame action index and violence (0/1) from a labels.jsonl entry."""
    index = {a: i for i, a in enumerate(actions)}
    act = np.full(n_frames, index.get(STAND, 0), dtype=np.int64)
    vio = np.zeros(n_frames, dtype=np.float32)
    for seg in label.get("segments", []):
        s, e = max(0, int(seg["start"])), min(n_frames, int(seg["end"]))
        if e <= s:
            continue
        name = seg["action"]
        if name in index:
            act[s:e] = index[name]
        if seg.get("violent", name in violent_actions):
            vio[s:e] = 1.0
    return act, vio


def load_split(root: Path, split: str, limit: int | None = None):
    """(ids, joints list, label list) of a split of a labelled corpus."""
    from hmu_demo.data.humanml3d import DatasetError, MotionDataset

    ds = MotionDataset(root)
    labels = ds.labels()
    if labels is None:
        raise DatasetError(f"{root} has no labels.jsonl: the judge needs a labelled (SynthMotion) corpus")
    ids = ds.split_ids(split)
    if limit:
        ids = ids[:limit]
    joints = [ds.joints(i) for i in ids]
    missing = [i for i in ids if i not in labels]
    if missing:
        raise DatasetError(f"{root}/labels.jsonl has no entry for {len(missing)} ids of split {split} "
                           f"(first: {missing[0]})")
    return ids, joints, [labels[i] for i in ids]


def evaluate(judge: Judge, joints: list[np.ndarray], labels: list[dict]) -> dict:
    """Clip violent/safe accuracy, segment/clip/frame action accuracy, per-class weak spots."""
    results = judge.score(joints)
    truth_v = np.array([bool(l["violent"]) for l in labels])
    pred_v = np.array([r.violent for r in results])
    scores = np.array([r.violence for r in results])
    seg_total: dict[str, int] = {}
    seg_right: dict[str, int] = {}
    frame_right = frame_total = clip_hit = 0
    aidx = {a: i for i, a in enumerate(judge.actions)}
    for r, l, j in zip(results, labels, joints):
        n = j.shape[0]
        frames = np.array([aidx[a] for a in r.frame_actions])
        act, _ = frame_labels(l, n, judge.actions, judge.violent_actions)
        frame_right += int((frames == act).sum())
        frame_total += n
        names = {s["action"] for s in l["segments"] if s["action"] != STAND}
        clip_hit += int(r.action in names)
        for seg in l["segments"]:
            if seg["action"] == STAND or seg["end"] <= seg["start"]:
                continue
            s, e = int(seg["start"]), min(n, int(seg["end"]))
            votes = np.bincount(frames[s:e], minlength=len(judge.actions)).astype(float)
            if STAND in aidx:
                votes[aidx[STAND]] = -1.0
            pred = judge.actions[int(votes.argmax())]
            seg_total[seg["action"]] = seg_total.get(seg["action"], 0) + 1
            seg_right[seg["action"]] = seg_right.get(seg["action"], 0) + int(pred == seg["action"])
    n_seg = sum(seg_total.values())
    per_class = {a: round(seg_right[a] / seg_total[a], 4) for a in sorted(seg_total)}
    weak = sorted(per_class.items(), key=lambda kv: kv[1])[:6]
    tp = int((pred_v & truth_v).sum())
    out = {
        "violent_accuracy": float((pred_v == truth_v).mean()) if len(labels) else float("nan"),
        "action_top1": sum(seg_right.values()) / n_seg if n_seg else float("nan"),
        "action_top1_definition": "per labelled segment ('stand' padding excluded): majority of per-frame argmax",
        "clip_action_hit": clip_hit / len(labels) if labels else float("nan"),
        "frame_action_accuracy": frame_right / frame_total if frame_total else float("nan"),
        "violent_recall": tp / max(1, int(truth_v.sum())),
        "violent_precision": tp / max(1, int(pred_v.sum())),
        "clips": len(labels),
        "violent_clips": int(truth_v.sum()),
        "safe_clips": int((~truth_v).sum()),
        "segments": n_seg,
        "threshold": judge.threshold,
        "weakest_actions": dict(weak),
        "per_action_top1": per_class,
    }
    out["_scores"] = scores
    return out


def best_threshold(scores: np.ndarray, truth: np.ndarray) -> float:
    """Threshold maximising accuracy: the middle of the widest interval of best thresholds.

    Returns 0.5 when there is nothing to fit (one class only).
    """
    scores = np.asarray(scores, dtype=np.float64)
    truth = np.asarray(truth, dtype=bool)
    if len(scores) == 0 or truth.all() or (~truth).all():
        return 0.5
    cands = np.unique(np.concatenate([scores, [0.0, 1.0]]))
    mids = (cands[:-1] + cands[1:]) / 2
    acc = np.array([((scores >= t) == truth).mean() for t in mids])
    best = acc == acc.max()
    span, pick, k = -1.0, 0.5, 0
    while k < len(mids):                       # runs of consecutive best intervals
        if not best[k]:
            k += 1
            continue
        e = k
        while e + 1 < len(mids) and best[e + 1]:
            e += 1
        lo, hi = cands[k], cands[e + 1]
        if hi - lo > span:
            span, pick = hi - lo, (lo + hi) / 2
        k = e + 1
    return float(pick)


# -- CLI -----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hmu_demo.eval.judge",
                                     description="Evaluate the judge (violent/safe accuracy, action top-1) "
                                                 "on a split of a labelled SynthMotion corpus.")
    parser.add_argument("--data", type=Path, default=None,
                        help=f"corpus folder (default: build or reuse {DEFAULT_DATA})")
    parser.add_argument("--checkpoint", type=Path, default=DEFAULT_CHECKPOINT)
    parser.add_argument("--split", default="test")
    parser.add_argument("--limit", type=int, default=None, help="only the first N clips of the split")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    torch.set_num_threads(max(1, min(2, torch.get_num_threads())))
    if args.data is None:
        from hmu_demo.data.synth.corpus import ensure_corpus

        args.data = ensure_corpus(DEFAULT_DATA, progress=not args.json)
    try:
        judge = Judge.load(args.checkpoint)
        ids, joints, labels = load_split(args.data, args.split, args.limit)
    except (FileNotFoundError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    report = evaluate(judge, joints, labels)
    elapsed = time.perf_counter() - t0
    report.pop("_scores")
    report.update({"split": args.split, "data": str(args.data), "checkpoint": str(Path(args.checkpoint).resolve()),
                   "clips_per_second": round(len(ids) / max(elapsed, 1e-9), 1)})
    if args.json:
        print(json.dumps(report))
    else:
        print(f"judge {report['checkpoint']} on {args.data} [{args.split}], {report['clips']} clips "
              f"({report['violent_clips']} violent)")
        print(f"  violent/safe accuracy {report['violent_accuracy']:.4f} "
              f"(recall {report['violent_recall']:.3f}, precision {report['violent_precision']:.3f}, "
              f"threshold {report['threshold']:.3f})")
        print(f"  action top-1 (per segment) {report['action_top1']:.4f}; frame {report['frame_action_accuracy']:.4f}; "
              f"clip action among labelled {report['clip_action_hit']:.4f}")
        print("  weakest actions: " + ", ".join(f"{a} {v:.2f}" for a, v in report["weakest_actions"].items()))
        print(f"  {report['clips_per_second']} clips/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
