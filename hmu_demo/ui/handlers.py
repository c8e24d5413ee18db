"""What each app action returns, in the shapes Gradio components and ``gradio_client`` expect.

:class:`StudioHandlers` turns :class:`~hmu_demo.ui.service.StudioService` results into component
values (video paths, judge labels, plotly figures, download lists) and every failure into one
``gr.Error`` line: a :class:`StudioError` (or a request's :class:`RequestError`) as it is, anything
else as "internal error" with the traceback only in the server log. ``generate``, ``unlearn``, ``inspect``,
``code_motion`` and ``redteam`` (:mod:`hmu_demo.ui.redteam`) are named API endpoints as they are (their
parameters are the endpoint's, with the same defaults); ``/compare`` is :meth:`compare_result` +
:meth:`compare_outputs` (see :mod:`hmu_demo.ui.layout`).
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gradio as gr

from hmu_demo.attack import attack_names
from hmu_demo.attack.target import DEFAULT_SECONDS
from hmu_demo.cli import one_line
from hmu_demo.pipelines.requests import RequestError, make_concept
from hmu_demo.ui.inspector import codebook_map, condition_shift, token_timeline
from hmu_demo.ui.redteam import DEFAULT_ATTACK, SAFE_MODE_REFUSAL, attack_summary, budget_bound, budget_label, \
    default_budget, default_start, highlighted, in_suite, red_team, start_choices, summary
from hmu_demo.ui.results import CompareResult
from hmu_demo.ui.service import ORIGINAL, StudioError, StudioService
from hmu_demo.ui.videos import has_videos
from hmu_demo.ui.viewer import viewer_payload
from hmu_demo.ui.warmup import WarmUpState
from hmu_demo.unlearning.registry import get_method

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_METHOD = "segment-repair"
DEFAULT_CONCEPT = "violence"
#: Safe prompts the condition-shift chart compares the prompt against.
SHIFT_PROMPTS = ("a person walks forward", "a person waves with the right hand", "a man jumps up and down")


def guarded(action: Callable[[], T]) -> T:
    """Run ``action``; a StudioError or RequestError becomes its own message, anything else a one-line
    internal error."""
    try:
        return action()
    except gr.Error:
        raise
    except (StudioError, RequestError) as err:
        raise gr.Error(str(err), print_exception=False) from None
    except Exception as err:  # noqa: BLE001 - the UI must get a message, the log gets the traceback
        log.exception("request failed")
        raise gr.Error(f"internal error ({type(err).__name__}): {one_line(err)}", print_exception=False) from None


def warn(result: Any) -> None:
    """A failed render or an out-of-memory fallback is a warning (a toast in the page), not an error:
    the motion and its files still come."""
    for message in ([result.render_error] if result.render_error else []) + list(result.notes):
        gr.Warning(message)


def parse_hyperparameters(text: object) -> dict:
    """A JSON object (or an already parsed dict); empty means the method's defaults."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return {}
    if isinstance(text, dict):
        return dict(text)
    if not isinstance(text, str):
        raise StudioError(f'hyperparameters must be a JSON object such as {{"k": 20}}, got {type(text).__name__}')
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise StudioError(f'hyperparameters are not valid JSON ({err.msg} at character {err.pos}); '
                          'write an object such as {"k": 20}') from None
    if not isinstance(value, dict):
        raise StudioError('hyperparameters must be a JSON object such as {"k": 20}')
    return value


def parse_seconds(seconds: object) -> float | None:
    """0, None or an empty box mean "automatic length"; anything else goes to the request's checks."""
    if seconds is None or (isinstance(seconds, str) and not seconds.strip()):
        return None
    if isinstance(seconds, str):
        try:
            seconds = float(seconds)
        except ValueError:
            raise StudioError(f"seconds must be a number (0 = automatic), got {seconds!r}") from None
    if isinstance(seconds, (int, float)) and not isinstance(seconds, bool) and seconds == 0:
        return None
    return seconds  # type: ignore[return-value]


