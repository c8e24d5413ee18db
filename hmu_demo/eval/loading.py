"""Loading what an evaluation needs, once for every preset: the bundle, the text encoder, the judge, the
text-motion evaluator, the code index; every way they can be missing or corrupt becomes an
:class:`EvalError` (the CLIs' exit code 2, one line), so nothing deeper ever has to check.
"""

from __future__ import annotations

from pathlib import Path

import torch

from hmu_demo.models.bundle import BundleError, ModelBundle
from hmu_demo.models.evaluators.base import EvaluatorError, TextMotionEvaluator
from hmu_demo.models.evaluators.embedded import DEFAULT_EVALUATOR, EmbeddedEvaluator
from hmu_demo.models.evaluators.t2m_official import OfficialT2MEvaluator
from hmu_demo.models.judge.scoring import Judge
from hmu_demo.models.text import CachedTextEncoder
from hmu_demo.pipelines.requests import BACKBONES
from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.flagging import load_index

__all__ = ["EvalError", "check_backbones", "load_bundle", "load_code_index", "load_evaluator", "load_judge",
           "load_text_encoder"]


class EvalError(Exception):
    """Bad input the user can fix (missing/corrupt models, unlabelled corpus, impossible settings): exit code 2."""


def check_backbones(bundle: ModelBundle, backbones: list[str]) -> None:
    """EvalError unless every backbone is known and present in the bundle."""
    for backbone in backbones:
        if backbone not in BACKBONES:
            raise EvalError(f"unknown backbone {backbone!r}; choose from {', '.join(BACKBONES)}")
        if backbone == "bamm" and bundle.bamm is None:
            raise EvalError("this bundle has no BAMM model; use --backbones momask")


def load_bundle(folder: str | Path, device: torch.device, official: bool = False,
                what: str = "the model bundle") -> ModelBundle:
    """Our bundle folder, or (``official``) an official MoMask/BAMM ``checkpoints/t2m`` folder."""
    try:
        return ModelBundle.from_official(folder, device=device) if official else ModelBundle.load(folder, device=device)
    except (BundleError, RuntimeError, OSError) as err:
        raise EvalError(f"cannot load {what} {folder}: {err}") from err


def load_text_encoder(bundle: ModelBundle, device: torch.device, weights: Path | None = None) -> CachedTextEncoder:
    """The bundle's text encoder behind a caption memo (evaluations encode the same captions again and again)."""
    try:
        return CachedTextEncoder(bundle.make_text_encoder(device, weights))
    except (OSError, ValueError) as err:  # missing CLIP weights, an encoder the bundle was not trained with
        raise EvalError(f"cannot load the text encoder: {err}") from err


def load_judge(folder: str | Path, device: torch.device, skippable: bool = False) -> Judge:
    """The action/violence judge; ``skippable``: the message says how to run without it."""
    try:
        return Judge.load(folder, device=device)
    except Exception as err:  # missing files, bad JSON, missing keys, corrupt safetensors
        hint = " (pass --judge none to skip its metrics)" if skippable else ""
        raise EvalError(f"cannot load the judge from {folder}: {type(err).__name__}: {err}{hint}") from err


def load_evaluator(kind: str, path: Path | None, device: torch.device,
                   text_encoder: CachedTextEncoder) -> TextMotionEvaluator:
    """``kind`` "official": Guo et al.'s T2M evaluator under ``path``; "embedded": ours (default
    checkpoints/evaluator), sharing ``text_encoder``'s caption memo with the generators."""
    try:
        if kind == "official":
            if path is None:
                raise EvalError("--evaluator official needs --evaluator-path (the folder holding "
                                "checkpoints/t2m/text_mot_match and glove/)")
            return OfficialT2MEvaluator.load(path, device=device)
        return EmbeddedEvaluator.load(path or DEFAULT_EVALUATOR, device=device, text_encoder=text_encoder)
    except EvaluatorError as err:
        raise EvalError(str(err)) from err


def load_code_index(path: Path, required_by: list[str]) -> CodeIndex | None:
    """The code index at ``path``, None when there is none; EvalError when a method of ``required_by``
    (the methods that need one) has to have it."""
    if Path(path).is_file():
        return load_index(path)
    if required_by:
        raise EvalError(f"no code index at {path}; {', '.join(required_by)} need one (--index FILE)")
    return None
