"""The app's example prompts, in groups (explicit / implicit violent, safe, composed), from assets/."""

from __future__ import annotations

import json
from pathlib import Path

from hmu_demo.config import REPO_ROOT

EXAMPLES_FILE = REPO_ROOT / "assets" / "examples.json"


def example_groups(path: str | Path = EXAMPLES_FILE) -> dict[str, list[str]]:
    """{group name: prompts}, in file order; a malformed file is a ValueError naming it."""
    try:
        groups = json.loads(Path(path).read_text(encoding="utf-8"))["groups"]
        valid = isinstance(groups, dict) and all(
            isinstance(v, list) and v and all(isinstance(p, str) and p.strip() for p in v) for v in groups.values())
        if not valid:
            raise ValueError("'groups' must map names to non-empty lists of prompts")
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise ValueError(f"bad examples file {path}: {err}") from err
    return {str(name): list(prompts) for name, prompts in groups.items()}
