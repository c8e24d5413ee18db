"""Starting the app: one shared service, a bounded queue, loopback by default, warm-up in the background.

On Hugging Face Spaces (the ``spaces`` package is installed there) the heavy actions are wrapped in
``spaces.GPU`` so ZeroGPU hardware attaches a GPU for their duration; elsewhere nothing changes.
"""

from __future__ import annotations

import ctypes
import logging
import os
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path

from hmu_demo.config import EMBEDDED_DIR
from hmu_demo.render.body_smpl import SmplModelError, find_smpl_file
from hmu_demo.render.config import RenderConfig
from hmu_demo.ui.handlers import DEFAULT_METHOD, StudioHandlers
from hmu_demo.ui.layout import build_app, launch_options
from hmu_demo.ui.service import ServiceConfig, StudioError, StudioService
from hmu_demo.ui.viewer import STATIC_DIR, viewer_payload

log = logging.getLogger(__name__)

#: Requests waiting in the queue beyond the one running; more are told the app is busy.
QUEUE_SIZE = 32
#: Heavy actions (generation, rendering, unlearning) running at once: the CPU has few cores, and
#: two renders at once each take twice as long.
CONCURRENCY = 1
OUTPUT_ENV = "HMU_OUTPUT_DIR"
WARM_UP_PROMPT = "a person walks forward"
HEAVY_ACTIONS = ("compare_result", "generate", "unlearn", "inspect", "code_motion", "redteam")
#: The app renders 320 px panels (the side-by-side video is 640 px wide; the page shows it at about
#: 700-900 px) with x264's fastest preset and 4x MSAA: a 6-second comparison (three videos) then
#: takes about 2.7 s on two CPU cores, 384 px 3.1-3.8 s, and 512 px with "veryfast" (the CLI's
#: default) 4.7 s. Dropping MSAA instead would save as much but leave stair-stepped edges.
APP_RENDER = RenderConfig(width=320, height=320, preset="ultrafast")


@dataclass(frozen=True)
class Checkpoints:
    """Where the app's models are (``python app.py --bundle/--judge/--index``); defaults: shipped ones."""

    bundle_dir: Path = EMBEDDED_DIR
    judge_dir: Path | None = None   # None: checkpoints/judge
    index: Path | None = None       # None: the bundle folder's code_index.json.gz


#: glibc's mallopt parameter for the number of malloc arenas.
M_ARENA_MAX = -8


def limit_malloc_arenas(arenas: int = 2) -> bool:
    """Cap glibc's malloc arenas (unless MALLOC_ARENA_MAX is set). glibc gives new threads their own
    arenas, up to 8 per core, and seldom returns their free memory: each server worker thread that
    rendered kept ~8 MB more resident, so memory crept up under load. Two arenas keep it flat; the
    app runs one heavy action at a time, so they are not contended."""
    if os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        return bool(ctypes.CDLL("libc.so.6").mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (macOS, musl): nothing to do
        return False


def use_spaces_gpu(handlers: StudioHandlers) -> bool:
    """Wrap the heavy actions in ``spaces.GPU`` when the package is present (Hugging Face Spaces)."""
    try:
        import spaces
    except ImportError:
        return False
    for name in HEAVY_ACTIONS:
        setattr(handlers, name, spaces.GPU(getattr(handlers, name)))
    return True


def app_render() -> RenderConfig:
    """The app's render settings, on SMPL when its model files are installed (checkpoints/smpl or
    HMU_SMPL_DIR), else on the project's own mannequin."""
    try:
        path = find_smpl_file()
    except SmplModelError:
        return APP_RENDER
    log.info("rendering on SMPL (%s)", path)
    return replace(APP_RENDER, body="smpl")


def output_folder() -> Path | None:
    """HMU_OUTPUT_DIR (created), or None: the service then writes into a temporary folder of its own,
    removed when the app stops. Either way it is the only folder the app serves files from."""
    configured = os.environ.get(OUTPUT_ENV, "").strip()
    if not configured:
        return None
    folder = Path(configured).expanduser()
    folder.mkdir(parents=True, exist_ok=True)
    return folder.resolve()


def warm_up(service: StudioService, handlers: StudioHandlers) -> float:
    """Load the models, make the default edit and run one small comparison for the page's 3D viewer (no
    files: what a click needs is then warm), then the same comparison with its files and videos (GL and
    ffmpeg start up on them, in one call folder); returns the seconds it took. Steps are recorded in
    ``handlers.warm`` for the page. Failures are logged: the app keeps serving."""
    start = time.perf_counter()
    if handlers.warm.started is None:
        handlers.warm.mark("started")
    try:
        service.warm_up()
        viewer_payload(handlers.compare_result(WARM_UP_PROMPT, "momask", DEFAULT_METHOD, 0, 2.0, render=False))
        handlers.warm.mark("ready")
        log.info("warm-up: comparisons ready after %.1f s", time.perf_counter() - start)
        handlers.compare_result(WARM_UP_PROMPT, "momask", DEFAULT_METHOD, 0, 2.0)
        handlers.warm.mark("done")
    except Exception as err:  # noqa: BLE001 - a failed warm-up must not stop the app
        log.warning("warm-up failed: %s", err)
        handlers.warm.mark("done", error=str(err).splitlines()[0] if str(err) else type(err).__name__)
    return time.perf_counter() - start


def create(safe_mode: bool | None = None, checkpoints: Checkpoints | None = None):
    """(service, handlers, Blocks) ready to launch; the models load here (parts that fail are listed
    in ``service.problems`` and shown on the page)."""
    where = checkpoints or Checkpoints()
    config = ServiceConfig(bundle_dir=where.bundle_dir, judge_dir=where.judge_dir, index=where.index,
                           output_dir=output_folder(), render=app_render())
    service = StudioService(config, safe_mode=safe_mode).warm_up()
    handlers = StudioHandlers(service)
    use_spaces_gpu(handlers)
    return service, handlers, build_app(service, handlers)


def launch(host: str | None = None, port: int | None = None, safe_mode: bool | None = None,
           warm: bool = True, checkpoints: Checkpoints | None = None) -> None:
    """Build and serve the app until it is stopped (with whatever models could be loaded)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.perf_counter()
    limit_malloc_arenas()  # before the server starts its worker threads
    try:
        service, handlers, demo = create(safe_mode, checkpoints)
    except StudioError as err:
        raise SystemExit(f"HMU Studio cannot start: {err}") from None
    for problem in service.problems:
        print(f"HMU Studio: {problem.message()}", flush=True)
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    if warm:
        handlers.warm.mark("started")   # before the first page can load: it then says "warming up"
    # Served: the call folders and the 3D viewer's scripts (viewer.js and the vendored three.js).
    _, url, _ = demo.launch(server_name=host, server_port=port, share=False, prevent_thread_lock=True,
                            allowed_paths=[str(service.output_dir), str(STATIC_DIR)], show_error=True, quiet=True,
                            **launch_options())
    log.info("HMU Studio on %s (%s mode) after %.1f s", url, "safe" if service.safe_mode else "full",
             time.perf_counter() - started)
    print(f"HMU Studio running on {url}", flush=True)
    if warm:
        def run() -> None:
            log.info("warm-up done in %.1f s", warm_up(service, handlers))
        threading.Thread(target=run, name="hmu-warm-up", daemon=True).start()
    try:
        demo.block_thread()
    finally:
        service.close()
