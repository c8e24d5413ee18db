"""Exports and viewers: BVH round trip, plotly figure, analytic IK."""

from __future__ import annotations

import numpy as np
import pytest
from render_helpers import random_pose_joints, walk_joints

from hmu_demo.motion.bvh import read_bvh, read_bvh_joints, write_bvh
from hmu_demo.motion.skeleton import JOINT_NAMES, PARENTS
from hmu_demo.motion.ik import forward_kinematics, global_rotations, local_rotations, rest_skeleton_for


@pytest.mark.parametrize("joints", [walk_joints(60), random_pose_joints(20, seed=3)[0]], ids=["walk", "random"])
def test_bvh_round_trip_under_1mm(joints: np.ndarray, tmp_path) -> None:
    path = write_bvh(joints, tmp_path / "motion.bvh")
    back = read_bvh_joints(path)
    assert back.shape == joints.shape
    assert np.abs(back - joints).max() < 1e-3


def test_bvh_header(tmp_path) -> None:
    path = write_bvh(walk_joints(5), tmp_path / "m.bvh", fps=20)
    motion = read_bvh(path)
    assert motion.names == list(JOINT_NAMES[i] for i in _depth_first())
    assert motion.frame_time == pytest.approx(0.05)
    assert motion.positions.shape == (5, 22, 3)
    assert path.read_text().count("End Site") == 5


def _depth_first() -> list[int]:
    order: list[int] = []

    def walk(j: int) -> None:
        order.append(j)
        for c in range(22):
            if PARENTS[c] == j:
                walk(c)

    walk(0)
    return order


def test_ik_reproduces_joints_exactly() -> None:
    joints, _ = random_pose_joints(30, seed=1, scale=0.8)
    rest = rest_skeleton_for(joints)
    rot = global_rotations(joints, rest)
    assert np.allclose(rot @ np.swapaxes(rot, -1, -2), np.eye(3), atol=1e-9)
    assert np.allclose(np.linalg.det(rot), 1.0)
    back = forward_kinematics(local_rotations(rot), joints[:, 0], rest)
    assert np.abs(back - joints).max() < 1e-6


def test_ik_rest_pose_is_identity() -> None:
    rest = rest_skeleton_for(walk_joints(3))
    rot = global_rotations(rest[None], rest)
    assert np.allclose(rot, np.eye(3), atol=1e-9)


def test_plotly_figure_has_frames_and_slider() -> None:
    from hmu_demo.render.plotly_view import skeleton_figure

    fig = skeleton_figure(walk_joints(30), title="walk")
    assert len(fig.frames) == 30
    assert len(fig.layout.sliders) == 1 and len(fig.layout.sliders[0].steps) == 30
    assert fig.layout.updatemenus[0].buttons[0].method == "animate"
    assert len(fig.data) == 6  # five chains + root trail
    long = skeleton_figure(walk_joints(196), max_frames=50)
    assert len(long.frames) <= 50
    html = fig.to_html(include_plotlyjs=False)
    assert "scatter3d" in html
