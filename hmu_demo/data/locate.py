"""Where a command's corpus is: the folder it was given, or the default SynthMotion corpus.

Every training and evaluation CLI defaults to the same procedural corpus, built on first use (a few
minutes) and reused afterwards; this is the one place that decides it.
"""

from __future__ import annotations

from pathlib import Path

from hmu_demo.config import REPO_ROOT
from hmu_demo.data.synth.corpus import ensure_corpus

__all__ = ["DEFAULT_DATA", "resolve_data"]

#: The default SynthMotion corpus (HumanML3D layout, with ``labels.jsonl``).
DEFAULT_DATA = REPO_ROOT / "data" / "synthmotion"


def resolve_data(data: str | Path | None, progress: bool = True) -> Path:
    """``data`` as given, or :data:`DEFAULT_DATA` (built when missing or made by another spec)."""
    if data is not None:
        return Path(data)
    return ensure_corpus(DEFAULT_DATA, progress=progress)
