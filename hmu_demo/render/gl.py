"""Headless OpenGL set-up: EGL on Mesa (CPU) by default, one renderer per call, always released.

GL contexts are bound to the thread that made them, so the Gradio app (worker threads) must not
share a renderer: ``offscreen_renderer`` makes one per render call and deletes it in ``finally``,
releasing the thread's EGL state so the context's memory is freed at once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np


class RenderBackendError(RuntimeError):
    """No offscreen OpenGL is available (the caller may fall back to the matplotlib renderer)."""


def configure_environment() -> None:
    """Pick EGL before PyOpenGL is imported, and patch the NumPy 2 alias pyrender still uses."""
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")
    if not hasattr(np, "infty"):
        np.infty = np.inf  # type: ignore[attr-defined]  # pyrender 0.1.45 uses np.infty


def import_pyrender() -> Any:
    """pyrender, imported with the right environment; RenderBackendError if GL cannot load."""
    configure_environment()
    try:
        import pyrender
    except Exception as exc:  # ImportError, OSError from ctypes, OpenGL.error.* ...
        raise RenderBackendError(f"pyrender/OpenGL unavailable ({type(exc).__name__}: {exc})") from exc
    return pyrender


@contextmanager
def offscreen_renderer(width: int, height: int) -> Iterator[Any]:
    """An OffscreenRenderer owned by the current thread, deleted when the block ends.

    The studio scene only uses its GL context (drawing is :mod:`hmu_demo.render.raster`'s).
    """
    pyrender = import_pyrender()
    try:
        renderer = pyrender.OffscreenRenderer(width, height)
    except Exception as exc:
        raise RenderBackendError(f"cannot create an offscreen GL context ({type(exc).__name__}: {exc})") from exc
    try:
        yield renderer
    finally:
        renderer.delete()
        release_thread_context()


def release_thread_context() -> None:
    """Let EGL free the context pyrender just destroyed. pyrender destroys it while it is still
    current, which EGL only marks for deletion; each server worker thread that rendered then kept
    its last context (tens of MB in Mesa) alive until it rendered again."""
    if os.environ.get("PYOPENGL_PLATFORM") != "egl":
        return
    try:
        from OpenGL.EGL import eglReleaseThread

        eglReleaseThread()
    except Exception:  # noqa: BLE001 - freeing memory early is best effort; rendering already succeeded
        pass

