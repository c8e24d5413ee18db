"""The app's service layer, independent of Gradio: prompt -> original and unlearned motion, judged, rendered.

:class:`StudioService` loads the model bundle, its text encoder, the judge and the code index once
(lazily, under a lock, so concurrent app requests share one copy; a part that is missing or corrupt
disables only what needs it, see :mod:`hmu_demo.ui.resources` and ``service.problems``) and caches
unlearning edits in a small LRU keyed by (method, normalised concept, sorted hyperparameters): an
edit is a cheap copy of the bundle sharing every tensor it did not change, so a handful stay in
memory at little cost.

The public calls (``compare``, ``generate``, ``unlearned``, ``export_edit``, ``code_video``) run on
one long-lived thread (:mod:`hmu_demo.ui.studio_thread`): memory then stays flat under load.

``compare`` generates the original and the unlearned motion with the same seed and length (so the
difference on screen is the edit and nothing else), judges both, renders one synchronised
side-by-side MP4 plus each motion alone on the default body, and writes the downloads (joints .npy,
.bvh, and the edit folder: edit.safetensors + edit.json) into a new folder per call under
``out_dir`` (default: a temporary folder of the service). ``generate`` does the same for one motion.

Safe mode (deployment switch): ``HMU_SAFE_MODE=1`` in the environment when the service is built, or
``StudioService(safe_mode=True)`` (the argument wins over the environment). Under it no call returns
an original-model motion: ``compare`` generates, judges, renders and writes only the unlearned side
(every ``original*`` field is None and no original video or file exists), ``generate`` refuses
``method=None`` / ``"original"``, and every edit is of ``config.safe_concept`` ("violence") with the
method's default hyperparameters (another concept, or ``k=1``, would leave violent prompts untouched,
i.e. return the original's motion). Use it for a public deployment that must never show the concept.

Input rules (bad input raises :class:`StudioError` with a one-line message; a failed call removes
only its own new folder and never touches earlier results or the edit cache):

* prompt: a string; control characters (newlines, tabs, zero-width and other Unicode "C*"
  characters) are replaced by spaces and whitespace is collapsed; empty after that, or longer than
  ``max_prompt_chars`` (300) characters, is refused (never silently truncated);
* seconds: None (the length estimator picks) or a finite number in [0.2, 9.8] (one token .. 196 frames);
* backbone: "momask" or "bamm" (when the bundle has BAMM); method: a registry name;
* concept: a lexicon name ("violence"), comma-separated keywords ("jump, hop, leap") or a Concept;
  keywords that match no training motion (index-based methods) or more than half of them are refused;
* hyperparameters: a mapping of the method's hyperparameter names (the registry's ValueError is
  passed on as a StudioError).
"""

from __future__ import annotations

import json
import logging
import numbers
import os
import shutil
import tempfile
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from hmu_demo.cli import one_line
from hmu_demo import prompt as prompt_rules
from hmu_demo.generate import BACKBONES, EMBEDDED_DIR, MAX_SECONDS, Generator, Motion, check_seconds
from hmu_demo.motion.skeleton import FPS
from hmu_demo.prompt import MAX_PROMPT_CHARS
from hmu_demo.render.config import RenderConfig
from hmu_demo.ui.studio_thread import on_studio_thread
from hmu_demo.unlearning.concept import Concept
from hmu_demo.unlearning.report import EditReport

__all__ = ["CompareResult", "GenerateResult", "ServiceConfig", "StudioError", "StudioService", "Timings",
           "SAFE_MODE_ENV", "clean_prompt", "safe_mode_from_env"]

SAFE_MODE_ENV = "HMU_SAFE_MODE"
ORIGINAL = "original"
LABELS = ("original", "unlearned")

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
    max_prompt_chars: int = MAX_PROMPT_CHARS
    max_seconds: float = MAX_SECONDS
    output_dir: Path | None = None         # where calls without out_dir write (None: a temporary folder)
    safe_concept: str = "violence"         # the only concept safe mode unlearns (no hyperparameter overrides)


