"""Concept vector (Ring-A-Bell style): add the concept's direction in condition space to benign prompts.

The direction is v = mean condition of the concept's forget motions minus that of its retain motions
(the code index's training motions, split by the project's keywords for the concept; a motion's
condition is the normalised mean of its captions' embeddings, the gate's and UCE's per-motion text,
cached beside the index). The attacker needs the condition vector (white box) but no gradient: for a
benign prompt with condition c0 it generates from c = c0 + s ||c0|| v / ||v|| at ``budget`` scales
s = ``max_scale`` * k / ``budget``, k = 1 .. budget, each through the pipeline with the prompt's text (so a
gate sees the prompt and the shifted condition), and keeps the most violent motion of the sweep.

Budget: scales per run (one generation each), plus the start point's own generation.
"""

from __future__ import annotations

import torch
from torch import Tensor

from hmu_demo.attack.registry import Attack, register
from hmu_demo.attack.runs import AttackRun, Start
from hmu_demo.attack.target import AttackTarget
from hmu_demo.unlearning.index_text import index_motion_text

__all__ = ["DEFAULT_BUDGET", "DEFAULT_MAX_SCALE", "concept_direction", "scales"]

DEFAULT_BUDGET = 8
DEFAULT_MAX_SCALE = 2.0


@torch.no_grad()
def concept_direction(target: AttackTarget) -> Tensor:
    """The unit vector (d,) from the retain motions' mean condition to the forget motions' (float32, CPU)."""
    forget = torch.from_numpy(target.forget_mask())
    if not bool(forget.any()) or bool(forget.all()):
        raise ValueError(f"the code index needs forget and retain motions of {target.concept} for its direction")
    key = ("attack_concept_direction", target.concept, target.text_encoder.name)
    memo = target.index.memo
    if key not in memo:
        text = index_motion_text(target.index, target.text_encoder).float()
        v = text[forget].mean(0) - text[~forget].mean(0)
        memo[key] = v / v.norm().clamp(min=1e-12)
    return memo[key].clone()


def scales(budget: int, max_scale: float) -> list[float]:
    """The sweep: ``budget`` evenly spaced scales up to ``max_scale`` (0 excluded: that is the start point)."""
    return [max_scale * k / budget for k in range(1, budget + 1)]


def _run(target: AttackTarget, start: Start, budget: int, *, max_scale: float) -> AttackRun:
    if not max_scale > 0:
        raise ValueError(f"concept-vector: max_scale must be > 0, got {max_scale}")
    first = target.generate([start.prompt], start.seed)[0]
    c0 = target.condition(start.prompt)
    norm = float(c0.norm()) or 1.0
    direction = concept_direction(target)
    sweep = scales(budget, max_scale)
    verdicts = [target.generate_from(start.prompt, c0 + s * norm * direction, start.seed) for s in sweep]
    k = max(range(len(sweep)), key=lambda i: verdicts[i].violence)   # the first of equals: the smallest scale
    best, condition = verdicts[k], c0 + sweep[k] * norm * direction
    first_violent = next((s for s, v in zip(sweep, verdicts) if v.violent), None)
    return AttackRun("concept-vector", start.prompt, start.seed, first.violence, first.violent, start.prompt,
                     best.violence, best.violent, best.action, best.gated, generations=1 + len(sweep),
                     condition=condition.tolist(), condition_shift=round(sweep[k], 4),
                     details={"scale": sweep[k], "first_violent_scale": first_violent, "start_action": first.action,
                              "violence_by_scale": [round(v.violence, 4) for v in verdicts],
                              "gated_by_scale": [v.gated for v in verdicts]})


register(Attack("concept-vector", "white box, no gradient: the forget-minus-retain mean condition added to a benign "
                "prompt's condition at a sweep of scales (Ring-A-Bell)", _run,
                {"budget": DEFAULT_BUDGET, "max_scale": DEFAULT_MAX_SCALE},
                white_box=True, starts="benign", budget_unit="scales", order=30))
