"""A comparison's MP4s: the synchronised side-by-side video and each motion alone, from one render pass.

The page shows a comparison in its 3D viewer first and renders these afterwards (or when asked); the
``/compare`` API renders them in the same call. Either way they come from here.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from hmu_demo.render.api import render_comparison, render_side_by_side, render_video
from hmu_demo.render.config import RenderConfig
from hmu_demo.ui.results import CompareResult

__all__ = ["LABELS", "has_videos", "render_compare_videos"]

LABELS = ("original", "unlearned")


def render_compare_videos(result: CompareResult, folder: Path, render: RenderConfig, single_videos: bool = True) -> None:
    """Render ``result``'s videos into ``folder`` and set its ``*_video`` paths. Safe mode (no original):
    only the unlearned motion's video; ``single_videos`` False: only the side-by-side one."""
    base = replace(render, caption=None, label=None)
    if result.original is None:
        result.unlearned_video = render_video(result.unlearned.joints, folder / "unlearned.mp4",
                                              replace(base, label=LABELS[1]))
        return
    config = replace(base, caption=result.prompt)
    pair = (result.original.joints, result.unlearned.joints)
    if not single_videos:
        result.side_by_side_video = render_side_by_side(*pair, folder / "side_by_side.mp4", config, labels=LABELS)
        return
    (result.side_by_side_video, result.original_video,
     result.unlearned_video) = render_comparison(*pair, folder / "side_by_side.mp4", folder / "original.mp4",
                                                 folder / "unlearned.mp4", config, labels=LABELS)


def has_videos(result: CompareResult) -> bool:
    """Whether the comparison's main video exists (side by side; the unlearned one under safe mode)."""
    main = result.unlearned_video if result.original is None else result.side_by_side_video
    return main is not None and Path(main).is_file()
