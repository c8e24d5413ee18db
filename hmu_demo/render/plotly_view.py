"""An interactive 3D skeleton for the browser: plotly figure with play button and time slider."""

from __future__ import annotations

import numpy as np

from hmu_demo.motion.skeleton import FPS, KINEMATIC_CHAINS
from hmu_demo.render.motion_input import validate_joints

_CHAIN_COLORS = ("#d9402b", "#2266cc", "#3b4049", "#d9402b", "#2266cc")


def _chain_traces(joints_t: np.ndarray, name_prefix: str = "", opacity: float = 1.0) -> list[dict]:
    traces = []
    for chain, color in zip(KINEMATIC_CHAINS, _CHAIN_COLORS):
        pts = joints_t[list(chain)]
        # Plotly's 3D scene is Z up: show (x, z, y) so the body stands upright.
        traces.append(dict(type="scatter3d", mode="lines+markers", x=pts[:, 0], y=pts[:, 2], z=pts[:, 1],
                           line=dict(color=color, width=7), marker=dict(size=3, color=color),
                           opacity=opacity, showlegend=False, hoverinfo="skip", name=name_prefix))
    return traces


def skeleton_figure(joints: np.ndarray, title: str | None = None, fps: int = FPS, max_frames: int = 100) -> "object":
    """A plotly Figure animating joints (T, 22, 3); at most ``max_frames`` frames (subsampled)."""
    import plotly.graph_objects as go

    joints = validate_joints(joints)
    step = max(1, int(np.ceil(len(joints) / max_frames)))
    index = np.arange(0, len(joints), step)
    root = joints[:, 0]
    trail = dict(type="scatter3d", mode="lines", x=root[:, 0], y=root[:, 2], z=np.zeros(len(root)),
                 line=dict(color="#f08c1a", width=4), showlegend=False, hoverinfo="skip")
    frames = [go.Frame(data=_chain_traces(joints[t]), name=str(t), traces=list(range(len(KINEMATIC_CHAINS))))
              for t in index]
    fig = go.Figure(data=_chain_traces(joints[index[0]]) + [trail], frames=frames)
    lo, hi = joints.min(axis=(0, 1)), joints.max(axis=(0, 1))
    mid, half = (lo + hi) / 2, max(float((hi - lo).max()) / 2, 1.0) * 1.05
    duration = 1000.0 * step / fps
    slider = dict(
        active=0, currentvalue=dict(prefix="frame "), pad=dict(t=30),
        steps=[dict(method="animate", label=str(t),
                    args=[[str(t)], dict(mode="immediate", frame=dict(duration=0, redraw=True),
                                         transition=dict(duration=0))]) for t in index],
    )
    play = dict(type="buttons", showactive=False, x=0.02, y=0.02, xanchor="left", yanchor="bottom",
                buttons=[dict(label="▶ play", method="animate",
                              args=[None, dict(frame=dict(duration=duration, redraw=True), fromcurrent=True,
                                               transition=dict(duration=0))]),
                         dict(label="❚❚ pause", method="animate",
                              args=[[None], dict(mode="immediate", frame=dict(duration=0, redraw=False))])])
    fig.update_layout(
        title=title, sliders=[slider], updatemenus=[play], margin=dict(l=0, r=0, t=40 if title else 0, b=0),
        scene=dict(xaxis=dict(range=[mid[0] - half, mid[0] + half], title="x"),
                   yaxis=dict(range=[mid[2] - half, mid[2] + half], title="z"),
                   zaxis=dict(range=[min(0.0, lo[1]), max(2 * half, hi[1] + 0.1)], title="y (up)"),
                   aspectmode="cube", camera=dict(eye=dict(x=1.2, y=1.6, z=0.7))),
    )
    return fig
