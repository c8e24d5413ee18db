"""Residual VQ-VAE of MoMask (shared by MoMask and BAMM).

The module tree mirrors the official ``models/vq`` classes index for index, so the official
checkpoint (``ckpt['vq_model']``) loads with ``load_state_dict(strict=True)`` and our own
checkpoints keep the same key names (reference/momask_bamm.md §2). The code is our own.

Shapes: motion ``(B, T, dim_pose)`` (normalised features) <-> tokens ``(B, T / 4, Q)``.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields
from typing import Any, Mapping, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from hmu_demo.models.official import coerce_opt

__all__ = [
    "VQConfig",
    "ResConv1DBlock",
    "Resnet1D",
    "Encoder",
    "Decoder",
    "QuantizeEMAReset",
    "ResidualVQ",
    "RVQVAE",
    "vq_training_loss",
]


# --------------------------------------------------------------------------- config


@dataclass
class VQConfig:
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
        for name in ("nb_code", "code_dim", "width", "depth", "num_quantizers", "dim_pose", "stride_t"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"VQConfig.{name} must be >= 1, got {getattr(self, name)!r}")
        if self.down_t < 0:
            raise ValueError(f"VQConfig.down_t must be >= 0, got {self.down_t!r}")
        if not 0.0 <= self.quantize_dropout_prob <= 1.0:
            raise ValueError(f"quantize_dropout_prob must be in [0, 1], got {self.quantize_dropout_prob}")
        if not 0.0 <= self.mu < 1.0:
            raise ValueError(f"mu must be in [0, 1), got {self.mu}")
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

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> "VQConfig":
        """Inverse of :meth:`to_dict` (our JSON configs); unknown keys are an error."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown VQConfig keys: {sorted(unknown)}")
        return cls(**dict(data))


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


# --------------------------------------------------------------------------- quantizer


