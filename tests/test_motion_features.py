"""HumanML3D motion representation: joints <-> 263-d features, quaternions, normalisation.

The motions are built here by forward kinematics on skeleton.REST_OFFSETS with time-varying joint
rotations, so every property is checked on clips whose ground truth we know.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from hmu_demo.motion import quaternion as quat
from hmu_demo.motion.features import (
    FEATURE_GROUPS,
    canonicalize,
    features_to_joints,
    joints_to_features,
    mirror_joints,
    retarget,
    root_rotations,
)
from hmu_demo.motion.normalization import (
    Normalizer,
    dataset_statistics,
    load_statistics,
    model_statistics,
    save_statistics,
)
from hmu_demo.motion.skeleton import (
    FEATURE_DIM,
    FPS,
    NUM_JOINTS,
    PARENTS,
    RAW_OFFSETS,
    REST_OFFSETS,
    bone_lengths,
)

ROT = FEATURE_GROUPS["rotations"]
CONTACTS = FEATURE_GROUPS["foot_contact"]
IDENTITY_6D = np.array([1.0, 0.0, 0.0, 0.0, 1.0, 0.0])


# ----------------------------------------------------------------------------- motion builders


def rot_x(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([o, z, z, z, c, -s, z, s, c], axis=-1).reshape(a.shape + (3, 3))


def rot_y(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, z, s, z, o, z, -s, z, c], axis=-1).reshape(a.shape + (3, 3))


def rot_z(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    c, s, o, z = np.cos(a), np.sin(a), np.ones_like(a), np.zeros_like(a)
    return np.stack([c, -s, z, s, c, z, z, z, o], axis=-1).reshape(a.shape + (3, 3))


def forward_kinematics(root: np.ndarray, local: np.ndarray, offsets: np.ndarray = REST_OFFSETS) -> np.ndarray:
    """Joints (T, 22, 3) from root positions (T, 3) and local rotation matrices (T, 22, 3, 3)."""
    frames = root.shape[0]
    glob = np.empty((frames, NUM_JOINTS, 3, 3))
    joints = np.empty((frames, NUM_JOINTS, 3))
    glob[:, 0], joints[:, 0] = local[:, 0], root
    for j in range(1, NUM_JOINTS):
        p = PARENTS[j]
        joints[:, j] = joints[:, p] + glob[:, p] @ offsets[j]
        glob[:, j] = glob[:, p] @ local[:, j]
    return joints


def body_motion(
    frames: int = 120,
    turn_rate: float = 0.0,
    speed: float = 1.2,
    direction: str = "forward",
    jump: bool = False,
    start_yaw: float = 0.4,
    start_xz: tuple[float, float] = (0.7, -1.3),
    gait: float = 1.0,
) -> np.ndarray:
    """A procedural clip: legs/arms swing, pelvis bobs, the body turns at ``turn_rate`` rad/s and
    travels ``direction`` (forward, backward, left) at ``speed`` m/s; ``jump`` adds a hop."""
    t = np.arange(frames) / FPS
    phase = 2.0 * math.pi * 1.8 * t
    yaw = start_yaw + turn_rate * t
    local = np.broadcast_to(np.eye(3), (frames, NUM_JOINTS, 3, 3)).copy()
    local[:, 0] = rot_y(yaw) @ rot_x(0.05 * np.sin(phase))
    swing = gait * 0.5 * np.sin(phase)
    local[:, 1] = rot_x(-swing) @ rot_z(0.05 * np.sin(phase))
    local[:, 2] = rot_x(swing)
    local[:, 4] = rot_x(gait * 0.6 * np.maximum(np.sin(phase), 0.0) + 0.05)
    local[:, 5] = rot_x(gait * 0.6 * np.maximum(-np.sin(phase), 0.0) + 0.05)
    local[:, 7] = rot_x(-0.2 * np.sin(phase))
    local[:, 8] = rot_x(0.2 * np.sin(phase))
    local[:, 3] = rot_y(0.15 * np.sin(phase))
    local[:, 6] = rot_x(0.05 * np.cos(phase))
    local[:, 9] = rot_y(-0.1 * np.sin(phase))
    local[:, 12] = rot_x(0.1 * np.sin(0.5 * phase))
    local[:, 16] = rot_z(-1.2 + 0.1 * np.sin(phase)) @ rot_x(0.4 * np.sin(phase))
    local[:, 17] = rot_z(1.2 - 0.1 * np.sin(phase)) @ rot_x(-0.4 * np.sin(phase))
    local[:, 18] = rot_y(0.3 + 0.3 * np.sin(phase))
    local[:, 19] = rot_y(-0.3 + 0.3 * np.cos(phase))
    heading = np.stack([np.sin(yaw), np.zeros_like(yaw), np.cos(yaw)], axis=-1)
    lateral = np.stack([np.cos(yaw), np.zeros_like(yaw), -np.sin(yaw)], axis=-1)  # body left
    step = {"forward": heading, "backward": -heading, "left": lateral}[direction] * (speed / FPS)
    root = np.cumsum(step, axis=0) + np.array([start_xz[0], 0.0, start_xz[1]])
    root[:, 1] = 0.93 + 0.02 * np.cos(2.0 * phase)
    if jump:
        hop = np.clip(np.sin(math.pi * (t - 1.0) / 0.8), 0.0, None) * ((t > 1.0) & (t < 1.8))
        root[:, 1] += 0.5 * hop
        local[:, 16] = local[:, 16] @ rot_x(-1.2 * hop)  # arms swing up during the flight
        local[:, 17] = local[:, 17] @ rot_x(-1.2 * hop)
    return forward_kinematics(root, local)


MOTIONS = {
    # 0.9 rad/s for 9.8 s: about 505 degrees, so the facing crosses +-180 degrees.
    "walk_turning": dict(frames=197, turn_rate=0.9),
    # A fast spin (7 degrees/frame): the sigma-20 smoothed facing cannot follow it (HumanML3D does
    # the same), yet the round trip must stay exact because RIC and velocities use the same r_t.
    "spin_right": dict(frames=120, turn_rate=-2.5, start_yaw=-2.0),
    "jump": dict(frames=60, speed=0.3, jump=True, gait=0.2),
    "walk_backwards": dict(frames=90, direction="backward", speed=0.8, turn_rate=0.3),
    "sidestep": dict(frames=80, direction="left", speed=0.6, gait=0.3),
}


def ik_rest_pose(frames: int = 4) -> np.ndarray:
    """HumanML3D's IK rest pose: every bone along its RAW_OFFSETS direction, facing +Z."""
    offsets = RAW_OFFSETS * bone_lengths()[:, None]
    local = np.broadcast_to(np.eye(3), (frames, NUM_JOINTS, 3, 3)).copy()
    root = np.tile([0.0, 1.0, 0.0], (frames, 1))
    return forward_kinematics(root, local, offsets)


