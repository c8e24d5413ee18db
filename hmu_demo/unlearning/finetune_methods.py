"""The training-based baselines, through the registry: SafeMo-style task-vector negation, ESD-style
fine-tuning and gradient ascent with a retain term.

All three fine-tune low-rank adapters (:mod:`~hmu_demo.unlearning.lora`) on each base transformer with
the loop of :mod:`~hmu_demo.unlearning.finetune`, on the forget / retain motions of the code index's
concept split (:mod:`~hmu_demo.unlearning.finetune_data`). They differ in the objective and in what
is done with the trained change Δ:

- **task-vector** (SafeMo, arXiv 2601.00590, from its description; its code is not released): fine-tune
  on the forget motions (the model's own likelihood), then subtract: W' = W − scale·Δ. The task vector
  is what learning the concept added, so negating it removes the concept (Ilharco et al., "Editing
  models with task arithmetic").
- **esd** (Gandikota et al., "Erasing Concepts from Diffusion Models", 2023, adapted to token
  distributions): move the conditional next-code distribution of forget captions towards
  uncond − η·(cond − uncond) of the frozen original, in logit space, with a KL retain term that keeps
  retain captions' distributions; W' = W + Δ.
- **ga** (gradient ascent with a KL retain term, the standard unlearning baseline): raise the forget
  motions' negative log-likelihood up to a ceiling (past it the ascent stops, so the model does not
  diverge) while the KL term holds the retain distributions; W' = W + Δ.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import replace
from pathlib import Path
from collections.abc import Callable

import torch
from torch import Tensor, nn

from hmu_demo.config import EMBEDDED_DIR
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.finetune import FineTuneSettings, StepFunction, finetune_networks
from hmu_demo.unlearning.finetune_data import forget_retain_sets
from hmu_demo.unlearning.edit_io import EDIT_JSON, EditError, load_edit, read_edit_meta
from hmu_demo.unlearning.flagging import DEFAULT_INDEX, concept_split, load_index
from hmu_demo.unlearning.gate import DEFAULT_NEIGHBOURS, DEFAULT_THRESHOLD, ConceptGate
from hmu_demo.unlearning.index_text import index_motion_text
from hmu_demo.unlearning.lora import low_rank_update
from hmu_demo.unlearning.registry import Method, get_method, register
from hmu_demo.unlearning.report import EditReport, layer_changes
from hmu_demo.unlearning.token_objective import Corrupted, corrupt, kl_divergence, logits_on, token_nll

__all__ = ["esd_step", "ga_step", "task_vector_step"]

Batch = tuple[Tensor, Tensor, Tensor]

#: Edits of the embedded bundle for the default concept, made by ``python -m hmu_demo.unlearn`` with the
#: default hyperparameters and shipped so that the app does not train for minutes on first use.
SHIPPED_EDITS = EMBEDDED_DIR / "edits"

_LOOP = {"steps": 200, "lr": 1e-3, "batch_size": 32, "rank": 8, "alpha": 8.0, "seed": 0}
_DATA = {"forget_motions": 256, "retain_motions": 256, "data": ""}


def task_vector_step(edited: nn.Module, original: nn.Module, forget: Batch, retain: Batch | None,
                     generator: torch.Generator) -> tuple[Tensor, dict[str, float]]:
    """Learn the forget motions: their likelihood, nothing else (the direction to negate)."""
    ids, lengths, cond = forget
    loss = token_nll(edited, ids, lengths, cond, generator)
    return loss, {"forget_nll": float(loss.detach())}


def _retain_kl(edited: nn.Module, original: nn.Module, retain: Batch | None, generator: torch.Generator) -> Tensor:
    """KL(original ‖ edited) of the next-code distributions on a retain batch."""
    if retain is None:
        return torch.zeros(())
    ids, lengths, cond = retain
    batch = corrupt(original, ids, lengths, generator)
    with torch.no_grad():
        target = logits_on(original, batch, cond)
    return kl_divergence(target, logits_on(edited, batch, cond), batch.scored)


def esd_step(eta: float, retain_weight: float) -> StepFunction:
    """ESD's objective with negative guidance ``eta`` and a retain term weighted ``retain_weight``."""

    def step(edited, original, forget, retain, generator):
        ids, lengths, cond = forget
        batch = corrupt(original, ids, lengths, generator)
        with torch.no_grad():
            both = logits_on(original, _twice(batch), torch.cat([cond, torch.zeros_like(cond)]))
            conditional, unconditional = both.chunk(2)
            target = unconditional - eta * (conditional - unconditional)
        forget_kl = kl_divergence(target, logits_on(edited, batch, cond), batch.scored)
        retain_kl = _retain_kl(edited, original, retain, generator)
        metrics = {"forget_kl": float(forget_kl.detach()), "retain_kl": float(retain_kl.detach())}
        return forget_kl + retain_weight * retain_kl, metrics

    return step


