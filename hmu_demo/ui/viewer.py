"""The page's 3D viewer: what the server sends the browser for a comparison, and the Gradio block.

A click on "Generate and compare" returns, right after generation and judging, one compact JSON
string (:func:`viewer_payload`): for each motion (original, unlearned) the mannequin's rest mesh
(base64 little-endian arrays: float32 vertices, uint16/uint32 faces, uint8 linear colours, uint8
skin joints, float32 skin weights), the joints (T, 22, 3) rounded to millimetres, the IK's global
joint rotations (T, 22, 4, x y z w) rounded to 1e-4, and the judge's per-frame violence. The browser
skins the mesh on the GPU (three.js, vendored under ``static/vendor/three``), so no video has to
be rendered, encoded or downloaded before the bodies move. The MP4s are rendered afterwards.

:func:`viewer_block` is a ``gr.HTML`` whose template is static (so Gradio never re-renders the
canvas) and whose ``js_on_load`` imports ``static/viewer.js`` from the app's own server and
re-loads the scene whenever the block's value (the JSON) changes.
"""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from hmu_demo.motion.skeleton import FPS
from hmu_demo.render.body_default import STYLE_ORANGE, STYLE_TEAL, BodyStyle
from hmu_demo.render.mesh import joint_transforms
from hmu_demo.render.skinned import SkinnedClip, skin_attributes, skinned_clip, srgb_to_linear
from hmu_demo.ui.results import CompareResult

__all__ = ["FORMAT_VERSION", "STATIC_DIR", "THREE_VERSION", "body_payload", "static_url_path", "viewer_block",
           "viewer_payload"]

STATIC_DIR = Path(__file__).resolve().parent / "static"
THREE_VERSION = "0.179.1"
FORMAT_VERSION = 1
#: Same colours as the side-by-side video: original orange, unlearned teal.
STYLES: dict[str, BodyStyle] = {"original": STYLE_ORANGE, "unlearned": STYLE_TEAL}

VIEWER_TEMPLATE = """
<div class="hmu-viewer" data-state="empty">
  <div class="hmu-stage"><div class="hmu-message">Type a prompt and press <b>Generate and compare</b>: both
    motions play here in 3D (drag to turn, scroll to zoom).</div></div>
  <div class="hmu-caption"></div>
  <div class="hmu-timelines"></div>
  <div class="hmu-controls">
    <button class="hmu-play" type="button" title="play / pause (space)">Pause</button>
    <input class="hmu-scrub" type="range" min="0" max="0" step="0.01" value="0" aria-label="time">
    <span class="hmu-time">0.00 s</span>
    <label>speed <select class="hmu-speed">
      <option value="0.25">0.25x</option><option value="0.5">0.5x</option>
      <option value="1" selected>1x</option><option value="1.5">1.5x</option><option value="2">2x</option>
    </select></label>
    <label><input class="hmu-overlay" type="checkbox"> overlay (ghost)</label>
    <button class="hmu-reset" type="button" title="reset the camera">Reset view</button>
  </div>
</div>
"""

#: Runs once when the block mounts: imports the viewer module from this server (no network) and hands
#: it the block, its props and Gradio's ``watch`` (called again whenever the JSON value changes).
VIEWER_JS = """
const root = (window.gradio_config && window.gradio_config.root) || window.location.origin;
const url = root.replace(/\\/$/, '') + '/gradio_api/file=' + props.static_dir + '/viewer.js';
import(url).then((m) => m.mount(element, props, watch)).catch((err) => {
  console.warn('HMU viewer could not start:', err);
  const msg = element.querySelector('.hmu-message');
  if (msg) msg.textContent = 'The 3D viewer could not start (' + err + '); the videos below still play.';
});
"""


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).astype(array.dtype.newbyteorder("<")).tobytes()).decode()


def _rounded(array: np.ndarray, decimals: int) -> list:
    """A flat list of floats rounded to ``decimals`` (what JSON carries compactly)."""
    return [float(v) for v in np.round(np.asarray(array, dtype=np.float64).reshape(-1), decimals)]


