"""Rendering motions: bodies (free mannequin, SMPL, stick figure), studio scene, MP4, plotly.

Heavy imports (pyrender, smplx, plotly) happen inside the functions that need them.
"""

from hmu_demo.render.api import (
    comparison_frames,
    make_body,
    motion_frames,
    preview_frame,
    render_comparison,
    render_side_by_side,
    render_video,
)
from hmu_demo.render.config import Palette, RenderConfig
from hmu_demo.render.motion_input import MotionInputError, load_joints, validate_joints

__all__ = [
    "MotionInputError", "Palette", "RenderConfig", "comparison_frames", "load_joints", "make_body",
    "motion_frames", "preview_frame", "render_comparison", "render_side_by_side", "render_video", "validate_joints",
]
