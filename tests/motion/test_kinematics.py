import numpy as np
import pytest
import torch

from motiongpt.motion.features import feature_slices, features_to_joints
from motiongpt.motion.kinematics import (
    chain_forward_kinematics,
    chain_inverse_kinematics,
    forward_kinematics,
    inverse_kinematics,
    offsets_from_joints,
)
from motiongpt.motion.quaternion import cont6d_to_quat, normalize
from motiongpt.motion.skeleton import KIT, T2M


@pytest.fixture(scope="module")
def joints(humanml3d_mini) -> np.ndarray:
    return np.load(humanml3d_mini / "new_joints" / "012314.npy").astype(np.float64)


def _random_pose_motion(spec, frames: int = 40, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    local = normalize(rng.normal(size=(frames, spec.num_joints, 4)) + [2.0, 0, 0, 0])
    root = rng.normal(size=(frames, 3))
    return local, forward_kinematics(local, root, spec.target_offsets, spec.parents)


def test_forward_kinematics_keeps_bone_lengths():
    _, x = _random_pose_motion(KIT)
    bones = np.linalg.norm(x[:, 1:] - x[:, list(KIT.parents[1:])], axis=-1)
    np.testing.assert_allclose(bones - np.linalg.norm(KIT.target_offsets[1:], axis=-1), 0.0, atol=1e-12)


@pytest.mark.parametrize("spec", [T2M, KIT])
def test_fk_of_ik_reproduces_synthetic_joints(spec):
    _, x = _random_pose_motion(spec)
    q = inverse_kinematics(x, spec.target_offsets, spec.parents)
    np.testing.assert_allclose(forward_kinematics(q, x[:, 0], spec.target_offsets, spec.parents), x, atol=1e-9)


def test_fk_of_ik_reproduces_real_joints(joints):
    offsets = offsets_from_joints(joints[0], T2M.parents)
    q = inverse_kinematics(joints, offsets, T2M.parents)
    np.testing.assert_allclose(np.linalg.norm(q, axis=-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(forward_kinematics(q, joints[:, 0], offsets, T2M.parents), joints, atol=1e-5)
    qt = inverse_kinematics(torch.from_numpy(joints), torch.from_numpy(offsets), T2M.parents)
    np.testing.assert_allclose(qt.numpy(), q, atol=1e-10)
    back = forward_kinematics(qt, torch.from_numpy(joints[:, 0]), offsets, T2M.parents)
    np.testing.assert_allclose(back.numpy(), joints, atol=1e-5)


def test_ik_puts_single_child_bones_along_data_on_other_lengths(joints):
    q = inverse_kinematics(joints, T2M.target_offsets * 1.5, T2M.parents)
    x = forward_kinematics(q, joints[:, 0], T2M.target_offsets * 1.5, T2M.parents)
    for j in (4, 7, 18, 20):  # knee and elbow children: one-child joints
        p = T2M.parents[j]
        np.testing.assert_allclose(normalize(x[:, j] - x[:, p]), normalize(joints[:, j] - joints[:, p]), atol=1e-9)


def test_chain_ik_round_trip(joints):
    heading = normalize(np.random.default_rng(3).normal(size=(len(joints), 4)) * [1, 0, 1, 0])
    bones = chain_inverse_kinematics(joints, T2M.raw_offsets, T2M.kinematic_chain, heading)
    lengths = np.linalg.norm(offsets_from_joints(joints[0], T2M.parents), axis=-1, keepdims=True)
    back = chain_forward_kinematics(bones, joints[:, 0], T2M.raw_offsets * lengths, T2M.kinematic_chain)
    np.testing.assert_allclose(back, joints, atol=1e-5)


def test_rot_features_pose_the_target_skeleton(humanml3d_mini):
    """The released `rot` block, fed to the HumanML3D chain FK with the recovered heading, gives back the joints."""
    feats = np.load(humanml3d_mini / "new_joint_vecs" / "012314.npy").astype(np.float64)
    positions = features_to_joints(feats)
    angle = np.concatenate([[0.0], np.cumsum(feats[:-1, 0])])
    heading = np.stack([np.cos(angle), 0 * angle, np.sin(angle), 0 * angle], -1)
    local = cont6d_to_quat(feats[:, feature_slices()["rot"]].reshape(len(feats), 21, 6))
    bones = np.concatenate([heading[:, None], local], 1)
    back = chain_forward_kinematics(bones, positions[:, 0], T2M.target_offsets, T2M.kinematic_chain)
    np.testing.assert_allclose(back, positions, atol=1e-3)


def test_bad_parents_raise():
    with pytest.raises(ValueError):
        forward_kinematics(np.zeros((2, 3, 4)), np.zeros((2, 3)), np.zeros((3, 3)), [-1, 2, 0])
