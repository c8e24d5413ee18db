"""Text-to-motion: prompts -> RVQ tokens -> 263-d features -> joints, batched and seeded.

Stages: text encoder -> (length estimator, sampled) -> base transformer (MoMask masked or BAMM) ->
residual transformer (layers 1..5) -> RVQ-VAE decoder -> de-normalise with the bundle's model-side
mean/std -> ``features_to_joints`` (22 joints, 20 fps).

Determinism: every prompt gets its own ``torch.Generator`` (CPU, so CPU and CUDA draw the same
noise) seeded from ``sha256(seed, prompt text)``, and the model classes draw each sample's noise
from its own generator over its own length only. So a prompt's motion depends on (bundle, prompt,
length, seed, settings) and not on its position or on the other prompts of the batch. The RVQ
decoder is a convolution over time, so padding would leak into the last frames of shorter motions:
decoding is therefore batched per distinct token length, never across lengths.

An unlearning edit (:class:`hmu_demo.unlearning.edit.Edit`) is applied once, when the pipeline is
made: its tensors give the edited model (sharing every other tensor with the bundle), and its
sampling constraint, when it has one, says per prompt which base-layer codes are never sampled; a
constraint that also marks segments of the sampled base tokens (segment repair: ``segments``,
``thresholds``, ``repair_condition``, ``forbidden``, ``rounds``) has those re-sampled before the residual
layers run. An edit with a ``route`` (a gated weight edit) samples the base tokens of the prompts its gate
selects with the edited weights and of the others with the original ones (each prompt keeps its own
generator, so an unselected prompt's motion is the original model's).

Out of memory (:mod:`hmu_demo.models.oom`): a batch that does not fit on the GPU is retried in
halves, and a single prompt that still does not fit runs on a CPU copy of the models (made once,
kept on the pipeline; the caller's bundle stays on the GPU, and the next call tries the GPU again).
``GenerationOutput.fallback`` says what happened. Because a prompt's motion does not depend on its
batch, the halves give the motions of the whole batch; the differences possible are float
rounding: GPU kernels and the text encoders' padding vary with the batch shape, and the CPU
computes in its own order (a rounding difference can flip a sampled token, rarely).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from hmu_demo.config import resolve_device
from hmu_demo.models.bundle import ModelBundle
from hmu_demo.models.length import sample_lengths
from hmu_demo.models.oom import OomReport, cpu_copy, run_batched
from hmu_demo.models.text import CachedTextEncoder, ClipTextEncoder, MiniLMEncoder, TextEncoder
from hmu_demo.motion.features import features_to_joints
from hmu_demo.motion.skeleton import FPS, MAX_FRAMES
from hmu_demo.pipelines.requests import GenerationRequest, MAX_BATCH_SIZE
from hmu_demo.unlearning.edit import Edit, SamplingConstraint

__all__ = ["GenerationOutput", "Motion", "TextToMotionPipeline", "prompt_seed"]


@dataclass
class Motion:
    """One generated motion.

    ``tokens`` (N, Q) int64: all RVQ layers (layer 0 from the base transformer); -1 marks a
    residual position where the model chose "no code" (it decodes to a zero vector).
    ``features`` (T, 263) float32 de-normalised; ``joints`` (T, 22, 3) float32; T = ``length_frames``.
    """

    prompt: str
    tokens: np.ndarray
    features: np.ndarray
    joints: np.ndarray
    length_frames: int
    seed: int = 0
    backbone: str = "momask"
    gated: bool = False  # the edit's sampling constraint masked codes out of this prompt's sampling

    @property
    def seconds(self) -> float:
        return self.length_frames / FPS


@dataclass
class GenerationOutput:
    """The motions, in the order of the request's prompts, and the out-of-memory fallback taken
    (None when the call ran as asked; its ``message`` is the line to show a user)."""

    motions: list[Motion]
    fallback: OomReport | None = None


def prompt_seed(seed: int, prompt: str, stream: str = "tokens") -> int:
    """A 63-bit seed from (seed, prompt text, stream): stable across runs and processes (not hash())."""
    digest = hashlib.sha256(f"{int(seed)}\x00{stream}\x00{prompt}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _generators(seed: int, prompts: Sequence[str], stream: str) -> list[torch.Generator]:
    return [torch.Generator(device="cpu").manual_seed(prompt_seed(seed, p, stream)) for p in prompts]


@dataclass(frozen=True)
class _Models:
    """What one batch runs on: the (edited) bundle, its text encoder and the edit's constraint."""

    bundle: ModelBundle
    text_encoder: TextEncoder
    constraint: SamplingConstraint | None
    unedited: ModelBundle | None = None  # the original weights, for a routed edit's unselected prompts


