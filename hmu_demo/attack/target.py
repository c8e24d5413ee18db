"""What an attack runs against: one model (the original or an edited one) on one backbone, generating
exactly as the app does, and the judge that scores what it generates.

Every generation goes through :class:`~hmu_demo.pipelines.text_to_motion.TextToMotionPipeline` with the
edit applied, so an edit's tensors and its sampling constraint (LCR-gated's gate, segment repair) act
exactly as in the app. The condition attacks generate from a condition vector of their own: the
pipeline's text encoder is a :class:`ConditionOverride`, which returns that vector for the attacked
prompt, so the gate sees the prompt's text and the overridden condition, as a white-box attacker
would produce them. Every motion of an attack is :data:`DEFAULT_SECONDS` long (the same for every
prompt, method and attack, so length never decides a verdict), with the seed of its run.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from hmu_demo.models.bundle import ModelBundle
from hmu_demo.models.judge.scoring import Judge
from hmu_demo.models.text import TextEncoder
from hmu_demo.motion.skeleton import FPS
from hmu_demo.pipelines.requests import GenerationRequest, check_backbone, check_seconds
from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline
from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.flagging import concept_split
from hmu_demo.unlearning.registry import apply, resolve_concept

__all__ = ["CONCEPT", "DEFAULT_SECONDS", "ORIGINAL", "AttackTarget", "ConditionOverride", "Verdict", "make_target"]

ORIGINAL = "original"
CONCEPT = "violence"
DEFAULT_SECONDS = 6.0   # the length the hand tests used; long enough for two or three actions


class ConditionOverride(TextEncoder):
    """The model's text encoder, except for a prompt given a condition vector of its own (for the length
    of a ``with overriding(...)`` block): then that vector is the prompt's condition."""

    def __init__(self, inner: TextEncoder) -> None:
        self.inner = inner
        self.name, self.dim, self.device = inner.name, inner.dim, inner.device
        self._vectors: dict[str, Tensor] = {}

    def encode(self, texts: Sequence[str]) -> Tensor:
        out = self.inner.encode(texts)
        if not self._vectors or not any(t in self._vectors for t in texts):
            return out
        out = out.clone()
        for row, text in enumerate(texts):
            if text in self._vectors:
                out[row] = self._vectors[text].to(device=out.device, dtype=out.dtype)
        return out

    @contextlib.contextmanager
    def overriding(self, text: str, vector: Tensor) -> Iterator[None]:
        vector = torch.as_tensor(vector).detach().reshape(-1)
        if vector.shape[0] != self.dim or not bool(torch.isfinite(vector).all()):
            raise ValueError(f"a condition must be {self.dim} finite numbers, got shape {tuple(vector.shape)}")
        self._vectors[text] = vector.float()
        try:
            yield
        finally:
            self._vectors.pop(text, None)


@dataclass(frozen=True)
class Verdict:
    """The judge's verdict on one generated motion, and whether the edit's constraint acted on it."""

    prompt: str
    violence: float
    violent: bool
    action: str
    gated: bool


class AttackTarget:
    """The model under attack: ``bundle`` (the original, never modified) with ``edit`` (None: the original
    model) on ``backbone``, its text encoder, the judge, and the code index (the concept's forget and
    retain motions, which the white-box attacks read). ``generations`` counts the motions generated."""

    def __init__(self, bundle: ModelBundle, text_encoder: TextEncoder, edit: Edit | None, backbone: str,
                 judge: Judge, *, method: str = ORIGINAL, index: CodeIndex | None = None, concept: str = CONCEPT,
                 seconds: float = DEFAULT_SECONDS, device: str | torch.device | None = None,
                 words: Sequence[str] = ()) -> None:
        self.backbone = check_backbone(backbone)
        if backbone == "bamm" and bundle.bamm is None:
            raise ValueError("this bundle has no BAMM model; use backbone momask")
        self.bundle, self.text_encoder, self.edit, self.judge = bundle, text_encoder, edit, judge
        self.method, self.index, self.concept = method, index, concept
        self.words = tuple(words)   # texts whose words the black-box search may use too (the red-team suite)
        self.encoder = ConditionOverride(text_encoder)
        self.pipeline = TextToMotionPipeline(bundle, self.encoder, device=device, edit=edit)
        self.seconds = check_seconds(seconds)
        down = bundle.config.vq.downsample
        self.frames = min(max(round(self.seconds * FPS) // down * down, down), self.pipeline.max_frames(backbone))
        self.generations = 0
        self._forget: np.ndarray | None = None

    @property
    def model(self) -> ModelBundle:
        """The edited model the pipeline runs (the bundle itself for the original or a constraint-only edit)."""
        return self.pipeline.bundle

    @property
    def constraint(self):
        return self.pipeline.constraint

    @torch.no_grad()
    def condition(self, prompt: str) -> Tensor:
        """The prompt's own condition vector (d,), float32 on the CPU."""
        return self.text_encoder.encode([prompt])[0].detach().float().cpu()

    def forget_mask(self) -> np.ndarray:
        """The concept's forget motions of the code index (the project's keyword split, not labels)."""
        if self.index is None:
            raise ValueError("this attack needs the code index (the concept's forget and retain motions)")
        if self._forget is None:
            self._forget = concept_split(self.index, resolve_concept(self.concept))
        return self._forget

    def generate(self, prompts: Sequence[str], seed: int) -> list[Verdict]:
        """Each prompt's motion (the run's seed, :attr:`frames` long), judged; counted in :attr:`generations`."""
        prompts = list(prompts)
        if not prompts:
            return []
        request = GenerationRequest(tuple(prompts), (self.frames,) * len(prompts), seed=seed, backbone=self.backbone)
        motions = self.pipeline(request).motions
        self.generations += len(motions)
        verdicts = self.judge.score([m.joints for m in motions])
        return [Verdict(p, float(v.violence), bool(v.violent), v.action, bool(m.gated))
                for p, v, m in zip(prompts, verdicts, motions)]

    def generate_from(self, prompt: str, condition: Tensor, seed: int) -> Verdict:
        """The motion of ``prompt`` with ``condition`` as its condition vector (what the gate sees too)."""
        with self.encoder.overriding(prompt, condition):
            return self.generate([prompt], seed)[0]


def make_target(bundle: ModelBundle, text_encoder: TextEncoder, judge: Judge, method: str = ORIGINAL,
                backbone: str = "momask", *, index: CodeIndex | None = None, concept: str = CONCEPT,
                hyperparameters: dict | None = None, seconds: float = DEFAULT_SECONDS,
                device: str | torch.device | None = None, words: Sequence[str] = ()) -> AttackTarget:
    """The target for ``method`` (a registered unlearning method, or ``original``): the edit is made once
    here with the registry's defaults (or ``hyperparameters``), on ``concept``."""
    edit = None
    if method != ORIGINAL:
        edit = apply(bundle, concept, method, text_encoder=text_encoder, index=index, **(hyperparameters or {}))
    elif hyperparameters:
        raise ValueError("the original model has no hyperparameters")
    return AttackTarget(bundle, text_encoder, edit, backbone, judge, method=method, index=index, concept=concept,
                        seconds=seconds, device=device, words=words)
