"""Stick-figure frames drawn with matplotlib (Agg): the renderer of last resort when no GL exists.

Used automatically when an EGL context cannot be created, so a demo still shows a motion.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import numpy as np

from hmu_demo.motion.skeleton import KINEMATIC_CHAINS
from hmu_demo.render.overlay import Overlay

_CHAIN_COLORS = ("#d9402b", "#2266cc", "#3b4049", "#d9402b", "#2266cc")


def stick_frames(joints: np.ndarray, width: int, height: int, overlays: list[Overlay] | None = None,
                 elevation_deg: float = 17.0, azimuth_deg: float = 32.0) -> Iterator[np.ndarray]:
    """RGB frames (height, width, 3) of a 3D stick figure with a fixed, clip-wide view."""
    os.environ.setdefault("MPLCONFIGDIR", os.path.join(os.path.expanduser("~"), ".cache", "matplotlib"))
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 100
    fig = Figure(figsize=(width / dpi, height / dpi), dpi=dpi, facecolor="#e6e8ec")
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1), projection="3d")
    # Matplotlib's 3D axes are Z up: plot (x, z, y).
    lo, hi = joints.min(axis=(0, 1)), joints.max(axis=(0, 1))
    mid, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1.0)
    lines = [ax.plot([], [], [], lw=3.0, color=c, solid_capstyle="round")[0] for c in _CHAIN_COLORS]
    ax.set_xlim(mid[0] - half, mid[0] + half)
    ax.set_ylim(mid[2] - half, mid[2] + half)
    ax.set_zlim(0, 2 * half)
    ax.view_init(elev=elevation_deg, azim=90 - azimuth_deg)
    ax.set_facecolor("#e6e8ec")
    ax.set_axis_off()
    for t in range(len(joints)):
        for line, chain in zip(lines, KINEMATIC_CHAINS):
            pts = joints[t, list(chain)]
            line.set_data_3d(pts[:, 0], pts[:, 2], pts[:, 1])
        canvas.draw()
        frame = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        for overlay in overlays or []:
            overlay.apply(frame)
        yield frame
