"""Where the background warm-up stands, so the page can say that the models are warming up.

The warm-up runs in two steps on the studio thread: first what a click on "Generate and compare"
needs (models, the default edit, one generation and its judging: the 3D viewer is then ready), then
the renderer and the video encoder (only the MP4s need them). A click that arrives meanwhile waits
for at most the step in progress: requests run on the studio thread in the order they came.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

__all__ = ["WarmUpState"]


@dataclass
class WarmUpState:
    """Times (``time.monotonic``) of the warm-up's steps; None until they happen."""

    started: float | None = None
    ready: float | None = None     # the viewer path (generation + judging) is warm
    done: float | None = None      # the renderer and encoder are warm too
    error: str | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def mark(self, step: str, error: str | None = None) -> None:
        """Record that ``step`` ("started", "ready" or "done") happened now."""
        with self._lock:
            setattr(self, step, time.monotonic())
            if error:
                self.error = error

    @property
    def warming(self) -> bool:
        """True while a started warm-up has not made the viewer path ready."""
        return self.started is not None and self.ready is None and self.done is None

    def message(self) -> str:
        """One line for the page: empty once the comparison path is warm (or when there is no warm-up)."""
        if self.error:
            return f"Warm-up failed ({self.error}); the first comparison loads the models itself."
        if not self.warming:
            return ""
        seconds = time.monotonic() - (self.started or time.monotonic())
        return (f"**Warming up the models** ({seconds:.0f} s so far, usually under 15 s on 2 CPU cores): a "
                "comparison you start now begins as soon as it is done.")
