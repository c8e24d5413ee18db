"""The judge's network: a residual dilated temporal conv net with per-frame action and violence heads.

Padded frames are masked after every layer, so a clip gets the same outputs alone or in any batch.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from hmu_demo.models.judge.features import FEATURE_DIM

__all__ = ["JudgeNet", "build_net", "smooth_masked"]


class _Block(nn.Module):
    """Dilated conv -> GELU -> 1x1 conv -> dropout, added to the input; padded frames zeroed."""

    def __init__(self, channels: int, kernel: int, dilation: int, dropout: float) -> None:
        super().__init__()
        self.conv = nn.Conv1d(channels, channels, kernel, padding=dilation * (kernel - 1) // 2, dilation=dilation)
        self.mix = nn.Conv1d(channels, channels, 1)
        self.norm = nn.GroupNorm(1, channels)  # not applied; its parameters are in the shipped checkpoint
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


def build_net(config: dict) -> JudgeNet:
    """The network a checkpoint config describes, dropout off (for loading trained weights)."""
    arch = config["architecture"]
    return JudgeNet(in_dim=arch["in_dim"], hidden=arch["hidden"], kernel=arch["kernel"],
                    dilations=tuple(arch["dilations"]), n_actions=len(config["actions"]), dropout=0.0)
