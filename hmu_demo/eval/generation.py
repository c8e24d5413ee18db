"""The models an evaluation compares and how they generate: one contender per method, motions per caption.

Every method of the registry is applied once (``original`` = no edit) and run through the
text-to-motion pipeline, so evaluations generate exactly as the app and the CLI do. Generation is
keyed by (caption, frames): each prompt has its own seed (the pipeline's per-prompt generators), so
a pair that several metrics need is generated once, and every contender sees the same noise for the
same caption.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from hmu_demo.eval.loading import EvalError
from hmu_demo.models.bundle import ModelBundle
from hmu_demo.models.text import TextEncoder
from hmu_demo.pipelines.requests import GenerationRequest
from hmu_demo.pipelines.text_to_motion import Motion, TextToMotionPipeline
from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.registry import apply, get_method, method_names

__all__ = ["DR_NAME", "ORIGINAL", "Contender", "check_methods", "constrained", "default_methods",
           "generate_joints", "generate_motions", "make_contenders", "needing_index", "reused_motions"]

ORIGINAL = "original"
DR_NAME = "D_r"

Key = tuple[str, int]  # (caption, frames)


def default_methods() -> tuple[str, ...]:
    """The original model, then every registered method in the registry's order."""
    return (ORIGINAL, *method_names())


def check_methods(methods: list[str]) -> None:
    """EvalError naming the choices unless every name is ``original`` or a registered method."""
    for method in methods:
        if method != ORIGINAL and method not in method_names():
            raise EvalError(f"unknown method {method!r}; choose from {', '.join(default_methods())}")


@dataclass
class Contender:
    """One model variant of a comparison: its name, the pipeline that generates with it, what it is."""

    name: str
    pipeline: TextToMotionPipeline
    info: dict


def make_contenders(bundle: ModelBundle, encoder: TextEncoder, methods: list[str], concept: str,
                    device: torch.device, index: CodeIndex | None = None,
                    hyperparameters: dict[str, dict] | None = None,
                    dr: tuple[ModelBundle, str] | None = None) -> list[Contender]:
    """Apply every method once (the registry's defaults, or ``hyperparameters[method]``); ``dr``: the
    bundle retrained without the concept, and where it came from, as one more contender."""
    check_methods(methods)
    hyperparameters = hyperparameters or {}
    out = []
    for method in methods:
        if method == ORIGINAL:
            out.append(Contender(ORIGINAL, TextToMotionPipeline(bundle, encoder, device=device),
                                 {"method": ORIGINAL, "seconds": 0.0, "hyperparameters": {}}))
            continue
        edit = apply(bundle, concept, method, text_encoder=encoder, index=index, **hyperparameters.get(method, {}))
        report = edit.report
        out.append(Contender(method, TextToMotionPipeline(bundle, encoder, device=device, edit=edit),
                             {"method": method, "seconds": round(report.seconds, 4),
                              "hyperparameters": report.hyperparameters, "flagged_codes": report.codes or None}))
    if dr is not None:
        dr_bundle, source = dr
        out.append(Contender(DR_NAME, TextToMotionPipeline(dr_bundle, encoder, device=device),
                             {"method": "retrained from scratch without the concept", "bundle": source}))
    return out


def needing_index(methods: list[str]) -> list[str]:
    """The methods of ``methods`` that cannot run without a code index."""
    return [m for m in methods if m != ORIGINAL and get_method(m).needs_index]


def generate_motions(pipeline: TextToMotionPipeline, keys: list[Key], backbone: str, seed: int,
                     batch_size: int) -> dict[Key, Motion]:
    """(prompt, frames) -> generated motion, in batches of similar lengths (a batch is padded to its
    longest motion); each prompt's motion is independent of its batch, so the grouping changes nothing."""
    ordered = sorted(dict.fromkeys(keys), key=lambda key: key[1])
    out: dict[Key, Motion] = {}
    for s in range(0, len(ordered), batch_size):
        chunk = ordered[s:s + batch_size]
        request = GenerationRequest(tuple(t for t, _ in chunk), tuple(f for _, f in chunk), seed=seed,
                                    backbone=backbone)
        out.update(zip(chunk, pipeline(request).motions))
    return out


def generate_joints(pipeline: TextToMotionPipeline, keys: list[Key], backbone: str, seed: int,
                    batch_size: int) -> dict[Key, np.ndarray]:
    """(prompt, frames) -> generated joints (see :func:`generate_motions`)."""
    return {key: m.joints for key, m in generate_motions(pipeline, keys, backbone, seed, batch_size).items()}


def constrained(pipeline: TextToMotionPipeline, texts: list[str]) -> list[bool] | None:
    """Per text, whether the pipeline's sampling constraint (LCR-gated's gate) masks codes for it; None
    when the pipeline has no constraint."""
    constraint = pipeline.constraint
    if constraint is None:
        return None
    if hasattr(constraint, "segments"):  # segment repair reads the generated tokens: any prompt may change
        return [True] * len(texts)
    rows = constraint.forbidden_rows(texts, pipeline.text_encoder.encode(texts))
    return [False] * len(texts) if rows is None else rows.any(dim=1).tolist()


def reused_motions(contender: Contender, keys: list[Key], original: dict[Key, Motion] | None
                   ) -> tuple[list[Key], dict[Key, Motion]]:
    """(keys to generate, motions taken from the original model): a contender whose only change is a
    sampling constraint generates exactly what the original generates for every prompt the constraint
    leaves alone, so those are not generated twice."""
    edit = contender.pipeline.edit
    if original is None or edit is None or edit.tensors or edit.constraint is None:
        return keys, {}
    texts = list(dict.fromkeys(t for t, _ in keys))
    masked = constrained(contender.pipeline, texts)
    about = dict(zip(texts, masked))
    return [k for k in keys if about[k[0]]], {k: original[k] for k in keys if not about[k[0]]}