def yaw_matrix(angle: float) -> np.ndarray:
    return rot_y(np.array(angle))


# ----------------------------------------------------------------------------- (1) round trip


@pytest.mark.parametrize("name", sorted(MOTIONS))
def test_round_trip_recovers_canonical_joints(name: str) -> None:
    joints = body_motion(**MOTIONS[name])
    features = joints_to_features(joints)
    assert features.shape == (joints.shape[0] - 1, FEATURE_DIM)
    assert features.dtype == np.float32
    recovered = features_to_joints(features)
    expected = canonicalize(joints)[:-1]
    # Measured ~3e-7 m: only the float32 storage of the features limits it.
    assert np.abs(recovered - expected).max() < 1e-5


def test_turning_walk_crosses_180_degrees_and_yaw_velocity_sign() -> None:
    """Feature 0 is minus half the counter-clockwise turn per frame, with no spike where the facing
    angle wraps past 180 degrees (HumanML3D's asin without w >= 0 flips the sign there)."""
    spec = MOTIONS["walk_turning"]
    total_turn = spec["turn_rate"] * (spec["frames"] - 1) / FPS  # CCW about +Y, radians
    yaw_velocity = joints_to_features(body_motion(**spec))[:, 0].astype(np.float64)
    facing = -2.0 * np.cumsum(yaw_velocity)  # CCW facing angle relative to the first frame
    assert facing.max() > math.pi + 0.5  # the clip really goes past 180 degrees
    # The sum misses the last step and the sigma-20 smoothing lags at the ends: 10% is plenty.
    assert abs(facing[-1] - total_turn) < 0.1 * total_turn
    # Frame 0 is excluded: HumanML3D sets r_0 to the identity while r_1 is the smoothed facing,
    # so feature 0 of frame 0 also holds their offset.
    assert np.abs(yaw_velocity[1:]).max() < 0.05
    assert np.all(yaw_velocity[1:] < 0.0)


