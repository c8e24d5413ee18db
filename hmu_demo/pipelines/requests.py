"""What the pipelines accept: the one place input is checked, for every entry point (app, CLI, eval).

A request is a frozen dataclass validated when it is made; a bad value raises :class:`RequestError`
with a one-line message that says what is allowed. The pipelines then run without checking again.

Limits: typed prompts as :mod:`hmu_demo.prompt` cleans them (control characters become spaces, empty
or over 300 characters refused; dataset captions only must not be empty); lengths from one base token (4 frames, 0.2 s) to 196 frames (9.8 s)
at 20 fps; seeds 0 .. 2^63-1; MoMask decoding steps 1 .. 100 (the published setting is 10; time
grows with them); prompts decoded at once 1 .. 64 (memory grows with the batch).
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from hmu_demo.cli import one_line
from hmu_demo.data.lexicon import resolve_concept as lexicon_concept
from hmu_demo.motion.skeleton import FPS, MAX_FRAMES
from hmu_demo.prompt import PromptError, clean_prompt
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.finetune_methods import served_by_shipped_edit
from hmu_demo.unlearning.registry import get_method, method_names, resolve_concept

__all__ = ["BACKBONES", "MAX_BATCH_SIZE", "MAX_SECONDS", "MAX_SEED", "MAX_STEPS", "MIN_SECONDS", "CompareRequest",
           "EditRequest", "GenerationRequest", "RequestError", "check_backbone", "check_hyperparameters",
           "check_method", "check_seconds", "check_seed", "concept_key", "make_concept"]

BACKBONES = ("momask", "bamm")
MAX_BATCH_SIZE = 64
MAX_STEPS = 100
MAX_SEED = 2 ** 63 - 1
MIN_SECONDS = 4 / FPS
MAX_SECONDS = MAX_FRAMES / FPS


class RequestError(ValueError):
    """Input that cannot be used; one line saying what is allowed. ``field`` names the request field."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


def _whole(value: object) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_seconds(seconds: object) -> float:
    """A requested length in seconds, or RequestError saying which lengths the models can make."""
    if isinstance(seconds, bool) or not isinstance(seconds, numbers.Real) or not math.isfinite(float(seconds)) \
            or not MIN_SECONDS <= float(seconds) <= MAX_SECONDS:
        raise RequestError(f"the length must be from {MIN_SECONDS:g} to {MAX_SECONDS:g} seconds (or automatic), "
                           f"got {seconds!r}", "seconds")
    return float(seconds)


def check_seed(seed: object) -> int:
    if not _whole(seed) or not 0 <= int(seed) <= MAX_SEED:
        raise RequestError(f"seed must be a whole number from 0 to 2^63-1, got {seed!r}", "seed")
    return int(seed)


def check_backbone(backbone: object) -> str:
    if backbone not in BACKBONES:
        raise RequestError(f"unknown backbone {backbone!r}; choose from {', '.join(BACKBONES)}", "backbone")
    return str(backbone)


def _clean(prompt: object) -> str:
    try:
        return clean_prompt(prompt)
    except PromptError as err:
        raise RequestError(str(err), "prompts") from None


def _length(value: object, index: int) -> int | float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise RequestError(f"length of prompt {index} must be a number of frames or None, got {value!r}", "lengths")
    if not math.isfinite(float(value)) or float(value) <= 0:
        raise RequestError(f"length of prompt {index} must be a positive number of frames, got {value!r}", "lengths")
    return value