@dataclass
class Timings:
    """Seconds spent per stage of one call (edit is ~0 on a cache hit)."""

    edit: float = 0.0
    generation: float = 0.0
    judging: float = 0.0
    rendering: float = 0.0
    export: float = 0.0

    @property
    def total(self) -> float:
        return self.edit + self.generation + self.judging + self.rendering + self.export


@dataclass
class CompareResult:
    """One original-vs-unlearned comparison. Under safe mode every ``original*`` field is None."""

    prompt: str
    backbone: str
    method: str
    concept: str
    seed: int
    hyperparameters: dict
    original: Motion | None
    unlearned: Motion
    original_judge: Any | None             # hmu_demo.eval.judge.JudgeResult
    unlearned_judge: Any
    report: EditReport
    edit_cached: bool
    safe_mode: bool
    timings: Timings
    folder: Path | None = None
    side_by_side_video: Path | None = None
    original_video: Path | None = None
    unlearned_video: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)  # original_npy/bvh, unlearned_npy/bvh, edit_dir
    render_error: str | None = None        # why there are no videos (the motion files are still written)
    notes: list[str] = field(default_factory=list)  # e.g. "GPU out of memory: generation ran on the CPU"
    edited_bundle: Any = field(default=None, repr=False)  # the edit that made ``unlearned`` (for the inspector)

    @property
    def changed(self) -> bool:
        """Whether the edit changed this motion (None-safe: False without an original)."""
        return self.original is not None and not np.array_equal(self.original.joints, self.unlearned.joints)


@dataclass
class GenerateResult:
    """One motion from the original (method None) or an unlearned model."""

    prompt: str
    backbone: str
    method: str
    concept: str | None
    seed: int
    motion: Motion
    judge: Any
    report: EditReport | None
    edit_cached: bool
    timings: Timings
    folder: Path | None = None
    video: Path | None = None
    files: dict[str, Path] = field(default_factory=dict)   # npy, bvh (+ edit_dir)
    render_error: str | None = None        # why there is no video (the motion files are still written)
    notes: list[str] = field(default_factory=list)  # e.g. "GPU out of memory: generation ran on the CPU"


# ----------------------------------------------------------------------------------------- validation

def safe_mode_from_env(environ: Mapping[str, str] | None = None) -> bool:
    """True when HMU_SAFE_MODE is 1/true/yes/on (case-insensitive)."""
    value = (os.environ if environ is None else environ).get(SAFE_MODE_ENV, "")
    return value.strip().lower() in ("1", "true", "yes", "on")


def clean_prompt(prompt: object, max_chars: int = MAX_PROMPT_CHARS) -> str:
    """:func:`hmu_demo.prompt.clean_prompt`, refusing with a StudioError."""
    try:
        return prompt_rules.clean_prompt(prompt, max_chars)
    except prompt_rules.PromptError as err:
        raise StudioError(str(err)) from None


def _check_seconds(seconds: object, max_seconds: float) -> float | None:
    if seconds is None:
        return None
    try:
        return check_seconds(seconds, max_seconds)
    except ValueError as err:
        raise StudioError(str(err)) from None


def _check_seed(seed: object) -> int:
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or not 0 <= int(seed) < 2 ** 63:
        raise StudioError(f"seed must be a whole number from 0 to 2^63-1, got {seed!r}")
    return int(seed)


def _check_hyperparameters(hp: object) -> dict:
    if hp is None:
        return {}
    if not isinstance(hp, Mapping) or not all(isinstance(k, str) for k in hp):
        raise StudioError(f"hyperparameters must map names to values, got {type(hp).__name__}")
    return dict(hp)


def concept_key(concept: object) -> str:
    """The cache/report form of a concept: lower case, keywords comma-separated, spaces collapsed."""
    if isinstance(concept, Concept):
        return json.dumps(concept.to_dict(), sort_keys=True)
    if not isinstance(concept, str):
        raise StudioError(f"the concept must be text (a name or comma-separated keywords), got {type(concept).__name__}")
    parts = [" ".join(p.split()) for p in concept.lower().split(",")]
    parts = list(dict.fromkeys(p for p in parts if p))
    if not parts:
        raise StudioError("the concept is empty; give a name such as 'violence' or keywords such as 'jump, hop, leap'")
    return ", ".join(parts)