def test_canonicalize_floor_origin_and_facing() -> None:
    joints = body_motion(**MOTIONS["walk_turning"])
    canon = canonicalize(joints)
    assert canon[..., 1].min() == pytest.approx(0.0, abs=1e-12)
    assert np.abs(canon[0, 0, [0, 2]]).max() < 1e-12
    across = canon[0, 2] - canon[0, 1] + canon[0, 17] - canon[0, 16]
    forward = np.cross([0.0, 1.0, 0.0], across)
    assert abs(forward[0]) < 1e-9 and forward[2] > 0.0
    # Pure rigid motion of the whole clip: pairwise distances are unchanged.
    assert np.allclose(np.linalg.norm(canon[:, 7] - canon[:, 20], axis=-1),
                       np.linalg.norm(joints[:, 7] - joints[:, 20], axis=-1))


def test_retarget_sets_bone_lengths_and_keeps_directions() -> None:
    joints = body_motion(**MOTIONS["walk_backwards"])
    target = REST_OFFSETS * 1.25
    moved = retarget(joints, target)
    parents = list(PARENTS[1:])
    bones_before, bones_after = joints[:, 1:] - joints[:, parents], moved[:, 1:] - moved[:, parents]
    assert np.allclose(np.linalg.norm(bones_after, axis=-1), bone_lengths(target)[1:][None])
    unit = lambda b: b / np.linalg.norm(b, axis=-1, keepdims=True)  # noqa: E731
    assert np.allclose(unit(bones_before), unit(bones_after))
    assert np.allclose(moved[:, 0], joints[:, 0] * 1.25)  # leg-length ratio scales the root
    # canonicalize with offsets = retarget then normalise placement.
    assert np.allclose(canonicalize(joints, target), canonicalize(moved))


def test_ik_facing_uses_humanml3d_hip_pairing() -> None:
    """r_t (t >= 1) follows (L_hip - R_hip) + (R_shoulder - L_shoulder), as the official IK does,
    not the documented R - L pairing that canonicalisation uses; r_0 is the identity."""
    frames = 10
    local = np.broadcast_to(np.eye(3), (frames, NUM_JOINTS, 3, 3)).copy()
    local[:, 0] = rot_y(np.full(frames, 0.5))  # pelvis turned 0.5 rad CCW...
    local[:, 3] = rot_y(np.full(frames, -0.5))  # ...and the chest turned back to face +Z
    joints = forward_kinematics(np.tile([0.0, 0.93, 0.0], (frames, 1)), local)
    canon = canonicalize(joints)
    rotations = root_rotations(canon)
    assert np.allclose(rotations[0], [1.0, 0.0, 0.0, 0.0])
    across = canon[1, 1] - canon[1, 2] + canon[1, 17] - canon[1, 16]
    forward = np.array([across[2], 0.0, -across[0]])  # up x across
    expected = quat.yaw_from_forward(forward)
    assert np.allclose(rotations[1:], expected, atol=1e-9)
    documented_across = canon[1, 2] - canon[1, 1] + canon[1, 17] - canon[1, 16]
    documented = quat.yaw_from_forward(np.cross([0.0, 1.0, 0.0], documented_across))
    assert not np.allclose(expected, documented, atol=1e-3)  # the two pairings really differ here


