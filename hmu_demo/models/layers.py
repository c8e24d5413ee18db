"""Building blocks shared by the MoMask masked/residual transformers and BAMM.

Module and parameter names follow the official momask-codes classes exactly (``input_process``,
``position_enc``, ``seqTransEncoder``, ``cond_emb``, ``output_process``, ...) so that official
checkpoints load with ``load_state_dict(strict=True)``. :class:`TokenTransformer` is what the three
share: the config, those modules and loading an official run folder.
"""

from __future__ import annotations

import contextlib
import functools
import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmu_demo.config import ConfigBase, check_fractions, check_ints
from hmu_demo.models.official import (
    CheckpointError,
    coerce_opt,
    load_state_dict_checked,
    official_files,
    parse_opt,
    read_checkpoint,
)
from hmu_demo.models.rvq import VQConfig
from hmu_demo.models.sampling import GeneratorLike, as_lengths, check_cond, check_generator, drop_cond

__all__ = ["TransformerConfig", "TokenTransformer", "PositionalEncoding", "InputProcess", "OutputProcess",
           "build_seq_trans_encoder", "eval_mode", "init_weights", "token_loss"]

T = TypeVar("T", bound="TokenTransformer")
Fn = TypeVar("Fn", bound=Callable[..., Any])


@dataclass(frozen=True)
class TransformerConfig(ConfigBase):
    """Hyper-parameters of a MoMask/BAMM token transformer (names as in the official ``opt.txt``).

    ``num_tokens``, ``code_dim`` and ``num_quantizers`` come from the RVQ-VAE; ``max_len`` is the
    length of the sinusoidal PE buffer (5000 in the official files, it is saved in the state dict);
    ``max_motion_tokens`` is BAMM's fixed autoregressive horizon (49 = 196 frames / 4).
    """

    latent_dim: int
    ff_size: int
    n_layers: int
    n_heads: int
    dropout: float
    cond_drop_prob: float
    clip_dim: int = 512
    num_tokens: int = 512
    code_dim: int = 512
    num_quantizers: int = 6
    share_weight: bool = True
    max_len: int = 5000
    max_motion_tokens: int = 49

    def __post_init__(self) -> None:
        check_ints(self, ("latent_dim", "ff_size", "n_layers", "n_heads", "clip_dim", "num_tokens", "code_dim",
                          "num_quantizers", "max_len", "max_motion_tokens"))
        if self.latent_dim % self.n_heads:
            raise ValueError(f"latent_dim {self.latent_dim} is not divisible by n_heads {self.n_heads}")
        if self.latent_dim % 2:
            raise ValueError("latent_dim must be even (sinusoidal positional encoding)")
        check_fractions(self, ("dropout", "cond_drop_prob"))
        if self.num_quantizers < 2:
            raise ValueError("num_quantizers must be >= 2 (base layer plus at least one residual layer)")

    @classmethod
    def official_masked(cls) -> "TransformerConfig":
        """``t2m_nlayer8_nhead6_ld384_ff1024_cdp0.1_rvq6ns`` (MoMask base-layer transformer)."""
        return cls(latent_dim=384, ff_size=1024, n_layers=8, n_heads=6, dropout=0.2, cond_drop_prob=0.1)

    @classmethod
    def official_residual(cls) -> "TransformerConfig":
        """``tres_nlayer8_ld384_ff1024_rvq6ns_cdp0.2_sw`` (MoMask residual transformer)."""
        return cls(latent_dim=384, ff_size=1024, n_layers=8, n_heads=6, dropout=0.2, cond_drop_prob=0.2,
                   share_weight=True)

    @classmethod
    def official_bamm(cls) -> "TransformerConfig":
        """BAMM's released base transformer (dims as MoMask; read them from its opt.txt when present)."""
        return cls(latent_dim=384, ff_size=1024, n_layers=8, n_heads=6, dropout=0.2, cond_drop_prob=0.1)

    @classmethod
    def from_opt(cls, opt: Mapping[str, Any], **overrides: Any) -> "TransformerConfig":
        """Build from a parsed ``opt.txt`` dict (get_opt rules: non-numeric values stay strings).

        Unknown keys (``vq_name``, ``milestones: "[50000]"``, ...) are ignored; ``nb_code`` is accepted
        as an alias of ``num_tokens`` (the VQ opt's name). ``overrides`` win over ``opt``.
        """
        merged: dict[str, Any] = dict(opt)
        if "num_tokens" not in merged and "nb_code" in merged:
            merged["num_tokens"] = merged["nb_code"]
        merged.update(overrides)
        kwargs: dict[str, Any] = {}
        for f in fields(cls):
            if f.name not in merged:
                continue
            kwargs[f.name] = coerce_opt(f.name, merged[f.name], str(f.type))
        missing = [n for n in ("latent_dim", "ff_size", "n_layers", "n_heads", "dropout", "cond_drop_prob")
                   if n not in kwargs]
        if missing:
            raise ValueError(f"opt is missing required transformer options: {', '.join(missing)}")
        return cls(**kwargs)

    def with_(self, **changes: Any) -> "TransformerConfig":
        """A copy with some fields changed."""
        return replace(self, **changes)


