"""One thread for the app's heavy work (generation, unlearning, rendering).

The server hands each request to whichever worker thread of its pool is free, and every thread that
runs torch, EGL and glibc's malloc gets its own OpenMP team, GL state and memory arena: under load the
resident memory grew with each new thread that happened to run a request. The app runs one heavy
action at a time anyway, so running them all on one long-lived thread costs no throughput and keeps
memory flat. The thread is made per process (a forked worker, e.g. on ZeroGPU, makes its own).
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

T = TypeVar("T")
THREAD_PREFIX = "hmu-studio"

_lock = threading.Lock()
_pool: tuple[int, ThreadPoolExecutor] | None = None


def _executor() -> ThreadPoolExecutor:
    global _pool
    with _lock:
        if _pool is None or _pool[0] != os.getpid():
            _pool = (os.getpid(), ThreadPoolExecutor(max_workers=1, thread_name_prefix=THREAD_PREFIX))
        return _pool[1]


def run_on_studio_thread(fn: Callable[..., T], *args, **kwargs) -> T:
    """``fn(*args, **kwargs)`` on the studio thread (inline when already on it); its exceptions propagate."""
    if threading.current_thread().name.startswith(THREAD_PREFIX):
        return fn(*args, **kwargs)
    return _executor().submit(fn, *args, **kwargs).result()


def on_studio_thread(fn: Callable[..., T]) -> Callable[..., T]:
    """Decorator form of :func:`run_on_studio_thread`."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> T:
        return run_on_studio_thread(fn, *args, **kwargs)
    return wrapper
