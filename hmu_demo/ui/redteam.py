"""The app's red team: one attack of :mod:`hmu_demo.attack` against one unlearning method, within the
app's budget bounds, and what it found.

A call checks its input first (method, attack, backbone, start prompt, budget, seed, length: each
refused with one line, before anything runs), then on the studio thread builds an
:class:`~hmu_demo.attack.target.AttackTarget` from the service's shared bundle, text encoder, judge,
code index and *cached* edit (the same edit the Compare tab uses), runs
``get_attack(name).run(target, [Start(prompt, seed)], budget)`` as the attack CLI does, and generates
the best prompt (or, for the condition attacks, the start prompt with the best condition vector) once
more on the original and the unlearned model with the run's seed and length: the same motion the
attack judged, rendered side by side as the Compare tab renders it.

For a composed prompt of the red-team suite, the view lists its parts and marks each benign part kept
when its action appears, in order, among the judge's per-frame actions of the unlearned motion
(:func:`hmu_demo.eval.metrics.redteam.parts_kept` on :func:`usable_actions`, the red-team report's rule).

Budgets are bounded in the app (:data:`APP_BUDGETS`: 32 generations, 20 optimisation steps, 8 scales,
each attack's own default), so one call takes seconds. Safe mode refuses every attack: an attack looks
for motions of the very concept a safe deployment hides.
"""

from __future__ import annotations

import contextlib
import functools
import json
import numbers
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from hmu_demo.attack import AttackRun, AttackTarget, Start, Verdict, all_attacks, get_attack, suite_prompts
from hmu_demo.attack.starts import DEFAULT_SUITE, SPLITS
from hmu_demo.attack.target import CONCEPT, DEFAULT_SECONDS
from hmu_demo.atomic import write_text
from hmu_demo.cli import one_line
from hmu_demo.eval.metrics.redteam import parts_kept, usable_actions
from hmu_demo.eval.redteam_suite import SuitePrompt, load_suite
from hmu_demo.pipelines.requests import GenerationRequest, RequestError, check_seconds, check_seed
from hmu_demo.pipelines.text_to_motion import Motion
from hmu_demo.prompt import PromptError, clean_prompt
from hmu_demo.render.api import render_side_by_side
from hmu_demo.ui.outputs import render_or_explain
from hmu_demo.ui.service import LABELS, ORIGINAL, StudioError, StudioService
from hmu_demo.ui.studio_thread import run_on_studio_thread
from hmu_demo.unlearning.registry import method_names

__all__ = ["APP_BUDGETS", "DEFAULT_ATTACK", "SAFE_MODE_REFUSAL", "PartView", "RedTeamRequest", "RedTeamResult",
           "attack_summary", "budget_bound", "budget_label", "check_request", "composed_parts", "default_budget",
           "default_start", "highlighted", "in_suite", "red_team", "start_choices", "summary"]

#: The largest budget the app runs, per budget unit (each attack's own default: a call takes seconds).
APP_BUDGETS = {"generations": 32, "steps": 20, "scales": 8}
DEFAULT_ATTACK = "prompt-search"
SAFE_MODE_REFUSAL = ("safe mode is on: the red team is not available (an attack looks for the motions this "
                     "deployment hides)")
#: Where the attack's stretch of the progress bar starts and ends (then: the final generation and the video).
ATTACK_START, ATTACK_END = 0.05, 0.85

Progress = Callable[[float, str], None]


# ---------------------------------------------------------------------------------------------- input

def budget_bound(attack: str) -> int:
    """The app's largest budget for ``attack`` (in its unit)."""
    return APP_BUDGETS[get_attack(attack).budget_unit]


def default_budget(attack: str) -> int:
    """The attack's own default budget, within the app's bound."""
    return min(int(get_attack(attack).defaults["budget"]), budget_bound(attack))


def budget_label(attack: str) -> str:
    """The budget slider's label: the unit and the app's bound."""
    return f"Budget: {get_attack(attack).budget_unit} per run (at most {budget_bound(attack)} in the app)"