@dataclass(frozen=True)
class GenerationRequest:
    """Prompts to motions. ``lengths`` in frames, per prompt (None: the length estimator picks; the
    pipeline floors them to whole base tokens and clamps them to what the model can make);
    ``steps``: MoMask's masked-decoding iterations (BAMM ignores them); ``batch_size``: prompts
    decoded at once (None: all of them, up to MAX_BATCH_SIZE)."""

    prompts: tuple[str, ...]
    lengths: tuple[int | float | None, ...] | None = None
    seed: int = 0
    steps: int = 10
    cond_scale: float = 4.0
    res_cond_scale: float = 5.0
    backbone: str = "momask"
    batch_size: int | None = None

    def __post_init__(self) -> None:
        prompts = self.prompts
        if isinstance(prompts, str) or not isinstance(prompts, Iterable):
            raise RequestError("prompts must be a list of strings", "prompts")
        prompts = tuple(prompts)
        if not all(isinstance(p, str) for p in prompts):
            raise RequestError("prompts must be a list of strings", "prompts")
        if any(not p.strip() for p in prompts):
            raise RequestError("prompts must not be empty", "prompts")
        set_ = object.__setattr__
        set_(self, "prompts", prompts)
        if self.lengths is not None:
            lengths = tuple(self.lengths)
            if len(lengths) != len(prompts):
                raise RequestError(f"got {len(lengths)} lengths for {len(prompts)} prompts", "lengths")
            set_(self, "lengths", tuple(_length(v, i) for i, v in enumerate(lengths)))
        set_(self, "seed", check_seed(self.seed))
        if not _whole(self.steps) or not 1 <= self.steps <= MAX_STEPS:
            raise RequestError(f"steps must be an integer from 1 to {MAX_STEPS}, got {self.steps!r}", "steps")
        for name in ("cond_scale", "res_cond_scale"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(float(value)):
                raise RequestError(f"{name} must be a finite number, got {value!r}", name)
            set_(self, name, float(value))
        set_(self, "backbone", check_backbone(self.backbone))
        size = self.batch_size
        if size is not None and (not _whole(size) or not 1 <= size <= MAX_BATCH_SIZE):
            raise RequestError(f"batch_size must be an integer from 1 to {MAX_BATCH_SIZE}, got {size!r}", "batch_size")

    @classmethod
    def from_seconds(cls, prompts: Iterable[str], seconds: float | None, **settings: Any) -> "GenerationRequest":
        """Prompts a person typed (cleaned by the prompt rules), every one ``seconds`` long (checked:
        0.2 .. 9.8), or None for the length estimator. Captions of a dataset go to the constructor
        as they are (a caption is never rewritten: its seed and encoding would change)."""
        prompts = (prompts,) if isinstance(prompts, str) else tuple(prompts)
        if not all(isinstance(p, str) for p in prompts):
            raise RequestError("prompts must be a list of strings", "prompts")
        prompts = tuple(_clean(p) for p in prompts)
        lengths = None if seconds is None else (check_seconds(seconds) * FPS,) * len(prompts)
        return cls(prompts, lengths, **settings)


def concept_key(concept: object) -> str:
    """The cache/report form of a concept: lower case, keywords comma-separated, spaces collapsed."""
    if isinstance(concept, Concept):
        return json.dumps(concept.to_dict(), sort_keys=True)
    if not isinstance(concept, str):
        raise RequestError("the concept must be text (a name or comma-separated keywords), got "
                           f"{type(concept).__name__}", "concept")
    parts = [" ".join(p.split()) for p in concept.lower().split(",")]
    parts = list(dict.fromkeys(p for p in parts if p))
    if not parts:
        raise RequestError("the concept is empty; give a name such as 'violence' or keywords such as "
                           "'jump, hop, leap'", "concept")
    return ", ".join(parts)


def make_concept(concept: Concept | str) -> Concept:
    """A lexicon concept for a known name, else a concept of the typed keywords (a single unknown word
    is one keyword: the app's box is for keywords)."""
    if isinstance(concept, Concept):
        return concept
    key = concept_key(concept)
    try:
        return resolve_concept(key if "," in key or lexicon_concept(key) is not None else f"{key},")
    except ValueError as err:
        raise RequestError(f"unusable concept {key!r}: {one_line(err)}", "concept") from err


@dataclass(frozen=True)
class EditRequest:
    """An unlearning edit to make: a registered method, a concept (a lexicon name, comma-separated
    keywords or a Concept) and hyperparameter overrides (the registry checks their names and ranges)."""

    method: str
    concept: Concept | str = "violence"
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "method", check_method(self.method))
        concept_key(self.concept)
        object.__setattr__(self, "hyperparameters", check_hyperparameters(self.hyperparameters))
        check_no_training(self.method, self.concept, self.hyperparameters)

    @property
    def concept_key(self) -> str:
        return concept_key(self.concept)

    @property
    def key(self) -> tuple:
        """Equal for requests that make the same edit (the concept normalised, overrides sorted)."""
        return self.method, self.concept_key, tuple(sorted((k, repr(v)) for k, v in self.hyperparameters.items()))