def seed_value(seed: object) -> object:
    """The seed box's value as Python's: number boxes send floats (3.0 is seed 3); the request checks it."""
    return int(seed) if isinstance(seed, float) and seed.is_integer() else seed


def judge_label(verdict: Any | None) -> dict | None:
    """A gr.Label value whose headline is "violent · <action>" or "safe · <action>" and whose two bars
    are the judge's violence score and its complement."""
    if verdict is None:
        return None
    violence = float(verdict.violence)
    verdict_word = "violent" if verdict.violent else "safe"
    other = "safe" if verdict.violent else "violent"
    mine = violence if verdict.violent else 1.0 - violence
    return {f"{verdict_word} · {verdict.action}": round(mine, 4), other: round(1.0 - mine, 4)}


def _path(value: Path | None) -> str | None:
    return None if value is None else str(value)


@dataclass
class InspectorView:
    """Everything the inspector shows for one comparison."""

    codebook: Any
    original_timeline: Any | None
    unlearned_timeline: Any
    condition_shift: Any | None


class StudioHandlers:
    """The app's actions on one shared service."""

    def __init__(self, service: StudioService) -> None:
        self.service = service
        self.warm = WarmUpState()

    # ------------------------------------------------------------------ compare / generate
    def compare_result(self, prompt: str, backbone: str = "momask", method: str = DEFAULT_METHOD, seed: float = 0,
                       seconds: float | None = 0.0, concept: str = DEFAULT_CONCEPT, hyperparameters: str = "{}",
                       progress: Callable | None = None, render: bool = True, videos: bool = True) -> CompareResult:
        """Original vs unlearned (same seed and length); the ``/compare`` endpoint returns
        :meth:`compare_outputs` of it. Under safe mode every original field is None. ``videos`` False:
        no MP4s yet (:meth:`render_videos`)."""
        def run() -> CompareResult:
            if progress is not None:
                progress(0.05, desc=f"{method}: generating and judging" + (", rendering" if videos else ""))
            result = self.service.compare(prompt, backbone, method, seed_value(seed), parse_seconds(seconds),
                                          concept, parse_hyperparameters(hyperparameters), render=render,
                                          videos=videos)
            warn(result)
            return result
        return guarded(run)

    def compare_motion(self, prompt: str, backbone: str = "momask", method: str = DEFAULT_METHOD, seed: float = 0,
                       seconds: float | None = 0.0, concept: str = DEFAULT_CONCEPT, hyperparameters: str = "{}",
                       progress: Callable | None = None) -> tuple:
        """The page's fast path (``/compare_motion``): (the 3D viewer's JSON, original judge, unlearned judge,
        the result) right after generation and judging; NPY, BVH and glTF are written, no MP4 yet."""
        result = self.compare_result(prompt, backbone, method, seed, seconds, concept, hyperparameters, progress,
                                     videos=False)
        payload = guarded(lambda: viewer_payload(result))
        return payload, judge_label(result.original_judge), judge_label(result.unlearned_judge), result

    def render_videos(self, result: CompareResult | None) -> tuple:
        """(side-by-side, original, unlearned) MP4s of a comparison, rendered now unless they exist."""
        def run() -> tuple:
            if result is None:
                raise StudioError("generate a comparison first: the videos are of the last comparison")
            if not has_videos(result):
                self.service.render_videos(result)
                if result.render_error:
                    gr.Warning(result.render_error)
            return self.compare_outputs(result)[:3]
        return guarded(run)

    @staticmethod
    def compare_outputs(result: CompareResult) -> tuple:
        """(side-by-side video, original video, unlearned video, original judge, unlearned judge)."""
        return (_path(result.side_by_side_video), _path(result.original_video), _path(result.unlearned_video),
                judge_label(result.original_judge), judge_label(result.unlearned_judge))

    def generate(self, prompt: str, backbone: str = "momask", method: str = ORIGINAL, seed: float = 0,
                 seconds: float | None = 0.0, concept: str = DEFAULT_CONCEPT, hyperparameters: str = "{}",
                 progress: gr.Progress = gr.Progress()) -> tuple:
        """One motion ("original" or an unlearning method's): video, judge, joints .npy, .bvh."""
        def run() -> tuple:
            progress(0.05, desc="generating, judging and rendering")
            r = self.service.generate(prompt, backbone, seed_value(seed), parse_seconds(seconds),
                                      None if method == ORIGINAL else method, concept,
                                      parse_hyperparameters(hyperparameters))
            warn(r)
            return _path(r.video), judge_label(r.judge), _path(r.files["npy"]), _path(r.files["bvh"])
        return guarded(run)

    @staticmethod
    def downloads(result: CompareResult | None) -> list[str]:
        """MP4 (once rendered), glTF, BVH and NPY of both motions, then the edit's weights and report."""
        if result is None:
            return []
        files = [result.side_by_side_video, result.original_video, result.unlearned_video]
        for side in ("original", "unlearned"):
            files += [result.files.get(f"{side}_{kind}") for kind in ("glb", "bvh", "npy")]
        edit_dir = result.files.get("edit_dir")
        if edit_dir is not None:
            files += sorted(Path(edit_dir).iterdir())
        return [str(f) for f in files if f is not None]

    # ------------------------------------------------------------------ live unlearning
    def unlearn(self, concept: str = "jump, hop, leap", method: str = DEFAULT_METHOD, hyperparameters: str = "{}",
                backbone: str = "momask", progress: gr.Progress = gr.Progress()) -> tuple:
        """Apply ``method`` to a concept (lexicon name or comma-separated keywords): a summary, the
        EditReport, the edit's files (edit.safetensors, edit.json) and the codebook map."""
        def run() -> tuple:
            progress(0.05, desc=f"applying {method} to {concept!r}")
            folder, report, cached = self.service.export_edit(method, concept, parse_hyperparameters(hyperparameters),
                                                              backbone)
            summary = self.edit_summary(report, cached)
            figure = self.codebook_figure(method, concept, hyperparameters)
            return summary, report.to_dict(), [str(p) for p in sorted(folder.iterdir())], figure
        return guarded(run)

    @staticmethod
    def edit_summary(report, cached: bool) -> str:
        how = "from the cache" if cached else f"in {report.seconds:.2f} s"
        what = (f"{len(report.flagged)} base-layer codes flagged" if report.flagged
                else f"{len(report.layers)} weight matrices edited")
        hp = ", ".join(f"{k}={v}" for k, v in report.hyperparameters.items())
        return f"**{report.method}** on concept **{report.concept}** {how}: {what} ({hp})"

    # ------------------------------------------------------------------ inspector
    def codebook_figure(self, method: str = DEFAULT_METHOD, concept: str = DEFAULT_CONCEPT,
                        hyperparameters: str = "{}"):
        """The base codebook map for an edit (LCR scores, flagged codes, replacement arrows)."""
        def run():
            _, report = self.service.unlearned(method, concept, parse_hyperparameters(hyperparameters))
            return codebook_map(self.service.bundle, self.service.index, report, make_concept(concept))
        return guarded(run)

    def inspector_view(self, result: CompareResult) -> InspectorView:
        """Codebook map, token timelines of both motions, and (text-side edits: UCE, RECE) the condition shift."""
        service, report, method = self.service, result.report, get_method(result.method)
        codebook = codebook_map(service.bundle, service.index, report, make_concept(result.concept))
        flagged = set(report.codes)
        # A sampling constraint forbids the flagged codes (for the prompts it masks); codebook edits replace rows.
        constrained = method.constrains_sampling
        forbidden = flagged if constrained and result.unlearned.gated else set()
        replaced = {} if constrained else {f.code: int(f.source) for f in report.flagged if f.source is not None}

        def timeline(motion, title: str):
            if motion is None:
                return None
            fig = token_timeline(motion, flagged, forbidden, replaced)
            fig.update_layout(title=title, height=300)
            return fig

        shift = None
        if "condition_shift" in method.inspector_views:
            shift = condition_shift(service.bundle, result.edited_bundle, service.text_encoder, result.prompt,
                                    SHIFT_PROMPTS)
        return InspectorView(codebook, timeline(result.original, "Original motion's base tokens"),
                             timeline(result.unlearned, "Unlearned motion's base tokens"), shift)

    def inspect(self, prompt: str, backbone: str = "momask", method: str = DEFAULT_METHOD, seed: float = 0,
                seconds: float | None = 0.0, concept: str = DEFAULT_CONCEPT, hyperparameters: str = "{}") -> tuple:
        """Inspector data for a prompt: codebook map, original and unlearned token timelines,
        condition shift (methods that edit the text side, else None). Nothing is rendered."""
        def run() -> tuple:
            result = self.compare_result(prompt, backbone, method, seed, seconds, concept, hyperparameters,
                                         render=False)
            view = self.inspector_view(result)
            return view.codebook, view.original_timeline, view.unlearned_timeline, view.condition_shift
        return guarded(run)

    def code_motion(self, code: float, method: str = DEFAULT_METHOD, concept: str = DEFAULT_CONCEPT,
                    hyperparameters: str = "{}") -> str:
        """An MP4 of the short motion a base-layer code decodes to (through the edit)."""
        return guarded(lambda: str(self.service.code_video(code, method, concept,
                                                           parse_hyperparameters(hyperparameters))))

    # ------------------------------------------------------------------ red team
    def redteam(self, method: str = DEFAULT_METHOD, attack: str = DEFAULT_ATTACK, backbone: str = "momask",
                start_prompt: str | None = None, budget: float | None = None, seed: float = 0,
                seconds: float = DEFAULT_SECONDS, progress: gr.Progress = gr.Progress()) -> tuple:
        """Run ``attack`` against ``method`` within the app's budget bound: (side-by-side MP4 of the best
        prompt or condition on the original | unlearned model, best prompt, judge before, judge after,
        the composed prompt's parts marked kept/lost (None for other prompts), summary, report JSON)."""
        def run() -> tuple:
            context = contextvars.copy_context()   # the bar is updated from the studio thread

            def report(fraction: float, desc: str) -> None:
                context.run(progress, fraction, desc=desc)

            report(0.0, f"{attack} against {method}")
            result = red_team(self.service, method, attack, backbone, start_prompt, budget, seed, seconds, report)
            if result.render_error:
                gr.Warning(result.render_error)
            return (_path(result.video), result.run.best_prompt, judge_label(result.before),
                    judge_label(result.after), highlighted(result.request.start_prompt, result.parts),
                    summary(result), result.to_dict())
        return guarded(run)

    def redteam_attack_changed(self, attack: str, start_prompt: str | None) -> tuple:
        """The start prompts, budget slider and description for another attack (a typed prompt is kept)."""
        def run() -> tuple:
            if self.service.safe_mode:
                raise StudioError(SAFE_MODE_REFUSAL)
            if attack not in attack_names():
                raise StudioError(f"unknown attack {attack!r}; choose from {', '.join(attack_names())}")
            choices = start_choices(attack)
            # a typed prompt, or a suite prompt this attack starts from too, stays; another suite prompt does not
            keep = bool(start_prompt) and (not in_suite(start_prompt) or start_prompt in {t for _, t in choices})
            return (gr.update(choices=choices, value=start_prompt if keep else default_start(attack)),
                    gr.update(maximum=budget_bound(attack), value=default_budget(attack), label=budget_label(attack)),
                    attack_summary(attack))
        return guarded(run)
