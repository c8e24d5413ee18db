"""Render entry points: one motion, or two side by side, to an MP4 (or to frames in memory)."""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from hmu_demo.motion.ik import rest_skeleton_for
from hmu_demo.render.body_default import STYLE_BLUE, STYLE_ORANGE, STYLE_TEAL, BodyStyle, MannequinBody, body_scale
from hmu_demo.render.body_skeleton import StickFigureBody
from hmu_demo.render.body_smpl import SmplBody
from hmu_demo.render.camera import Framing, follow_path, frame_clip
from hmu_demo.render.config import Palette, RenderConfig
from hmu_demo.render.fallback import stick_frames
from hmu_demo.render.gl import RenderBackendError
from hmu_demo.render.mesh import RigidMesh
from hmu_demo.render.motion_input import validate_joints
from hmu_demo.render.overlay import Overlay, caption_overlay, label_overlay
from hmu_demo.render.scene import Panel, PosedBody, build_panel, ground, render_panels
from hmu_demo.render.video import side_by_side, write_mp4, write_mp4s

log = logging.getLogger(__name__)
DEFAULT_LABELS = ("original", "unlearned")


class Body(Protocol):
    def pose(self, joints: np.ndarray) -> tuple[np.ndarray, RigidMesh]: ...


def make_body(name: str, style: BodyStyle = STYLE_BLUE) -> Body:
    """The body called ``name``: 'default' (mannequin), 'skeleton' or 'smpl' (needs model files)."""
    if name == "default":
        return MannequinBody(style)
    if name == "skeleton":
        return StickFigureBody()
    if name == "smpl":
        return SmplBody()
    raise ValueError(f"unknown body {name!r}")


def pose_body(joints: np.ndarray, body: Body) -> PosedBody:
    """Pose a body for a whole clip and stand it on the floor."""
    verts, mesh = body.pose(joints)
    verts, grounded = ground(verts, joints)
    return PosedBody(verts, mesh, grounded, body_scale(rest_skeleton_for(joints)))


def _framing(body: PosedBody, config: RenderConfig) -> Framing:
    path = follow_path(body.joints, config.fps, config.follow_sigma_s)
    return frame_clip(body.joints, path, config.yfov_deg)


def _overlays(config: RenderConfig, label: str | None, label_color: tuple[float, float, float],
              caption: str | None) -> list[Overlay]:
    found = [label_overlay(label, config.width, config.height, label_color) if label else None,
             caption_overlay(caption, config.width, config.height) if caption else None]
    return [o for o in found if o is not None]


def motion_frames(joints: np.ndarray, config: RenderConfig = RenderConfig(), palette: Palette = Palette(),
                  body: Body | None = None, only: Sequence[int] | None = None) -> Iterator[np.ndarray]:
    """Frames (H, W, 3) uint8 of one motion (T, 22, 3); matplotlib stick figure if GL is missing.

    ``only`` restricts rendering to some frame indices (camera and floor contact stay clip-wide).
    """
    joints = validate_joints(joints)
    body = make_body(config.body) if body is None else body
    overlays = _overlays(config, config.label, (0.15, 0.17, 0.22), config.caption)
    posed = pose_body(joints, body)
    panel = build_panel(posed, _framing(posed, config), config, palette, overlays)
    if only is not None:
        panel = panel.take(list(only))
        posed = PosedBody(posed.vertices[list(only)], posed.mesh, posed.joints[list(only)], posed.scale)
    try:
        for frames in render_panels([panel], config, palette):
            yield frames[0]
    except RenderBackendError as exc:
        log.warning("%s; falling back to the matplotlib stick figure", exc)
        yield from stick_frames(posed.joints, config.width, config.height, overlays)


def render_video(joints: np.ndarray, out: str | Path, config: RenderConfig = RenderConfig(),
                 palette: Palette = Palette(), body: Body | None = None) -> Path:
    """Render one motion to an H.264 MP4 at ``out``."""
    write_mp4(motion_frames(joints, config, palette, body), out, config.fps, config.crf, config.preset)
    return Path(out)