def attack_summary(attack: str) -> str:
    """One line on an attack: its access, where it starts, what it does (markdown)."""
    a = get_attack(attack)
    return f"*{a.name}* ({'white box' if a.white_box else 'black box'}, starts from {a.starts} prompts): {a.summary}."


@functools.cache
def _suite() -> dict[str, SuitePrompt]:
    """The red-team suite's prompts by text (their kind and parts)."""
    return {p.text: p for p in load_suite(DEFAULT_SUITE)}


def in_suite(prompt: str) -> bool:
    """Whether ``prompt`` is one of the red-team suite's prompts (as written there)."""
    return prompt in _suite()


def start_choices(attack: str) -> list[tuple[str, str]]:
    """(label, prompt) of every suite prompt of the kind ``attack`` starts from, val split first, the
    same prompts the attack CLI deals (``hmu_demo.attack.starts.suite_prompts``)."""
    which = get_attack(attack).starts
    suite = _suite()
    return [(f"{suite[t].kind} ({split}): {t}", t)
            for split in SPLITS for t in suite_prompts(DEFAULT_SUITE, split, which)]


def default_start(attack: str) -> str:
    """The first start prompt of ``attack``: a composed one when it starts from violent prompts (so the
    parts view has something to mark), else the first plain benign prompt."""
    prompts = [t for _, t in start_choices(attack)]
    return next((t for t in prompts if _suite()[t].kind == "composed"), prompts[0])


@dataclass(frozen=True)
class RedTeamRequest:
    """One checked red-team call."""

    method: str
    attack: str
    backbone: str
    start_prompt: str
    budget: int
    seed: int
    seconds: float


def _budget(attack: str, budget: object) -> int:
    bound, unit = budget_bound(attack), get_attack(attack).budget_unit
    if budget is None:
        return default_budget(attack)
    if isinstance(budget, float) and budget.is_integer():
        budget = int(budget)
    if isinstance(budget, bool) or not isinstance(budget, numbers.Integral) or not 1 <= int(budget) <= bound:
        raise StudioError(f"the budget of {attack} must be a whole number from 1 to {bound} {unit} in the app, "
                          f"got {budget!r}")
    return int(budget)


def check_request(service: StudioService, method: object, attack: object, backbone: object, start_prompt: object,
                  budget: object, seed: object, seconds: object) -> RedTeamRequest:
    """Every input checked before anything runs; StudioError (one line saying what is allowed) otherwise."""
    if service.safe_mode:
        raise StudioError(SAFE_MODE_REFUSAL)
    if not isinstance(method, str) or method not in method_names():
        also = " (the red team attacks an unlearning method; the original model is shown beside it)" \
            if method == ORIGINAL else ""
        raise StudioError(f"unknown method {method!r}{also}; choose from {', '.join(method_names())}")
    if not isinstance(attack, str) or attack not in all_attacks():
        raise StudioError(f"unknown attack {attack!r}; choose from {', '.join(all_attacks())}")
    if backbone not in service.backbones():
        raise StudioError(f"unknown backbone {backbone!r}; choose from {', '.join(service.backbones())}")
    try:
        prompt = clean_prompt(start_prompt)
    except PromptError as err:
        raise StudioError(f"start prompt: {err}") from None
    if isinstance(seed, float) and seed.is_integer():
        seed = int(seed)
    try:
        seed, seconds = check_seed(seed), check_seconds(seconds)
    except RequestError as err:
        raise StudioError(str(err)) from None
    return RedTeamRequest(method, attack, str(backbone), prompt, _budget(attack, budget), seed, seconds)


# ---------------------------------------------------------------------------------------------- result

@dataclass(frozen=True)
class PartView:
    """One part of a composed suite prompt, and whether the unlearned (and the original) motion kept it
    (None for a violent part: it is not meant to be kept)."""

    text: str
    violent: bool
    actions: tuple[str, ...]
    kept: bool | None
    kept_by_original: bool | None


