"""HumanML3D caption lines: ``caption#word/POS word/POS ...#start#end``.

Every line of ``texts/<id>.txt`` is one description of the motion. ``start``/``end`` are seconds;
``0.0#0.0`` (or NaN, which HumanML3D's loaders read as 0) means the description covers the whole
clip, anything else cuts the clip to frames ``int(start*20) .. int(end*20)`` exactly as the
official loaders do. The parser is strict about structure (four ``#``-separated fields, numeric
times) because the official loaders split on ``#`` and would silently misread anything else.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from hmu_demo.motion.skeleton import FPS

__all__ = ["Caption", "parse_caption_line", "format_caption_line"]

_N_FIELDS = 4


@dataclass(frozen=True)
class Caption:
    """One caption line. NaN times are stored as 0.0 so that equal lines compare equal."""

    text: str
    tokens: tuple[str, ...] = ()
    start: float = 0.0
    end: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.text, str) or not self.text.strip():
            raise ValueError("caption text is empty")
        if "#" in self.text or "\n" in self.text or "\r" in self.text:
            raise ValueError(f"caption text may not contain '#' or line breaks: {self.text!r}")
        tokens = tuple(self.tokens)
        for token in tokens:
            if not token or "#" in token or any(ch.isspace() for ch in token):
                raise ValueError(f"caption token {token!r} is empty or contains '#' or whitespace")
        object.__setattr__(self, "tokens", tokens)
        for name in ("start", "end"):
            value = float(getattr(self, name))
            if math.isnan(value):
                value = 0.0
            if math.isinf(value):
                raise ValueError(f"caption {name} time is infinite")
            object.__setattr__(self, name, value)

    @property
    def is_whole_clip(self) -> bool:
        """True when the caption describes the whole clip (``0.0#0.0``)."""
        return self.start == 0.0 and self.end == 0.0

    def frame_span(self, n_frames: int, fps: int = FPS) -> tuple[int, int]:
        """Frames ``[first, stop)`` this caption covers in a clip of ``n_frames`` frames.

        Same rule as HumanML3D's loaders (``int(t * fps)``), clamped to the clip so that a
        span running past the end, or an inverted one, gives a valid (possibly empty) range.
        """
        if n_frames < 0:
            raise ValueError(f"n_frames must be >= 0, got {n_frames}")
        if self.is_whole_clip:
            return 0, n_frames
        first = min(max(int(self.start * fps), 0), n_frames)
        stop = min(max(int(self.end * fps), first), n_frames)
        return first, stop


def _parse_time(field: str, name: str, line: str) -> float:
    try:
        value = float(field)
    except ValueError:
        raise ValueError(f"{name} time {field!r} is not a number in caption line {line!r}") from None
    if math.isinf(value):
        raise ValueError(f"{name} time {field!r} is infinite in caption line {line!r}")
    return 0.0 if math.isnan(value) else value


def parse_caption_line(line: str) -> Caption:
    """Parse one ``caption#tokens#start#end`` line (surrounding whitespace ignored).

    Raises ValueError saying what is wrong: wrong number of ``#`` fields, empty caption,
    non-numeric time. NaN times are accepted and read as 0.0 (whole clip), as upstream does.
    """
    stripped = line.strip()
    if not stripped:
        raise ValueError("caption line is empty")
    fields = stripped.split("#")
    if len(fields) != _N_FIELDS:
        raise ValueError(
            f"caption line has {len(fields)} '#'-separated field(s), expected {_N_FIELDS} "
            f"(caption#tokens#start#end): {stripped!r}"
        )
    text, tokens, start, end = fields
    if not text.strip():
        raise ValueError(f"caption text is empty in caption line {stripped!r}")
    return Caption(
        text=text.strip(),
        tokens=tuple(tokens.split()),
        start=_parse_time(start, "start", stripped),
        end=_parse_time(end, "end", stripped),
    )


def format_caption_line(caption: Caption) -> str:
    """The caption as one HumanML3D line (no trailing newline); inverse of `parse_caption_line`."""
    return f"{caption.text}#{' '.join(caption.tokens)}#{caption.start!r}#{caption.end!r}"
