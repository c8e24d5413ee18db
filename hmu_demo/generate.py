"""Generator: prompts -> RVQ tokens -> 263-d features -> joints, batched and seeded.

Pipeline (reference/momask_bamm.md §1, §8): text encoder -> (length estimator, sampled) -> base
transformer (MoMask masked or BAMM) -> residual transformer (layers 1..5) -> RVQ-VAE decoder ->
de-normalise with the bundle's model-side mean/std -> ``features_to_joints`` (22 joints, 20 fps).

Determinism: every prompt gets its own ``torch.Generator`` (CPU, so CPU and CUDA draw the same
noise) seeded from ``sha256(seed, prompt text)``, and the model classes draw each sample's noise
from its own generator over its own length only. So a prompt's motion depends on (bundle, prompt,
length, seed, settings) and not on its position or on the other prompts of the batch. The RVQ
decoder is a convolution over time, so padding would leak into the last frames of shorter motions:
decoding is therefore batched per distinct token length, never across lengths.

Out of memory (``hmu_demo.models.oom``): a batch that does not fit on the GPU is retried in halves,
and a single prompt that still does not fit runs on a CPU copy of the models (made once, kept on
the Generator; the caller's bundle stays on the GPU, and the next call tries the GPU again).
``Generator.last_fallback`` says what happened. Because a prompt's motion does not depend on its
batch, the halves give the motions of the whole batch; the differences possible are float
rounding: GPU kernels and the text encoders' padding vary with the batch shape, and the CPU
computes in its own order (a rounding difference can flip a sampled token, rarely).

CLI::

    python -m hmu_demo.generate "a person jumps twice" "a man walks" --out DIR [--backbone momask|bamm]
        [--seconds S] [--seed N] [--steps N] [--bundle FOLDER | --official FOLDER] [--edit EDIT_DIR]
        [--device cpu|cuda]

writes ``DIR/<k>_joints.npy``, ``<k>_features.npy``, ``<k>_tokens.npy`` and ``DIR/manifest.json``.
"""

from __future__ import annotations

import hashlib
import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from hmu_demo.models.oom import OomReport, cpu_copy, run_batched
from hmu_demo.models.text import CachedTextEncoder, ClipTextEncoder, MiniLMEncoder, TextEncoder  # light: torch only
from hmu_demo.motion.skeleton import FPS, MAX_FRAMES

if TYPE_CHECKING:  # heavy imports stay lazy so `--help` and CLI errors are fast
    from hmu_demo.models.bundle import ModelBundle

__all__ = ["Motion", "Generator", "prompt_seed", "main", "EMBEDDED_DIR"]

#: Where the embedded (procedural-corpus) bundle will live once trained.
EMBEDDED_DIR = Path(__file__).resolve().parent.parent / "checkpoints" / "embedded"
BACKBONES = ("momask", "bamm")
#: Resource caps: prompts decoded at once (memory grows with the batch) and MoMask decoding
#: iterations (time grows with them; the published setting is 10).
MAX_BATCH_SIZE = 64
MAX_STEPS = 100
#: Motion lengths any entry point accepts: one base token (4 frames) .. MAX_FRAMES (196).
MIN_SECONDS = 4 / FPS
MAX_SECONDS = MAX_FRAMES / FPS


def check_seconds(seconds: object, max_seconds: float = MAX_SECONDS) -> float:
    """A requested length in seconds, or ValueError saying which lengths the models can make."""
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not math.isfinite(float(seconds)) \
            or not MIN_SECONDS <= float(seconds) <= max_seconds:
        raise ValueError(f"the length must be from {MIN_SECONDS:g} to {max_seconds:g} seconds (or automatic), "
                         f"got {seconds!r}")
    return float(seconds)


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
    gated: bool = False  # LCR-gated: the flagged codes were masked out of this prompt's sampling

    @property
    def seconds(self) -> float:
        return self.length_frames / FPS