@dataclass
class RedTeamResult:
    """What one attack run found, the two motions of its best prompt or condition, and their video."""

    request: RedTeamRequest
    run: AttackRun
    budget_unit: str
    white_box: bool
    condition_shift: float | None          # ||c - c0|| / ||c0|| of the best condition (condition attacks)
    scale: float | None                    # the concept vector's scale (concept-vector)
    original: Motion
    unlearned: Motion
    original_judge: object                 # JudgeResult of the original model's motion
    unlearned_judge: object                # JudgeResult of the unlearned model's motion (the attack's best)
    parts: list[PartView] | None           # composed suite prompts only
    unlearned_actions: list[str]
    edit_cached: bool
    timings: dict[str, float] = field(default_factory=dict)
    folder: Path | None = None
    video: Path | None = None
    render_error: str | None = None

    @property
    def before(self) -> Verdict:
        """The unlearned model's motion of the start prompt (the attack's starting point)."""
        r = self.run
        return Verdict(r.start_prompt, r.start_violence, r.start_violent, r.details.get("start_action", "?"), False)

    @property
    def after(self) -> Verdict:
        """The unlearned model's motion of the best prompt or condition."""
        r = self.run
        return Verdict(r.best_prompt, r.best_violence, r.best_violent, r.best_action, r.best_gated)

    def to_dict(self) -> dict:
        """JSON-ready (the condition vector left out: hundreds of numbers)."""
        q, oj, uj = self.request, self.original_judge, self.unlearned_judge
        return {"method": q.method, "attack": q.attack, "backbone": q.backbone, "concept": CONCEPT,
                "start_prompt": q.start_prompt, "best_prompt": self.run.best_prompt, "seed": q.seed,
                "seconds_per_motion": q.seconds, "budget": q.budget, "budget_unit": self.budget_unit,
                "budget_bound": APP_BUDGETS[self.budget_unit], "white_box": self.white_box,
                "condition_shift": self.condition_shift, "scale": self.scale,
                "before": _verdict(self.before, gated=False), "after": _verdict(self.after),
                "original_motion": {"violence": round(float(oj.violence), 5), "violent": bool(oj.violent),
                                    "action": oj.action},
                "unlearned_motion": {"violence": round(float(uj.violence), 5), "violent": bool(uj.violent),
                                     "action": uj.action, "actions": self.unlearned_actions,
                                     "gated": bool(self.unlearned.gated)},
                "parts": None if self.parts is None else [
                    {"text": p.text, "violent": p.violent, "actions": list(p.actions), "kept": p.kept,
                     "kept_by_original": p.kept_by_original} for p in self.parts],
                "edit_cached": self.edit_cached, "timings": {k: round(v, 3) for k, v in self.timings.items()},
                "run": self.run.to_dict(condition=False)}


def _verdict(v: Verdict, gated: bool = True) -> dict:
    out = {"prompt": v.prompt, "violence": round(float(v.violence), 5), "violent": bool(v.violent),
           "action": v.action}
    return {**out, "gated": bool(v.gated)} if gated else out


def composed_parts(prompt: str, unlearned_actions: list[str], original_actions: list[str]) -> list[PartView] | None:
    """The parts of ``prompt`` when it is a composed suite prompt, each benign one marked kept or not."""
    entry = _suite().get(prompt)
    if entry is None or entry.kind != "composed":
        return None
    benign = [p.actions for p in entry.parts if not p.violent]
    kept, kept_original = iter(parts_kept(unlearned_actions, benign)), iter(parts_kept(original_actions, benign))
    return [PartView(p.text, p.violent, p.actions, None if p.violent else next(kept),
                     None if p.violent else next(kept_original)) for p in entry.parts]


def highlighted(prompt: str, parts: list[PartView] | None) -> list[tuple[str, str | None]] | None:
    """The prompt as gr.HighlightedText spans: each part marked "kept", "lost" or "violent part"."""
    if parts is None:
        return None
    out: list[tuple[str, str | None]] = []
    rest = prompt
    for part in parts:
        label = "violent part" if part.violent else ("kept" if part.kept else "lost")
        at = rest.find(part.text)
        if at < 0:                       # a part not written verbatim in the prompt: listed after it
            out.append((part.text, label))
            continue
        if at:
            out.append((rest[:at], None))
        out.append((part.text, label))
        rest = rest[at + len(part.text):]
    if rest:
        out.append((rest, None))
    return out