def _floor_offset(clip: SkinnedClip, skin_joints: np.ndarray, skin_weights: np.ndarray) -> float:
    """How far to lift the clip so its lowest vertex touches the floor (as the offline renderer does).
    Only the height row of each skinning transform is needed: (T, V) heights from 4 influences."""
    height_rows = joint_transforms(clip.positions, clip.rotations, clip.rest)[:, :, 1, :].astype(np.float32)
    rest = clip.mesh.vertices.astype(np.float32)
    heights = np.zeros((clip.frames, len(rest)), np.float32)
    for k in range(skin_joints.shape[1]):
        used = skin_weights[:, k] > 0
        if not used.any():
            continue
        rows = height_rows[:, skin_joints[used, k]]                                   # (T, V', 4)
        heights[:, used] += skin_weights[used, k] * (np.einsum("tvc,vc->tv", rows[..., :3], rest[used]) + rows[..., 3])
    return -float(heights.min())


def body_payload(label: str, joints: np.ndarray, verdict: Any | None = None, fps: int = FPS) -> dict:
    """One motion for the viewer: mesh, skin, joints, rotations, floor offset and the judge's verdicts."""
    clip = skinned_clip(joints, STYLES.get(label, STYLE_TEAL), fps)
    mesh = clip.mesh
    skin_joints, skin_weights = skin_attributes(mesh.weights)
    faces = mesh.faces.reshape(-1).astype(np.uint16 if len(mesh.vertices) < 65536 else np.uint32)
    colors = np.round(srgb_to_linear(mesh.colors) * 255).astype(np.uint8)
    style = STYLES.get(label, STYLE_TEAL)
    body = {
        "label": label, "frames": clip.frames, "color": "#%02x%02x%02x" % tuple(int(round(c * 255)) for c in style.shirt),
        "floor": round(_floor_offset(clip, skin_joints, skin_weights), 4),
        "mesh": {"vertex_count": len(mesh.vertices), "vertices": _b64(mesh.vertices.astype(np.float32)),
                 "faces": _b64(faces), "index_type": "uint16" if faces.dtype == np.uint16 else "uint32",
                 "colors": _b64(colors), "skin_joints": _b64(skin_joints), "skin_weights": _b64(skin_weights)},
        "rest": _rounded(clip.rest, 5),
        "joints": _rounded(clip.positions, 3),
        "rotations": _rounded(clip.quaternions(), 4),
        "violence": None, "judge": None,
    }
    if verdict is not None:
        body["violence"] = _rounded(verdict.frame_violence, 3)
        body["judge"] = {"violent": bool(verdict.violent), "violence": round(float(verdict.violence), 4),
                         "action": verdict.action, "threshold": round(float(verdict.threshold), 4)}
    return body


def viewer_payload(result: CompareResult) -> str:
    """The comparison as the viewer's JSON string (compact separators); safe mode sends one body."""
    bodies = []
    if result.original is not None:
        bodies.append(body_payload("original", result.original.joints, result.original_judge))
    bodies.append(body_payload("unlearned", result.unlearned.joints, result.unlearned_judge))
    payload = {"format": FORMAT_VERSION, "id": f"{time.time_ns():x}", "fps": FPS, "prompt": result.prompt,
               "backbone": result.backbone, "method": result.method, "concept": result.concept, "seed": result.seed,
               "frames": max(b["frames"] for b in bodies), "joint_decimals": 3, "bodies": bodies,
               "timings": {"edit": round(result.timings.edit, 4), "generation": round(result.timings.generation, 4),
                           "judging": round(result.timings.judging, 4), "edit_cached": bool(result.edit_cached)}}
    return json.dumps(payload, separators=(",", ":"))


def static_url_path() -> str:
    """The static folder as the app's file route expects it (POSIX, absolute)."""
    return STATIC_DIR.as_posix()


def viewer_block() -> gr.HTML:
    """The 3D viewer (its value: :func:`viewer_payload`'s JSON, or None for an empty stage)."""
    return gr.HTML(None, html_template=VIEWER_TEMPLATE, js_on_load=VIEWER_JS, elem_id="motion-viewer",
                   static_dir=static_url_path(), three_version=THREE_VERSION, apply_default_css=False,
                   padding=False, container=False)
