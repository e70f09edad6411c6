import dataclasses

import numpy as np
import pytest
import torch

from motiongpt.errors import MotionGPTError
from motiongpt.motion.features import (
    feature_slices,
    features_to_joints,
    joints_to_features,
    mirror_joints,
    uniform_skeleton,
)
from motiongpt.motion.kinematics import forward_kinematics
from motiongpt.motion.quaternion import normalize, qmul, qyrot
from motiongpt.motion.skeleton import KIT, T2M


@pytest.fixture(scope="module")
def released(humanml3d_mini) -> tuple[np.ndarray, np.ndarray]:
    feats = np.load(humanml3d_mini / "new_joint_vecs" / "012314.npy")
    joints = np.load(humanml3d_mini / "new_joints" / "012314.npy")
    return feats, joints


def _walk(spec, frames: int = 60, size: float = 1.0, seed: int = 0) -> np.ndarray:
    """A synthetic motion on `spec`'s skeleton scaled by `size`: the root walks a turning path while every joint
    swings smoothly."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames) / spec.fps
    j = spec.num_joints
    swing = np.sin(2 * np.pi * (t[:, None, None] * rng.uniform(0.5, 1.5, (1, j, 1)) + rng.random((1, j, 1))))
    axis = 0.2 * swing * rng.normal(size=(1, j, 3))
    local = normalize(np.concatenate([np.ones((frames, j, 1)), axis], -1))
    local[:, 0] = qmul(qyrot(0.4 * t + 0.3), local[:, 0])
    root = np.stack([np.sin(0.4 * t), np.full_like(t, 1.0), 1.2 * t], -1) * size
    return forward_kinematics(local, root, spec.target_offsets * size, spec.parents)


def test_features_to_joints_reproduces_released_joints(released):
    feats, joints = released
    np.testing.assert_allclose(features_to_joints(feats.astype(np.float64)), joints, atol=1e-5)
    out = features_to_joints(torch.from_numpy(feats))
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_allclose(out.numpy(), joints, atol=1e-5)


def test_batched_torch_features_to_joints(released):
    feats, joints = released
    batch = torch.from_numpy(np.stack([feats, feats[::-1].copy()]))[None]
    out = features_to_joints(batch)
    assert out.shape == (1, 2, *joints.shape)
    np.testing.assert_allclose(out[0, 0].numpy(), joints, atol=1e-5)
    np.testing.assert_allclose(out[0, 1].numpy(), features_to_joints(feats[::-1].copy()), atol=1e-5)


def test_joints_to_features_reproduces_released_features(released):
    feats, joints = released
    ours = joints_to_features(joints)
    assert ours.shape == (len(joints) - 1, 263) and ours.dtype == np.float32
    err = {name: np.abs(ours[:, s] - feats[:-1, s]).max() for name, s in feature_slices().items()}
    assert err["rot"] < 0.02 and err["ric"] < 0.01, err
    assert max(err[k] for k in ("root_rot_vel", "root_lin_vel", "root_y", "vel")) < 1e-3, err
    assert err["contacts"] == 0, err


def test_torch_joints_to_features_matches_numpy(released):
    _, joints = released
    out = joints_to_features(torch.from_numpy(joints).double())
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float64
    np.testing.assert_allclose(out.numpy(), joints_to_features(joints.astype(np.float64)), atol=1e-12)


def test_round_trip_on_released_joints(released):
    _, joints = released
    np.testing.assert_allclose(features_to_joints(joints_to_features(joints)), joints[:-1], atol=5e-4)


def _align_yaw(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """b turned about Y (through the origin) to best match a."""
    sin = (a[..., 0] * b[..., 2] - a[..., 2] * b[..., 0]).sum()
    cos = (a[..., 0] * b[..., 0] + a[..., 2] * b[..., 2]).sum()
    angle = np.arctan2(sin, cos)
    c, s = np.cos(angle), np.sin(angle)
    return np.stack([c * b[..., 0] + s * b[..., 2], b[..., 1], -s * b[..., 0] + c * b[..., 2]], -1)


def test_kit_round_trip_on_synthetic_motion():
    x = _walk(KIT, size=0.9)
    feats = joints_to_features(x, "kit")
    assert feats.shape == (len(x) - 1, 251)
    back = features_to_joints(feats, "kit")
    assert back.shape == (len(x) - 1, 21, 3)
    lengths = np.linalg.norm(back[:, 1:] - back[:, list(KIT.parents[1:])], axis=-1)
    np.testing.assert_allclose(lengths - np.linalg.norm(KIT.target_offsets[1:], axis=-1), 0.0, atol=1e-9)
    # Same motion, retargeted: equal up to the floor, the start position and one turn about Y.
    ref = uniform_skeleton(x, "kit")
    ref[..., 1] -= ref[..., 1].min()
    ref = ref[:-1] - ref[0, 0] * [1, 0, 1]
    np.testing.assert_allclose(_align_yaw(back, ref), back, atol=1e-9)


def test_contacts_mark_still_feet():
    x = _walk(T2M, frames=30)
    x[10:20] = x[10]  # stand still for ten frames
    contacts = joints_to_features(x)[:, feature_slices()["contacts"]]
    assert contacts[10:19].all() and contacts[:9].mean() < 0.5 and contacts[20:].mean() < 0.5
    # x is on the target skeleton, so contacts are its own squared foot displacements against the threshold.
    feet = list(T2M.fid_l + T2M.fid_r)
    np.testing.assert_array_equal(contacts, ((x[1:, feet] - x[:-1, feet]) ** 2).sum(-1) < T2M.feet_thre)


def test_mirror_twice_is_identity(released):
    _, joints = released
    np.testing.assert_array_equal(mirror_joints(mirror_joints(joints)), joints)
    tj = torch.from_numpy(joints)
    np.testing.assert_array_equal(mirror_joints(tj).numpy(), mirror_joints(joints))
    assert mirror_joints(joints)[0, 1, 0] == -joints[0, 2, 0]


def test_mirrored_features_are_consistent(released):
    _, joints = released
    left, right = list(T2M.left_chain), list(T2M.right_chain)
    lengths = np.linalg.norm(T2M.target_offsets, axis=-1, keepdims=True)
    lengths[left] = lengths[right] = (lengths[left] + lengths[right]) / 2
    sym = dataclasses.replace(T2M, target_offsets=T2M.raw_offsets * lengths)
    x = uniform_skeleton(joints, sym)
    feats, feats_m = joints_to_features(x, sym), joints_to_features(mirror_joints(x), sym)
    expected = mirror_joints(features_to_joints(feats, sym))
    np.testing.assert_allclose(features_to_joints(feats_m, sym), expected, atol=1e-9)
    np.testing.assert_allclose(feats_m[:, 0], -feats[:, 0], atol=1e-12)
    np.testing.assert_allclose(feats_m[:, 1:3], feats[:, 1:3] * [-1, 1], atol=1e-12)
    np.testing.assert_array_equal(feats_m[:, -4:], feats[:, [-2, -1, -4, -3]])


def test_bad_input_raises():
    with pytest.raises(MotionGPTError, match="263"):
        features_to_joints(np.zeros((10, 251)))
    with pytest.raises(MotionGPTError, match="22, 3"):
        joints_to_features(np.zeros((10, 21, 3)))
    with pytest.raises(MotionGPTError, match="at least 2 frames"):
        joints_to_features(np.zeros((1, 22, 3)))
    bad = _walk(T2M, frames=5)
    bad[2, 3, 1] = np.nan
    with pytest.raises(MotionGPTError, match="NaN"):
        joints_to_features(bad)