def summary(result: RedTeamResult) -> str:
    """One paragraph: what the attack found, the judge before and after, what it cost."""
    q, r, t = result.request, result.run, result.timings
    if result.condition_shift is None:
        found = f"best prompt: **{r.best_prompt}**"
    else:
        found = (f"start prompt **{r.start_prompt}** with its text condition moved by "
                 f"‖c−c0‖/‖c0‖ = {result.condition_shift:.3f}")
        if result.scale is not None:
            found += f" (concept vector at scale {result.scale:.3g})"
    b, a = result.before, result.after
    line = (f"**{q.attack}** against **{q.method}** ({q.backbone}, seed {q.seed}, {q.seconds:g} s): {found}. "
            f"Judge on the unlearned model: {b.violence:.3f} ({'violent' if b.violent else 'safe'} · {b.action}) "
            f"before, {a.violence:.3f} ({'violent' if a.violent else 'safe'} · {a.action}) after: "
            f"**{'the attack succeeded' if a.violent else 'the attack failed'}**"
            f"{' (the gate acted on it)' if a.gated else ''}. The original model on it: "
            f"{result.original_judge.violence:.3f} ({'violent' if result.original_judge.violent else 'safe'}). "
            f"{r.generations} generations{f', {r.steps} optimisation steps' if r.steps else ''} "
            f"(budget {q.budget} {result.budget_unit}); "
            f"attack {t.get('attack', 0):.1f} s, video {t.get('rendering', 0):.1f} s"
            f"{', edit from the cache' if result.edit_cached else ''}.")
    if result.parts is not None:
        marks = "; ".join(f"{p.text}: {'violent part' if p.violent else ('kept' if p.kept else 'lost')}"
                          for p in result.parts)
        actions = " → ".join(result.unlearned_actions) or "none"
        line += f"\n\nComposed prompt's parts (the unlearned motion's actions: {actions}): {marks}."
    return line


# ---------------------------------------------------------------------------------------------- running

class _Watched(AttackTarget):
    """The attack's target, reporting its generation count after each batch (for the progress bar)."""

    tick: Callable[[int], None] | None = None

    def generate(self, prompts, seed):
        out = super().generate(prompts, seed)
        if self.tick is not None:
            self.tick(self.generations)
        return out


def _expected_generations(attack: str, budget: int) -> int:
    """About how many generations a run makes (for the bar): the budget for a search, one per scale plus
    the start for a sweep, the start plus one per restart for an optimisation."""
    a = get_attack(attack)
    if a.budget_unit == "generations":
        return budget
    if a.budget_unit == "scales":
        return budget + 1
    return 1 + int(a.defaults.get("restarts", 1))


@torch.no_grad()
def _motion(target: AttackTarget, prompt: str, seed: int, condition: torch.Tensor | None) -> Motion:
    """The motion ``target`` makes of ``prompt`` (with ``condition`` as its text condition when given),
    generated as :meth:`AttackTarget.generate` generates it."""
    request = GenerationRequest((prompt,), (target.frames,), seed=seed, backbone=target.backbone)
    with target.encoder.overriding(prompt, condition) if condition is not None else contextlib.nullcontext():
        return target.pipeline(request).motions[0]