class TextToMotionPipeline:
    """Text-to-motion with a :class:`ModelBundle`, the text encoder it was trained with and an
    optional unlearning edit.

    ``device`` None picks CUDA when available, else CPU; the bundle is moved there (in place); the
    edit is applied to it here, once (``self.bundle`` is the edited model, ``bundle`` is untouched).
    """

    def __init__(self, bundle: ModelBundle, text_encoder: TextEncoder, device: str | torch.device | None = None,
                 edit: Edit | None = None) -> None:
        bundle.check_text_encoder(text_encoder)
        self.device = resolve_device(device)
        bundle.to(self.device).eval()
        self.edit = edit
        self.bundle: ModelBundle = bundle if edit is None else edit.apply(bundle)
        self.text_encoder = text_encoder
        self.constraint = None if edit is None else edit.constraint
        self.route = None if edit is None else edit.route
        self._unedited = bundle if self.route is not None else None
        self._cpu: _Models | None = None  # the CPU copies, made on the first fallback only

    def _models_on(self, device: torch.device) -> _Models:
        """Our own models on ``device``, or (out-of-memory fallback) their CPU copies, made once."""
        if device == self.device:
            return _Models(self.bundle, self.text_encoder, self.constraint, self._unedited)
        if device.type != "cpu":
            raise ValueError(f"no copy of the models for {device}; the pipeline runs on {self.device}")
        if self._cpu is None:
            constraint = self.constraint
            self._cpu = _Models(cpu_copy(self.bundle).eval(), _cpu_text_encoder(self.text_encoder),
                                cpu_copy(constraint) if isinstance(constraint, nn.Module) else constraint,
                                None if self._unedited is None else cpu_copy(self._unedited).eval())
        return self._cpu

    def max_frames(self, backbone: str = "momask") -> int:
        """Longest motion in frames: 196 (9.8 s), or less when the model's horizon is shorter."""
        cfg = self.bundle.config
        down = cfg.vq.downsample
        tokens = MAX_FRAMES // down
        if backbone == "bamm" and cfg.bamm is not None:
            tokens = min(tokens, cfg.bamm.max_motion_tokens)
        return tokens * down

    def _frames(self, value: int | float, max_frames: int) -> int:
        """A requested length floored to whole base tokens and clamped to [one token, max_frames]."""
        down = self.bundle.config.vq.downsample
        return min(max(int(float(value)) // down * down, down), max_frames)

    @torch.no_grad()
    def __call__(self, request: GenerationRequest) -> GenerationOutput:
        """One motion per prompt, at most ``request.batch_size`` at a time, so memory stays bounded
        however many prompts come. Deterministic for a seed on a device, whatever else is in the
        batch (see the module docstring)."""
        prompts = list(request.prompts)
        if not prompts:
            return GenerationOutput([])
        if request.backbone == "bamm" and self.bundle.bamm is None:
            raise ValueError("this bundle has no BAMM model; use backbone 'momask'")
        max_frames = self.max_frames(request.backbone)
        lengths = request.lengths or (None,) * len(prompts)
        frames = [None if v is None else self._frames(v, max_frames) for v in lengths]
        batch_size = request.batch_size or min(len(prompts), MAX_BATCH_SIZE)

        def batch(jobs: list[tuple[str, int | None]], device: torch.device) -> list[Motion]:
            return self._generate_batch(jobs, device, request, max_frames)

        motions, report = run_batched(batch, list(zip(prompts, frames)), self.device, batch_size=batch_size,
                                      what="generation")
        return GenerationOutput(motions, report if report.fell_back else None)

    def _generate_batch(self, jobs: list[tuple[str, int | None]], device: torch.device, request: GenerationRequest,
                        max_frames: int) -> list[Motion]:
        """One batch of (prompt, frames or None) on ``device``; each motion independent of the others."""
        models = self._models_on(device)
        bundle, seed, backbone = models.bundle, request.seed, request.backbone
        prompts = [p for p, _ in jobs]
        frames = [f for _, f in jobs]
        down = bundle.config.vq.downsample
        cond = models.text_encoder.encode(prompts).to(device=device, dtype=torch.float32)

        # lengths: one batched estimator call, one draw per prompt from its own generator
        todo = [i for i, f in enumerate(frames) if f is None]
        if todo:
            logits = bundle.length_estimator(cond[todo]).cpu()
            len_gens = _generators(seed, [prompts[i] for i in todo], "length")
            for row, i in enumerate(todo):
                tokens = int(sample_lengths(logits[row : row + 1], generator=len_gens[row])[0])
                frames[i] = min(tokens * down, max_frames)
        token_lens = [f // down for f in frames]

        forbidden = None if models.constraint is None else models.constraint.forbidden_rows(prompts, cond)
        if forbidden is not None:
            forbidden = forbidden.to(device)
        gated = [False] * len(prompts) if forbidden is None else forbidden.any(dim=1).tolist()
        gens = _generators(seed, prompts, "tokens")
        selected = None
        if self.route is not None and models.unedited is not None:
            selected = [d.about for d in self.route.decide(prompts, cond)]
            gated = [g or s for g, s in zip(gated, selected)]
        base = _routed_base(bundle, models.unedited, selected, backbone, cond, token_lens, gens, request, forbidden)
        if hasattr(models.constraint, "segments"):
            base, repaired = _repair_segments(models.constraint, bundle, backbone, base, prompts, cond, token_lens,
                                              gens, request.steps, request.cond_scale)
            gated = [g or r for g, r in zip(gated, repaired)]
        ids = bundle.residual.generate(base, cond, token_lens, cond_scale=request.res_cond_scale, generator=gens)

        # decode per distinct length (the conv decoder would see other samples' padding otherwise)
        features: list[np.ndarray | None] = [None] * len(prompts)
        joints: list[np.ndarray | None] = [None] * len(prompts)
        for n in sorted(set(token_lens)):
            rows = [i for i, t in enumerate(token_lens) if t == n]
            normed = bundle.vq.forward_decoder(ids[rows, :n])
            feats = bundle.normalizer.denormalize(normed.float())
            jts = features_to_joints(feats)
            for r, i in enumerate(rows):
                features[i] = feats[r, : frames[i]].cpu().numpy().astype(np.float32)
                joints[i] = jts[r, : frames[i]].cpu().numpy().astype(np.float32)

        ids_np = ids.cpu().numpy().astype(np.int64)
        return [
            Motion(prompt=p, tokens=ids_np[i, : token_lens[i]].copy(), features=features[i], joints=joints[i],
                   length_frames=frames[i], seed=seed, backbone=backbone, gated=bool(gated[i]))
            for i, p in enumerate(prompts)
        ]


def _base_tokens(bundle: ModelBundle, backbone: str, cond: torch.Tensor, token_lens: list[int],
                 gens: list[torch.Generator], request: GenerationRequest,
                 forbidden: torch.Tensor | None) -> torch.Tensor:
    """Base-layer ids (B, max length), -1 at pads, from the backbone's base transformer."""
    if backbone == "momask":
        return bundle.masked.generate(cond, token_lens, timesteps=request.steps, cond_scale=request.cond_scale,
                                      generator=gens, forbidden=forbidden)
    base, _ = bundle.bamm.generate(cond, token_lens, cond_scale=request.cond_scale, generator=gens, forbidden=forbidden)
    return base


def _routed_base(bundle: ModelBundle, unedited: ModelBundle | None, selected: list[bool] | None, backbone: str,
                 cond: torch.Tensor, token_lens: list[int], gens: list[torch.Generator], request: GenerationRequest,
                 forbidden: torch.Tensor | None) -> torch.Tensor:
    """Base tokens with the edited weights for the ``selected`` prompts and the original ones for the rest
    (all edited when ``selected`` is None)."""
    if selected is None or all(selected) or unedited is None:
        return _base_tokens(bundle, backbone, cond, token_lens, gens, request, forbidden)
    base = torch.full((len(token_lens), max(token_lens)), -1, dtype=torch.long, device=cond.device)
    for model, wanted in ((bundle, True), (unedited, False)):
        rows = [i for i, s in enumerate(selected) if s == wanted]
        if not rows:
            continue
        part = _base_tokens(model, backbone, cond[rows], [token_lens[i] for i in rows], [gens[i] for i in rows],
                            request, None if forbidden is None else forbidden[rows])
        base[rows, : part.shape[1]] = part.to(base.device)
    return base


def _repair_segments(constraint, bundle: ModelBundle, backbone: str, base: torch.Tensor, prompts: list[str],
                     cond: torch.Tensor, token_lens: list[int], gens: list[torch.Generator], steps: int,
                     cond_scale: float) -> tuple[torch.Tensor, list[bool]]:
    """Segment repair (:mod:`hmu_demo.unlearning.repair`): up to ``constraint.rounds`` times, re-sample the
    base tokens the constraint marks, with its forbidden codes and repair condition, the rest as context.
    Returns the base ids and, per prompt, whether anything was re-sampled."""
    base = base.clone()
    lens = torch.tensor(token_lens, device=base.device)
    repaired = [False] * len(token_lens)
    repair_cond = constraint.repair_condition(cond)
    limits = constraint.thresholds(prompts, cond)
    for _ in range(constraint.rounds):
        marked = constraint.segments(base, lens, limits).to(base.device)
        rows = marked.any(dim=1).nonzero().flatten().tolist()
        if not rows:
            break
        forbidden = constraint.forbidden.to(base.device)[None].expand(len(rows), -1)
        picked = torch.tensor(rows, device=base.device)
        row_gens = [gens[i] for i in rows]
        if backbone == "momask":
            new = bundle.masked.inpaint(base[picked], marked[picked], repair_cond[picked], lens[picked],
                                        timesteps=steps, cond_scale=cond_scale, generator=row_gens, forbidden=forbidden)
        else:
            new = bundle.bamm.inpaint(base[picked], marked[picked], repair_cond[picked], lens[picked],
                                      generator=row_gens, forbidden=forbidden)
        base[picked] = new
        for i in rows:
            repaired[i] = True
    return base, repaired


def _cpu_text_encoder(encoder: TextEncoder) -> TextEncoder:
    """The same encoder on the CPU, for the out-of-memory fallback: rebuilt from the same weights
    where we know how (MiniLM, CLIP, the memo wrapper), else :class:`_RowsOnCpu`."""
    if torch.device(encoder.device).type == "cpu":
        return encoder
    if isinstance(encoder, CachedTextEncoder):
        return CachedTextEncoder(_cpu_text_encoder(encoder.inner), encoder.max_items)
    if type(encoder) is MiniLMEncoder:
        return MiniLMEncoder("cpu", encoder.folder)
    if type(encoder) is ClipTextEncoder:
        return ClipTextEncoder("cpu", encoder.folder)
    return _RowsOnCpu(encoder)


class _RowsOnCpu(TextEncoder):
    """An encoder we cannot rebuild on the CPU: it encodes on its own device (that can still run out
    of memory, though prompts are small next to the motion models) and hands the rows over."""

    def __init__(self, inner: TextEncoder) -> None:
        self.inner, self.name, self.dim, self.device = inner, inner.name, inner.dim, torch.device("cpu")

    def encode(self, texts: Sequence[str]) -> torch.Tensor:
        return self.inner.encode(texts).cpu()