def ga_step(ceiling: float, retain_weight: float) -> StepFunction:
    """Gradient ascent on the forget likelihood up to the NLL ``ceiling``, KL retain term."""

    def step(edited, original, forget, retain, generator):
        ids, lengths, cond = forget
        nll = token_nll(edited, ids, lengths, cond, generator)
        retain_kl = _retain_kl(edited, original, retain, generator)
        ascent = -torch.clamp(nll, max=ceiling)
        metrics = {"forget_nll": float(nll.detach()), "retain_kl": float(retain_kl.detach())}
        return ascent + retain_weight * retain_kl, metrics

    return step


def _twice(batch: Corrupted) -> Corrupted:
    """The corrupted batch stacked twice (conditional and unconditional rows in one forward)."""
    padding = None if batch.padding is None else torch.cat([batch.padding, batch.padding])
    return Corrupted(torch.cat([batch.inputs, batch.inputs]), torch.cat([batch.scored, batch.scored]), padding)


def _check_number(name: str, value: object, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= float(value) <= high:
        raise ValueError(f"{name} must be a number in {low:g}..{high:g}, got {value!r}")
    return float(value)


def finetune_runner(method: str, make_step: Callable[[dict], StepFunction], uses_retain: bool,
                    sign: Callable[[dict], float]) -> Callable[..., Edit]:
    """The registry's function for a fine-tuning method: data, loop, then W' = W + sign(hp)·Δ."""

    def run(bundle, concept: Concept, *, text_encoder, index=None, steps: int, lr: float, batch_size: int,
            rank: int, alpha: float, seed: int, forget_motions: int, data: str, retain_motions: int = 0, **hp) -> Edit:
        start = time.perf_counter()
        request = {"steps": steps, "lr": lr, "batch_size": batch_size, "rank": rank, "alpha": alpha, "seed": seed,
                   "forget_motions": forget_motions, "retain_motions": retain_motions, "data": data, **hp}
        shipped = shipped_edit(bundle, method, concept, request, index)
        if shipped is not None:
            return shipped
        settings = FineTuneSettings(steps=steps, lr=lr, batch_size=batch_size, rank=rank, alpha=alpha, seed=seed)
        idx = load_index(index)
        forget, retain = forget_retain_sets(bundle, idx, concept, text_encoder, forget_motions=forget_motions,
                                            retain_motions=retain_motions, data=data or None,
                                            max_tokens=bundle.config.masked.max_motion_tokens)
        step = make_step(hp)
        hyper = {"steps": steps, "lr": float(lr), "batch_size": batch_size, "rank": rank, "alpha": float(alpha),
                 "seed": seed, "forget_motions": len(forget), "retain_motions": len(retain) if uses_retain else 0,
                 "data": data, **hp}
        identity = {"method": method, "concept": concept.name, "keywords": list(concept.forget), **hyper}
        deltas, originals, details = finetune_networks(bundle, step, forget, retain if uses_retain else None,
                                                       settings, identity)
        factor = sign(hp)
        factors = {name: (factor * up, down) for name, (up, down) in deltas.items()}
        new = {name: low_rank_update(originals[name], up, down) for name, (up, down) in factors.items()}
        report = EditReport(method, concept.name, hyper, layers=layer_changes(originals, new),
                            details={"networks": details, "forget_ids": list(forget.motion_ids[:16]),
                                     "request": request})
        report.seconds = time.perf_counter() - start
        return Edit(report, new, factors=factors)

    return run


#: Hyperparameters applied after training (the task vector's scale): a shipped edit made with another value
#: serves by rescaling its factors, so sweeping them costs no training.
POST_HOC = {"task-vector": "scale"}


def shipped_edit(bundle, method: str, concept: Concept, request: dict, index) -> Edit | None:
    """The edit shipped in ``SHIPPED_EDITS/<method>`` when it is this very call's result: same concept and
    requested hyperparameters (a :data:`POST_HOC` one may differ: the factors are rescaled), the default
    code index and corpus, and (checked by :func:`load_edit`'s base fingerprints) the same bundle. The
    methods are deterministic, so it is what training would make, without minutes of CPU; anything else
    trains."""
    folder = SHIPPED_EDITS / method
    source = index if isinstance(index, (str, os.PathLike)) else getattr(index, "source", None)
    default_index = index is None or (source is not None and Path(source).resolve() == DEFAULT_INDEX.resolve())
    if request.get("data") or not default_index or not (folder / EDIT_JSON).is_file():
        return None
    post_hoc = POST_HOC.get(method)
    try:
        stored = _stored_request(folder, concept.name)
        if stored is None or not _same_request(stored, request, post_hoc):
            return None
        edit, _ = load_edit(bundle, folder)
    except EditError:
        return None
    if post_hoc is not None and stored.get(post_hoc) != request.get(post_hoc):
        if not stored.get(post_hoc):
            return None
        edit = _rescaled(bundle, edit, float(request[post_hoc]) / float(stored[post_hoc]), post_hoc, request)
    edit.report.details["precomputed"] = str(folder)
    return edit


def _stored_request(folder: Path, concept_name: str) -> dict | None:
    """The hyperparameters a shipped edit was made with, when it exists and is for ``concept_name``."""
    try:
        report = read_edit_meta(folder).get("report") or {}
    except EditError:
        return None
    if report.get("concept") != concept_name:
        return None
    return (report.get("details") or {}).get("request") or {}


def _same_request(stored: dict, request: dict, post_hoc: str | None) -> bool:
    """Equal requests, the corpus the default one, a :data:`POST_HOC` hyperparameter aside."""
    if request.get("data"):
        return False
    return {k: v for k, v in stored.items() if k != post_hoc} == {k: v for k, v in request.items() if k != post_hoc}


def served_by_shipped_edit(method: str, concept_name: str, overrides: dict) -> bool:
    """Whether a call of ``method`` for ``concept_name`` with these hyperparameter ``overrides`` (on the
    embedded bundle, default index and corpus) would load the shipped edit instead of training: what an
    interactive caller checks before it lets a request train for minutes."""
    trained = method.removesuffix("-gated")  # a gated form uses its method's weights
    stored = _stored_request(SHIPPED_EDITS / trained, concept_name)
    if stored is None:
        return False
    request = {"retain_motions": 0, **get_method(method).defaults, **overrides}  # as the runner records it
    if trained != method:  # the gate's settings are not part of the shipped weights
        request = {k: v for k, v in request.items() if k not in ("neighbours", "threshold")}
    return _same_request(stored, request, POST_HOC.get(trained))


def _rescaled(bundle, edit: Edit, ratio: float, name: str, request: dict) -> Edit:
    """``edit`` with every low-rank change multiplied by ``ratio`` (its hyperparameter ``name`` set to match)."""
    base = {n: t for n, t in bundle.state_dict().items() if n in edit.factors}
    factors = {n: (up * ratio, down) for n, (up, down) in edit.factors.items()}
    tensors = {n: low_rank_update(base[n], up, down) for n, (up, down) in factors.items()}
    report = replace(edit.report, hyperparameters={**edit.report.hyperparameters, name: request[name]},
                     layers=layer_changes(base, tensors),
                     details={**edit.report.details, "request": request, "rescaled_from": edit.report.details.get(
                         "request", {}).get(name)})
    return Edit(report, tensors, edit.constraint, factors, edit.route)


def _negate(hp: dict) -> float:
    """Task-vector negation: W − scale·Δ."""
    return -_check_number("scale", hp["scale"], 0.0, 100.0)


def _add(hp: dict) -> float:
    """The fine-tuned weights themselves: W + Δ."""
    return 1.0


def _esd(hp: dict) -> StepFunction:
    return esd_step(_check_number("eta", hp["eta"], 0.0, 100.0),
                    _check_number("retain_weight", hp["retain_weight"], 0.0, 1e4))


def _ga(hp: dict) -> StepFunction:
    return ga_step(_check_number("nll_ceiling", hp["nll_ceiling"], 0.1, 100.0),
                   _check_number("retain_weight", hp["retain_weight"], 0.0, 1e4))


def _task_vector(hp: dict) -> StepFunction:
    _check_number("scale", hp["scale"], 0.0, 100.0)
    return task_vector_step


#: ln(512): the NLL of a uniform guess over the embedded codebook; GA stops ascending past it.
UNIFORM_NLL = round(math.log(512), 2)

def gated(inner: Callable[..., Edit], method: str) -> Callable[..., Edit]:
    """The gated form of a fine-tuning method: the same weights, used only for the prompts the concept gate
    selects (keyword or violent nearest training motions, as LCR-gated decides); every other prompt is
    generated by the original weights. Default hyperparameters reuse the shipped edit of ``inner``."""

    def run(bundle, concept: Concept, *, text_encoder, index=None, neighbours: int, threshold: float, **hp) -> Edit:
        edit = inner(bundle, concept, text_encoder=text_encoder, index=index, **hp)
        idx = load_index(index)
        start = time.perf_counter()
        route = ConceptGate(concept.name, concept.forget, torch.zeros(idx.nb_code, dtype=torch.bool),
                            index_motion_text(idx, text_encoder), torch.from_numpy(concept_split(idx, concept)),
                            neighbours=neighbours, threshold=threshold)
        report = replace(edit.report, method=method,
                         hyperparameters={**edit.report.hyperparameters, "neighbours": neighbours,
                                          "threshold": float(threshold)})
        report.seconds = edit.report.seconds + time.perf_counter() - start
        return Edit(report, edit.tensors, None, edit.factors, route.to(bundle.vq.codebook(0).device))

    return run


_TASK_VECTOR = finetune_runner("task-vector", _task_vector, False, _negate)
_TASK_VECTOR_DEFAULTS = {**_LOOP, "forget_motions": 256, "data": "", "scale": 1.0}
register(Method("task-vector", "SafeMo-style: fine-tune low-rank adapters on the forget motions, subtract them",
                _TASK_VECTOR, _TASK_VECTOR_DEFAULTS,
                needs_text_encoder=True, needs_index=True, inspector_views=("timeline",), trains=True, order=80))
register(Method("task-vector-gated", "task-vector negation applied only to prompts the concept gate selects",
                gated(_TASK_VECTOR, "task-vector-gated"),
                {**_TASK_VECTOR_DEFAULTS, "neighbours": DEFAULT_NEIGHBOURS, "threshold": DEFAULT_THRESHOLD},
                needs_text_encoder=True, needs_index=True, inspector_views=("timeline",), trains=True, order=81))
register(Method("esd", "ESD-style fine-tuning: forget captions towards negative guidance, KL on retain",
                finetune_runner("esd", _esd, True, _add),
                {**_LOOP, **_DATA, "steps": 100, "eta": 1.0, "retain_weight": 1.0},
                needs_text_encoder=True, needs_index=True, inspector_views=("timeline",), trains=True, order=82))
register(Method("ga", "gradient ascent on the forget motions' likelihood, KL on retain",
                finetune_runner("ga", _ga, True, _add),
                {**_LOOP, **_DATA, "steps": 100, "lr": 5e-4, "nll_ceiling": UNIFORM_NLL, "retain_weight": 1.0},
                needs_text_encoder=True, needs_index=True, inspector_views=("timeline",), trains=True, order=83))
