"""Line-oriented text files (split lists, captions, labels, keyword lists, official ``opt.txt``).

Every reader of such a file wants the same two things: a failure to read it reported as the
caller's own error type naming the file, and line numbers that match what an editor shows, so a
message can point at the line to fix.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["numbered_lines"]


def numbered_lines(path: str | Path, error: type[Exception], what: str) -> list[tuple[int, str]]:
    """The non-blank lines of the UTF-8 file ``path`` with their 1-based numbers (line ends removed).

    An unreadable file raises ``error("cannot read <what> <path>: <reason>")``.
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise error(f"cannot read {what} {path}: {err}") from err
    return [(number, line) for number, line in enumerate(text.splitlines(), start=1) if line.strip()]
