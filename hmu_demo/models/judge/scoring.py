"""A loaded judge checkpoint and its verdicts on clips of joints.

Clip level: ``violence`` is the maximum over time of the per-frame violence probability smoothed
by a short moving average (a single punch inside a long walk is caught), ``violent`` compares it
with the threshold chosen on the validation split; ``action`` is the class with the most
probability mass over the clip ("stand" excluded), restricted to violent actions when the clip is
judged violent. Clips are batched by length, padded and masked, so a clip gets the same scores
alone or in any batch.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file

from hmu_demo.config import CHECKPOINTS_DIR
from hmu_demo.data.labelled import STAND
from hmu_demo.models.judge.features import body_features, check_joints, pad_batch
from hmu_demo.models.judge.net import JudgeNet, build_net, smooth_masked

__all__ = ["CONFIG_FILE", "DEFAULT_CHECKPOINT", "WEIGHTS_FILE", "Judge", "JudgeResult"]

DEFAULT_CHECKPOINT = CHECKPOINTS_DIR / "judge"
WEIGHTS_FILE = "judge.safetensors"
CONFIG_FILE = "judge.json"


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
