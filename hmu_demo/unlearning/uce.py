"""UCE (Unified Concept Editing) on the text-condition projections ``cond_emb``.

The UCE paper (arXiv 2308.14761), learnt from its objective (not copied from any code). For one
linear map W (d_out × d_in), erase inputs c_i with output targets v_i* and preserved inputs c_j:

    L(W) = s_e Σ_i ‖W c_i − v_i*‖² + s_p Σ_j ‖W c_j − W_old c_j‖² + λ ‖W − W_old‖_F²

whose minimiser is W_new = W_old + s_e Σ_i (v_i* − W_old c_i) c_iᵀ M⁻¹,
M = λI + s_e Σ_i c_i c_iᵀ + s_p Σ_j c_j c_jᵀ (symmetric positive definite for λ > 0).
It is computed in float64 with a linear solve (no explicit inverse).

Choices:

- **Weight-only targets**: v* = W_old c_target (``"replace"``, the UCE paper) or HMU's ``"tensor"``
  form u = W c/‖W c‖, v* = W c_t − (W c_t · u) u, always with ``F.linear(c, W)`` (no bias), so the
  bias is not counted twice. The bias is never edited.
- Every forget keyword is encoded alone; the target is the encoding of ``concept.target``
  (``""`` by default, like HMU). The preserve set is the concept's preserve words plus optional
  ``preserve_texts`` (e.g. retain captions).
- Every transformer with a ``cond_emb`` is edited: ``masked``, ``residual`` and ``bamm`` when present.
  The classifier-free-guidance null branch feeds a zero vector, so it outputs the bias and is
  unaffected by any weight edit.
- The edit names the new weights only; applied, it shares every other tensor with the original
  (memory cost = the new weights), and the original is untouched.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np
import torch
from torch import Tensor

from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.flagging import concept_split, load_index
from hmu_demo.unlearning.index_text import index_motion_text
from hmu_demo.unlearning.registry import Method, check_split, register
from hmu_demo.unlearning.report import EditReport, layer_changes

__all__ = [
    "DEFAULT_ERASE_SCALE",
    "DEFAULT_LAM",
    "DEFAULT_PRESERVE_SCALE",
    "DEFAULT_TARGET_MODE",
    "cond_layers",
    "uce_edit",
    "uce_solve",
    "uce_targets",
]

# Defaults tuned on checkpoints/embedded (MiniLM, unit-norm embeddings); see the module report.
DEFAULT_LAM = 0.1
DEFAULT_ERASE_SCALE = 1.0
DEFAULT_PRESERVE_SCALE = 0.5
DEFAULT_TARGET_MODE = "replace"
TargetMode = Literal["replace", "tensor"]
TARGET_MODES: tuple[str, ...] = ("replace", "tensor")
COND_MODELS: tuple[str, ...] = ("masked", "residual", "bamm")


# ----------------------------------------------------------------------------- closed form


def _as_rows(x: Tensor | None, d_in: int, what: str) -> Tensor:
    if x is None:
        return torch.zeros(0, d_in, dtype=torch.float64)
    x = torch.as_tensor(x).detach().to(dtype=torch.float64, device="cpu")
    if x.ndim == 1:
        x = x.unsqueeze(0)
    if x.ndim != 2 or x.shape[1] != d_in:
        raise ValueError(f"{what} must have shape (n, {d_in}), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        raise ValueError(f"{what} has non-finite entries")
    return x


def _check_scalar(value: float, what: str, positive: bool = False) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{what} must be a finite {'positive' if positive else 'non-negative'} number, got {value}")
    return value


def uce_targets(W: Tensor, C_erase: Tensor, C_target: Tensor, mode: TargetMode = DEFAULT_TARGET_MODE) -> Tensor:
    """Output targets v* (n_e, d_out) in float64, weight-only (no bias).

    ``C_target`` is one row (broadcast to every erase row) or one row per erase row.
    ``replace``: v* = W c_t. ``tensor`` (HMU): v* = W c_t minus its component along u = W c/‖W c‖.
    """
    if mode not in TARGET_MODES:
        raise ValueError(f"unknown target mode {mode!r} (expected one of {', '.join(TARGET_MODES)})")
    W = torch.as_tensor(W).detach().to(dtype=torch.float64, device="cpu")
    C_e = _as_rows(C_erase, W.shape[1], "C_erase")
    C_t = _as_rows(C_target, W.shape[1], "C_target")
    if C_t.shape[0] == 1:
        C_t = C_t.expand(C_e.shape[0], -1)
    if C_t.shape[0] != C_e.shape[0]:
        raise ValueError(f"C_target has {C_t.shape[0]} rows; expected 1 or {C_e.shape[0]} (one per erase row)")
    V = C_t @ W.T
    if mode == "tensor":
        U = C_e @ W.T
        U = U / U.norm(dim=1, keepdim=True).clamp_min(1e-12)
        V = V - (V * U).sum(dim=1, keepdim=True) * U
    return V


def uce_solve(W: Tensor, C_erase: Tensor, C_target: Tensor, C_preserve: Tensor | None = None,
              lam: float = DEFAULT_LAM, erase_scale: float = DEFAULT_ERASE_SCALE,
              preserve_scale: float = DEFAULT_PRESERVE_SCALE, mode: TargetMode = DEFAULT_TARGET_MODE,
              V_target: Tensor | None = None) -> Tensor:
    """The UCE minimiser for one weight W (d_out, d_in); returns W_new in W's dtype and device.

    ``C_erase`` (n_e, d_in) inputs to erase, ``C_target`` their target *inputs* (1 or n_e rows;
    the output targets are :func:`uce_targets` of W), ``C_preserve`` (n_p, d_in) inputs whose
    outputs stay. ``V_target`` (n_e, d_out) gives output targets directly instead.
    Computed in float64: W_new = W + s_e (V − C_e Wᵀ)ᵀ C_e M⁻¹ with M solved, never inverted.
    """
    lam = _check_scalar(lam, "lam", positive=True)
    erase_scale = _check_scalar(erase_scale, "erase_scale")
    preserve_scale = _check_scalar(preserve_scale, "preserve_scale")
    W_in = torch.as_tensor(W).detach()
    if W_in.ndim != 2:
        raise ValueError(f"W must be a matrix, got shape {tuple(W_in.shape)}")
    W64 = W_in.to(dtype=torch.float64, device="cpu")
    d_in = W64.shape[1]
    C_e = _as_rows(C_erase, d_in, "C_erase")
    C_p = _as_rows(C_preserve, d_in, "C_preserve")
    if V_target is None:
        V = uce_targets(W64, C_e, C_target, mode)
    else:
        V = torch.as_tensor(V_target).detach().to(dtype=torch.float64, device="cpu")
        if V.shape != (C_e.shape[0], W64.shape[0]):
            raise ValueError(f"V_target must have shape {(C_e.shape[0], W64.shape[0])}, got {tuple(V.shape)}")
    M = lam * torch.eye(d_in, dtype=torch.float64)
    M = M + erase_scale * (C_e.T @ C_e) + preserve_scale * (C_p.T @ C_p)
    R = (V - C_e @ W64.T).T @ C_e  # (d_out, d_in) = Σ (v* − W c) cᵀ
    # R M⁻¹ = (M⁻¹ Rᵀ)ᵀ since M is symmetric.
    W_new = W64 + erase_scale * torch.linalg.solve(M, R.T).T
    return W_new.to(dtype=W_in.dtype, device=W_in.device)


# ----------------------------------------------------------------------------- bundle


def cond_layers(bundle) -> dict[str, torch.nn.Linear]:
    """``"masked.cond_emb"`` etc. -> the Linear, for every transformer of the bundle with ``cond_emb``."""
    out: dict[str, torch.nn.Linear] = {}
    for name in COND_MODELS:
        model = getattr(bundle, name, None)
        layer = getattr(model, "cond_emb", None) if model is not None else None
        if isinstance(layer, torch.nn.Linear):
            out[f"{name}.cond_emb"] = layer
    if not out:
        raise ValueError("this bundle has no transformer with a cond_emb layer to edit")
    return out


def _encode(encoder, texts: Sequence[str]) -> Tensor:
    if not texts:
        return torch.zeros(0, 0, dtype=torch.float64)
    return encoder.encode(list(texts)).detach().to(dtype=torch.float64, device="cpu")


def encode_concept(concept: Concept, encoder, preserve_texts: Sequence[str] = (), extra_erase: Tensor | None = None,
                   extra_preserve: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """(C_erase, C_target (1 row), C_preserve) in float64 for a concept: the forget keywords plus the
    ``extra_erase`` embedding rows (e.g. forget motions' captions) are erased; the preserve words,
    ``preserve_texts`` and the ``extra_preserve`` rows are kept."""
    if not isinstance(concept, Concept):
        raise ValueError(f"concept must be a Concept, got {type(concept).__name__}")
    if isinstance(preserve_texts, str):
        raise ValueError("preserve_texts must be a list of captions, not a single string")
    preserve = list(concept.preserve) + [str(t) for t in preserve_texts]
    texts = list(concept.forget) + [concept.target] + preserve
    emb = _encode(encoder, texts)
    n_e = len(concept.forget)
    C_e, C_t, C_p = emb[:n_e], emb[n_e:n_e + 1], emb[n_e + 1:]
    if extra_erase is not None:
        C_e = torch.cat([C_e, _as_rows(extra_erase, C_e.shape[1], "extra_erase")])
    if extra_preserve is not None:
        C_p = torch.cat([C_p.reshape(-1, C_e.shape[1]), _as_rows(extra_preserve, C_e.shape[1], "extra_preserve")])
    return C_e, C_t, C_p


def prepare_edit(bundle, concept: Concept, encoder, preserve_texts: Sequence[str], mode: str,
                 extra_erase: Tensor | None = None, extra_preserve: Tensor | None = None
                 ) -> tuple[dict[str, Tensor], Tensor, Tensor, Tensor]:
    """Checks shared by UCE and RECE, then (current cond_emb weights by layer, C_erase, C_target, C_preserve)."""
    if mode not in TARGET_MODES:
        raise ValueError(f"unknown target mode {mode!r} (expected one of {', '.join(TARGET_MODES)})")
    layers = cond_layers(bundle)
    if hasattr(bundle, "check_text_encoder"):
        bundle.check_text_encoder(encoder)  # refuse an encoder the bundle was not trained with
    C_e, C_t, C_p = encode_concept(concept, encoder, preserve_texts, extra_erase, extra_preserve)
    return {name: layer.weight.detach() for name, layer in layers.items()}, C_e, C_t, C_p


@torch.no_grad()
def uce_edit(bundle, concept: Concept, encoder, *, lam: float = DEFAULT_LAM,
             erase_scale: float = DEFAULT_ERASE_SCALE, preserve_scale: float = DEFAULT_PRESERVE_SCALE,
             preserve_texts: Sequence[str] = (), mode: TargetMode = DEFAULT_TARGET_MODE,
             extra_erase: Tensor | None = None, extra_preserve: Tensor | None = None):
    """UCE on every ``cond_emb`` weight of ``bundle``: the :class:`Edit` (``bundle`` is not modified).

    ``encoder`` is the bundle's text encoder (``bundle.make_text_encoder()``); ``preserve_texts``
    (e.g. retain captions) join the concept's preserve words, each with weight ``preserve_scale``.
    """
    start = time.perf_counter()
    old, C_e, C_t, C_p = prepare_edit(bundle, concept, encoder, preserve_texts, mode, extra_erase, extra_preserve)
    new = {name: uce_solve(w, C_e, C_t, C_p, lam, erase_scale, preserve_scale, mode) for name, w in old.items()}
    report = EditReport(
        "uce", concept.name,
        {"lam": float(lam), "erase_scale": float(erase_scale), "preserve_scale": float(preserve_scale),
         "mode": mode, "n_forget": int(C_e.shape[0]), "n_preserve": int(C_p.shape[0]), "target": concept.target},
        layers=layer_changes(old, new),
        details={"lam_over_mean_sq_norm": float(lam) / max(float((C_e ** 2).sum(1).mean()), 1e-12)},
    )
    report.seconds = time.perf_counter() - start
    return Edit(report, {f"{name}.weight": w for name, w in new.items()})


# ----------------------------------------------------------------------------- the registered method

#: Code-index motions ``erase_motions`` / ``preserve_motions`` may add (at most, each).
MAX_INDEX_MOTIONS = 100_000
#: UCE/RECE defaults, from the val sweep (docs/unlearning.md): every forget motion of the index
#: (706 for violence) erased, 1024 retain motions preserved; with keywords alone and HMU's target ""
#: 74-81 % of forget generations stayed violent.
DEFAULT_ERASE_MOTIONS = 1024
DEFAULT_PRESERVE_MOTIONS = 1024


def _spread_motions(mask: np.ndarray, count: object, forget: bool, what: str) -> list[int]:
    """Indices of ``count`` forget (or retain) motions of the split, evenly spread over the index."""
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_INDEX_MOTIONS:
        raise ValueError(f"{what} must be an integer in 0..{MAX_INDEX_MOTIONS}, got {count!r}")
    rows = np.flatnonzero(mask == forget)
    if count == 0 or rows.size == 0:
        return []
    picks = np.linspace(0, rows.size - 1, num=min(count, rows.size)).round().astype(int)
    return [int(rows[i]) for i in dict.fromkeys(picks.tolist())]


def text_edit_runner(editor: Callable[..., Edit], method: str) -> Callable[..., Edit]:
    """The registry's function for a text-side edit (UCE, RECE): besides the concept's keywords it
    erases ``erase_motions`` forget motions of the code index and preserves ``preserve_motions`` retain
    ones, each by its captions' mean embedding (the index is read only when one of them is non-zero)."""

    def run(bundle, concept: Concept, *, text_encoder, index: CodeIndex | str | None = None,
            erase_motions: int = DEFAULT_ERASE_MOTIONS, preserve_motions: int = DEFAULT_PRESERVE_MOTIONS,
            **hp) -> Edit:
        extra_erase = extra_preserve = None
        erase: list[int] = []
        preserve: list[int] = []
        index_seconds = 0.0
        if erase_motions != 0 or preserve_motions != 0:  # bad values are reported by _spread_motions
            start = time.perf_counter()
            idx = load_index(index)
            mask = concept_split(idx, concept)
            check_split(mask, concept, method, needs_index=False)
            erase = _spread_motions(mask, erase_motions, True, "erase_motions")
            preserve = _spread_motions(mask, preserve_motions, False, "preserve_motions")
            motion_text = index_motion_text(idx, text_encoder)
            extra_erase, extra_preserve = motion_text[erase], motion_text[preserve]
            index_seconds = time.perf_counter() - start
        edit = editor(bundle, concept, text_encoder, extra_erase=extra_erase, extra_preserve=extra_preserve, **hp)
        edit.report.hyperparameters.update(erase_motions=len(erase), preserve_motions=len(preserve))
        if erase or preserve:
            edit.report.seconds += index_seconds
        return edit

    return run


register(Method("uce", "closed-form edit of the text-condition projections (cond_emb)", text_edit_runner(uce_edit, "uce"),
                {"lam": DEFAULT_LAM, "erase_scale": DEFAULT_ERASE_SCALE, "preserve_scale": DEFAULT_PRESERVE_SCALE,
                 "mode": DEFAULT_TARGET_MODE, "erase_motions": DEFAULT_ERASE_MOTIONS,
                 "preserve_motions": DEFAULT_PRESERVE_MOTIONS},
                needs_text_encoder=True, edits_text=True, inspector_views=("condition_shift", "timeline"), order=10))
