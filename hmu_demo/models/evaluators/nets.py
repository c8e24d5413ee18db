"""The text-motion evaluator's networks (Guo et al. 2022, "Generating Diverse and Natural 3D Human Motions
from Text"; docs/evaluation.md).

Module and parameter names follow the official checkpoint (``movement_encoder``, ``motion_encoder``,
``text_encoder`` state dicts of ``text_mot_match/model/finest.tar``), so the official weights load
with ``load_state_dict(strict=True)``; the sizes are arguments, so the embedded evaluator reuses the
same motion design at a size a CPU can train.

* :class:`MovementConvEncoder`: two stride-2 convolutions (T -> T/4) over the pose features without
  the 4 foot-contact channels, then a per-frame linear layer;
* :class:`MotionEncoderBiGRUCo`: a bidirectional GRU over those movement codes with a learned initial
  state; the two final states, concatenated, go through an MLP to the joint embedding space;
* :class:`TextEncoderBiGRUCo`: the same over GloVe word vectors plus a projected part-of-speech
  one-hot.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import pack_padded_sequence

__all__ = ["MovementConvEncoder", "MotionEncoderBiGRUCo", "TextEncoderBiGRUCo", "bigru_final_state"]


class MovementConvEncoder(nn.Module):
    """(B, T, in) features -> (B, T // 4, out) movement codes."""

    def __init__(self, input_size: int = 259, hidden_size: int = 512, output_size: int = 512,
                 dropout: float = 0.2) -> None:
        super().__init__()
        self.main = nn.Sequential(
            nn.Conv1d(input_size, hidden_size, 4, 2, 1), nn.Dropout(dropout), nn.LeakyReLU(0.2),
            nn.Conv1d(hidden_size, output_size, 4, 2, 1), nn.Dropout(dropout), nn.LeakyReLU(0.2),
        )
        self.out_net = nn.Linear(output_size, output_size)

    def forward(self, x: Tensor) -> Tensor:
        return self.out_net(self.main(x.transpose(1, 2)).transpose(1, 2))


def _embedding_head(in_size: int, hidden_size: int, output_size: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_size, hidden_size), nn.LayerNorm(hidden_size), nn.LeakyReLU(0.2),
                         nn.Linear(hidden_size, output_size))


def bigru_final_state(gru: nn.GRU, initial: Tensor, inputs: Tensor, lengths: Tensor) -> Tensor:
    """Concatenated forward/backward final states (B, 2H) of a packed BiGRU run.

    Packing with ``enforce_sorted=False`` gives each sample the state at its own last valid step,
    whatever the batch order (the official code sorts batches by length first; the result is the same).
    """
    lengths = lengths.detach().to("cpu", torch.int64).clamp(min=1)
    packed = pack_padded_sequence(inputs, lengths, batch_first=True, enforce_sorted=False)
    _, last = gru(packed, initial.expand(-1, inputs.shape[0], -1).contiguous())
    return torch.cat([last[0], last[1]], dim=-1)


class MotionEncoderBiGRUCo(nn.Module):
    """(B, T', in) movement codes + valid lengths T' -> (B, out) motion embedding."""

    def __init__(self, input_size: int = 512, hidden_size: int = 1024, output_size: int = 512) -> None:
        super().__init__()
        self.input_emb = nn.Linear(input_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = _embedding_head(hidden_size * 2, hidden_size, output_size)
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def forward(self, movements: Tensor, lengths: Tensor) -> Tensor:
        return self.output_net(bigru_final_state(self.gru, self.hidden, self.input_emb(movements), lengths))


class TextEncoderBiGRUCo(nn.Module):
    """(B, L, 300) word vectors + (B, L, 15) POS one-hots + sentence lengths -> (B, out) text embedding."""

    def __init__(self, word_size: int = 300, pos_size: int = 15, hidden_size: int = 512,
                 output_size: int = 512) -> None:
        super().__init__()
        self.pos_emb = nn.Linear(pos_size, word_size)
        self.input_emb = nn.Linear(word_size, hidden_size)
        self.gru = nn.GRU(hidden_size, hidden_size, batch_first=True, bidirectional=True)
        self.output_net = _embedding_head(hidden_size * 2, hidden_size, output_size)
        self.hidden = nn.Parameter(torch.randn(2, 1, hidden_size))

    def forward(self, word_embs: Tensor, pos_onehot: Tensor, lengths: Tensor) -> Tensor:
        inputs = self.input_emb(word_embs + self.pos_emb(pos_onehot))
        return self.output_net(bigru_final_state(self.gru, self.hidden, inputs, lengths))
