"""Length estimator of MoMask: text feature -> distribution over motion token lengths.

Same ``output.{i}`` Sequential indices as the official ``LengthEstimator(512, 50)`` so its
``length_estimator/model/finest.tar['estimator']`` loads strictly. The code is our own.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import torch
from torch import Tensor, nn

from hmu_demo.models.official import (LENGTH_KEYS, LENGTH_WEIGHTS, load_state_dict_checked, official_files,
                                      read_checkpoint)

__all__ = ["LengthEstimator", "sample_lengths"]


class LengthEstimator(nn.Module):
    """MLP over the (un-normalised) text feature giving logits over token lengths 0..output_size-1.

    Layout (indices matter for the state dict): Linear 0, LN 1, LeakyReLU 2, Dropout 3,
    Linear 4, LN 5, LeakyReLU 6, Dropout 7, Linear 8, LN 9, LeakyReLU 10, Linear 11.
    """

    def __init__(self, input_size: int = 512, output_size: int = 50, hidden: int = 512) -> None:
        super().__init__()
        if input_size < 1 or output_size < 2 or hidden < 4:
            raise ValueError(
                f"bad LengthEstimator sizes: input {input_size}, output {output_size}, hidden {hidden}"
            )
        self.input_size = input_size
        self.output_size = output_size
        self.hidden = hidden
        self.output = nn.Sequential(
            nn.Linear(input_size, hidden),
            nn.LayerNorm(hidden),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.2),
            nn.Linear(hidden, hidden // 2),
            nn.LayerNorm(hidden // 2),
            nn.LeakyReLU(0.2),
            nn.Dropout(0.2),
            nn.Linear(hidden // 2, hidden // 4),
            nn.LayerNorm(hidden // 4),
            nn.LeakyReLU(0.2),
            nn.Linear(hidden // 4, output_size),
        )
        self.reset_parameters()

    @classmethod
    def from_pretrained(cls, path: str | Path, input_size: int = 512) -> "LengthEstimator":
        """MoMask's estimator from ``length_estimator/`` (``model/finest.tar``) or that ``.tar``.

        The weights are the checkpoint's ``estimator`` entry; the hidden width and the number of
        length classes are read from them (official: 512 and 50), ``input_size`` is the text
        encoder's width (CLIP: 512). Every key and shape is checked.
        """
        weights = official_files(path, LENGTH_WEIGHTS)[1]
        state = read_checkpoint(weights, LENGTH_KEYS)
        first, last = state.get("output.0.weight"), state.get("output.11.weight")
        hidden = int(first.shape[0]) if isinstance(first, Tensor) and first.dim() == 2 else 512
        classes = int(last.shape[0]) if isinstance(last, Tensor) and last.dim() == 2 else 50
        return load_state_dict_checked(cls(input_size, classes, hidden), state, weights)

    def reset_parameters(self) -> None:
        """Small-normal Linear init (std 0.02, zero bias), unit LayerNorm: a near-uniform start."""
        for m in self.output:
            if isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.02)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.LayerNorm):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def forward(self, text_emb: Tensor) -> Tensor:
        """(B, input_size) -> logits (B, output_size)."""
        if text_emb.shape[-1] != self.input_size:
            raise ValueError(
                f"text feature must have last dim {self.input_size}, got {tuple(text_emb.shape)}"
            )
        return self.output(text_emb.float())


def sample_lengths(logits: Tensor, generator: Optional[torch.Generator] = None) -> Tensor:
    """Sample token lengths (long, shape logits.shape[:-1]) from softmax(logits), clamped to >= 1.

    Generation samples rather than taking the argmax, as the official code does. The official code
    does not guard against drawing length 0 (an empty motion); we clamp to 1 token (4 frames) so
    that downstream generation never gets an empty sequence.
    """
    probs = torch.softmax(logits.float(), dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    if generator is not None and generator.device.type != flat.device.type:
        # A CPU generator is the portable choice; sample there and move the result back.
        draws = torch.multinomial(flat.cpu(), 1, generator=generator).to(flat.device)
    else:
        draws = torch.multinomial(flat, 1, generator=generator)
    return draws.reshape(probs.shape[:-1]).clamp_min(1).long()
