"""Original vs unlearned: one prompt through both models with the same seed and length, both judged.

The unlearned motion gets the original's length (when the length estimator picked it, the edited
model would otherwise estimate its own), so the difference on screen is the edit and nothing else.
With no original pipeline (safe mode, or a single model's generation) only the edited one runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from hmu_demo.pipelines.requests import GenerationRequest, RequestError
from hmu_demo.pipelines.text_to_motion import GenerationOutput, Motion, TextToMotionPipeline

if TYPE_CHECKING:
    from hmu_demo.models.judge.scoring import Judge, JudgeResult

__all__ = ["CompareOutput", "ComparePipeline"]


@dataclass
class CompareOutput:
    """Both motions and their verdicts (None without an original, or without a judge); ``notes``:
    the out-of-memory fallbacks taken, one line each; the seconds generating and judging took."""

    original: Motion | None
    unlearned: Motion
    original_judge: "JudgeResult | None"
    unlearned_judge: "JudgeResult | None"
    notes: list[str] = field(default_factory=list)
    generation_seconds: float = 0.0
    judging_seconds: float = 0.0


class ComparePipeline:
    """``original`` None: safe mode (no original motion is ever made); ``judge`` None: no verdicts."""

    def __init__(self, original: TextToMotionPipeline | None, edited: TextToMotionPipeline,
                 judge: "Judge | None") -> None:
        self.original = original
        self.edited = edited
        self.judge = judge

    def __call__(self, request: GenerationRequest) -> CompareOutput:
        if len(request.prompts) != 1:
            raise RequestError(f"a comparison takes one prompt, got {len(request.prompts)}", "prompts")
        notes: list[str] = []
        start = time.perf_counter()
        original = None
        if self.original is not None:
            original = self._one(self.original, request, notes)
            request = replace(request, lengths=(original.length_frames,))
        unlearned = self._one(self.edited, request, notes)
        judging = time.perf_counter()
        motions = [m for m in (original, unlearned) if m is not None]
        verdicts = [None] * len(motions) if self.judge is None else self.judge.score([m.joints for m in motions])
        return CompareOutput(original, unlearned, None if original is None else verdicts[0], verdicts[-1], notes,
                             judging - start, time.perf_counter() - judging)

    @staticmethod
    def _one(pipeline: TextToMotionPipeline, request: GenerationRequest, notes: list[str]) -> Motion:
        out: GenerationOutput = pipeline(request)
        if out.fallback is not None and out.fallback.message not in notes:
            notes.append(out.fallback.message)
        return out.motions[0]
