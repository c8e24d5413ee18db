"""The one way to attack: ``get_attack(name).run(target, starts, budget, **hyperparameters) -> [AttackRun]``.

Each attack registers itself, in its own module of this package, with :func:`register`: its name, a
one-line summary, the function that makes one run from one start, its typed hyperparameters with
their defaults (``budget`` among them, in the attack's own unit), whether it needs white-box access
(gradients or condition vectors) and which red-team prompts it starts from. The attack CLI, and the
app and the benchmark later, read only this registry, so a new attack is one new module here. As for
the unlearning methods (:mod:`hmu_demo.unlearning.registry`), the registry imports the package's
modules the first time it is asked, which registers every attack.
"""

from __future__ import annotations

import numbers
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

from hmu_demo.attack.runs import AttackRun, Start
from hmu_demo.attack.target import AttackTarget
from hmu_demo.plugins import PluginRegistry

__all__ = ["BUDGET_UNITS", "STARTS", "Attack", "all_attacks", "attack_names", "get_attack", "register", "unregister"]

#: What an attack's budget counts: generations through the pipeline, optimisation steps, scales swept.
BUDGET_UNITS = ("generations", "steps", "scales")
#: Which red-team prompts an attack starts from: violent ones (to keep violent), plain benign ones (to turn).
STARTS = ("violent", "benign")

#: ``run_one(target, start, budget, **hyperparameters) -> AttackRun``
RunFunction = Callable[..., AttackRun]
#: Called after each run (the CLI's progress lines).
Progress = Callable[[int, AttackRun], None]


@dataclass(frozen=True)
class Attack:
    """A registered attack: what it is called, does and needs, and how one run of it goes."""

    name: str
    summary: str
    run_one: RunFunction
    defaults: Mapping[str, object] = field(default_factory=dict)  # "budget" included
    white_box: bool = False         # reads gradients or sets the condition vector (else: prompts only)
    starts: str = "violent"         # which red-team prompts it starts from (STARTS)
    budget_unit: str = "generations"
    order: int = 100                # place in listings

    def __post_init__(self) -> None:
        if self.starts not in STARTS or self.budget_unit not in BUDGET_UNITS:
            raise ValueError(f"attack {self.name!r}: starts must be one of {STARTS}, budget_unit one of {BUDGET_UNITS}")
        budget = self.defaults.get("budget")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise ValueError(f"attack {self.name!r}: its defaults must hold a whole budget >= 1")
        object.__setattr__(self, "defaults", MappingProxyType(dict(self.defaults)))

    def check(self, budget: object, hyperparameters: Mapping[str, object]) -> tuple[int, dict]:
        """The budget and the full hyperparameters (defaults filled in), checked for names and kinds;
        ValueError naming what is allowed otherwise (each attack checks its own ranges)."""
        budget = self.defaults["budget"] if budget is None else budget
        if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or budget < 1:
            raise ValueError(f"{self.name}: the budget must be a whole number >= 1 ({self.budget_unit}), "
                             f"got {budget!r}")
        names = [n for n in self.defaults if n != "budget"]
        unknown = sorted(set(hyperparameters) - set(names))
        if unknown:
            raise ValueError(f"{self.name} has no hyperparameter {', '.join(unknown)}; "
                             f"its hyperparameters are {', '.join(names) or 'none'}")
        for name, value in hyperparameters.items():
            _check_kind(self.name, name, value, self.defaults[name])
        return int(budget), {**{n: self.defaults[n] for n in names}, **hyperparameters}

    def run(self, target: AttackTarget, starts: Sequence[Start], budget: int | None = None,
            progress: Progress | None = None, **hyperparameters) -> list[AttackRun]:
        """One :class:`AttackRun` per start, in order, each within ``budget`` (default: the attack's)."""
        budget, hp = self.check(budget, hyperparameters)
        out = []
        for i, start in enumerate(starts):
            t = time.perf_counter()
            result = self.run_one(target, start, budget, **hp)
            result.seconds = round(time.perf_counter() - t, 3)
            out.append(result)
            if progress is not None:
                progress(i, result)
        return out


def _check_kind(attack: str, name: str, value: object, default: object) -> None:
    """A hyperparameter has its default's kind: a flag, a whole number, a number or text."""
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        ok, kind = isinstance(value, numbers.Integral) and not isinstance(value, bool), "a whole number"
    elif isinstance(default, float):
        ok, kind = isinstance(value, numbers.Real) and not isinstance(value, bool), "a number"
    else:
        ok, kind = isinstance(value, str), "text"
    if not ok:
        raise ValueError(f"{attack}: {name} must be {kind}, got {value!r}")


_REGISTRY: PluginRegistry[Attack] = PluginRegistry(__package__, "attack", skip_suffixes=(".__main__",))


def register(attack: Attack) -> Attack:
    """Add ``attack`` (a name may be registered once); returns it, so a module can keep it."""
    return _REGISTRY.register(attack)


def unregister(name: str) -> None:
    """Remove an attack (plug-ins and tests that register one for a while)."""
    _REGISTRY.unregister(name)


def all_attacks() -> dict[str, Attack]:
    """Every registered attack by name, in listing order (the CLI module is not imported)."""
    return _REGISTRY.all()


def attack_names() -> list[str]:
    return list(all_attacks())


def get_attack(name: object) -> Attack:
    """The attack called ``name``; ValueError naming the registered ones otherwise."""
    return _REGISTRY.get(name)