@dataclass(frozen=True)
class CompareRequest:
    """One prompt through the original and an unlearned model (the app's compare and generate calls).

    ``method`` None: the original model alone (concept and hyperparameters are then not used);
    ``concept``: a lexicon name, comma-separated keywords or a Concept (``concept_key`` is its
    normalised form); ``seconds`` None: the length estimator picks (the edited model then gets the
    original's length)."""

    prompt: str
    backbone: str = "momask"
    method: str | None = "lcr-gated"
    concept: Concept | str = "violence"
    hyperparameters: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    seconds: float | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        set_(self, "prompt", _clean(self.prompt))
        if self.seconds is not None:
            set_(self, "seconds", check_seconds(self.seconds))
        set_(self, "seed", check_seed(self.seed))
        if self.method is not None:
            set_(self, "method", check_method(self.method))
            concept_key(self.concept)
        set_(self, "backbone", check_backbone(self.backbone))
        set_(self, "hyperparameters", {} if self.method is None else check_hyperparameters(self.hyperparameters))

    @property
    def concept_key(self) -> str:
        return concept_key(self.concept)

    def edit(self) -> EditRequest:
        """The edit this comparison runs through (``method`` must not be None)."""
        return EditRequest(self.method, self.concept, self.hyperparameters)

    def generation(self, **settings: Any) -> GenerationRequest:
        """The generation request of this prompt (``settings``: steps, scales, ...)."""
        return GenerationRequest.from_seconds((self.prompt,), self.seconds, seed=self.seed, backbone=self.backbone,
                                              **settings)


def check_method(method: object) -> str:
    """A registered method name (the registry lists them)."""
    if not isinstance(method, str) or method not in method_names():
        raise RequestError(f"unknown method {method!r}; choose from {', '.join(method_names())}", "method")
    return method


def check_no_training(method: str, concept: Concept | str, hp: Mapping[str, Any]) -> None:
    """An interactive edit never fine-tunes: a training-based method is served only from its shipped edit
    (the default concept and settings); anything else would hold the app for minutes of CPU."""
    if not get_method(method).trains:
        return
    try:
        name = resolve_concept(concept).name
    except ValueError:
        return  # the edit itself reports an unknown concept
    if served_by_shipped_edit(method, name, dict(hp)):
        return
    raise RequestError(f"{method} fine-tunes the models, and for this concept or these settings that takes minutes "
                       "of CPU (2.5-3 minutes on an idle 2-core CPU, more under load): too long for an interactive call. "
                       f"Make the edit with python -m hmu_demo.unlearn --method {method} --forget KEYWORDS --out DIR "
                       "(progress bar, resumable) and generate with python -m hmu_demo.generate --edit DIR; here "
                       f"{method} serves 'violence' with its default settings", "method")


def check_hyperparameters(hp: object) -> dict:
    """A mapping of names to values (None: the method's defaults); the registry checks names and ranges."""
    if hp is None:
        return {}
    if not isinstance(hp, Mapping) or not all(isinstance(k, str) for k in hp):
        raise RequestError(f"hyperparameters must map names to values, got {type(hp).__name__}", "hyperparameters")
    return dict(hp)
