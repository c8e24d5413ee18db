"""The app's service layer, independent of Gradio: shared models, cached edits, the studio thread,
output folders and safe mode around the pipelines.

:class:`StudioService` loads the model bundle, its text encoder, the judge and the code index once
(lazily, under a lock, so concurrent app requests share one copy; a part that is missing or corrupt
disables only what needs it, see :mod:`hmu_demo.ui.resources` and ``service.problems``) and caches
unlearning edits with their pipelines (:mod:`hmu_demo.ui.edits`). Input is checked by the requests
of :mod:`hmu_demo.pipelines.requests` (their one-line messages come back as :class:`StudioError`);
motions and verdicts come from :mod:`hmu_demo.pipelines.compare`; the files of each call go into a
new folder under ``out_dir`` (default: a temporary folder of the service, see :mod:`hmu_demo.ui.outputs`).

The public calls (``compare``, ``generate``, ``unlearned``, ``export_edit``, ``code_video``) run on
one long-lived thread (:mod:`hmu_demo.ui.studio_thread`): memory then stays flat under load.

``compare`` generates the original and the unlearned motion with the same seed and length, judges
both, renders one synchronised side-by-side MP4 plus each motion alone on the default body (or, with
``videos=False``, leaves that to ``render_videos``, in a call folder of its own), and writes the
downloads (joints .npy, .bvh, animated .glb, and the edit folder). ``generate`` does the same for one motion.

Safe mode (deployment switch): ``HMU_SAFE_MODE=1`` in the environment when the service is built, or
``StudioService(safe_mode=True)`` (the argument wins over the environment). Under it no call returns
an original-model motion: ``compare`` generates, judges, renders and writes only the unlearned side
(every ``original*`` field is None and no original video or file exists), ``generate`` refuses
``method=None`` / ``"original"``, and every edit is of ``config.safe_concept`` ("violence") with the
method's default hyperparameters (another concept, or ``k=1``, would leave violent prompts untouched,
i.e. return the original's motion). Use it for a public deployment that must never show the concept.

A failed call removes only its own new folder and never touches earlier results or the edit cache.
"""

from __future__ import annotations

import logging
import numbers
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

from hmu_demo.cli import one_line
from hmu_demo.config import EMBEDDED_DIR, resolve_device
from hmu_demo.pipelines.compare import CompareOutput, ComparePipeline
from hmu_demo.pipelines.requests import BACKBONES, CompareRequest, EditRequest, RequestError, concept_key, \
    make_concept
from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline
from hmu_demo.render.api import render_video
from hmu_demo.render.config import RenderConfig
from hmu_demo.ui.edits import CachedEdit, EditCache
from hmu_demo.ui.inspector import code_motion_joints
from hmu_demo.ui.outputs import STILL_DOWNLOADABLE, CallFolder, OutputRoots, render_or_explain, write_edit, \
    write_motion
from hmu_demo.ui.resources import INDEX, MODELS, Resources, load_resources
from hmu_demo.ui.results import CompareResult, GenerateResult, Timings, timed
from hmu_demo.ui.studio_thread import on_studio_thread
from hmu_demo.ui.videos import LABELS, render_compare_videos
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.registry import apply, method_names
from hmu_demo.unlearning.report import EditReport

__all__ = ["ORIGINAL", "SAFE_MODE_ENV", "ServiceConfig", "StudioError", "StudioService", "safe_mode_from_env"]

SAFE_MODE_ENV = "HMU_SAFE_MODE"
ORIGINAL = "original"

T = TypeVar("T")
log = logging.getLogger(__name__)


class StudioError(ValueError):
    """Input the user can fix, or a missing resource; the message is one line and says what to do."""


@dataclass(frozen=True)
class ServiceConfig:
    """Where the models live and how results are made (one place for every knob the app exposes)."""

    bundle_dir: Path = EMBEDDED_DIR
    judge_dir: Path | None = None          # None: the judge's default checkpoint folder
    index: Path | None = None              # None: code_index.json.gz in bundle_dir
    device: str | None = None              # None: CUDA when available, else CPU
    render: RenderConfig = field(default_factory=RenderConfig)
    single_videos: bool = True             # compare also writes each motion alone (same render pass: encoding only)
    cache_size: int = 8                    # edits kept in the LRU
    steps: int = 10                        # MoMask masked-decoding iterations
    output_dir: Path | None = None         # where calls without out_dir write (None: a temporary folder)
    safe_concept: str = "violence"         # the only concept safe mode unlearns (no hyperparameter overrides)


