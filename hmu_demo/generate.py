"""``python -m hmu_demo.generate``: prompts to motion files, through the text-to-motion pipeline.

::

    python -m hmu_demo.generate "a person jumps twice" "a man walks" --out DIR [--backbone momask|bamm]
        [--seconds S] [--seed N] [--steps N] [--bundle FOLDER | --official FOLDER] [--edit EDIT_DIR]
        [--device cpu|cuda]

writes ``DIR/<k>_joints.npy``, ``<k>_features.npy``, ``<k>_tokens.npy`` and ``DIR/manifest.json``.
The input is checked by :mod:`hmu_demo.pipelines.requests`; the motions come from
:class:`hmu_demo.pipelines.text_to_motion.TextToMotionPipeline` (seeded per prompt: see there).
Errors: one line on stderr; exit 2 for input or missing models the user can fix, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hmu_demo import atomic
from hmu_demo.cli import one_line, run_guarded
from hmu_demo.config import EMBEDDED_DIR, resolve_device
from hmu_demo.models.bundle import ModelBundle
from hmu_demo.models.official import CheckpointError
from hmu_demo.motion.skeleton import FPS
from hmu_demo.pipelines.requests import BACKBONES, MAX_BATCH_SIZE, MAX_SECONDS, MAX_STEPS, GenerationRequest, \
    RequestError
from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline
from hmu_demo.unlearning.edit_io import EditError, load_edit

__all__ = ["main"]

#: The request fields the flags fill, named by their flag in a refusal.
FLAGS = {"seed": "--seed", "steps": "--steps", "batch_size": "--batch-size", "cond_scale": "--cond-scale",
         "res_cond_scale": "--res-cond-scale"}


class UsageError(Exception):
    """Models or a device the user has to provide (exit 2)."""


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m hmu_demo.generate",
                                description="Generate motions from text prompts with MoMask or BAMM.")
    p.add_argument("prompts", nargs="+", help="one or more text prompts")
    p.add_argument("--out", required=True, help="output folder (created)")
    p.add_argument("--backbone", choices=BACKBONES, default="momask")
    p.add_argument("--seconds", type=float, default=None,
                   help=f"motion length in seconds (max {MAX_SECONDS:g}); default: estimated per prompt")
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


def _request(args: argparse.Namespace) -> GenerationRequest:
    try:
        return GenerationRequest.from_seconds(args.prompts, args.seconds, seed=args.seed, steps=args.steps,
                                              cond_scale=args.cond_scale, res_cond_scale=args.res_cond_scale,
                                              backbone=args.backbone, batch_size=args.batch_size)
    except RequestError as err:
        if err.field in FLAGS:
            raise RequestError(f"argument {FLAGS[err.field]}: {err}", err.field) from None
        raise


def _load(args: argparse.Namespace, device) -> tuple[ModelBundle, str]:
    folder = args.official or args.bundle
    if folder is None and not (EMBEDDED_DIR / "bundle.json").is_file():
        raise UsageError(
            f"the embedded models are not trained yet (no {EMBEDDED_DIR / 'bundle.json'}); pass a bundle "
            "folder with --bundle FOLDER or the official MoMask/BAMM checkpoints with --official FOLDER")
    source = str(folder or EMBEDDED_DIR)
    try:
        if args.official:
            return ModelBundle.from_official(args.official, device=device), source
        return ModelBundle.load(args.bundle or EMBEDDED_DIR, device=device), source
    except (OSError, ValueError, CheckpointError) as err:
        raise UsageError(f"cannot load the models from {source}: {one_line(err)}") from err


def _run(args: argparse.Namespace) -> dict:
    request = _request(args)
    try:
        device = resolve_device(args.device)
    except ValueError as err:
        raise UsageError(str(err)) from None
    bundle, source = _load(args, device)
    edit, edit_entry = None, None
    if args.edit:
        edit, _ = load_edit(bundle, args.edit)
        edit_entry = {"folder": str(args.edit), "method": edit.report.method, "concept": edit.report.concept}
    pipeline = TextToMotionPipeline(bundle, bundle.make_text_encoder(device, args.text_weights), device=device,
                                    edit=edit)
    motions = pipeline(request).motions
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    entries = []
    for k, m in enumerate(motions):
        np.save(out / f"{k}_joints.npy", m.joints)
        np.save(out / f"{k}_features.npy", m.features)
        np.save(out / f"{k}_tokens.npy", m.tokens)
        entries.append({"index": k, "prompt": m.prompt, "frames": m.length_frames, "seconds": m.seconds,
                        "gated": m.gated, "joints": f"{k}_joints.npy", "features": f"{k}_features.npy",
                        "tokens": f"{k}_tokens.npy"})
    manifest = {"bundle": source, "backbone": request.backbone, "seed": request.seed, "steps": request.steps,
                "cond_scale": args.cond_scale, "res_cond_scale": args.res_cond_scale, "fps": FPS,
                "device": str(device), "text_encoder": bundle.config.text_encoder, "edit": edit_entry,
                "motions": entries}
    atomic.write_text(out / "manifest.json", json.dumps(manifest, indent=2))
    return manifest


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point; returns the exit code (0 ok, 1 error, 2 bad input / no models, 130 interrupted)."""
    args = _parser().parse_args(argv)
    manifest, code = run_guarded(lambda: _run(args), (RequestError, EditError, UsageError))
    if manifest is None:
        return code
    for entry in manifest["motions"]:
        print(f"{entry['index']}: {entry['frames']} frames ({entry['seconds']:.1f} s)  {entry['prompt']}")
    print(f"wrote {len(manifest['motions'])} motion(s) to {args.out}")
    return 0


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