def comparison_frames(left: np.ndarray, right: np.ndarray, config: RenderConfig = RenderConfig(),
                      labels: Sequence[str] = DEFAULT_LABELS, palette: Palette = Palette(),
                      styles: tuple[BodyStyle, BodyStyle] = (STYLE_ORANGE, STYLE_TEAL),
                      bodies: tuple[Body, Body] | None = None) -> Iterator[np.ndarray]:
    """Side-by-side frames (H, 2W, 3): same camera distance and scale, shorter clip holds its end."""
    for composite, _, _ in comparison_streams(left, right, config, labels, palette, styles, bodies):
        yield composite


def comparison_streams(left: np.ndarray, right: np.ndarray, config: RenderConfig = RenderConfig(),
                       labels: Sequence[str] = DEFAULT_LABELS, palette: Palette = Palette(),
                       styles: tuple[BodyStyle, BodyStyle] = (STYLE_ORANGE, STYLE_TEAL),
                       bodies: tuple[Body, Body] | None = None
                       ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(side-by-side frame, left panel, right panel) per frame, from one rendering pass.

    The panels are the halves of the composite before its divider and caption, so a comparison and
    each motion on its own cost one render, not three.
    """
    left = validate_joints(left, "left motion")
    right = validate_joints(right, "right motion")
    if bodies is None:
        bodies = (make_body(config.body, styles[0]), make_body(config.body, styles[1]))
    posed = [pose_body(joints, body) for joints, body in zip((left, right), bodies)]
    framing = Framing.union(_framing(posed[0], config), _framing(posed[1], config))
    colors = (styles[0].shirt, styles[1].shirt) if config.body == "default" else ((0.15, 0.17, 0.22),) * 2
    panels: list[Panel] = []
    for body, label, color in zip(posed, labels, colors):
        overlays = _overlays(config, label, tuple(c * 0.8 for c in color), None)
        panels.append(build_panel(body, framing, config, palette, overlays))
    caption = caption_overlay(config.caption, 2 * config.width, config.height) if config.caption else None

    def compose(pair: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        frame = side_by_side(*pair)
        frame[:, config.width - 1:config.width + 1] = 255
        if caption is not None:
            caption.apply(frame)
        return frame, pair[0], pair[1]

    try:
        for pair in render_panels(panels, config, palette):
            yield compose(pair)
    except RenderBackendError as exc:
        log.warning("%s; falling back to the matplotlib stick figure", exc)
        streams = [list(stick_frames(b.joints, config.width, config.height, p.overlays))
                   for b, p in zip(posed, panels)]
        for t in range(max(len(s) for s in streams)):
            yield compose([s[min(t, len(s) - 1)] for s in streams])


def render_side_by_side(left: np.ndarray, right: np.ndarray, out: str | Path,
                        config: RenderConfig = RenderConfig(), labels: Sequence[str] = DEFAULT_LABELS,
                        palette: Palette = Palette()) -> Path:
    """Render two motions next to each other (e.g. original | unlearned) to one MP4."""
    write_mp4(comparison_frames(left, right, config, labels, palette), out, config.fps, config.crf, config.preset)
    return Path(out)


def render_comparison(left: np.ndarray, right: np.ndarray, out: str | Path, left_out: str | Path,
                      right_out: str | Path, config: RenderConfig = RenderConfig(),
                      labels: Sequence[str] = DEFAULT_LABELS, palette: Palette = Palette()) -> tuple[Path, Path, Path]:
    """The side-by-side MP4 and each motion's own MP4 (same camera and labels), from one render pass."""
    write_mp4s(comparison_streams(left, right, config, labels, palette), [out, left_out, right_out],
               config.fps, config.crf, config.preset)
    return Path(out), Path(left_out), Path(right_out)


def preview_frame(joints: np.ndarray, index: int | None = None, config: RenderConfig = RenderConfig()) -> np.ndarray:
    """One rendered frame (the middle one by default), e.g. for a thumbnail or a PNG."""
    joints = validate_joints(joints)
    index = len(joints) // 2 if index is None else int(np.clip(index, 0, len(joints) - 1))
    return next(iter(motion_frames(joints, config, only=[index])))
