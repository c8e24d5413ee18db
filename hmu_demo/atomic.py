"""Atomic writes: a reader (or a process killed mid-write) sees the old file or folder or the new
one, never half of one. Every file or folder the project publishes goes through here.

The bottom layer of the package: it imports nothing from the project.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["StagedFile", "atomic_path", "atomic_folder", "write_bytes", "write_text"]


def _read_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: Read once, at import (setting the umask to read it is not thread-safe later, in a served app).
UMASK = _read_umask()


class StagedFile:
    """A hidden temporary file beside ``path``, for a writer that cannot work inside a ``with`` block
    (one fed across several calls): :meth:`commit` renames it onto ``path``, :meth:`discard` removes
    it (after a commit there is nothing left to remove). ``suffix`` ends the temporary name (a writer
    that picks its format by the file name, such as ffmpeg, wants ``path``'s own); the file gets the
    permissions a plain ``open`` would give it. The parent folder is created."""

    def __init__(self, path: str | os.PathLike, suffix: str = ".tmp") -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=suffix, dir=self.path.parent)
        os.close(fd)
        self.tmp = Path(name)
        os.chmod(self.tmp, 0o666 & ~UMASK)

    def commit(self) -> Path:
        os.replace(self.tmp, self.path)
        return self.path

    def discard(self) -> None:
        self.tmp.unlink(missing_ok=True)


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ".tmp") -> Iterator[Path]:
    """A :class:`StagedFile`'s temporary path to write to; renamed onto ``path`` when the block ends,
    removed when it fails."""
    staged = StagedFile(path, suffix)
    try:
        yield staged.tmp
        staged.commit()
    finally:
        staged.discard()


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)
    return Path(path)


def write_text(path: str | os.PathLike, text: str) -> Path:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return Path(path)


@contextmanager
def atomic_folder(folder: str | os.PathLike, *, replace: bool = True) -> Iterator[Path]:
    """A hidden staging folder beside ``folder`` to fill; when the block ends it takes ``folder``'s
    place in one rename (an existing ``folder`` is moved aside first and removed after, or restored
    if the rename fails; with ``replace=False`` an existing folder is an error). Removed on failure."""
    folder = Path(folder)
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.partial-", dir=folder.parent))
    os.chmod(staging, 0o777 & ~UMASK)
    try:
        yield staging
        if folder.exists() and not replace:
            raise FileExistsError(f"{folder} exists")
        old = None
        if folder.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{folder.name}.old-", dir=folder.parent))
            os.replace(folder, old / folder.name)
        try:
            os.replace(staging, folder)
        except BaseException:
            if old is not None:
                os.replace(old / folder.name, folder)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