def _run(service: StudioService, q: RedTeamRequest, progress: Progress, out_dir) -> RedTeamResult:
    timings: dict[str, float] = {}
    judge = service.judge
    if judge is None:
        raise StudioError("the judge could not be loaded (see the banner): attacks are scored by it")
    attack = get_attack(q.attack)
    start = time.perf_counter()
    progress(0.02, f"{q.method}: making the edit")
    entry, cached = service.cached_edit(q.method, CONCEPT)
    bundle, encoder, index = service.bundle, service.text_encoder, service.index
    words = list(_suite())  # every suite prompt, as the attack CLI's vocabulary (read once)
    common = dict(method=q.method, index=index, concept=CONCEPT, seconds=q.seconds, device=entry.pipeline.device,
                  words=words)
    try:
        target = _Watched(bundle, encoder, entry.edit, q.backbone, judge, **common)
    except ValueError as err:
        raise StudioError(one_line(err)) from err
    timings["edit"] = time.perf_counter() - start
    expected = _expected_generations(q.attack, q.budget)
    target.tick = lambda n: progress(ATTACK_START + (ATTACK_END - ATTACK_START) * min(n / expected, 0.97),
                                     f"{q.attack}: {n} generations, budget {q.budget} {attack.budget_unit}")
    progress(ATTACK_START, f"{q.attack}: starting from the start prompt")
    start = time.perf_counter()
    try:
        run = attack.run(target, [Start(q.start_prompt, q.seed)], q.budget)[0]
    except ValueError as err:   # e.g. no code index motions of the concept for a white-box attack
        raise StudioError(f"{q.attack} cannot run: {one_line(err)}") from err
    timings["attack"] = time.perf_counter() - start

    progress(ATTACK_END, "generating the best prompt on both models")
    start = time.perf_counter()
    original_target = AttackTarget(bundle, encoder, None, q.backbone, judge, **{**common, "method": ORIGINAL})
    result = _best_motions(q, run, target, original_target, cached, timings)
    timings["generation"] = time.perf_counter() - start
    progress(0.9, "rendering original | unlearned")
    _outputs(service, result, out_dir)
    return result


def _best_motions(q: RedTeamRequest, run: AttackRun, target: AttackTarget, original_target: AttackTarget,
                  cached: bool, timings: dict[str, float]) -> RedTeamResult:
    """The run's best prompt (or start prompt with the best condition) on both models, judged, with how far
    the condition moved and the composed prompt's parts."""
    attack = get_attack(q.attack)
    condition = None if run.condition is None else torch.tensor(run.condition, dtype=torch.float32)
    shift = None
    if condition is not None:
        c0 = target.condition(q.start_prompt)
        shift = round(float((condition - c0).norm() / c0.norm().clamp(min=1e-12)), 4)
    original = _motion(original_target, run.best_prompt, q.seed, condition)
    unlearned = _motion(target, run.best_prompt, q.seed, condition)
    original_judge, unlearned_judge = target.judge.score([original.joints, unlearned.joints])
    actions = usable_actions(unlearned_judge.segments())
    parts = composed_parts(q.start_prompt, actions, usable_actions(original_judge.segments()))
    return RedTeamResult(q, run, attack.budget_unit, attack.white_box, shift, run.details.get("scale"), original,
                         unlearned, original_judge, unlearned_judge, parts, actions, cached, timings)


def _outputs(service: StudioService, result: RedTeamResult, out_dir) -> None:
    """The side-by-side video and the run's JSON, in a new call folder (a failed render keeps the JSON)."""
    start = time.perf_counter()
    caption = result.run.best_prompt if result.condition_shift is None else \
        f"{result.run.start_prompt} (condition moved {result.condition_shift:.2f})"
    config = replace(service.config.render, caption=caption, label=None)
    with service.call_folder(out_dir) as call:
        folder = call.path
        video = folder / "side_by_side.mp4"
        result.render_error = render_or_explain(lambda: render_side_by_side(
            result.original.joints, result.unlearned.joints, video, config, labels=LABELS), folder)
        result.timings["rendering"] = time.perf_counter() - start
        write_text(folder / "redteam.json", json.dumps(result.to_dict(), indent=1) + "\n")
    result.folder = call.final
    result.video = None if result.render_error else call.moved(video)


def red_team(service: StudioService, method: object, attack: object = DEFAULT_ATTACK, backbone: object = "momask",
             start_prompt: object = None, budget: object = None, seed: object = 0,
             seconds: object = DEFAULT_SECONDS, progress: Progress | None = None,
             out_dir: str | Path | None = None) -> RedTeamResult:
    """Run ``attack`` against ``method`` from ``start_prompt`` (None: the attack's first suite prompt) within
    ``budget`` (None: the attack's default; at most :data:`APP_BUDGETS`), on the studio thread."""
    if start_prompt is None and isinstance(attack, str) and attack in all_attacks():
        start_prompt = default_start(attack)
    request = check_request(service, method, attack, backbone, start_prompt, budget, seed, seconds)
    return run_on_studio_thread(_run, service, request, progress or (lambda fraction, desc: None), out_dir)
