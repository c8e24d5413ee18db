"""Codebook inspector: the data and plotly figures that show *why* an edit changes a motion.

Researchers ask three questions: which base-layer codes LCR flagged and
what replaced them (:func:`codebook_map`), which tokens of this very motion were affected
(:func:`token_timeline`), and how far UCE/RECE moved the text condition (:func:`condition_shift`).
Selecting a code plays the motion it decodes to (:func:`code_motion_joints`).

Every figure has a ``*_data`` twin returning a plain dataclass, so tests, the API and the CLI can
check or export what a figure shows without plotly; plotly is imported only when a figure is built.
No Gradio here: the layout in :mod:`hmu_demo.ui` wires these functions to widgets.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from hmu_demo.motion.features import features_to_joints
from hmu_demo.motion.skeleton import FPS
from hmu_demo.unlearning import flagging
from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.registry import all_methods
from hmu_demo.unlearning.report import EditReport

__all__ = [
    "STATUSES",
    "CodebookMapData",
    "ConditionShiftData",
    "TimelineData",
    "code_motion_joints",
    "codebook_map",
    "codebook_map_data",
    "condition_shift",
    "condition_shift_data",
    "pca_2d",
    "token_timeline",
    "token_timeline_data",
]

#: Token statuses of the timeline, in the order they take precedence.
STATUSES: tuple[str, ...] = ("replaced", "forbidden-avoided", "flagged", "normal")
STATUS_COLOURS = {"normal": "#9aa3ad", "flagged": "#d62728", "replaced": "#ff7f0e", "forbidden-avoided": "#1f77b4"}
UNUSED_COLOUR = "#d0d0d0"
# Score colours are log10(score1) clipped to ±SCORE_DECADES: score1 of a code no retain motion uses is
# n_f·1e8, which would flatten every other colour.
SCORE_DECADES = 2.0


# ----------------------------------------------------------------------------- PCA


def pca_2d(x: np.ndarray | torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) rows -> ((N, 2) coordinates on the two leading principal axes, (2,) explained variance ratio).

    Plain SVD of the centred rows (float64). Each axis's sign is fixed so that its largest-magnitude
    loading is positive, so the map does not flip between runs or edits.
    """
    a = x.detach().cpu().double().numpy() if isinstance(x, torch.Tensor) else np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f"expected a non-empty (N, D) array, got shape {a.shape}")
    centred = a - a.mean(0)
    _, s, vt = np.linalg.svd(centred, full_matrices=False)
    k = min(2, vt.shape[0])
    axes = vt[:k]
    signs = np.sign(axes[np.arange(k), np.abs(axes).argmax(1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    coords = np.zeros((a.shape[0], 2))
    coords[:, :k] = centred @ axes.T
    var = s ** 2
    ratio = np.zeros(2)
    if var.sum() > 0:
        ratio[:k] = var[:k] / var.sum()
    return coords, ratio


# ----------------------------------------------------------------------------- codebook map


@dataclass
class CodebookMapData:
    """What the codebook map shows, per base-layer code (arrays indexed by code id).

    ``scores``: LCR score1 = n_f / (n_r + 1e-8) (flagging.code_statistics); ``counts`` (nb_code, 2): forget
    and retain motions using the code; ``flagged``: codes in selection order; ``replacements``:
    flagged code -> the code whose row replaced it (official LCR: the target, lcr-nearest: the
    nearest safe code; absent for orth and gated); ``captions``: example captions per code.
    """

    xy: np.ndarray
    scores: np.ndarray
    counts: np.ndarray
    flagged: list[int]
    replacements: dict[int, int]
    captions: list[list[str]]
    explained: np.ndarray
    method: str
    concept: str

    @property
    def used(self) -> np.ndarray:
        """(nb_code,) bool: some motion of the index uses the code."""
        return self.counts.sum(1) > 0


def _flags_codes(report: EditReport | None) -> bool:
    """Whether the report's method flags codes itself (its registry entry offers the codebook view)."""
    method = None if report is None else all_methods().get(report.method)
    return method is not None and "codebook" in method.inspector_views


def _example_captions(index: CodeIndex, forget: np.ndarray, max_captions: int) -> list[list[str]]:
    """Per code, the first caption of up to ``max_captions`` motions using it, forget motions first
    (they explain a high score)."""
    out: list[list[str]] = [[] for _ in range(index.nb_code)]
    if max_captions <= 0:
        return out
    for want_forget in (True, False):
        for motion, is_forget in zip(index.motions, forget):
            if bool(is_forget) != want_forget or not motion.captions:
                continue
            for c in motion.codes:
                if len(out[c]) < max_captions and motion.captions[0] not in out[c]:
                    out[c].append(motion.captions[0])
    return out


def codebook_map_data(bundle, index: CodeIndex | str | os.PathLike | None, report: EditReport | None = None,
                      concept="violence", max_captions: int = 3) -> CodebookMapData:
    """The codebook map's data for ``bundle``'s layer-0 codebook (pass the *original* bundle: an LCR
    edit moves the flagged rows onto their replacements).

    Scores and counts come from :func:`hmu_demo.unlearning.flagging.flag_codes` with the split settings of
    the report when it is an LCR-family one; flagged codes from that report, else LCR's selection
    at its default k.
    """
    if isinstance(max_captions, bool) or not isinstance(max_captions, int) or max_captions < 0:
        raise ValueError(f"max_captions must be an integer >= 0, got {max_captions!r}")
    hp = report.hyperparameters if _flags_codes(report) else {}
    split = {k: hp[k] for k in ("match", "min_occurrence") if k in hp}
    idx, forget, stats, default_flagged = flagging.flag_codes(bundle, concept, index=index, **split)
    if _flags_codes(report):
        flagged = report.codes
        replacements = {f.code: int(f.source) for f in report.flagged if f.source is not None}
        method = report.method
    else:
        flagged, replacements = default_flagged, {}
        method = f"lcr (k={flagging.DEFAULT_K}, not applied)" if report is None else f"{report.method} (LCR flags shown)"
    if any(not 0 <= c < idx.nb_code for c in [*flagged, *replacements.values()]):
        raise ValueError("the report names codes outside this bundle's codebook")
    xy, explained = pca_2d(bundle.vq.codebook(0))
    return CodebookMapData(
        xy=xy, scores=stats.score1.copy(), counts=np.stack([stats.n_forget, stats.n_retain], 1),
        flagged=list(flagged), replacements=replacements, captions=_example_captions(idx, forget, max_captions),
        explained=explained, method=method, concept=flagging.concept_name(concept))


def _score_text(score: float, n_retain: int) -> str:
    return f"{score:.3g}" + (" (no retain motion uses it)" if n_retain == 0 and score > 0 else "")


def _code_hover(data: CodebookMapData, code: int) -> str:
    n_f, n_r = (int(v) for v in data.counts[code])
    lines = [f"<b>code {code}</b>", f"forget motions: {n_f} · retain motions: {n_r}",
             f"score n_f/n_r: {_score_text(float(data.scores[code]), n_r)}"]
    if code in data.replacements:
        lines.append(f"flagged → replaced by code {data.replacements[code]}")
    elif code in set(data.flagged):
        lines.append("flagged")
    lines += [f"“{c}”" for c in data.captions[code]]
    return "<br>".join(lines)


def score_colour(scores: np.ndarray) -> np.ndarray:
    """log10 of the scores, clipped to ±SCORE_DECADES (0 = used equally often by both sides)."""
    floor = 10.0 ** -SCORE_DECADES
    return np.log10(np.clip(np.asarray(scores, dtype=np.float64), floor, 1.0 / floor))


def codebook_map(bundle, index: CodeIndex | str | os.PathLike | None, report: EditReport | None = None,
                 concept="violence", max_captions: int = 3):
    """Plotly Figure: the base codebook in 2-D PCA, coloured by LCR score, flagged codes outlined,
    arrows from each flagged code to its replacement. Each point's ``customdata`` is its code id."""
    import plotly.graph_objects as go

    data = codebook_map_data(bundle, index, report, concept, max_captions)
    used = data.used
    codes = np.arange(data.xy.shape[0])
    hover = [_code_hover(data, int(c)) for c in codes]
    fig = go.Figure()
    fig.add_trace(go.Scattergl(
        x=data.xy[~used, 0], y=data.xy[~used, 1], mode="markers", name="unused by any motion",
        customdata=codes[~used], hovertext=[hover[c] for c in codes[~used]], hoverinfo="text",
        marker=dict(size=6, color=UNUSED_COLOUR)))
    tick = np.arange(-SCORE_DECADES, SCORE_DECADES + 1)
    fig.add_trace(go.Scattergl(
        x=data.xy[used, 0], y=data.xy[used, 1], mode="markers", name="used (colour: LCR score)",
        customdata=codes[used], hovertext=[hover[c] for c in codes[used]], hoverinfo="text",
        marker=dict(size=8, color=score_colour(data.scores[used]), colorscale="RdBu_r", cmid=0.0,
                    cmin=-SCORE_DECADES, cmax=SCORE_DECADES,
                    colorbar=dict(title="n_f / n_r", tickvals=tick,
                                  ticktext=[f"{10 ** t:g}" for t in tick[:-1]] + [f"≥{10 ** tick[-1]:g}"]))))
    flagged = np.array(data.flagged, dtype=np.int64)
    fig.add_trace(go.Scatter(
        x=data.xy[flagged, 0], y=data.xy[flagged, 1], mode="markers", name=f"flagged ({len(flagged)})",
        customdata=flagged, hovertext=[hover[c] for c in flagged], hoverinfo="text",
        marker=dict(size=14, symbol="circle-open", color="black", line=dict(width=2))))
    for src, dst in data.replacements.items():
        fig.add_annotation(x=data.xy[dst, 0], y=data.xy[dst, 1], ax=data.xy[src, 0], ay=data.xy[src, 1],
                           xref="x", yref="y", axref="x", ayref="y", text="", showarrow=True, arrowhead=2,
                           arrowsize=1, arrowwidth=1, arrowcolor="rgba(60,60,60,0.6)")
    ex = data.explained * 100
    fig.update_layout(
        title=f"Base codebook ({data.method}, concept: {data.concept})", template="plotly_white",
        xaxis_title=f"PC 1 ({ex[0]:.0f} % of variance)", yaxis_title=f"PC 2 ({ex[1]:.0f} % of variance)",
        legend=dict(orientation="h", y=-0.15), hoverlabel=dict(align="left"))
    return fig


# ----------------------------------------------------------------------------- token timeline


@dataclass
class TimelineData:
    """One point per base-layer token: start time (s), code id, status and (when replaced) the code
    it now decodes as."""

    times: np.ndarray
    codes: np.ndarray
    statuses: list[str]
    replaced_by: list[int | None]
    frames_per_token: int


def _base_tokens(motion) -> tuple[np.ndarray, int]:
    """(layer-0 ids, frames per token) of a Motion (or a raw (N,) / (N, Q) token array)."""
    tokens = np.asarray(getattr(motion, "tokens", motion))
    if tokens.ndim not in (1, 2) or not np.issubdtype(tokens.dtype, np.integer):
        raise ValueError(f"tokens must be an integer array (N,) or (N, Q), got {tokens.dtype} {tokens.shape}")
    base = tokens if tokens.ndim == 1 else tokens[:, 0]
    frames = getattr(motion, "length_frames", None)
    per = int(round(frames / len(base))) if frames and len(base) else 4
    return base.astype(np.int64), max(per, 1)


def _status(code: int, flagged: set[int], forbidden: set[int], replaced: dict[int, int]) -> str:
    if code in replaced:
        return "replaced"
    if code in forbidden:
        return "forbidden-avoided"
    return "flagged" if code in flagged else "normal"


def token_timeline_data(motion, flagged: set[int], forbidden: set[int] | None = None,
                        replaced: dict[int, int] | None = None, fps: float = FPS) -> TimelineData:
    """Status of each base token of ``motion`` (a
    :class:`~hmu_demo.pipelines.text_to_motion.Motion` or a token array).

    Status precedence: ``replaced`` (its codebook row was overwritten: it decodes as another code)
    > ``forbidden-avoided`` (LCR-gated never samples it for a gated prompt: shown on the original
    motion, it marks what the gated model avoids) > ``flagged`` > ``normal``.
    """
    if not fps or fps <= 0:
        raise ValueError(f"fps must be positive, got {fps!r}")
    base, per = _base_tokens(motion)
    flagged, forbidden, replaced = set(flagged or ()), set(forbidden or ()), dict(replaced or {})
    statuses = [_status(int(c), flagged, forbidden, replaced) for c in base]
    return TimelineData(times=np.arange(len(base)) * per / float(fps), codes=base, statuses=statuses,
                        replaced_by=[replaced.get(int(c)) for c in base], frames_per_token=per)


def token_timeline(motion, flagged: set[int], forbidden: set[int] | None = None,
                   replaced: dict[int, int] | None = None, fps: float = FPS):
    """Plotly Figure: base token id against time (s, the video's clock), one trace per status."""
    import plotly.graph_objects as go

    data = token_timeline_data(motion, flagged, forbidden, replaced, fps)
    statuses = np.array(data.statuses, dtype=object)
    fig = go.Figure()
    for status in STATUSES[::-1]:
        rows = np.flatnonzero(statuses == status)
        if not rows.size:
            continue
        hover = [f"t = {data.times[i]:.2f} s<br>code {data.codes[i]}<br>{status}"
                 + (f" → decodes as code {data.replaced_by[i]}" if data.replaced_by[i] is not None else "")
                 for i in rows]
        fig.add_trace(go.Scatter(x=data.times[rows], y=data.codes[rows], mode="markers", name=status,
                                 customdata=data.codes[rows], hovertext=hover, hoverinfo="text",
                                 marker=dict(size=10, symbol="square", color=STATUS_COLOURS[status])))
    fig.update_layout(title="Base-layer tokens over time", template="plotly_white", xaxis_title="time (s)",
                      yaxis_title="code id", legend=dict(orientation="h", y=-0.2))
    return fig


# ----------------------------------------------------------------------------- condition shift


@dataclass
class ConditionShiftData:
    """L2 distance between original and edited ``cond_emb`` outputs: ``distances`` (prompts, modules);
    ``norms`` the original outputs' norms (for scale); ``prompts[0]`` is the prompt under test."""

    prompts: list[str]
    modules: list[str]
    distances: np.ndarray
    norms: np.ndarray


def _cond_modules(bundle) -> dict[str, torch.nn.Module]:
    """The transformers with a text-condition projection (what UCE/RECE edit)."""
    names = ("masked", "residual", "bamm")
    return {n: getattr(bundle, n) for n in names if getattr(bundle, n, None) is not None}


@torch.no_grad()
def condition_shift_data(bundle_original, bundle_edited, text_encoder, prompt: str,
                         safe_prompts: Sequence[str]) -> ConditionShiftData:
    """How far the edit moved each prompt's projected condition, per transformer (0 where the edit
    left ``cond_emb`` alone, as every codebook method does)."""
    if isinstance(safe_prompts, str):
        raise ValueError("safe_prompts must be a list of strings")
    prompts = [prompt, *safe_prompts]
    if not all(isinstance(p, str) and p.strip() for p in prompts):
        raise ValueError("prompts must be non-empty strings")
    before, after = _cond_modules(bundle_original), _cond_modules(bundle_edited)
    modules = [n for n in before if n in after]
    cond = text_encoder.encode(prompts)
    dist = np.zeros((len(prompts), len(modules)))
    norms = np.zeros_like(dist)
    for j, name in enumerate(modules):
        w_old, w_new = before[name].cond_emb, after[name].cond_emb
        old = w_old(cond.to(device=w_old.weight.device, dtype=w_old.weight.dtype)).double().cpu()
        new = w_new(cond.to(device=w_new.weight.device, dtype=w_new.weight.dtype)).double().cpu()
        dist[:, j] = (new - old).norm(dim=1).numpy()
        norms[:, j] = old.norm(dim=1).numpy()
    return ConditionShiftData(prompts, modules, dist, norms)


def condition_shift(bundle_original, bundle_edited, text_encoder, prompt: str, safe_prompts: Sequence[str]):
    """Plotly Figure: grouped bars, one group per prompt, one bar per transformer's ``cond_emb``."""
    import plotly.graph_objects as go

    data = condition_shift_data(bundle_original, bundle_edited, text_encoder, prompt, safe_prompts)
    labels = [f"{p} (prompt)" if i == 0 else p for i, p in enumerate(data.prompts)]
    fig = go.Figure()
    for j, name in enumerate(data.modules):
        hover = [f"{p}<br>{name}.cond_emb: moved {d:.4g} (output norm {n:.3g})"
                 for p, d, n in zip(data.prompts, data.distances[:, j], data.norms[:, j])]
        fig.add_trace(go.Bar(x=labels, y=data.distances[:, j], name=name, hovertext=hover, hoverinfo="text"))
    fig.update_layout(barmode="group", title="How far the edit moved the text condition", template="plotly_white",
                      yaxis_title="‖edited − original‖ of cond_emb output", legend=dict(orientation="h", y=-0.3))
    return fig


# ----------------------------------------------------------------------------- one code's motion


@torch.no_grad()
def code_motion_joints(bundle, code: int, repeats: int = 4) -> np.ndarray:
    """Joints (4·repeats, 22, 3) of a token sequence repeating one base code, residual layers empty
    (-1 decodes to zero), so a selected code can be played. Pass an edited bundle to see what a
    replaced code decodes to now."""

    nb_code = bundle.vq.codebook(0).shape[0]
    if isinstance(code, bool) or not isinstance(code, (int, np.integer)) or not 0 <= code < nb_code:
        raise ValueError(f"code must be an integer in 0..{nb_code - 1}, got {code!r}")
    if isinstance(repeats, bool) or not isinstance(repeats, (int, np.integer)) or repeats < 1:
        raise ValueError(f"repeats must be an integer >= 1, got {repeats!r}")
    ids = torch.full((1, int(repeats), 1), int(code), dtype=torch.long, device=bundle.vq.codebook(0).device)
    feats = bundle.normalizer.denormalize(bundle.vq.forward_decoder(ids).float())
    return features_to_joints(feats)[0].cpu().numpy().astype(np.float32)