def init_weights(module: nn.Module) -> None:
    """Official init: Linear/Embedding N(0, 0.02), zero biases, LayerNorm 1/0."""
    if isinstance(module, (nn.Linear, nn.Embedding)):
        module.weight.data.normal_(mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            module.bias.data.zero_()
    elif isinstance(module, nn.LayerNorm):
        module.bias.data.zero_()
        module.weight.data.fill_(1.0)


class PositionalEncoding(nn.Module):
    """Sinusoidal PE; buffer ``pe`` (max_len, 1, D) is saved in the official state dicts."""

    def __init__(self, d_model: int, dropout: float = 0.1, max_len: int = 5000) -> None:
        super().__init__()
        self.dropout = nn.Dropout(p=dropout)
        pe = torch.zeros(max_len, d_model)
        position = torch.arange(0, max_len, dtype=torch.float).unsqueeze(1)
        div_term = torch.exp(torch.arange(0, d_model, 2).float() * (-math.log(10000.0) / d_model))
        pe[:, 0::2] = torch.sin(position * div_term)
        pe[:, 1::2] = torch.cos(position * div_term)
        self.register_buffer("pe", pe.unsqueeze(1))

    def forward(self, x: Tensor) -> Tensor:
        """x: (S, B, D) sequence-first."""
        if x.shape[0] > self.pe.shape[0]:
            raise ValueError(f"sequence of {x.shape[0]} positions exceeds the PE table ({self.pe.shape[0]})")
        return self.dropout(x + self.pe[: x.shape[0]])


class InputProcess(nn.Module):
    """(B, N, in) -> (N, B, latent) via ``poseEmbedding``."""

    def __init__(self, input_feats: int, latent_dim: int) -> None:
        super().__init__()
        self.poseEmbedding = nn.Linear(input_feats, latent_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.poseEmbedding(x.permute(1, 0, 2))


class OutputProcess(nn.Module):
    """(S, B, latent) -> (B, out, S): dense -> GELU -> LayerNorm(eps 1e-12) -> poseFinal (BERT-style head)."""

    def __init__(self, out_feats: int, latent_dim: int) -> None:
        super().__init__()
        self.dense = nn.Linear(latent_dim, latent_dim)
        self.LayerNorm = nn.LayerNorm(latent_dim, eps=1e-12)
        self.poseFinal = nn.Linear(latent_dim, out_feats)

    def forward(self, hidden: Tensor) -> Tensor:
        hidden = self.LayerNorm(F.gelu(self.dense(hidden)))
        return self.poseFinal(hidden).permute(1, 2, 0)


def build_seq_trans_encoder(cfg: TransformerConfig) -> nn.TransformerEncoder:
    """PyTorch-default post-LN encoder (GELU, sequence-first, no final norm), as the official models.

    Nested tensors are disabled so padded positions are computed like the official torch 1.x code
    (and results do not depend on the fast path's padding handling).
    """
    layer = nn.TransformerEncoderLayer(d_model=cfg.latent_dim, nhead=cfg.n_heads, dim_feedforward=cfg.ff_size,
                                       dropout=cfg.dropout, activation="gelu", batch_first=False,
                                       norm_first=False)
    return nn.TransformerEncoder(layer, num_layers=cfg.n_layers, enable_nested_tensor=False)


def token_loss(logits: Tensor, targets: Tensor, ignore_id: int) -> tuple[Tensor, Tensor]:
    """Cross-entropy of logits (B, V, N) against token ids (B, N), positions holding ``ignore_id`` left
    out, and the accuracy (no gradient) over the same positions."""
    loss = F.cross_entropy(logits, targets, ignore_index=ignore_id)
    with torch.no_grad():
        valid = targets != ignore_id
        acc = (logits.argmax(dim=1) == targets)[valid].float().sum() / valid.sum().clamp(min=1)
    return loss, acc


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode (no dropout) for the block, then back in the mode it was in."""
    was_training = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was_training)


def eval_mode(method: Fn) -> Fn:
    """Run a generation method with the module in eval mode (:func:`evaluating`)."""

    @functools.wraps(method)
    def run(self: nn.Module, *args: Any, **kwargs: Any) -> Any:
        with evaluating(self):
            return method(self, *args, **kwargs)

    return run  # type: ignore[return-value]


class TokenTransformer(nn.Module):
    """What the MoMask masked, the residual and BAMM's transformer share: the config, the token input
    projection, the sinusoidal PE and the post-LN encoder (official names, created in the official order
    so that a seed gives the same initial weights), and loading an official run folder.

    A subclass names the checkpoint entries it is stored under (:attr:`CHECKPOINT_KEYS`) and its weights
    files (:attr:`WEIGHTS_FILES`), then adds its own condition, head and token tables.
    """

    CHECKPOINT_KEYS: ClassVar[tuple[str, ...]]
    WEIGHTS_FILES: ClassVar[tuple[str, ...]]

    def __init__(self, cfg: TransformerConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.num_tokens = cfg.num_tokens
        self.cond_drop_prob = cfg.cond_drop_prob
        self.input_process = InputProcess(cfg.code_dim, cfg.latent_dim)
        self.position_enc = PositionalEncoding(cfg.latent_dim, cfg.dropout, cfg.max_len)
        self.seqTransEncoder = build_seq_trans_encoder(cfg)

    def prepare(self, cond: Tensor, lengths_tokens: Tensor | Sequence[int] | None, generator: GeneratorLike,
                batch: int | None = None) -> tuple[Tensor, Tensor | None]:
        """The text condition (B, clip_dim) on the model's device and dtype, and the (B,) token lengths
        (None for None), both checked, as are per-sample generators; B is ``batch`` (the inputs' batch
        in training) or the condition's rows. In training mode conditions are zeroed with probability
        ``cond_drop_prob`` (classifier-free guidance)."""
        weight = self.cond_emb.weight
        cond = check_cond(cond, self.cfg.clip_dim).to(device=weight.device, dtype=weight.dtype)
        batch = cond.shape[0] if batch is None else batch
        if cond.shape[0] != batch:
            raise ValueError(f"cond has {cond.shape[0]} rows for a batch of {batch}")
        check_generator(generator, batch)
        lens = None if lengths_tokens is None else as_lengths(lengths_tokens, batch, weight.device)
        return drop_cond(cond, self.cond_drop_prob, self.training, generator), lens  # type: ignore[arg-type]

    @classmethod
    def from_pretrained(cls: type[T], path: str | Path, vq: VQConfig, clip_dim: int = 512) -> T:
        """The official model from its run folder (``opt.txt``, ``model/<WEIGHTS_FILES>``) or one ``.tar``.

        Sizes come from ``opt.txt``; the vocabulary from the RVQ-VAE ``vq`` it was trained on (as the
        official loader does); the PE table length from the weights (5000 in the official files);
        ``clip_dim`` is the text encoder's width (CLIP ViT-B/32: 512). The state dict is the
        checkpoint's first :attr:`CHECKPOINT_KEYS` entry, every key and shape checked.
        """
        opt_path, weights = official_files(path, cls.WEIGHTS_FILES)
        opt = parse_opt(opt_path)
        state = read_checkpoint(weights, cls.CHECKPOINT_KEYS)
        sizes: dict[str, Any] = dict(num_tokens=vq.nb_code, code_dim=vq.code_dim, num_quantizers=vq.num_quantizers,
                                     clip_dim=clip_dim)
        pe = state.get("position_enc.pe")
        if isinstance(pe, Tensor) and pe.dim() >= 1:
            sizes["max_len"] = int(pe.shape[0])
        try:
            cfg = TransformerConfig.from_opt(opt, **sizes)
        except ValueError as err:
            raise CheckpointError(f"{opt_path}: {err}") from err
        return load_state_dict_checked(cls(cfg), state, weights)
