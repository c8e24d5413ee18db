"""What a text prompt may be, for every entry point (app, API, CLI): one set of rules, one message each.

Control characters (newlines, tabs, zero-width and other Unicode "C*" characters) become spaces and
whitespace is collapsed; an empty result, or one longer than ``MAX_PROMPT_CHARS``, is refused (never
silently truncated: the model would see a different prompt than the user wrote).
"""

from __future__ import annotations

import unicodedata

__all__ = ["MAX_PROMPT_CHARS", "PromptError", "clean_prompt"]

#: Longest prompt accepted (HumanML3D captions are under 200 characters; CLIP reads 77 tokens).
MAX_PROMPT_CHARS = 300


class PromptError(ValueError):
    """A prompt that cannot be used; the message is one line and says what to do."""


def clean_prompt(prompt: object, max_chars: int = MAX_PROMPT_CHARS) -> str:
    """The prompt with control characters turned into spaces and whitespace collapsed; refuses bad ones."""
    if not isinstance(prompt, str):
        raise PromptError(f"the prompt must be text, got {type(prompt).__name__}")
    spaced = "".join(" " if unicodedata.category(ch).startswith("C") else ch for ch in prompt)
    text = " ".join(spaced.split())
    if not text:
        raise PromptError("the prompt is empty; describe a motion, e.g. 'a person walks forward'")
    if len(text) > max_chars:
        raise PromptError(f"the prompt is {len(text)} characters long; at most {max_chars} are allowed")
    return text
