"""How the command-line tools fail: one line on stderr and an exit code, never a traceback.

Exit codes: 0 ok, 2 input the user can fix (the ``user_errors`` a tool names), 130 interrupted,
1 anything else (prefixed with the exception's type, since it is unexpected).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TypeVar

__all__ = ["one_line", "run_guarded"]

T = TypeVar("T")


def one_line(err: BaseException | str) -> str:
    """The message on one line (the type's name when the message is empty)."""
    text = " ".join(part.strip() for part in str(err).splitlines() if part.strip())
    return text or (type(err).__name__ if isinstance(err, BaseException) else "")


def run_guarded(action: Callable[[], T], user_errors: tuple[type[BaseException], ...]) -> tuple[T | None, int]:
    """(result, 0), or (None, exit code) after printing ``error: ...`` on stderr.

    A user error's exit code is its ``code`` attribute when it has one, else 2.
    """
    try:
        return action(), 0
    except user_errors as err:
        print(f"error: {one_line(err)}", file=sys.stderr)
        return None, int(getattr(err, "code", 2))
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return None, 130
    except Exception as err:  # every other failure: one line, no traceback
        print(f"error: {type(err).__name__}: {one_line(err)}", file=sys.stderr)
        return None, 1