# ----------------------------------------------------------------------------- (2) invariance


def test_yaw_and_translation_change_no_feature() -> None:
    """Canonicalisation removes global yaw and XZ (and floor-height) offsets, so all 263 dims stay."""
    joints = body_motion(**MOTIONS["walk_turning"])
    base = joints_to_features(joints)
    for angle, shift in [(0.7, (3.0, 0.0, -2.0)), (math.pi, (-1.0, 0.4, 5.0)), (-2.2, (0.0, 0.0, 0.0))]:
        moved = joints @ yaw_matrix(angle).T + np.array(shift)
        other = joints_to_features(moved)
        assert np.abs(other - base).max() < 2e-5
    # ...while a motion that turns differently does change them (the check can fail).
    turned = joints_to_features(body_motion(**{**MOTIONS["walk_turning"], "turn_rate": 0.5}))
    assert np.abs(turned[:, 0] - base[:, 0]).max() > 1e-2


# ----------------------------------------------------------------------------- (3) mirroring


def test_mirror_is_an_involution_and_round_trips() -> None:
    joints = body_motion(**MOTIONS["sidestep"])
    assert np.array_equal(mirror_joints(mirror_joints(joints)), joints)
    mirrored = mirror_joints(joints)
    assert np.allclose(mirrored[:, 1, 0], -joints[:, 2, 0]) and np.allclose(mirrored[:, 16], joints[:, 17] * [-1, 1, 1])
    recovered = features_to_joints(joints_to_features(mirrored))
    assert np.abs(recovered - mirror_joints(canonicalize(joints))[:-1]).max() < 1e-4
    as_tensor = mirror_joints(torch.from_numpy(joints))
    assert torch.equal(as_tensor, torch.from_numpy(mirrored))


def test_mirror_flips_turn_direction() -> None:
    joints = body_motion(**MOTIONS["walk_turning"])
    base, mirrored = joints_to_features(joints), joints_to_features(mirror_joints(joints))
    assert np.allclose(mirrored[:, 0], -base[:, 0], atol=1e-6)
    assert np.allclose(mirrored[:, 3], base[:, 3], atol=1e-6)  # root height unchanged


# ----------------------------------------------------------------------------- (4) 6D rotations


def test_cont6d_uses_matrix_columns() -> None:
    quarter_turn_z = np.array([math.cos(math.pi / 4), 0.0, 0.0, math.sin(math.pi / 4)])
    matrix = quat.quat_to_matrix(quarter_turn_z)
    assert np.allclose(matrix, [[0, -1, 0], [1, 0, 0], [0, 0, 1]])
    assert np.allclose(quat.quat_to_cont6d(quarter_turn_z), [0, 1, 0, -1, 0, 0])  # columns, not rows
    assert np.allclose(quat.cont6d_to_matrix(quat.matrix_to_cont6d(matrix)), matrix)


def test_ik_rest_pose_has_identity_rotations() -> None:
    features = joints_to_features(ik_rest_pose())
    rotations = features[:, ROT].reshape(-1, NUM_JOINTS - 1, 6)
    assert np.abs(rotations - IDENTITY_6D).max() < 1e-6
    assert np.abs(features[:, 0:3]).max() < 1e-7  # no turning, no travel


def test_known_joint_rotation_in_6d() -> None:
    """Bending the left forearm from hanging (-Y) to pointing forward (+Z) is R_x(-90 deg)."""
    joints = ik_rest_pose()
    forearm = np.linalg.norm(joints[0, 20] - joints[0, 18])
    joints[:, 20] = joints[:, 18] + [0.0, 0.0, forearm]
    rotations = joints_to_features(joints)[:, ROT].reshape(-1, NUM_JOINTS - 1, 6)
    assert np.allclose(rotations[:, 20 - 1], [1, 0, 0, 0, 0, -1], atol=1e-6)
    others = np.delete(rotations, 20 - 1, axis=1)
    assert np.abs(others - IDENTITY_6D).max() < 1e-6


