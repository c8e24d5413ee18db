"""The app's cache of unlearning edits, each with the text-to-motion pipeline that runs it.

Keyed by :attr:`hmu_demo.pipelines.requests.EditRequest.key` (method, normalised concept, sorted
hyperparameters), least recently used out first. An edit shares every tensor it did not change
with the bundle, so a handful stay in memory at little cost; keeping its pipeline with it means the
CPU copy an out-of-memory fallback makes is made once per edit, not per request.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from hmu_demo.models.bundle import ModelBundle
from hmu_demo.pipelines.text_to_motion import TextToMotionPipeline
from hmu_demo.unlearning.edit import Edit
from hmu_demo.unlearning.report import EditReport

__all__ = ["CachedEdit", "EditCache"]


@dataclass
class CachedEdit:
    """An edit, its pipeline, and the edit folder already written for it (linked, not rewritten)."""

    edit: Edit
    pipeline: TextToMotionPipeline
    saved: Path | None = None

    @property
    def report(self) -> EditReport:
        return self.edit.report

    @property
    def bundle(self) -> ModelBundle:
        """The edited model."""
        return self.pipeline.bundle


class EditCache:
    """At most ``size`` edits; concurrent requests for one edit wait for the one that makes it."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._lock = threading.RLock()
        self._entries: OrderedDict[tuple, CachedEdit] = OrderedDict()

    def get(self, key: tuple, make: Callable[[], CachedEdit]) -> tuple[CachedEdit, bool]:
        """(the cached or new entry, whether it was cached); ``make`` runs under the lock."""
        with self._lock:
            hit = self._entries.get(key)
            if hit is not None:
                self._entries.move_to_end(key)
                return hit, True
            entry = make()
            self._entries[key] = entry
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)
            return entry, False

    def keys(self) -> list[tuple]:
        with self._lock:
            return list(self._entries)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