class QuantizeEMAReset(nn.Module):
    """One codebook layer: nearest-code assignment, EMA update and reset of dead codes.

    Only ``codebook`` is state (a buffer, so optimisers never touch it); the EMA sums/counts are
    plain attributes, as in the official code, so they never enter the state dict. In training
    mode the first batch initialises the codebook, every batch updates it by EMA, and codes whose
    EMA count falls below 1 are replaced by random encoder outputs of the batch.
    """

    def __init__(self, nb_code: int, code_dim: int, mu: float = 0.99) -> None:
        super().__init__()
        self.nb_code = nb_code
        self.code_dim = code_dim
        self.mu = mu
        self.register_buffer("codebook", torch.zeros(nb_code, code_dim))
        self.initted = False
        self.code_sum: Optional[Tensor] = None
        self.code_count: Optional[Tensor] = None

    # A loaded codebook is a trained one: keep it instead of re-initialising on the next batch.
    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # type: ignore[override]
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
        key = prefix + "codebook"
        if key in state_dict:
            self.initted = bool(torch.any(self.codebook != 0))
            self.code_sum = None
            self.code_count = None

    def _random_rows(self, x: Tensor) -> Tensor:
        """nb_code rows drawn from the batch; tiled with small noise when the batch is smaller."""
        n = x.shape[0]
        if n < self.nb_code:
            reps = math.ceil(self.nb_code / n)
            out = x.repeat(reps, 1)
            out = out + torch.randn_like(out) * (0.01 / math.sqrt(self.code_dim))
            return out[: self.nb_code]
        return x[torch.randperm(n, device=x.device)[: self.nb_code]]

    @torch.no_grad()
    def _init_from(self, x: Tensor) -> None:
        self.codebook.copy_(self._random_rows(x))
        self.code_sum = self.codebook.clone()
        self.code_count = torch.ones(self.nb_code, device=x.device, dtype=x.dtype)
        self.initted = True

    @torch.no_grad()
    def assign(self, x: Tensor, temperature: float = 0.0) -> Tensor:
        """Index of the nearest code for each row of x (N, D); Gumbel-max when temperature > 0."""
        cb = self.codebook.to(x.dtype)
        dist = (x * x).sum(-1, keepdim=True) - 2.0 * x @ cb.t() + (cb * cb).sum(-1)[None]
        logits = -dist
        if temperature > 0:
            u = torch.rand_like(logits).clamp_(1e-20, 1.0)
            logits = logits / temperature - torch.log((-torch.log(u)).clamp_min(1e-20))
        return logits.argmax(-1)

    @staticmethod
    def _perplexity(counts: Tensor) -> Tensor:
        prob = counts / counts.sum().clamp_min(1e-12)
        return torch.exp(-(prob * torch.log(prob + 1e-7)).sum())

    @torch.no_grad()
    def _ema_update(self, x: Tensor, idx: Tensor) -> Tensor:
        onehot = F.one_hot(idx, self.nb_code).to(x.dtype)  # (N, K)
        batch_sum = onehot.t() @ x  # (K, D)
        batch_count = onehot.sum(0)  # (K,)
        if self.code_sum is None or self.code_count is None:  # e.g. after load_state_dict
            self.code_sum = self.codebook.to(x.dtype).clone()
            self.code_count = torch.ones(self.nb_code, device=x.device, dtype=x.dtype)
        # Plain attributes do not follow module.to(device): move them here.
        self.code_sum = self.code_sum.to(x.device, x.dtype)
        self.code_count = self.code_count.to(x.device, x.dtype)
        self.code_sum.mul_(self.mu).add_(batch_sum, alpha=1.0 - self.mu)
        self.code_count.mul_(self.mu).add_(batch_count, alpha=1.0 - self.mu)
        alive = (self.code_count >= 1.0).unsqueeze(1)
        updated = self.code_sum / self.code_count.clamp_min(1e-12).unsqueeze(1)
        self.codebook.copy_(torch.where(alive, updated, self._random_rows(x)))
        return self._perplexity(batch_count)

    def dequantize(self, idx: Tensor) -> Tensor:
        return F.embedding(idx, self.codebook)

    def forward(self, x: Tensor, temperature: float = 0.0) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x (B, D, N) -> (quantised (B, D, N) straight-through, idx (B, N), commit, perplexity)."""
        b, d, n = x.shape
        flat = x.permute(0, 2, 1).reshape(-1, d)
        if self.training and not self.initted:
            self._init_from(flat.detach())
        idx = self.assign(flat.detach(), temperature if self.training else 0.0)
        code = self.dequantize(idx).to(flat.dtype)
        if self.training:
            perplexity = self._ema_update(flat.detach(), idx)
        else:
            perplexity = self._perplexity(torch.bincount(idx, minlength=self.nb_code).to(flat.dtype))
        commit = F.mse_loss(flat, code.detach())
        code = flat + (code - flat).detach()  # straight-through: gradients flow to the encoder
        return code.reshape(b, n, d).permute(0, 2, 1).contiguous(), idx.reshape(b, n), commit, perplexity


class ResidualVQ(nn.Module):
    """Stack of quantisers, each coding the residual the previous ones left (layer 0 = base)."""

    def __init__(self, cfg: VQConfig) -> None:
        super().__init__()
        self.num_quantizers = cfg.num_quantizers
        self.quantize_dropout_prob = cfg.quantize_dropout_prob
        if cfg.shared_codebook:
            shared = QuantizeEMAReset(cfg.nb_code, cfg.code_dim, cfg.mu)
            self.layers = nn.ModuleList([shared] * cfg.num_quantizers)
        else:
            self.layers = nn.ModuleList(
                [QuantizeEMAReset(cfg.nb_code, cfg.code_dim, cfg.mu) for _ in range(cfg.num_quantizers)]
            )

    @property
    def codebooks(self) -> Tensor:
        """(Q, nb_code, code_dim), a stacked copy."""
        return torch.stack([layer.codebook for layer in self.layers], 0)

    def get_codes_from_indices(self, ids: Tensor) -> Tensor:
        """ids (B, N, Q') with Q' <= Q -> per-layer code vectors (Q, B, N, D); -1 gives zeros.

        Missing trailing layers are padded with -1, so base-only or partial stacks decode.
        """
        if ids.dim() != 3:
            raise ValueError(f"token ids must have shape (B, N, Q), got {tuple(ids.shape)}")
        q = ids.shape[-1]
        if q > self.num_quantizers:
            raise ValueError(f"got {q} token layers but the RVQ has {self.num_quantizers}")
        ids = ids.long()
        if q < self.num_quantizers:
            ids = F.pad(ids, (0, self.num_quantizers - q), value=-1)
        nb_code = self.layers[0].nb_code
        if bool(((ids < -1) | (ids >= nb_code)).any()):
            raise ValueError(f"token ids must be in -1..{nb_code - 1}")
        out = []
        for layer_idx, layer in enumerate(self.layers):
            lid = ids[..., layer_idx]
            mask = (lid == -1).unsqueeze(-1)
            codes = F.embedding(lid.clamp_min(0), layer.codebook)
            out.append(codes.masked_fill(mask, 0.0))
        return torch.stack(out, 0)

    def forward(self, x: Tensor, temperature: float = 0.0
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """x (B, D, N) -> (sum of quantised (B, D, N), ids (B, N, Q), commit, perplexity).

        Training applies quantize dropout: with probability p a cut s ~ U{0..Q-1} is drawn and
        layers > s are skipped (their ids are -1), so coarse prefixes decode on their own.
        Commit loss and perplexity are averaged over the active layers.
        """
        b, _, n = x.shape
        last = self.num_quantizers - 1
        if self.training and self.quantize_dropout_prob > 0:
            if float(torch.rand(())) < self.quantize_dropout_prob:
                last = int(torch.randint(0, self.num_quantizers, ()))
        residual = x
        quantised_sum = torch.zeros_like(x)
        ids, commits, perps = [], [], []
        for q, layer in enumerate(self.layers):
            if q > last:
                ids.append(torch.full((b, n), -1, dtype=torch.long, device=x.device))
                continue
            quantised, idx, commit, perp = layer(residual, temperature)
            residual = residual - quantised.detach()
            quantised_sum = quantised_sum + quantised
            ids.append(idx)
            commits.append(commit)
            perps.append(perp)
        return (quantised_sum, torch.stack(ids, -1),
                torch.stack(commits).mean(), torch.stack(perps).mean())

    @torch.no_grad()
    def quantize(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Deterministic nearest-code coding of x (B, D, N) with no codebook update.

        Returns ids (B, N, Q) and per-layer quantised vectors (Q, B, D, N).
        """
        residual = x
        ids, codes = [], []
        b, d, n = x.shape
        for layer in self.layers:
            flat = residual.permute(0, 2, 1).reshape(-1, d)
            idx = layer.assign(flat, 0.0)
            code = layer.dequantize(idx).to(x.dtype).reshape(b, n, d).permute(0, 2, 1)
            residual = residual - code
            ids.append(idx.reshape(b, n))
            codes.append(code)
        return torch.stack(ids, -1), torch.stack(codes, 0)


# --------------------------------------------------------------------------- model


class RVQVAE(nn.Module):
    """Motion tokeniser: 1D conv encoder, residual VQ, 1D conv decoder (official key layout)."""

    def __init__(self, cfg: Optional[VQConfig] = None) -> None:
        super().__init__()
        self.cfg = cfg if cfg is not None else VQConfig.official()
        self.encoder = Encoder(self.cfg)
        self.decoder = Decoder(self.cfg)
        self.quantizer = ResidualVQ(self.cfg)

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
    """Official RVQ-VAE objective (§13): SmoothL1 on all dims + loss_vel * SmoothL1 on the RIC
    joint positions (dims 4:67 for 22 joints) + commit_weight * commitment loss."""
    loss = F.smooth_l1_loss(recon, target)
    loss = loss + loss_vel * F.smooth_l1_loss(recon[..., ric_slice], target[..., ric_slice])
    return loss + commit_weight * commit
