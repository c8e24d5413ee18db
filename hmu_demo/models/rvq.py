"""Residual VQ-VAE of MoMask (shared by MoMask and BAMM): conv encoder, residual quantiser, conv decoder.

The module tree mirrors the official ``models/vq`` classes index for index (``encoder.model.*``,
``decoder.model.*``, ``quantizer.layers.{q}.codebook``), so the official checkpoint
(``ckpt['vq_model']``) loads with ``load_state_dict(strict=True)`` and our own checkpoints keep the
same key names. The code is our own.

Shapes: motion ``(B, T, dim_pose)`` (normalised features) <-> tokens ``(B, T / 4, Q)``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any, Mapping, Optional

import torch.nn.functional as F
from torch import Tensor, nn

from hmu_demo.config import ConfigBase, check_fractions, check_ints
from hmu_demo.models.official import (
    VQ_KEYS,
    VQ_WEIGHTS,
    CheckpointError,
    coerce_opt,
    load_state_dict_checked,
    official_files,
    parse_opt,
    read_checkpoint,
)
from hmu_demo.models.quantizer import ResidualVQ

__all__ = ["VQConfig", "ResConv1DBlock", "Resnet1D", "Encoder", "Decoder", "RVQVAE", "vq_training_loss"]


# --------------------------------------------------------------------------- config


@dataclass
class VQConfig(ConfigBase):
    """Hyper-parameters of the RVQ-VAE; field names follow the official ``opt.txt``.

    The defaults are the official HumanML3D model (``rvq_nq6_dc512_nc512_noshare_qdp0.2``).
    ``activation``/``norm`` are ``vq_act``/``vq_norm``; ``sample_temperature`` is the Gumbel
    temperature of code assignment during training (the official forward hard-codes 0.5).
    """

    nb_code: int = 512
    code_dim: int = 512
    output_emb_width: int = 512
    down_t: int = 2
    stride_t: int = 2
    width: int = 512
    depth: int = 3
    dilation_growth_rate: int = 3
    num_quantizers: int = 6
    shared_codebook: bool = False
    quantize_dropout_prob: float = 0.2
    mu: float = 0.99
    dim_pose: int = 263
    activation: str = "relu"
    norm: Optional[str] = None
    sample_temperature: float = 0.5

    def __post_init__(self) -> None:
        if self.output_emb_width != self.code_dim:
            raise ValueError(
                f"output_emb_width ({self.output_emb_width}) must equal code_dim ({self.code_dim}):"
                " the encoder output is quantised directly"
            )
        check_ints(self, ("nb_code", "code_dim", "width", "depth", "num_quantizers", "dim_pose", "stride_t"))
        check_ints(self, ("down_t",), minimum=0)
        check_fractions(self, ("quantize_dropout_prob",), one=True)
        check_fractions(self, ("mu",))
        if self.activation not in ("relu", "silu", "gelu"):
            raise ValueError(f"activation must be relu, silu or gelu, got {self.activation!r}")
        self.norm = coerce_opt("norm", self.norm, "str | None")
        if self.norm not in (None, "LN", "GN", "BN"):
            raise ValueError(f"norm must be None, 'LN', 'GN' or 'BN', got {self.norm!r}")

    @property
    def downsample(self) -> int:
        """Frames per token (4 for the official model)."""
        return self.stride_t ** self.down_t

    @classmethod
    def official(cls) -> "VQConfig":
        """The official HumanML3D RVQ-VAE (``rvq_nq6_dc512_nc512_noshare_qdp0.2``)."""
        return cls(
            nb_code=512, code_dim=512, output_emb_width=512, down_t=2, stride_t=2, width=512,
            depth=3, dilation_growth_rate=3, num_quantizers=6, shared_codebook=False,
            quantize_dropout_prob=0.2, mu=0.99, dim_pose=263, activation="relu", norm=None,
        )

    @classmethod
    def from_opt(cls, opt: Mapping[str, Any]) -> "VQConfig":
        """Build from parsed ``opt.txt`` values (ints/floats/bools or strings such as "None").

        Missing keys fall back to the official defaults; ``vq_act``/``vq_norm`` map to
        ``activation``/``norm``; ``dim_pose`` is injected by the dataset (263 for t2m, 251 for kit).
        """
        base = cls()
        renamed = {"activation": "vq_act", "norm": "vq_norm"}

        def get(field: str, kind: str) -> Any:
            key = renamed.get(field, field)
            default = getattr(base, field)
            value = opt.get(key, default)
            if default is not None and coerce_opt(key, value, "str | None") is None:
                value = default  # "None" in opt.txt for a field the official model always sets
            return coerce_opt(key, value, kind)

        try:
            return cls(**{f.name: get(f.name, str(f.type)) for f in fields(cls) if f.name != "sample_temperature"})
        except (TypeError, ValueError) as exc:
            raise ValueError(f"cannot build a VQConfig from these opt.txt values: {exc}") from exc


# --------------------------------------------------------------------------- conv blocks


def _activation(name: str) -> nn.Module:
    if name == "relu":
        return nn.ReLU()
    if name == "silu":
        return nn.SiLU()
    return nn.GELU()


class ResConv1DBlock(nn.Module):
    """Pre-activation residual block: x + Dropout(conv2(act(conv1(act(x))))).

    Dilated k3 conv keeps the length (padding = dilation); norms are Identity for the official
    model (``vq_norm`` None), which keeps the state dict to ``conv1``/``conv2`` only.
    """

    def __init__(self, width: int, dilation: int, activation: str = "relu",
                 norm: Optional[str] = None, dropout: float = 0.2) -> None:
        super().__init__()
        self.norm = norm
        if norm == "LN":
            self.norm1, self.norm2 = nn.LayerNorm(width), nn.LayerNorm(width)
        elif norm == "GN":
            self.norm1 = nn.GroupNorm(32, width, eps=1e-6)
            self.norm2 = nn.GroupNorm(32, width, eps=1e-6)
        elif norm == "BN":
            self.norm1 = nn.BatchNorm1d(width, eps=1e-6)
            self.norm2 = nn.BatchNorm1d(width, eps=1e-6)
        else:
            self.norm1, self.norm2 = nn.Identity(), nn.Identity()
        self.activation1 = _activation(activation)
        self.activation2 = _activation(activation)
        self.conv1 = nn.Conv1d(width, width, 3, 1, padding=dilation, dilation=dilation)
        self.conv2 = nn.Conv1d(width, width, 1, 1, 0)
        self.dropout = nn.Dropout(dropout)

    def _normed(self, norm: nn.Module, x: Tensor) -> Tensor:
        if self.norm == "LN":  # LayerNorm acts on channels, which sit on dim 1 here
            return norm(x.transpose(1, 2)).transpose(1, 2)
        return norm(x)

    def forward(self, x: Tensor) -> Tensor:
        h = self.conv1(self.activation1(self._normed(self.norm1, x)))
        h = self.conv2(self.activation2(self._normed(self.norm2, h)))
        return x + self.dropout(h)


class Resnet1D(nn.Module):
    """``depth`` residual blocks with dilations growth**k in decreasing order (9, 3, 1)."""

    def __init__(self, width: int, depth: int, dilation_growth_rate: int,
                 activation: str = "relu", norm: Optional[str] = None) -> None:
        super().__init__()
        dilations = [dilation_growth_rate ** k for k in range(depth)][::-1]
        self.model = nn.Sequential(
            *[ResConv1DBlock(width, d, activation=activation, norm=norm) for d in dilations]
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class Encoder(nn.Module):
    """(B, dim_pose, T) -> (B, code_dim, T / stride**down_t); indices as the official encoder."""

    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        k, pad = cfg.stride_t * 2, cfg.stride_t // 2
        blocks: list[nn.Module] = [nn.Conv1d(cfg.dim_pose, cfg.width, 3, 1, 1), nn.ReLU()]
        for _ in range(cfg.down_t):
            blocks.append(nn.Sequential(
                nn.Conv1d(cfg.width, cfg.width, k, cfg.stride_t, pad),
                Resnet1D(cfg.width, cfg.depth, cfg.dilation_growth_rate, cfg.activation, cfg.norm),
            ))
        blocks.append(nn.Conv1d(cfg.width, cfg.output_emb_width, 3, 1, 1))
        self.model = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x)


class Decoder(nn.Module):
    """(B, code_dim, N) -> (B, N * stride**down_t, dim_pose); indices as the official decoder."""

    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        blocks: list[nn.Module] = [nn.Conv1d(cfg.output_emb_width, cfg.width, 3, 1, 1), nn.ReLU()]
        for _ in range(cfg.down_t):
            blocks.append(nn.Sequential(
                Resnet1D(cfg.width, cfg.depth, cfg.dilation_growth_rate, cfg.activation, cfg.norm),
                nn.Upsample(scale_factor=cfg.stride_t, mode="nearest"),
                nn.Conv1d(cfg.width, cfg.width, 3, 1, 1),
            ))
        blocks += [nn.Conv1d(cfg.width, cfg.width, 3, 1, 1), nn.ReLU(),
                   nn.Conv1d(cfg.width, cfg.dim_pose, 3, 1, 1)]
        self.model = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x).permute(0, 2, 1)


# --------------------------------------------------------------------------- model


class RVQVAE(nn.Module):
    """Motion tokeniser: 1D conv encoder, residual VQ, 1D conv decoder (official key layout)."""

    def __init__(self, cfg: Optional[VQConfig] = None) -> None:
        super().__init__()
        self.cfg = cfg if cfg is not None else VQConfig.official()
        self.encoder = Encoder(self.cfg)
        self.decoder = Decoder(self.cfg)
        cfg = self.cfg
        self.quantizer = ResidualVQ(cfg.num_quantizers, cfg.nb_code, cfg.code_dim, cfg.mu, cfg.shared_codebook,
                                    cfg.quantize_dropout_prob)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "RVQVAE":
        """The official RVQ-VAE from its run folder (``opt.txt``, ``model/net_best_fid.tar``) or that ``.tar``.

        The weights are the checkpoint's ``vq_model`` (or ``net``) entry; every key and shape is
        checked, so a wrong file or ``opt.txt`` is named with the key that does not fit.
        """
        opt_path, weights = official_files(path, VQ_WEIGHTS)
        try:
            cfg = VQConfig.from_opt(parse_opt(opt_path))
        except ValueError as err:
            raise CheckpointError(f"{opt_path}: {err}") from err
        return load_state_dict_checked(cls(cfg), read_checkpoint(weights, VQ_KEYS), weights)

    @property
    def num_quantizers(self) -> int:
        return self.cfg.num_quantizers

    def _check_motion(self, x: Tensor) -> Tensor:
        if x.dim() != 3 or x.shape[-1] != self.cfg.dim_pose:
            raise ValueError(f"motion must have shape (B, T, {self.cfg.dim_pose}), got {tuple(x.shape)}")
        if x.shape[1] < self.cfg.downsample:
            raise ValueError(f"motion needs at least {self.cfg.downsample} frames, got {x.shape[1]}")
        return x.permute(0, 2, 1).float()

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Normalised motion (B, T, dim_pose) -> ids (B, T/4, Q) long, quantised (Q, B, D, T/4).

        Always nearest-code and never updates the codebook, whatever the module mode (the
        encoder's dropout still follows the mode: call ``eval()`` for reproducible tokens).
        """
        z = self.encoder(self._check_motion(x))
        return self.quantizer.quantize(z)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Reconstruct: (B, T, dim_pose) -> (recon (B, T, dim_pose), commit loss, perplexity).

        In training mode the codebooks are updated (EMA/reset) and Gumbel assignment is used.
        """
        z = self.encoder(self._check_motion(x))
        temp = self.cfg.sample_temperature if self.training else 0.0
        zq, _, commit, perplexity = self.quantizer(z, temp)
        return self.decoder(zq), commit, perplexity

    def get_codes_from_indices(self, ids: Tensor) -> Tensor:
        """ids (B, N, Q') -> per-layer code vectors (Q, B, N, D); index -1 is a zero vector."""
        return self.quantizer.get_codes_from_indices(ids)

    def forward_decoder(self, ids: Tensor) -> Tensor:
        """Tokens (B, N, Q') -> normalised motion (B, 4N, dim_pose), summing the layer codes."""
        latent = self.get_codes_from_indices(ids).sum(0).permute(0, 2, 1)
        return self.decoder(latent)

    def codebook(self, layer: int) -> Tensor:
        """The codebook buffer (nb_code, code_dim) of one layer (the live tensor, not a copy)."""
        if not -self.num_quantizers <= layer < self.num_quantizers:
            raise IndexError(f"layer {layer} out of range for {self.num_quantizers} quantizers")
        return self.quantizer.layers[layer].codebook


def vq_training_loss(recon: Tensor, target: Tensor, commit: Tensor, loss_vel: float = 0.5,
                     commit_weight: float = 0.02, ric_slice: slice = slice(4, 67)) -> Tensor:
    """Official RVQ-VAE objective: SmoothL1 on all dims + loss_vel * SmoothL1 on the RIC
    joint positions (dims 4:67 for 22 joints) + commit_weight * commitment loss."""
    loss = F.smooth_l1_loss(recon, target)
    loss = loss + loss_vel * F.smooth_l1_loss(recon[..., ric_slice], target[..., ric_slice])
    return loss + commit_weight * commit
