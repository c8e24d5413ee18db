"""Attacks on unlearned models: does the concept come back when someone looks for a way around the edit?

Three attacks register in :mod:`hmu_demo.attack.registry` (black-box prompt search, white-box soft prompt,
Ring-A-Bell-style concept vector); each runs against an :class:`AttackTarget` (a model, original or edited,
on one backbone, generating through the app's pipeline, and the judge) from red-team start prompts and
returns one :class:`AttackRun` per start. ``python -m hmu_demo.attack`` runs them (docs/attacks.md).
"""

from hmu_demo.attack.registry import Attack, all_attacks, attack_names, get_attack, register, unregister
from hmu_demo.attack.runs import AttackRun, Start, share_estimate, success_rate
from hmu_demo.attack.starts import make_starts, suite_prompts
from hmu_demo.attack.target import AttackTarget, ConditionOverride, Verdict, make_target

__all__ = ["Attack", "AttackRun", "AttackTarget", "ConditionOverride", "Start", "Verdict", "all_attacks",
           "attack_names", "get_attack", "make_starts", "make_target", "register", "share_estimate", "success_rate",
           "suite_prompts", "unregister"]
