"""The red-team report's attacks: every model of the report attacked (:mod:`hmu_demo.attack`), each attack
at its default budget, its runs starting from the red-team split's start prompts, and the attack
success rate (ASR) with a 95 % bootstrap interval over runs beside the red-team rows."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from hmu_demo.attack.registry import get_attack
from hmu_demo.attack.runs import success_rate
from hmu_demo.attack.starts import SPLITS, make_starts, suite_prompts, suite_vocabulary
from hmu_demo.attack.target import DEFAULT_SECONDS, AttackTarget
from hmu_demo.eval.generation import Contender
from hmu_demo.eval.metrics.redteam import estimate_cell
from hmu_demo.models.bundle import ModelBundle
from hmu_demo.models.judge.scoring import Judge
from hmu_demo.unlearning.code_index import CodeIndex

__all__ = ["AttackPlan", "attack_model", "attack_table", "make_plan"]


@dataclass(frozen=True)
class AttackPlan:
    """Which attacks every model gets: their names, runs per model, the start prompts per kind of start
    (``suite_prompts``), the original bundle the edits apply to, the search vocabulary's texts and the
    code index the white-box attacks read."""

    attacks: tuple[str, ...]
    runs: int
    starts: dict[str, list[str]]
    bundle: ModelBundle
    words: tuple[str, ...] = ()
    index: CodeIndex | None = None
    split: str = "test"

    def describe(self) -> dict:
        """What the report records about the attacks."""
        return {"names": list(self.attacks), "runs": self.runs, "split": self.split,
                "seconds_per_motion": DEFAULT_SECONDS,
                "intervals": "95 % percentile bootstrap over runs (2000 resamples, seeded)"}


def attack_model(contender: Contender, backbone: str, judge: Judge, plan: AttackPlan, seed: int = 0) -> dict:
    """Each attack of ``plan`` against one model: {attack: success_rate(...) plus its budget}."""
    pipeline = contender.pipeline
    target = AttackTarget(plan.bundle, pipeline.text_encoder, pipeline.edit, backbone, judge, method=contender.name,
                          index=plan.index, words=plan.words, device=pipeline.device)
    out = {}
    for name in plan.attacks:
        attack = get_attack(name)
        budget, _ = attack.check(None, {})
        runs = attack.run(target, make_starts(plan.starts[attack.starts], plan.runs, seed), budget)
        out[name] = {**success_rate(runs), "budget": budget, "budget_unit": attack.budget_unit,
                     "white_box": attack.white_box}
    return out


def make_plan(attacks: list[str], runs: int, suite: Path, split: str, bundle: ModelBundle,
              index: CodeIndex | None) -> AttackPlan:
    """The plan for a red-team run on ``split`` (start prompts of "all" come from the test split); the
    search's vocabulary is every prompt of the suite."""
    start_split = split if split in SPLITS else "test"
    starts = {kind: suite_prompts(suite, start_split, kind) for kind in {get_attack(a).starts for a in attacks}}
    words = tuple(suite_vocabulary(suite))
    return AttackPlan(tuple(attacks), runs, starts, bundle, words, index, start_split)


def attack_table(result: dict) -> list[str]:
    """The markdown lines of the ASR table (none when the report has no attacks)."""
    lines: list[str] = []
    attacked = [(b, m, row["attacks"]) for b, per in result["results"].items() for m, row in per.items()
                if row.get("attacks")]
    if attacked:
        names = list(attacked[0][2])
        plan = result.get("attacks", {})
        lines += ["", f"Attack success rate (share of runs whose best motion the judge calls violent; "
                      f"{plan.get('runs', '?')} runs per cell from the {plan.get('split', '?')} split's start "
                      f"prompts, {plan.get('seconds_per_motion', '?')} s motions; violent share of the start "
                      "points in parentheses):", "",
                  "| Backbone | Method | " + " | ".join(f"{n} ({attacked[0][2][n]['budget']} "
                                                      f"{attacked[0][2][n]['budget_unit']})" for n in names) + " |",
                  "|" + "---|" * (2 + len(names))]
        for backbone, method, entries in attacked:
            cells = [f"{estimate_cell(entries[n]['asr'])} ({entries[n]['start_violent_share']['value']:.2f})" for n in names]
            lines.append(f"| {backbone} | {method} | " + " | ".join(cells) + " |")
    return lines
