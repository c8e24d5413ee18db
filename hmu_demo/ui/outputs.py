"""What a call of the app writes: one new folder per call, its motion files, its edit folder, its videos.

A call's folder is built hidden (``.partial-<time>-<random>``) and renamed into place when it is
complete, so a reader (or a server killed mid-request) never sees half a result; an earlier
process's unfinished folders are removed the first time a root is used. A failed call removes only
its own folder: earlier results are never touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from hmu_demo.cli import one_line
from hmu_demo.motion.bvh import write_bvh
from hmu_demo.pipelines.text_to_motion import Motion
from hmu_demo.render.body_default import STYLE_BLUE
from hmu_demo.render.gltf import write_glb
from hmu_demo.ui.viewer import STYLES
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.edit_io import EDIT_JSON, EDIT_WEIGHTS, save_edit

__all__ = ["STAGING_PREFIX", "STILL_DOWNLOADABLE", "CallFolder", "OutputRoots", "render_or_explain",
           "write_edit", "write_motion"]

log = logging.getLogger(__name__)

#: A call's folder is built under this prefix and renamed when complete: a server killed mid-request
#: leaves only a hidden ``.partial-*`` folder (removed at the next start), never a half-written result.
STAGING_PREFIX = ".partial-"
#: Added to a failed render's message where the motion files are still written.
STILL_DOWNLOADABLE = "; the motion is still downloadable as NPY, BVH and glTF"


class CallFolder:
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
    ``before``, so a second app sharing the folder keeps its calls in flight)."""
    for stale in root.glob(STAGING_PREFIX + "*"):
        try:
            if stale.is_dir() and stale.stat().st_mtime < before:
                shutil.rmtree(stale, ignore_errors=True)
                log.info("removed an unfinished call folder %s", stale)
        except OSError:
            continue


class OutputRoots:
    """The folders calls write into; each root is cleared of an earlier process's unfinished calls
    the first time it is used. ``error`` makes the exception a root that cannot be written raises."""

    def __init__(self, error: Callable[[str], Exception]) -> None:
        self._error = error
        self._created = time.time()
        self._swept: set[Path] = set()
        self._lock = threading.Lock()

    @contextmanager
    def call_folder(self, root: Path) -> Iterator[CallFolder]:
        """A new folder for one call's files (never an existing one, so earlier results stay intact),
        built hidden and published when the block ends; removed instead when it fails."""
        try:
            root.mkdir(parents=True, exist_ok=True)
            with self._lock:
                if root not in self._swept:
                    _remove_stale_staging(root, self._created)
                    self._swept.add(root)
            call = CallFolder(Path(tempfile.mkdtemp(prefix=STAGING_PREFIX + time.strftime("%Y%m%d-%H%M%S-"),
                                                    dir=root)))
        except OSError as err:
            raise self._error(f"cannot write results to {root}: {one_line(err)}") from err
        try:
            yield call
            call.publish()
        except BaseException:
            shutil.rmtree(call.path, ignore_errors=True)
            raise


def render_or_explain(render: Callable[[], None], folder: Path) -> str | None:
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


def write_motion(motion: Motion, folder: Path, stem: str) -> dict[str, Path]:
    """``<stem>_joints.npy``, ``<stem>.bvh`` and ``<stem>.glb`` (the mannequin animated by the motion), by
    their keys ``<stem>_npy``, ``<stem>_bvh`` and ``<stem>_glb``."""
    npy, bvh, glb = folder / f"{stem}_joints.npy", folder / f"{stem}.bvh", folder / f"{stem}.glb"
    np.save(npy, motion.joints)
    write_bvh(motion.joints, bvh)
    write_glb(motion.joints, glb, name=motion.prompt or stem, style=STYLES.get(stem, STYLE_BLUE))
    return {f"{stem}_npy": npy, f"{stem}_bvh": bvh, f"{stem}_glb": glb}


def _link_or_copy(src: Path, dst: Path) -> None:
    try:
        os.link(src, dst)
    except OSError:
        shutil.copy2(src, dst)


def write_edit(bundle, edit: Edit, folder: Path, backbone: str, saved: Path | None) -> Path:
    """``folder/edit`` (edit.safetensors + edit.json): linked from ``saved``, an earlier copy of the
    same edit, when it is still complete, else written."""
    target = folder / "edit"
    if saved is not None and all((saved / n).is_file() for n in (EDIT_JSON, EDIT_WEIGHTS)):
        target.mkdir()
        for name in (EDIT_WEIGHTS, EDIT_JSON):
            _link_or_copy(saved / name, target / name)
        return target
    return save_edit(bundle, edit, target, backbone=backbone)
