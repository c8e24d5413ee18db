"""The 22-joint SMPL body skeleton that HumanML3D (and every model here) uses.

Coordinates are Y up, metres; the first frame faces +Z and the person's left is +X.
The index layout, parents, chains and raw offset directions are HumanML3D's (a format fact);
the bone lengths of ``REST_OFFSETS`` are our own neutral adult body, used by SynthMotion.
"""

from __future__ import annotations

import numpy as np

NUM_JOINTS = 22
FPS = 20
MAX_FRAMES = 196
FEATURE_DIM = 263

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "L_hip", "R_hip", "spine1", "L_knee", "R_knee", "spine2", "L_ankle",
    "R_ankle", "spine3", "L_foot", "R_foot", "neck", "L_collar", "R_collar", "head",
    "L_shoulder", "R_shoulder", "L_elbow", "R_elbow", "L_wrist", "R_wrist",
)
JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}

PARENTS: tuple[int, ...] = (-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19)

# HumanML3D's t2m_kinematic_chain, in plotting order: right leg, left leg, spine/head, right arm, left arm.
KINEMATIC_CHAINS: tuple[tuple[int, ...], ...] = (
    (0, 2, 5, 8, 11),
    (0, 1, 4, 7, 10),
    (0, 3, 6, 9, 12, 15),
    (9, 14, 17, 19, 21),
    (9, 13, 16, 18, 20),
)

# Unit directions of each bone in HumanML3D's IK rest pose (t2m_raw_offsets).
RAW_OFFSETS = np.array(
    [
        [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0],
        [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0],
        [-1, 0, 0], [0, 0, 1], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
        [0, -1, 0],
    ],
    dtype=np.float64,
)

LEFT_JOINTS: tuple[int, ...] = (1, 4, 7, 10, 13, 16, 18, 20)
RIGHT_JOINTS: tuple[int, ...] = (2, 5, 8, 11, 14, 17, 19, 21)
# Joints whose positions define the facing direction: r_hip, l_hip, r_shoulder, l_shoulder.
FACE_JOINTS: tuple[int, int, int, int] = (2, 1, 17, 16)
LEFT_FOOT: tuple[int, int] = (7, 10)   # ankle, toe
RIGHT_FOOT: tuple[int, int] = (8, 11)
FOOT_JOINTS: tuple[int, ...] = LEFT_FOOT + RIGHT_FOOT

# Parent-relative offsets (metres) of a neutral adult in T-pose, facing +Z, left = +X.
REST_OFFSETS = np.array(
    [
        [0.000, 0.000, 0.000],    # pelvis (root; its height is set by the legs)
        [0.070, -0.090, -0.005],  # L_hip
        [-0.070, -0.090, -0.005],  # R_hip
        [0.000, 0.110, -0.025],   # spine1
        [0.035, -0.380, -0.005],  # L_knee
        [-0.035, -0.380, -0.005],  # R_knee
        [0.000, 0.135, 0.005],    # spine2
        [-0.015, -0.400, -0.040],  # L_ankle
        [0.015, -0.400, -0.040],  # R_ankle
        [0.000, 0.055, 0.025],    # spine3
        [0.025, -0.055, 0.120],   # L_foot (toe)
        [-0.025, -0.055, 0.120],  # R_foot
        [0.000, 0.215, -0.035],   # neck
        [0.080, 0.120, -0.035],   # L_collar
        [-0.080, 0.120, -0.035],  # R_collar
        [0.005, 0.065, 0.050],    # head
        [0.095, 0.030, -0.010],   # L_shoulder
        [-0.095, 0.030, -0.010],  # R_shoulder
        [0.255, -0.013, -0.025],  # L_elbow
        [-0.255, -0.013, -0.025],  # R_elbow
        [0.250, 0.009, -0.002],   # L_wrist
        [-0.250, 0.009, -0.002],  # R_wrist
    ],
    dtype=np.float64,
)


def bone_lengths(offsets: np.ndarray = REST_OFFSETS) -> np.ndarray:
    """Length of the bone ending at each joint (0 for the root)."""
    return np.linalg.norm(offsets, axis=-1)


def rest_pose(offsets: np.ndarray = REST_OFFSETS) -> np.ndarray:
    """World positions (22, 3) of the rest pose with the lowest joint at y = 0."""
    positions = np.zeros((NUM_JOINTS, 3))
    for joint in range(1, NUM_JOINTS):
        positions[joint] = positions[PARENTS[joint]] + offsets[joint]
    positions[:, 1] -= positions[:, 1].min()
    return positions


def mirror_indices() -> np.ndarray:
    """Permutation that swaps every left joint with its right counterpart."""
    order = np.arange(NUM_JOINTS)
    order[list(LEFT_JOINTS)] = RIGHT_JOINTS
    order[list(RIGHT_JOINTS)] = LEFT_JOINTS
    return order