def prompt_seed(seed: int, prompt: str, stream: str = "tokens") -> int:
    """A 63-bit seed from (seed, prompt text, stream): stable across runs and processes (not hash())."""
    digest = hashlib.sha256(f"{int(seed)}\x00{stream}\x00{prompt}".encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def _generators(seed: int, prompts: Sequence[str], stream: str) -> list[torch.Generator]:
    return [torch.Generator(device="cpu").manual_seed(prompt_seed(seed, p, stream)) for p in prompts]


def _resolve_device(device: str | torch.device | None) -> torch.device:
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but CUDA is not available here; use --device cpu")
    return device


class Generator:
    """Text-to-motion generation with a :class:`ModelBundle` and the text encoder it was trained with.

    ``device`` None picks CUDA when available, else CPU; the bundle is moved there (in place).
    ``last_fallback`` is the :class:`OomReport` of the last :meth:`generate` call that ran out of
    memory (None when it did not): its ``message`` is the line to show a user.
    """

    def __init__(self, bundle: "ModelBundle", text_encoder: TextEncoder,
                 device: str | torch.device | None = None) -> None:
        bundle.check_text_encoder(text_encoder)
        self.bundle = bundle
        self.text_encoder = text_encoder
        self.device = _resolve_device(device)
        self.bundle.to(self.device).eval()
        self.last_fallback: OomReport | None = None
        # (bundle, encoder) it was made from, then their CPU copies: made on the first fallback only
        self._cpu_models: tuple[object, object, "ModelBundle", TextEncoder] | None = None

    def _models_on(self, device: torch.device) -> tuple["ModelBundle", TextEncoder]:
        """The bundle and encoder to run on ``device``: our own, or (fallback) their CPU copies.

        The copies are cached for later fallbacks and remade when ``bundle`` or ``text_encoder`` is
        replaced; weights edited in place after a fallback are not seen (set ``_cpu_models = None``).
        """
        if device == self.device:
            return self.bundle, self.text_encoder
        if device.type != "cpu":
            raise ValueError(f"no copy of the models for {device}; the generator runs on {self.device}")
        cached = self._cpu_models
        if cached is None or cached[0] is not self.bundle or cached[1] is not self.text_encoder:
            cached = (self.bundle, self.text_encoder, cpu_copy(self.bundle).eval(),
                      _cpu_text_encoder(self.text_encoder))
            self._cpu_models = cached
        return cached[2], cached[3]

    # ------------------------------------------------------------------ lengths
    def max_frames(self, backbone: str = "momask") -> int:
        """Longest motion in frames: 196 (9.8 s), or less when the model's horizon is shorter."""
        cfg = self.bundle.config
        down = cfg.vq.downsample
        tokens = MAX_FRAMES // down
        if backbone == "bamm" and cfg.bamm is not None:
            tokens = min(tokens, cfg.bamm.max_motion_tokens)
        return tokens * down

    def _frames(self, value: object, index: int, max_frames: int) -> int:
        down = self.bundle.config.vq.downsample
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise ValueError(f"length of prompt {index} must be a number of frames or None, got {value!r}")
        v = float(value)
        if math.isnan(v) or math.isinf(v) or v <= 0:
            raise ValueError(f"length of prompt {index} must be a positive number of frames, got {value!r}")
        frames = int(v) // down * down
        return min(max(frames, down), max_frames)

    # ------------------------------------------------------------------ generation
    @torch.no_grad()
    def generate(self, prompts: Sequence[str], lengths: Sequence[int | float | None] | None = None,
                 seed: int = 0, steps: int = 10, cond_scale: float = 4.0, res_cond_scale: float = 5.0,
                 backbone: str = "momask", device: str | torch.device | None = None,
                 batch_size: int | None = None) -> list[Motion]:
        """Generate one motion per prompt, at most ``batch_size`` (default and cap: MAX_BATCH_SIZE) at
        a time, so memory stays bounded however many prompts come.

        ``lengths`` in frames (floored to a multiple of 4 and clamped to [4, 196]); None (for all or
        for one prompt) samples the length from the length estimator. ``steps`` is MoMask's number of
        masked-decoding iterations (BAMM ignores it). Deterministic for a seed on a device, whatever
        else is in the batch (see module docstring).
        """
        if isinstance(prompts, str) or not all(isinstance(p, str) for p in prompts):
            raise ValueError("prompts must be a list of strings")
        prompts = list(prompts)
        if not prompts:
            return []
        if any(not p.strip() for p in prompts):
            raise ValueError("prompts must not be empty")
        if backbone not in BACKBONES:
            raise ValueError(f"backbone must be one of {', '.join(BACKBONES)}, got {backbone!r}")
        if backbone == "bamm" and self.bundle.bamm is None:
            raise ValueError("this bundle has no BAMM model; use backbone 'momask'")
        if isinstance(steps, bool) or not isinstance(steps, int) or not 1 <= steps <= MAX_STEPS:
            raise ValueError(f"steps must be an integer from 1 to {MAX_STEPS}, got {steps!r}")
        batch_size = min(len(prompts), MAX_BATCH_SIZE) if batch_size is None else batch_size
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or not 1 <= batch_size <= MAX_BATCH_SIZE:
            raise ValueError(f"batch_size must be an integer from 1 to {MAX_BATCH_SIZE}, got {batch_size!r}")
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
            raise ValueError(f"seed must be an int, got {seed!r}")
        if lengths is None:
            lengths = [None] * len(prompts)
        lengths = list(lengths)
        if len(lengths) != len(prompts):
            raise ValueError(f"got {len(lengths)} lengths for {len(prompts)} prompts")
        if device is not None and torch.device(device) != self.device:
            self.device = _resolve_device(device)
            self.bundle.to(self.device)
        max_frames = self.max_frames(backbone)
        frames = [None if v is None else self._frames(v, i, max_frames) for i, v in enumerate(lengths)]

        def batch(jobs: list[tuple[str, int | None]], device: torch.device) -> list[Motion]:
            return self._generate_batch(jobs, device, seed=int(seed), steps=steps, cond_scale=cond_scale,
                                        res_cond_scale=res_cond_scale, backbone=backbone, max_frames=max_frames)

        motions, report = run_batched(batch, list(zip(prompts, frames)), self.device, batch_size=batch_size,
                                      what="generation")
        self.last_fallback = report if report.fell_back else None
        return motions

    def _generate_batch(self, jobs: list[tuple[str, int | None]], device: torch.device, *, seed: int,
                        steps: int, cond_scale: float, res_cond_scale: float, backbone: str,
                        max_frames: int) -> list[Motion]:
        """One batch of (prompt, frames or None) on ``device``; each motion independent of the others."""
        from hmu_demo.models.length import sample_lengths
        from hmu_demo.motion.features import features_to_joints

        bundle, text_encoder = self._models_on(device)
        prompts = [p for p, _ in jobs]
        frames = [f for _, f in jobs]
        down = bundle.config.vq.downsample
        cond = text_encoder.encode(prompts).to(device=device, dtype=torch.float32)

        # lengths: one batched estimator call, one draw per prompt from its own generator
        todo = [i for i, f in enumerate(frames) if f is None]
        if todo:
            logits = bundle.length_estimator(cond[todo]).cpu()
            len_gens = _generators(seed, [prompts[i] for i in todo], "length")
            for row, i in enumerate(todo):
                tokens = int(sample_lengths(logits[row : row + 1], generator=len_gens[row])[0])
                frames[i] = min(tokens * down, max_frames)
        token_lens = [f // down for f in frames]

        gate = getattr(bundle, "gate", None)  # LCR-gated edits (hmu_demo.unlearning.gate)
        forbidden = gate.forbidden_rows(prompts, cond) if gate is not None else None
        gated = [False] * len(prompts) if forbidden is None else forbidden.any(dim=1).tolist()
        gens = _generators(seed, prompts, "tokens")
        if backbone == "momask":
            base = bundle.masked.generate(cond, token_lens, timesteps=steps, cond_scale=cond_scale, generator=gens,
                                          forbidden=forbidden)
        else:
            base, _ = bundle.bamm.generate(cond, token_lens, cond_scale=cond_scale, generator=gens,
                                           forbidden=forbidden)
        ids = bundle.residual.generate(base, cond, token_lens, cond_scale=res_cond_scale, generator=gens)

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


# ---------------------------------------------------------------------------------------------- CLI


class _CliError(Exception):
    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in str(text).splitlines() if part.strip())


def _parser():
    import argparse

    p = argparse.ArgumentParser(prog="python -m hmu_demo.generate",
                                description="Generate motions from text prompts with MoMask or BAMM.")
    p.add_argument("prompts", nargs="+", help="one or more text prompts")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--backbone", choices=BACKBONES, default="momask")
    p.add_argument("--seconds", type=float, default=None,
                   help=f"motion length in seconds (max {MAX_FRAMES / FPS:g}); default: estimated per prompt")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--steps", type=int, default=10, help=f"MoMask masked-decoding iterations (1-{MAX_STEPS})")
    p.add_argument("--batch-size", type=int, default=None,
                   help=f"prompts generated at once (1-{MAX_BATCH_SIZE}; default: all, up to {MAX_BATCH_SIZE})")
    p.add_argument("--cond-scale", type=float, default=4.0)
    p.add_argument("--res-cond-scale", type=float, default=5.0)
    src = p.add_mutually_exclusive_group()
    src.add_argument("--bundle", help="a bundle folder (ModelBundle.save)")
    src.add_argument("--official", help="the official MoMask/BAMM checkpoints/t2m folder")
    p.add_argument("--edit", help="an unlearning edit folder (python -m hmu_demo.unlearn --out DIR) to apply")
    p.add_argument("--text-weights", help="local text-encoder folder (CLIP ViT-B/32 for official models)")
    p.add_argument("--device", choices=("cpu", "cuda"), default=None, help="default: cuda when available")
    return p


def _run(args) -> dict:
    from hmu_demo.models.bundle import ModelBundle
    from hmu_demo.models.official import CheckpointError
    from hmu_demo.prompt import PromptError, clean_prompt

    try:
        if args.seconds is not None:
            check_seconds(args.seconds)
        prompts = [clean_prompt(p) for p in args.prompts]
    except (ValueError, PromptError) as err:
        raise _CliError(str(err), 2) from err
    if not 1 <= args.steps <= MAX_STEPS:
        raise _CliError(f"--steps must be from 1 to {MAX_STEPS}, got {args.steps}", 2)
    if args.batch_size is not None and not 1 <= args.batch_size <= MAX_BATCH_SIZE:
        raise _CliError(f"--batch-size must be from 1 to {MAX_BATCH_SIZE}, got {args.batch_size}", 2)
    device = _resolve_device(args.device)
    folder = args.official or args.bundle
    if folder is None and not (EMBEDDED_DIR / "bundle.json").is_file():
        raise _CliError(
            f"the embedded models are not trained yet (no {EMBEDDED_DIR / 'bundle.json'}); pass a bundle "
            "folder with --bundle FOLDER or the official MoMask/BAMM checkpoints with --official FOLDER", 2)
    source = str(folder or EMBEDDED_DIR)
    try:
        if args.official:
            bundle = ModelBundle.from_official(args.official, device=device)
        else:
            bundle = ModelBundle.load(args.bundle or EMBEDDED_DIR, device=device)
    except (OSError, ValueError, CheckpointError) as err:
        raise _CliError(f"cannot load the models from {source}: {_one_line(err)}", 2) from err
    edit = None
    if args.edit:
        from hmu_demo.unlearning.edit_io import EditError, load_edit

        try:
            bundle, report, _ = load_edit(bundle, args.edit)
        except EditError as err:
            raise _CliError(str(err), 2) from err
        edit = {"folder": str(args.edit), "method": report.method, "concept": report.concept}
    gen = Generator(bundle, bundle.make_text_encoder(device, args.text_weights), device=device)
    lengths = None if args.seconds is None else [args.seconds * FPS] * len(prompts)
    motions = gen.generate(prompts, lengths, seed=args.seed, steps=args.steps, cond_scale=args.cond_scale,
                           res_cond_scale=args.res_cond_scale, backbone=args.backbone, batch_size=args.batch_size)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for k, m in enumerate(motions):
        np.save(out / f"{k}_joints.npy", m.joints)
        np.save(out / f"{k}_features.npy", m.features)
        np.save(out / f"{k}_tokens.npy", m.tokens)
        entries.append({"index": k, "prompt": m.prompt, "frames": m.length_frames, "seconds": m.seconds, "gated": m.gated,
                        "joints": f"{k}_joints.npy", "features": f"{k}_features.npy", "tokens": f"{k}_tokens.npy"})
    manifest = {"bundle": source, "backbone": args.backbone, "seed": args.seed, "steps": args.steps,
                "cond_scale": args.cond_scale, "res_cond_scale": args.res_cond_scale, "fps": FPS,
                "device": str(device), "text_encoder": bundle.config.text_encoder, "edit": edit, "motions": entries}
    import json

    tmp = out / "manifest.json.tmp"
    tmp.write_text(json.dumps(manifest, indent=2), encoding="utf-8")
    tmp.replace(out / "manifest.json")
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 1 error, 2 bad usage / no models). Errors: one line."""
    import sys

    args = _parser().parse_args(argv)
    try:
        manifest = _run(args)
    except _CliError as err:
        print(f"error: {_one_line(err)}", file=sys.stderr)
        return err.code
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    except Exception as err:  # every other failure: one line, no traceback
        print(f"error: {_one_line(err) or type(err).__name__}", file=sys.stderr)
        return 1
    for entry in manifest["motions"]:
        print(f"{entry['index']}: {entry['frames']} frames ({entry['seconds']:.1f} s)  {entry['prompt']}")
    print(f"wrote {len(manifest['motions'])} motion(s) to {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