def make_concept(concept: Concept | str) -> Concept:
    """A lexicon concept for a known name, else a concept of the typed keywords (a single unknown word
    is one keyword: the app's box is for keywords)."""
    if isinstance(concept, Concept):
        return concept
    from hmu_demo.data.lexicon import resolve_concept as known_name
    from hmu_demo.unlearning.registry import resolve_concept

    key = concept_key(concept)
    try:
        return resolve_concept(key if "," in key or known_name(key) is not None else f"{key},")
    except ValueError as err:
        raise StudioError(f"unusable concept {key!r}: {one_line(err)}") from err


def _hp_key(hp: Mapping[str, Any]) -> tuple:
    return tuple(sorted((k, repr(v)) for k, v in hp.items()))


# ------------------------------------------------------------------------------------------- helpers

@contextmanager
def _timed(timings: Timings, stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        setattr(timings, stage, getattr(timings, stage) + time.perf_counter() - start)


def _wrap(action: Callable[[], T], what: str) -> T:
    """Run ``action``; a ValueError/TypeError becomes a StudioError prefixed with ``what``."""
    try:
        return action()
    except StudioError:
        raise
    except (ValueError, TypeError) as err:
        raise StudioError(f"{what}: {one_line(err)}") from err


#: Added to a failed render's message where the motion files are still written.
STILL_DOWNLOADABLE = "; the motion is still downloadable as NPY and BVH"


def _render_or_explain(render: Callable[[], None], folder: Path) -> str | None:
    """Run ``render``; when it fails, remove its partial videos and return what failed (the caller
    still writes the motion files: a broken renderer or encoder must not lose the motion)."""
    try:
        render()
        return None
    except Exception as err:  # noqa: BLE001 - any render/encode failure is reported, not raised
        log.exception("rendering failed")
        for video in folder.glob("*.mp4"):
            video.unlink(missing_ok=True)
        return f"rendering failed ({type(err).__name__}: {one_line(err)})"


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def _write_motion(motion: Motion, folder: Path, stem: str) -> dict[str, Path]:
    from hmu_demo.motion.bvh import write_bvh

    npy, bvh = folder / f"{stem}_joints.npy", folder / f"{stem}.bvh"
    np.save(npy, motion.joints)
    write_bvh(motion.joints, bvh)
    return {f"{stem}_npy": npy, f"{stem}_bvh": bvh}


#: A call's folder is built under this prefix and renamed when complete: a server killed mid-request
#: leaves only a hidden ``.partial-*`` folder (removed at the next start), never a half-written result.
STAGING_PREFIX = ".partial-"


class _CallFolder:
    """One call's output folder: written at ``path`` (hidden), then ``publish`` renames it to ``final``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.final: Path | None = None

    def publish(self) -> None:
        final = self.path.with_name(self.path.name[len(STAGING_PREFIX):])
        os.rename(self.path, final)
        self.final = final

    def moved(self, path: Path | None) -> Path | None:
        """Where a path written under the staging folder is after publishing (others unchanged)."""
        if path is None or self.final is None or not Path(path).is_relative_to(self.path):
            return path
        return self.final / Path(path).relative_to(self.path)


def _remove_stale_staging(root: Path, before: float) -> None:
    """Remove unfinished call folders a stopped or killed process left in ``root`` (those older than
    this service, so a second app sharing the folder keeps its calls in flight)."""
    for stale in root.glob(STAGING_PREFIX + "*"):
        try:
            if stale.is_dir() and stale.stat().st_mtime < before:
                shutil.rmtree(stale, ignore_errors=True)
                log.info("removed an unfinished call folder %s", stale)
        except OSError:
            continue


@dataclass
class _Edit:
    bundle: Any
    report: EditReport
    saved: Path | None = None  # an edit folder already written for this edit (linked, not rewritten)


# ------------------------------------------------------------------------------------------- service

class StudioService:
    """Shared models + an LRU of edits; ``compare`` / ``generate`` make everything the app shows."""

    def __init__(self, config: ServiceConfig | None = None, *, safe_mode: bool | None = None) -> None:
        self.config = config or ServiceConfig()
        if not isinstance(self.config.cache_size, int) or self.config.cache_size < 1:
            raise StudioError(f"cache_size must be an integer >= 1, got {self.config.cache_size!r}")
        self.safe_mode = safe_mode_from_env() if safe_mode is None else bool(safe_mode)
        self._load_lock = threading.RLock()
        self._edit_lock = threading.RLock()
        self._edits: OrderedDict[tuple, _Edit] = OrderedDict()
        self._loaded = None  # hmu_demo.ui.resources.Resources, once loaded
        self._created = time.time()
        self._swept: set[Path] = set()  # output roots cleared of an earlier process's unfinished calls
        self._generators: OrderedDict[int, Generator] = OrderedDict()  # id(bundle) -> its Generator
        self._tmp: Path | None = None

    # ------------------------------------------------------------------ shared resources
    def _resources(self):
        """Every part that loads (once, under a lock); a part that fails is a Problem, not an error."""
        with self._load_lock:
            if self._loaded is None:
                import torch

                from hmu_demo.ui.resources import load_resources

                cfg = self.config
                device = torch.device(cfg.device or ("cuda" if torch.cuda.is_available() else "cpu"))
                self._loaded = load_resources(cfg.bundle_dir, cfg.judge_dir, cfg.index, device)
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
    def _device(self):
        return self._resources().device

    @property
    def bundle(self):
        from hmu_demo.ui.resources import MODELS

        return self._part("bundle", MODELS)

    @property
    def text_encoder(self):
        from hmu_demo.ui.resources import MODELS

        return self._part("encoder", MODELS)

    @property
    def judge(self):
        """The judge, or None when it could not be loaded (results then carry no verdicts)."""
        return self._resources().judge

    @property
    def index(self):
        from hmu_demo.ui.resources import INDEX

        return self._part("index", INDEX)

    @staticmethod
    def methods() -> list[str]:
        from hmu_demo.unlearning.registry import method_names

        return method_names()

    def backbones(self) -> list[str]:
        """The backbones this bundle can run (BAMM only when it ships one and its weights loaded)."""
        bundle = self._resources().bundle
        return [b for b in BACKBONES if b != "bamm" or (bundle is not None and bundle.bamm is not None)]

    def _judge(self, motions: list) -> list:
        """The judge's verdict per motion; Nones when the judge could not be loaded."""
        judge = self.judge
        return [None] * len(motions) if judge is None else judge.score([m.joints for m in motions])

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

    # ------------------------------------------------------------------ edits
    def _check_method(self, method: object) -> str:
        if not isinstance(method, str) or method not in self.methods():
            raise StudioError(f"unknown method {method!r}; choose from {', '.join(self.methods())}")
        return method

    def _edit(self, method: str, concept: Concept | str, hyperparameters: Mapping[str, Any] | None
              ) -> tuple[_Edit, bool]:
        """(the cached or new edit, whether it was cached)."""
        from hmu_demo.unlearning.registry import apply

        method = self._check_method(method)
        hp = _check_hyperparameters(hyperparameters)
        key = (method, concept_key(concept), _hp_key(hp))
        if self.safe_mode:
            self._check_safe_edit(key[1], hp)
        with self._edit_lock:
            hit = self._edits.get(key)
            if hit is not None:
                self._edits.move_to_end(key)
                return hit, True
            resolved = make_concept(concept)
            bundle, encoder, index = self.bundle, self.text_encoder, self.index
            edited, report = _wrap(lambda: apply(bundle, resolved, method, text_encoder=encoder, index=index, **hp),
                                   f"cannot apply {method} to {resolved.name!r}")
            entry = _Edit(edited, report)
            self._edits[key] = entry
            while len(self._edits) > self.config.cache_size:
                self._edits.popitem(last=False)
            return entry, False

    def _check_safe_edit(self, concept: str, hp: Mapping[str, Any]) -> None:
        """Safe mode serves only the deployment's edit: another concept, or hyperparameters that
        weaken it, would hand back the original model's motion for the very prompts it must hide."""
        pinned = concept_key(self.config.safe_concept)
        if concept != pinned:
            raise StudioError(f"safe mode is on: the concept is fixed to {pinned!r}")
        if hp:
            raise StudioError("safe mode is on: the methods run with their default hyperparameters")

    @on_studio_thread
    def unlearned(self, method: str, concept: Concept | str = "violence",
                  hyperparameters: Mapping[str, Any] | None = None) -> tuple[Any, EditReport]:
        """(edited bundle, EditReport), from the LRU when this edit was made before."""
        entry, _ = self._edit(method, concept, hyperparameters)
        return entry.bundle, entry.report

    def clear_cache(self) -> None:
        with self._edit_lock:
            self._edits.clear()

    # ------------------------------------------------------------------ generation / judging / output
    def _check_backbone(self, backbone: object) -> str:
        if backbone not in self.backbones():
            raise StudioError(f"unknown backbone {backbone!r}; choose from {', '.join(self.backbones())}")
        return str(backbone)

    def _generator(self, bundle) -> Generator:
        """One Generator per bundle in use (base + cached edits), so the CPU copy an out-of-memory
        fallback makes is made once, not per request."""
        with self._edit_lock:
            gen = self._generators.pop(id(bundle), None)
            if gen is None or gen.bundle is not bundle:
                gen = Generator(bundle, self.text_encoder, device=self._device)
            self._generators[id(bundle)] = gen
            while len(self._generators) > self.config.cache_size + 1:
                self._generators.popitem(last=False)
            return gen

    def _generate(self, bundle, prompt: str, backbone: str, seed: int, seconds: float | None,
                  notes: list[str]) -> Motion:
        """One motion; an out-of-memory fallback adds its message to ``notes``."""
        if seconds is None and bundle.length_estimator is None:
            raise StudioError("the length estimator could not be loaded (see the banner): set the length in seconds")
        lengths = None if seconds is None else [seconds * FPS]
        gen = self._generator(bundle)
        motion = _wrap(lambda: gen.generate([prompt], lengths, seed=seed, steps=self.config.steps,
                                            backbone=backbone)[0], "cannot generate")
        if gen.last_fallback is not None and gen.last_fallback.message not in notes:
            notes.append(gen.last_fallback.message)
        return motion

    @contextmanager
    def _call_folder(self, out_dir: str | os.PathLike | None) -> Iterator[_CallFolder]:
        """A new folder for one call's files (never an existing one, so earlier results stay intact),
        built hidden and published when the block ends; removed instead when it fails."""
        root = self.output_dir if out_dir is None else Path(out_dir).expanduser()
        try:
            root.mkdir(parents=True, exist_ok=True)
            with self._load_lock:
                if root not in self._swept:
                    _remove_stale_staging(root, self._created)
                    self._swept.add(root)
            call = _CallFolder(Path(tempfile.mkdtemp(prefix=STAGING_PREFIX + time.strftime("%Y%m%d-%H%M%S-"),
                                                     dir=root)))
        except OSError as err:
            raise StudioError(f"cannot write results to {root}: {one_line(err)}") from err
        try:
            yield call
            call.publish()
        except BaseException:
            shutil.rmtree(call.path, ignore_errors=True)
            raise

    def _write_edit(self, entry: _Edit, folder: Path, backbone: str) -> Path:
        """The edit folder under ``folder``: linked from an earlier copy when one exists, else written."""
        from hmu_demo.unlearning.edit_io import EDIT_JSON, EDIT_WEIGHTS, save_edit

        target = folder / "edit"
        saved = entry.saved
        if saved is not None and all((saved / n).is_file() for n in (EDIT_JSON, EDIT_WEIGHTS)):
            target.mkdir()
            for name in (EDIT_WEIGHTS, EDIT_JSON):
                _link_or_copy(saved / name, target / name)
            return target
        save_edit(self.bundle, entry.bundle, entry.report, target, backbone=backbone)
        entry.saved = target
        return target

    def _render_config(self, caption: str | None = None) -> RenderConfig:
        return replace(self.config.render, caption=caption, label=None)

    @on_studio_thread
    def export_edit(self, method: str, concept: Concept | str = "violence",
                    hyperparameters: Mapping[str, Any] | None = None, backbone: str = "momask",
                    out_dir: str | os.PathLike | None = None) -> tuple[Path, EditReport, bool]:
        """(a new folder holding edit.safetensors + edit.json, the report, whether the edit was cached):
        live unlearning's downloadable result."""
        backbone = self._check_backbone(backbone)
        entry, cached = self._edit(method, concept, hyperparameters)
        with self._call_folder(out_dir) as call:
            edit_dir = self._write_edit(entry, call.path, backbone)
        entry.saved = call.moved(entry.saved)
        return call.moved(edit_dir), entry.report, cached

    @on_studio_thread
    def code_video(self, code: object, method: str | None = None, concept: Concept | str = "violence",
                   hyperparameters: Mapping[str, Any] | None = None, repeats: int = 4,
                   out_dir: str | os.PathLike | None = None) -> Path:
        """An MP4 of the short motion one base-layer code decodes to (4 frames per repeat), in the
        edited model when ``method`` is given (a replaced code then shows its replacement).

        Safe mode plays codes only through an edit, and never a code the edit flagged.
        """
        from hmu_demo.render.api import render_video
        from hmu_demo.ui.inspector import code_motion_joints

        if method is None or method == ORIGINAL:
            if self.safe_mode:
                raise StudioError("safe mode is on: codes play only through an unlearning method")
            bundle, report = self.bundle, None
        else:
            entry, _ = self._edit(method, concept, hyperparameters)
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
            error = _render_or_explain(lambda: render_video(joints, video, replace(
                self._render_config(), label=f"code {int(code)}", trajectory=False)), call.path)
            if error:
                raise StudioError(error)
        return call.moved(video)

    # ------------------------------------------------------------------ public calls
    @on_studio_thread
    def compare(self, prompt: str, backbone: str = "momask", method: str = "lcr-gated", seed: int = 0,
                seconds: float | None = None, concept: Concept | str = "violence",
                hyperparameters: Mapping[str, Any] | None = None, render: bool = True,
                out_dir: str | os.PathLike | None = None) -> CompareResult:
        """Original vs unlearned motion for ``prompt`` (same seed and length), judged, rendered, exported."""
        prompt = clean_prompt(prompt, self.config.max_prompt_chars)
        seconds = _check_seconds(seconds, self.config.max_seconds)
        seed = _check_seed(seed)
        method = self._check_method(method)
        concept_text = concept_key(concept)
        backbone = self._check_backbone(backbone)
        timings, notes = Timings(), []
        with _timed(timings, "edit"):
            entry, cached = self._edit(method, concept, hyperparameters)
        with _timed(timings, "generation"):
            original = None if self.safe_mode else self._generate(self.bundle, prompt, backbone, seed, seconds, notes)
            unlearned = self._generate(entry.bundle, prompt, backbone, seed,
                                       seconds if original is None else original.length_frames / FPS, notes)
        with _timed(timings, "judging"):
            verdicts = self._judge([m for m in (original, unlearned) if m is not None])
        result = CompareResult(prompt, backbone, method, concept_text, seed, dict(entry.report.hyperparameters),
                               original, unlearned, None if original is None else verdicts[0], verdicts[-1],
                               entry.report, cached, self.safe_mode, timings, notes=notes,
                               edited_bundle=entry.bundle)
        if render:
            self._compare_outputs(result, entry, out_dir)
        return result

    def _compare_outputs(self, result: CompareResult, entry: _Edit, out_dir: str | os.PathLike | None) -> None:
        with self._call_folder(out_dir) as call:
            folder = call.path
            with _timed(result.timings, "rendering"):
                result.render_error = _render_or_explain(lambda: self._render_compare(result, folder), folder)
            if result.render_error:
                result.render_error += STILL_DOWNLOADABLE
                result.side_by_side_video = result.original_video = result.unlearned_video = None
            with _timed(result.timings, "export"):
                for stem, motion in ((LABELS[0], result.original), (LABELS[1], result.unlearned)):
                    if motion is not None:
                        result.files.update(_write_motion(motion, folder, stem))
                result.files["edit_dir"] = self._write_edit(entry, folder, result.backbone)
        result.folder = call.final
        result.side_by_side_video, result.original_video, result.unlearned_video = map(
            call.moved, (result.side_by_side_video, result.original_video, result.unlearned_video))
        result.files = {k: call.moved(v) for k, v in result.files.items()}
        entry.saved = call.moved(entry.saved)

    def _render_compare(self, result: CompareResult, folder: Path) -> None:
        from hmu_demo.render.api import render_comparison, render_side_by_side, render_video

        if result.original is None:
            result.unlearned_video = render_video(result.unlearned.joints, folder / "unlearned.mp4",
                                                  replace(self._render_config(), label=LABELS[1]))
            return
        config = self._render_config(result.prompt)
        pair = (result.original.joints, result.unlearned.joints)
        if not self.config.single_videos:
            result.side_by_side_video = render_side_by_side(*pair, folder / "side_by_side.mp4", config, labels=LABELS)
            return
        (result.side_by_side_video, result.original_video,
         result.unlearned_video) = render_comparison(*pair, folder / "side_by_side.mp4", folder / "original.mp4",
                                                     folder / "unlearned.mp4", config, labels=LABELS)

    @on_studio_thread
    def generate(self, prompt: str, backbone: str = "momask", seed: int = 0, seconds: float | None = None,
                 method: str | None = None, concept: Concept | str = "violence",
                 hyperparameters: Mapping[str, Any] | None = None, render: bool = True,
                 out_dir: str | os.PathLike | None = None) -> GenerateResult:
        """One motion: the original model's (``method`` None, refused in safe mode) or an unlearned one's."""
        prompt = clean_prompt(prompt, self.config.max_prompt_chars)
        seconds = _check_seconds(seconds, self.config.max_seconds)
        seed = _check_seed(seed)
        original = method is None or method == ORIGINAL
        if original and self.safe_mode:
            raise StudioError("safe mode is on: the original model is not available; choose an unlearning method")
        if not original:
            method = self._check_method(method)
        backbone = self._check_backbone(backbone)
        timings, notes = Timings(), []
        entry, cached = None, False
        if not original:
            with _timed(timings, "edit"):
                entry, cached = self._edit(method, concept, hyperparameters)
        with _timed(timings, "generation"):
            motion = self._generate(self.bundle if entry is None else entry.bundle, prompt, backbone, seed, seconds,
                                    notes)
        with _timed(timings, "judging"):
            verdict = self._judge([motion])[0]
        result = GenerateResult(prompt, backbone, ORIGINAL if original else method,
                                None if original else concept_key(concept), seed, motion, verdict,
                                None if entry is None else entry.report, cached, timings, notes=notes)
        if render:
            self._generate_outputs(result, entry, out_dir)
        return result

    def _generate_outputs(self, result: GenerateResult, entry: _Edit | None, out_dir: str | os.PathLike | None) -> None:
        from hmu_demo.render.api import render_video

        with self._call_folder(out_dir) as call:
            folder = call.path

            def render() -> None:
                result.video = render_video(result.motion.joints, folder / "motion.mp4", self._render_config())

            with _timed(result.timings, "rendering"):
                result.render_error = _render_or_explain(render, folder)
            if result.render_error:
                result.render_error += STILL_DOWNLOADABLE
                result.video = None
            with _timed(result.timings, "export"):
                files = _write_motion(result.motion, folder, "motion")
                result.files = {"npy": files["motion_npy"], "bvh": files["motion_bvh"]}
                if entry is not None:
                    result.files["edit_dir"] = self._write_edit(entry, folder, result.backbone)
        result.folder, result.video = call.final, call.moved(result.video)
        result.files = {k: call.moved(v) for k, v in result.files.items()}
        if entry is not None:
            entry.saved = call.moved(entry.saved)