def test_bone_opposite_to_rest_direction_is_finite() -> None:
    """A forearm pointing straight up (exactly opposite RAW_OFFSETS) gives a half turn, not NaN."""
    joints = ik_rest_pose()
    joints[:, 20] = joints[:, 18] + [0.0, np.linalg.norm(joints[0, 20] - joints[0, 18]), 0.0]
    rotations = joints_to_features(joints)[:, ROT].reshape(-1, NUM_JOINTS - 1, 6)
    matrix = quat.cont6d_to_matrix(rotations[0, 20 - 1].astype(np.float64))
    assert np.isfinite(rotations).all()
    assert np.allclose(matrix @ RAW_OFFSETS[20], [0.0, 1.0, 0.0], atol=1e-6)


def test_quaternion_helpers_agree() -> None:
    rng = np.random.default_rng(3)
    q = quat.qnormalize(rng.normal(size=(50, 4)))
    v = rng.normal(size=(50, 3))
    matrices = quat.quat_to_matrix(q)
    assert np.allclose(quat.qrot(q, v), np.einsum("nij,nj->ni", matrices, v))
    assert np.allclose(quat.matrix_to_quat(matrices), quat.positive_w(q))
    r = quat.qnormalize(rng.normal(size=(50, 4)))
    assert np.allclose(quat.quat_to_matrix(quat.qmul(q, r)), matrices @ quat.quat_to_matrix(r))
    assert np.allclose(quat.qmul(q, quat.qinv(q)), quat.identity((50,)))
    u = rng.normal(size=(50, 3))
    between = quat.qbetween(u, v)
    unit = lambda a: a / np.linalg.norm(a, axis=-1, keepdims=True)  # noqa: E731
    assert np.allclose(quat.qrot(between, unit(u)), unit(v))
    facing = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, -1.0], [-0.3, 0.0, 0.2], [0.0, 0.0, 0.0]])
    turned = quat.qrot(quat.yaw_from_forward(facing), facing)
    assert np.allclose(unit(turned[:3]), [[0, 0, 1]] * 3) and np.allclose(turned[3], 0.0)


# ----------------------------------------------------------------------------- (5) foot contacts


def test_contacts_standing_still_and_moving_fast() -> None:
    still = np.repeat(body_motion(frames=1)[:1], 30, axis=0)
    assert np.array_equal(joints_to_features(still)[:, CONTACTS], np.ones((29, 4), np.float32))
    sliding = body_motion(frames=40, speed=2.0, gait=0.0)  # 0.1 m/frame, no leg swing to cancel it
    assert np.array_equal(joints_to_features(sliding)[:, CONTACTS], np.zeros((39, 4), np.float32))


def test_contact_threshold_is_on_squared_step() -> None:
    """0.04 m/frame -> 0.0016 m^2 < 0.002 (contact); 0.05 m/frame -> 0.0025 (no contact)."""
    pose = body_motion(frames=1)[0]
    for step, expected in [(0.04, 1.0), (0.05, 0.0)]:
        slide = pose[None] + np.arange(20)[:, None, None] * np.array([0.6, 0.0, 0.8]) * step
        assert np.all(joints_to_features(slide)[:, CONTACTS] == expected)
    slide = pose[None] + np.arange(20)[:, None, None] * np.array([0.0, 0.0, 0.05])
    assert np.all(joints_to_features(slide, feet_threshold=0.003)[:, CONTACTS] == 1.0)


# ----------------------------------------------------------------------------- (6) batched torch


