"""The one way to unlearn: ``apply(bundle, concept, method, **hyperparameters) -> Edit``.

Each method registers itself, in its own module of this package, with :func:`register`: its name,
a one-line summary, its typed hyperparameters with their defaults, the function that makes the
edit, what it needs (the text encoder, the code index) and what it is (edits the text side, edits
the codebook, constrains sampling, which inspector views it offers). The app's method list, the
unlearning CLI and the benchmark read only this registry, so a new method is one new module here
and nothing else. The registry imports the package's modules the first time it is asked, which
registers every method.

Every method returns an :class:`~hmu_demo.unlearning.edit.Edit` (changed tensors, an optional
sampling constraint, the report) and modifies nothing.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from hmu_demo.plugins import PluginRegistry
from hmu_demo.unlearning.code_index import CodeIndex
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.flagging import concept_split, load_index

__all__ = ["INSPECTOR_VIEWS", "Method", "all_methods", "apply", "check_split", "get_method", "method_names",
           "register", "resolve_concept", "unregister"]

#: The inspector views a method may offer: the codebook map with its flagged codes, token timelines
#: of a comparison, and the shift of the text condition.
INSPECTOR_VIEWS = ("codebook", "timeline", "condition_shift")

#: ``run(bundle, concept, *, text_encoder, index, **hyperparameters) -> Edit``; ``index`` is the
#: code index, its path or None (the embedded one), loaded by the registry for ``needs_index``.
MethodFunction = Callable[..., Edit]


@dataclass(frozen=True)
class Method:
    """A registered method: what it is called, does and needs, and how to run it."""

    name: str
    summary: str
    run: MethodFunction
    defaults: Mapping[str, object] = field(default_factory=dict)
    needs_text_encoder: bool = False
    needs_index: bool = False
    edits_text: bool = False           # changes the text-condition projections (cond_emb)
    edits_codebook: bool = False       # replaces rows of the RVQ codebook
    constrains_sampling: bool = False  # forbids codes while sampling, per prompt (no weight changed)
    trains: bool = False               # fine-tunes transformer weights (minutes of CPU; see finetune_methods)
    inspector_views: tuple[str, ...] = ()
    order: int = 100                   # place in listings (app dropdown, CLI, benchmark)

    def __post_init__(self) -> None:
        unknown = sorted(set(self.inspector_views) - set(INSPECTOR_VIEWS))
        if unknown:
            raise ValueError(f"method {self.name!r}: unknown inspector views {unknown}; known: {INSPECTOR_VIEWS}")
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))


_REGISTRY: PluginRegistry[Method] = PluginRegistry(__package__, "method")


def register(method: Method) -> Method:
    """Add ``method`` (a name may be registered once); returns it, so a module can keep it."""
    return _REGISTRY.register(method)


def unregister(name: str) -> None:
    """Remove a method (plug-ins and tests that register one for a while)."""
    _REGISTRY.unregister(name)


def all_methods() -> dict[str, Method]:
    """Every registered method by name, in listing order."""
    return _REGISTRY.all()


def method_names() -> list[str]:
    return list(all_methods())


def get_method(name: object) -> Method:
    """The method called ``name``; ValueError naming the registered ones otherwise."""
    return _REGISTRY.get(name)


def resolve_concept(concept: Concept | str) -> Concept:
    """A Concept, the name of one of the project's lexicon concepts ("violence"), or comma-separated
    keywords typed by a user ("jump, hop, leap"; one keyword needs a trailing comma: "kick,"),
    which name their own concept."""
    if isinstance(concept, Concept):
        return concept
    if isinstance(concept, str):
        if "," in concept:
            keywords = ", ".join(dict.fromkeys(" ".join(p.split()).lower() for p in concept.split(",") if p.strip()))
            if not keywords:
                raise ValueError(f"concept {concept!r} has no keywords")
            return Concept.from_text(keywords, keywords)
        return Concept.from_lexicon(concept)
    raise ValueError(f"concept must be a Concept or a concept name, got {type(concept).__name__}")


#: Keywords that match more of the code index's motions than this leave too little to keep.
MAX_FORGET_SHARE = 0.5


def check_split(mask: np.ndarray, concept: Concept, method: str, needs_index: bool) -> None:
    """Refuse a concept that more than half of the index's motions mention (nothing would be left to
    keep: the edit would unlearn everything), and for a method that needs the index one that none
    mentions (no code to flag; UCE/RECE still erase the keywords themselves)."""
    words = ", ".join(concept.forget)
    if needs_index and not mask.any():
        raise ValueError(f"no training motion's caption mentions {words}; {method} needs a concept the models "
                         "have seen (try other keywords)")
    if mask.mean() > MAX_FORGET_SHARE:
        raise ValueError(f"the keywords {words} match {mask.mean():.0%} of the training motions: nothing would be "
                         "left to keep; use keywords specific to what should be forgotten")


def _check_type(method: str, name: str, value: object, default: object) -> None:
    """A hyperparameter has its default's kind (number, flag or text); each method checks ranges."""
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        ok, kind = isinstance(value, numbers.Real) and not isinstance(value, bool), "a number"
    elif isinstance(default, str):
        ok, kind = isinstance(value, str), "text"
    else:
        return
    if not ok:
        raise ValueError(f"{method}: {name} must be {kind}, got {value!r}")


def apply(bundle, concept: Concept | str, method: str, *, text_encoder=None,
          index: CodeIndex | str | os.PathLike | None = None, **hyperparameters) -> Edit:
    """Unlearn ``concept`` from ``bundle`` with ``method``: the :class:`Edit` (``bundle`` is untouched).

    ``text_encoder``: the bundle's encoder (made from the bundle when a method needs one and none
    is given); ``index``: the code index or its path (default: the embedded one). Unknown
    methods or hyperparameters raise ValueError naming what is allowed.
    """
    spec = get_method(method)
    unknown = sorted(set(hyperparameters) - set(spec.defaults))
    if unknown:
        raise ValueError(f"{spec.name} has no hyperparameter {', '.join(unknown)}; "
                         f"its hyperparameters are {', '.join(spec.defaults) or 'none'}")
    for name, value in hyperparameters.items():
        _check_type(spec.name, name, value, spec.defaults[name])
    concept = resolve_concept(concept)
    if spec.needs_text_encoder and text_encoder is None:
        text_encoder = bundle.make_text_encoder()
    if spec.needs_index:
        index = load_index(index)  # read once: the check and the edit share it
        check_split(concept_split(index, concept), concept, spec.name, needs_index=True)
    return spec.run(bundle, concept, text_encoder=text_encoder, index=index, **{**spec.defaults, **hyperparameters})