def safe_mode_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """True when HMU_SAFE_MODE is 1/true/yes/on (case-insensitive)."""
    value = (os.environ if environ is None else environ).get(SAFE_MODE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def _checked(make: Callable[[], T]) -> T:
    """A request made by ``make``; its RequestError becomes the app's StudioError (same message)."""
    try:
        return make()
    except RequestError as err:
        raise StudioError(str(err)) from None


def _wrap(action: Callable[[], T], what: str) -> T:
    """Run ``action``; a ValueError/TypeError becomes a StudioError prefixed with ``what``."""
    try:
        return action()
    except StudioError:
        raise
    except (ValueError, TypeError) as err:
        raise StudioError(f"{what}: {one_line(err)}") from err


class StudioService:
    """Shared models + an LRU of edits; ``compare`` / ``generate`` make everything the app shows."""

    def __init__(self, config: ServiceConfig | None = None, *, safe_mode: bool | None = None) -> None:
        self.config = config or ServiceConfig()
        if not isinstance(self.config.cache_size, int) or self.config.cache_size < 1:
            raise StudioError(f"cache_size must be an integer >= 1, got {self.config.cache_size!r}")
        self.safe_mode = safe_mode_from_env() if safe_mode is None else bool(safe_mode)
        self._load_lock = threading.RLock()
        self._edits = EditCache(self.config.cache_size)
        self._loaded: Resources | None = None
        self._original: TextToMotionPipeline | None = None
        self._roots = OutputRoots(StudioError)
        self._tmp: Path | None = None

    # ------------------------------------------------------------------ shared resources
    def _resources(self) -> Resources:
        """Every part that loads (once, under a lock); a part that fails is a Problem, not an error."""
        with self._load_lock:
            if self._loaded is None:
                cfg = self.config
                self._loaded = load_resources(cfg.bundle_dir, cfg.judge_dir, cfg.index, resolve_device(cfg.device))
            return self._loaded

    def warm_up(self) -> "StudioService":
        """Load every shared model now (e.g. at app start) instead of on the first request."""
        self._resources()
        return self

    @property
    def problems(self) -> list:
        """The parts that could not be loaded (:class:`hmu_demo.ui.resources.Problem`), in load order."""
        return list(self._resources().problems)

    def _part(self, name: str, part: str):
        found = self._resources()
        value = getattr(found, name)
        if value is None:
            problem = found.problem(part)
            raise StudioError(problem.message() if problem else f"the {part} is not loaded")
        return value

    @property
    def bundle(self):
        return self._part("bundle", MODELS)

    @property
    def text_encoder(self):
        return self._part("encoder", MODELS)

    @property
    def judge(self):
        """The judge, or None when it could not be loaded (results then carry no verdicts)."""
        return self._resources().judge

    @property
    def index(self):
        return self._part("index", INDEX)

    @staticmethod
    def methods() -> list[str]:
        return method_names()

    def backbones(self) -> list[str]:
        """The backbones this bundle can run (BAMM only when it ships one and its weights loaded)."""
        bundle = self._resources().bundle
        return [b for b in BACKBONES if b != "bamm" or (bundle is not None and bundle.bamm is not None)]

    def _available(self, backbone: str) -> str:
        if backbone not in self.backbones():
            raise StudioError(f"unknown backbone {backbone!r}; choose from {', '.join(self.backbones())}")
        return backbone

    @property
    def output_dir(self) -> Path:
        """The folder calls without ``out_dir`` write into (each call in a new subfolder)."""
        if self.config.output_dir is not None:
            return Path(self.config.output_dir).expanduser().resolve()
        with self._load_lock:
            if self._tmp is None:
                self._tmp = Path(tempfile.mkdtemp(prefix="hmu_studio_"))
            return self._tmp

    def close(self) -> None:
        """Remove the service's default temporary folder (results written under ``out_dir`` stay)."""
        with self._load_lock:
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None

    def _call_folder(self, out_dir: str | os.PathLike | None):
        return self._roots.call_folder(self.output_dir if out_dir is None else Path(out_dir).expanduser())

    def call_folder(self, out_dir: str | os.PathLike | None = None):
        """A new folder for one call's files under ``out_dir`` (None: :attr:`output_dir`), published when the
        block ends and removed when it fails (:meth:`hmu_demo.ui.outputs.OutputRoots.call_folder`)."""
        return self._call_folder(out_dir)

    # ------------------------------------------------------------------ pipelines and edits
    def _original_pipeline(self) -> TextToMotionPipeline:
        """The unedited model's pipeline (one, so its out-of-memory CPU copy is made once)."""
        with self._load_lock:
            if self._original is None:
                self._original = TextToMotionPipeline(self.bundle, self.text_encoder, self._resources().device)
            return self._original

    def _edit(self, request: EditRequest) -> tuple[CachedEdit, bool]:
        """(the cached or new edit, whether it was cached)."""
        if self.safe_mode:
            self._check_safe_edit(request)

        def make() -> CachedEdit:
            concept = _checked(lambda: make_concept(request.concept))
            bundle, encoder, index = self.bundle, self.text_encoder, self.index
            edit = _wrap(lambda: apply(bundle, concept, request.method, text_encoder=encoder, index=index,
                                       **request.hyperparameters), f"cannot apply {request.method} to {concept.name!r}")
            return CachedEdit(edit, TextToMotionPipeline(bundle, encoder, self._resources().device, edit=edit))

        return self._edits.get(request.key, make)

    def cached_edit(self, method: object, concept: Concept | str = "violence",
                    hyperparameters: Mapping[str, Any] | None = None) -> tuple[CachedEdit, bool]:
        """(the edit with its pipeline, whether it was cached): the one ``compare`` uses (safe mode's rules
        apply), for callers that run their own generations on it (the red team)."""
        return self._edit(self._edit_request(method, concept, hyperparameters))

    def _check_safe_edit(self, request: EditRequest) -> None:
        """Safe mode serves only the deployment's edit: another concept, or hyperparameters that
        weaken it, would hand back the original model's motion for the very prompts it must hide."""
        pinned = concept_key(self.config.safe_concept)
        if request.concept_key != pinned:
            raise StudioError(f"safe mode is on: the concept is fixed to {pinned!r}")
        if request.hyperparameters:
            raise StudioError("safe mode is on: the methods run with their default hyperparameters")

    def _edit_request(self, method: object, concept: Concept | str, hyperparameters: Mapping[str, Any] | None
                      ) -> EditRequest:
        return _checked(lambda: EditRequest(method, concept, hyperparameters))  # type: ignore[arg-type]

    @on_studio_thread
    def unlearned(self, method: str, concept: Concept | str = "violence",
                  hyperparameters: Mapping[str, Any] | None = None) -> tuple[Any, EditReport]:
        """(edited bundle, EditReport), from the LRU when this edit was made before."""
        entry, _ = self._edit(self._edit_request(method, concept, hyperparameters))
        return entry.bundle, entry.report

    def clear_cache(self) -> None:
        self._edits.clear()

    def _run(self, pipeline: ComparePipeline, request: CompareRequest, timings: Timings) -> CompareOutput:
        """Both motions (or one) and their verdicts; the stages' seconds go into ``timings``."""
        if request.seconds is None and self.bundle.length_estimator is None:
            raise StudioError("the length estimator could not be loaded (see the banner): set the length in seconds")
        out = _wrap(lambda: pipeline(request.generation(steps=self.config.steps)), "cannot generate")
        timings.generation += out.generation_seconds
        timings.judging += out.judging_seconds
        return out

    def _render_config(self, caption: str | None = None) -> RenderConfig:
        return replace(self.config.render, caption=caption, label=None)

    # ------------------------------------------------------------------ public calls
    @on_studio_thread
    def export_edit(self, method: str, concept: Concept | str = "violence",
                    hyperparameters: Mapping[str, Any] | None = None, backbone: str = "momask",
                    out_dir: str | os.PathLike | None = None) -> tuple[Path, EditReport, bool]:
        """(a new folder holding edit.safetensors + edit.json, the report, whether the edit was cached):
        live unlearning's downloadable result."""
        backbone = self._available(backbone)
        entry, cached = self._edit(self._edit_request(method, concept, hyperparameters))
        with self._call_folder(out_dir) as call:
            edit_dir = self._write_edit(entry, call, backbone)
        entry.saved = call.moved(entry.saved)
        return call.moved(edit_dir), entry.report, cached

    def _write_edit(self, entry: CachedEdit, call: CallFolder, backbone: str) -> Path:
        entry.saved = write_edit(self.bundle, entry.edit, call.path, backbone, entry.saved)
        return entry.saved

    @on_studio_thread
    def code_video(self, code: object, method: str | None = None, concept: Concept | str = "violence",
                   hyperparameters: Mapping[str, Any] | None = None, repeats: int = 4,
                   out_dir: str | os.PathLike | None = None) -> Path:
        """An MP4 of the short motion one base-layer code decodes to (4 frames per repeat), in the
        edited model when ``method`` is given (a replaced code then shows its replacement).

        Safe mode plays codes only through an edit, and never a code the edit flagged.
        """
        if method is None or method == ORIGINAL:
            if self.safe_mode:
                raise StudioError("safe mode is on: codes play only through an unlearning method")
            bundle, report = self.bundle, None
        else:
            entry, _ = self._edit(self._edit_request(method, concept, hyperparameters))
            bundle, report = entry.bundle, entry.report
        if isinstance(code, float) and code.is_integer():
            code = int(code)
        nb_code = bundle.vq.codebook(0).shape[0]
        if isinstance(code, bool) or not isinstance(code, numbers.Integral) or not 0 <= int(code) < nb_code:
            raise StudioError(f"code must be an integer in 0..{nb_code - 1}, got {code!r}")
        if self.safe_mode and report is not None and int(code) in set(report.codes):
            raise StudioError(f"safe mode is on: code {int(code)} is flagged by {report.method} and is not played")
        joints = code_motion_joints(bundle, int(code), repeats)
        with self._call_folder(out_dir) as call:
            video = call.path / f"code_{int(code)}.mp4"
            error = render_or_explain(lambda: render_video(joints, video, replace(
                self._render_config(), label=f"code {int(code)}", trajectory=False)), call.path)
            if error:
                raise StudioError(error)
        return call.moved(video)

    @on_studio_thread
    def compare(self, prompt: str, backbone: str = "momask", method: str = "segment-repair", seed: int = 0,
                seconds: float | None = None, concept: Concept | str = "violence",
                hyperparameters: Mapping[str, Any] | None = None, render: bool = True,
                out_dir: str | os.PathLike | None = None, videos: bool = True) -> CompareResult:
        """Original vs unlearned motion for ``prompt`` (same seed and length), judged, rendered, exported.
        ``render`` False: motions and verdicts only (no files); ``videos`` False: the files without the MP4s
        (:meth:`render_videos` makes them later)."""
        request = _checked(lambda: CompareRequest(prompt, backbone, method, concept, hyperparameters, seed, seconds))
        self._available(request.backbone)
        timings = Timings()
        with timed(timings, "edit"):
            entry, cached = self._edit(request.edit())
        original = None if self.safe_mode else self._original_pipeline()
        out = self._run(ComparePipeline(original, entry.pipeline, self.judge), request, timings)
        result = CompareResult(request.prompt, request.backbone, request.method, request.concept_key, request.seed,
                               dict(entry.report.hyperparameters), out.original, out.unlearned, out.original_judge,
                               out.unlearned_judge, entry.report, cached, self.safe_mode, timings, notes=out.notes,
                               edited_bundle=entry.bundle)
        if render:
            self._compare_outputs(result, entry, out_dir, videos)
        return result

    def _compare_outputs(self, result: CompareResult, entry: CachedEdit, out_dir: str | os.PathLike | None,
                         videos: bool = True) -> None:
        with self._call_folder(out_dir) as call:
            folder = call.path
            if videos:
                self._videos_into(result, folder)
            with timed(result.timings, "export"):
                for stem, motion in ((LABELS[0], result.original), (LABELS[1], result.unlearned)):
                    if motion is not None:
                        result.files.update(write_motion(motion, folder, stem))
                result.files["edit_dir"] = self._write_edit(entry, call, result.backbone)
        result.folder = call.final
        self._publish_videos(result, call)
        result.files = {k: call.moved(v) for k, v in result.files.items()}
        entry.saved = call.moved(entry.saved)

    def _videos_into(self, result: CompareResult, folder: Path) -> None:
        with timed(result.timings, "rendering"):
            result.render_error = render_or_explain(
                lambda: render_compare_videos(result, folder, self.config.render, self.config.single_videos), folder)
        if result.render_error:
            result.render_error += STILL_DOWNLOADABLE
            result.side_by_side_video = result.original_video = result.unlearned_video = None

    @staticmethod
    def _publish_videos(result: CompareResult, call: CallFolder) -> None:
        result.side_by_side_video, result.original_video, result.unlearned_video = map(
            call.moved, (result.side_by_side_video, result.original_video, result.unlearned_video))

    @on_studio_thread
    def render_videos(self, result: CompareResult, out_dir: str | os.PathLike | None = None) -> CompareResult:
        """The MP4s of a comparison made with ``videos=False`` (the page's 3D viewer path), rendered now into
        a new call folder; ``result`` gets their paths (or ``render_error``) and is returned."""
        with self._call_folder(out_dir) as call:
            self._videos_into(result, call.path)
        self._publish_videos(result, call)
        return result

    @on_studio_thread
    def generate(self, prompt: str, backbone: str = "momask", seed: int = 0, seconds: float | None = None,
                 method: str | None = None, concept: Concept | str = "violence",
                 hyperparameters: Mapping[str, Any] | None = None, render: bool = True,
                 out_dir: str | os.PathLike | None = None) -> GenerateResult:
        """One motion: the original model's (``method`` None, refused in safe mode) or an unlearned one's."""
        original = method is None or method == ORIGINAL
        request = _checked(lambda: CompareRequest(prompt, backbone, None if original else method, concept,
                                                  hyperparameters, seed, seconds))
        if original and self.safe_mode:
            raise StudioError("safe mode is on: the original model is not available; choose an unlearning method")
        self._available(request.backbone)
        timings = Timings()
        entry, cached = None, False
        if not original:
            with timed(timings, "edit"):
                entry, cached = self._edit(request.edit())
        pipeline = self._original_pipeline() if entry is None else entry.pipeline
        out = self._run(ComparePipeline(None, pipeline, self.judge), request, timings)
        result = GenerateResult(request.prompt, request.backbone, ORIGINAL if original else request.method,
                                None if original else request.concept_key, request.seed, out.unlearned,
                                out.unlearned_judge, None if entry is None else entry.report, cached, timings,
                                notes=out.notes)
        if render:
            self._generate_outputs(result, entry, out_dir)
        return result

    def _generate_outputs(self, result: GenerateResult, entry: CachedEdit | None,
                          out_dir: str | os.PathLike | None) -> None:
        with self._call_folder(out_dir) as call:
            folder = call.path

            def render() -> None:
                result.video = render_video(result.motion.joints, folder / "motion.mp4", self._render_config())

            with timed(result.timings, "rendering"):
                result.render_error = render_or_explain(render, folder)
            if result.render_error:
                result.render_error += STILL_DOWNLOADABLE
                result.video = None
            with timed(result.timings, "export"):
                files = write_motion(result.motion, folder, "motion")
                result.files = {"npy": files["motion_npy"], "bvh": files["motion_bvh"], "glb": files["motion_glb"]}
                if entry is not None:
                    result.files["edit_dir"] = self._write_edit(entry, call, result.backbone)
        result.folder, result.video = call.final, call.moved(result.video)
        result.files = {k: call.moved(v) for k, v in result.files.items()}
        if entry is not None:
            entry.saved = call.moved(entry.saved)