def test_features_to_joints_batched_torch_matches_numpy() -> None:
    names = ("jump", "sidestep", "walk_turning")
    clips = [joints_to_features(body_motion(**{**MOTIONS[n], "frames": 61})) for n in names]
    batch = np.stack(clips)  # (3, 60, 263) float32
    per_clip = np.stack([features_to_joints(c) for c in clips])
    out = features_to_joints(torch.from_numpy(batch))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32 and out.shape == (3, 60, NUM_JOINTS, 3)
    assert np.abs(out.numpy() - per_clip).max() < 1e-6
    nested = features_to_joints(torch.from_numpy(np.stack([batch, batch[::-1]])).double())
    assert nested.dtype == torch.float64 and nested.shape == (2, 3, 60, NUM_JOINTS, 3)
    assert np.abs(nested[1, 0].numpy() - per_clip[2]).max() < 1e-5
    assert features_to_joints(batch.astype(np.float64)).dtype == np.float64
    with pytest.raises(ValueError, match="263"):
        features_to_joints(np.zeros((10, 22, 3)))


def test_features_to_joints_is_differentiable() -> None:
    features = torch.from_numpy(joints_to_features(body_motion(frames=20))).double().requires_grad_()
    features_to_joints(features)[..., 5, :].sum().backward()
    assert features.grad is not None and torch.isfinite(features.grad).all()


# ----------------------------------------------------------------------------- (7) normalisation


def test_dataset_statistics_group_averaged() -> None:
    rng = np.random.default_rng(7)
    scales = rng.uniform(0.1, 2.0, FEATURE_DIM)
    clips = [(rng.normal(size=(n, FEATURE_DIM)) * scales + 3.0).astype(np.float32) for n in (30, 55, 12)]
    mean, std = dataset_statistics(iter(clips))
    data = np.concatenate(clips).astype(np.float64)
    assert mean.dtype == np.float32 and std.dtype == np.float32
    assert np.allclose(mean, data.mean(axis=0), atol=1e-6)
    per_dim = data.std(axis=0)
    for group in FEATURE_GROUPS.values():
        assert np.allclose(std[group], per_dim[group].mean(), rtol=1e-6)
    assert len(np.unique(std)) == len(FEATURE_GROUPS)
    with pytest.warns(UserWarning, match="skipped 1"):
        again, _ = dataset_statistics(clips + [np.full((4, FEATURE_DIM), np.nan, np.float32)])
    assert np.array_equal(again, mean)


def test_model_statistics_divides_root_and_contacts_by_feat_bias() -> None:
    mean = np.linspace(-1.0, 1.0, FEATURE_DIM).astype(np.float32)
    std = np.linspace(0.5, 2.0, FEATURE_DIM).astype(np.float32)
    meta_mean, meta_std = model_statistics(mean, std)
    assert meta_mean.dtype == np.float64 and meta_std.dtype == np.float64
    assert np.array_equal(meta_mean, mean.astype(np.float64))
    expected = std.astype(np.float64)
    expected[0:4] /= 5.0
    expected[259:263] /= 5.0
    assert np.array_equal(meta_std, expected)
    assert np.allclose(model_statistics(mean, std, feat_bias=2.0)[1][259], std[259] / 2.0)


def test_normalizer_round_trip_numpy_torch_and_files(tmp_path) -> None:
    rng = np.random.default_rng(11)
    mean, std = rng.normal(size=FEATURE_DIM), rng.uniform(0.1, 1.0, FEATURE_DIM)
    std[5] = 0.0  # a constant dim must not produce inf/NaN
    norm = Normalizer(mean, std)
    x = rng.normal(size=(4, 7, FEATURE_DIM)).astype(np.float32)
    z = norm.normalize(x)
    assert z.dtype == np.float32 and np.isfinite(z).all()
    assert np.allclose(z[..., 0], (x[..., 0] - mean[0]) / std[0], atol=1e-5)
    assert np.allclose(norm.denormalize(z), x, atol=1e-5)
    zt = norm.normalize(torch.from_numpy(x))
    assert isinstance(zt, torch.Tensor) and zt.dtype == torch.float32
    assert np.allclose(zt.numpy(), z, atol=1e-6)
    assert torch.allclose(norm.denormalize(zt), torch.from_numpy(x), atol=1e-5)
    with pytest.raises(ValueError, match="does not match"):
        norm.normalize(np.zeros((2, 10)))
    save_statistics(tmp_path / "ds", mean.astype(np.float32), std.astype(np.float32))
    loaded_mean, loaded_std = load_statistics(tmp_path / "ds")
    assert loaded_mean.dtype == np.float32 and np.array_equal(loaded_mean, mean.astype(np.float32))
    meta = model_statistics(mean, std)
    save_statistics(tmp_path / "meta", *meta, names=("mean.npy", "std.npy"))
    assert np.array_equal(Normalizer.load(tmp_path / "meta").std, meta[1])  # falls back to meta names
    with pytest.raises(FileNotFoundError, match="Mean.npy"):
        load_statistics(tmp_path / "missing")


# ----------------------------------------------------------------------------- (8) by hand


def test_recover_from_ric_by_hand() -> None:
    """3 frames, yaw velocity pi/4 per frame (so 2*theta = 0, pi/2, pi), checked against section 8."""
    w = math.pi / 4
    f = np.zeros((3, FEATURE_DIM))
    f[:, 0] = w
    f[0, 1:3] = [0.0, 1.0]  # frame 0 moves 1 m forward in its facing frame
    f[1, 1:3] = [0.5, 1.0]
    f[2, 1:3] = [9.0, 9.0]  # the last velocity is never used
    f[:, 3] = [0.9, 1.0, 1.1]
    f[:, 4:7] = [0.1, 0.5, 0.2]  # RIC of joint 1 in every frame
    joints = features_to_joints(f)
    assert joints.dtype == np.float64 and joints.shape == (3, NUM_JOINTS, 3)
    # Root: frame 1 adds (0, 1) turned by -pi/2 -> (-1, 0); frame 2 adds (0.5, 1) turned by -pi -> (-0.5, -1).
    assert np.allclose(joints[:, 0], [[0.0, 0.9, 0.0], [-1.0, 1.0, 0.0], [-1.5, 1.1, -1.0]], atol=1e-12)
    # Joint 1: (0.1, 0.2) turned by 0, -pi/2, -pi, plus the root XZ; y kept.
    assert np.allclose(joints[:, 1], [[0.1, 0.5, 0.2], [-1.2, 0.5, 0.1], [-1.6, 0.5, -1.2]], atol=1e-12)
    # The same against the general formulas for every joint, with random RIC values.
    rng = np.random.default_rng(5)
    f[:, 4:67] = rng.normal(size=(3, 63))
    joints = features_to_joints(f)
    root_x = root_z = 0.0
    for t in range(3):
        two_theta = 2.0 * w * t
        if t > 0:
            vx, vz = f[t - 1, 1], f[t - 1, 2]
            root_x += vx * math.cos(two_theta) - vz * math.sin(two_theta)
            root_z += vx * math.sin(two_theta) + vz * math.cos(two_theta)
        for j in range(1, NUM_JOINTS):
            x, y, z = f[t, 4 + 3 * (j - 1): 7 + 3 * (j - 1)]
            expected = [x * math.cos(two_theta) - z * math.sin(two_theta) + root_x, y,
                        x * math.sin(two_theta) + z * math.cos(two_theta) + root_z]
            assert np.allclose(joints[t, j], expected, atol=1e-12)


def test_joints_to_features_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match=r"\(T, 22, 3\)"):
        joints_to_features(np.zeros((10, 21, 3)))
    with pytest.raises(ValueError, match="at least 2 frames"):
        joints_to_features(np.zeros((1, NUM_JOINTS, 3)))
    bad = body_motion(frames=5)
    bad[2, 3, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        joints_to_features(bad)
