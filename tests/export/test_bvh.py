"""BVH export: written files read back (by the project's reader and by the independent `bvh` package) reproduce
the input joints; Euler angles invert the reader's convention; the rest pose is an upright T-pose."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motiongpt.data.bvh import euler_to_matrix, read_bvh
from motiongpt.errors import MotionGPTError
from motiongpt.export.bvh import (
    AXIS_INDEX,
    BVH_JOINT_NAMES,
    bvh_to_smpl_order,
    joints_to_bvh,
    matrix_to_euler,
    save_bvh,
)
from motiongpt.export.verify import bvh_package_positions, joint_errors


@pytest.mark.parametrize("unit, scale", [("cm", 0.01), ("m", 1.0)])
def test_round_trip_through_the_project_reader(tmp_path, joints, unit, scale):
    path = tmp_path / "m.bvh"
    save_bvh(joints, path, unit=unit)
    motion = read_bvh(path, scale=scale)
    assert motion.num_frames == len(joints) and motion.fps == 20
    positions = motion.global_positions()[:, bvh_to_smpl_order()]
    assert np.abs(positions - joints).max() < 1e-3
    assert [motion.names[i] for i in bvh_to_smpl_order()] == list(BVH_JOINT_NAMES)


def test_round_trip_through_an_independent_parser(tmp_path, joints):
    path = tmp_path / "m.bvh"
    save_bvh(joints[:60], path)  # centimetres
    names, positions = bvh_package_positions(path, scale=0.01)
    assert set(names) == set(BVH_JOINT_NAMES)
    assert joint_errors(names, positions, BVH_JOINT_NAMES, joints[:60]).max() < 1e-3


@pytest.mark.parametrize("order", ["ZXY", "XYZ", "YXZ", "ZYX"])
def test_euler_angles_invert_the_readers_convention(order):
    axes = tuple(AXIS_INDEX[c] for c in order)
    matrices = Rotation.random(200, random_state=0).as_matrix()
    assert np.allclose(euler_to_matrix(matrix_to_euler(matrices, order), axes), matrices, atol=1e-9)
    locked = euler_to_matrix(np.array([[0.3, np.pi / 2, -0.4], [1.0, -np.pi / 2, 0.2]]), axes)
    assert np.allclose(euler_to_matrix(matrix_to_euler(locked, order), axes), locked, atol=1e-9)


def test_other_rotation_orders_and_noisy_bone_lengths_still_fit(joints):
    motion = joints_to_bvh(joints, order="XYZ", unit="m")
    assert motion.channels[1] == ("Xrotation", "Yrotation", "Zrotation")
    assert np.abs(motion.global_positions()[:, bvh_to_smpl_order()] - joints).max() < 1e-3
    noisy = joints + np.random.default_rng(0).normal(0, 0.005, joints.shape)
    err = np.linalg.norm(joints_to_bvh(noisy).global_positions()[:, bvh_to_smpl_order()] - noisy, axis=-1)
    assert err.mean() < 0.02  # bone lengths vary now, so only the directions can be matched


def test_rest_pose_is_an_upright_t_pose(joints):
    motion = joints_to_bvh(joints, unit="m")
    rest = dataclasses.replace(motion, values=np.zeros((1, motion.values.shape[1])))
    pose = rest.global_positions()[0, bvh_to_smpl_order()]
    names = {n: i for i, n in enumerate(BVH_JOINT_NAMES)}
    assert pose[names["Head"], 1] > pose[names["Spine3"], 1] > pose[names["Pelvis"], 1] > pose[names["L_Ankle"], 1]
    assert pose[names["L_Wrist"], 0] > pose[names["L_Elbow"], 0] > pose[names["L_Shoulder"], 0] > 0
    assert pose[names["R_Wrist"], 0] < pose[names["R_Elbow"], 0] < pose[names["R_Shoulder"], 0] < 0
    assert abs(pose[names["L_Wrist"], 1] - pose[names["L_Shoulder"], 1]) < 1e-9
    assert pose[names["L_Foot"], 2] > pose[names["L_Ankle"], 2]


def test_bad_input_is_rejected(joints):
    with pytest.raises(MotionGPTError, match=r"\(10, 21, 3\)"):
        joints_to_bvh(np.zeros((10, 21, 3)))
    with pytest.raises(MotionGPTError, match="unit"):
        joints_to_bvh(joints, unit="mm")
    with pytest.raises(MotionGPTError, match="rotation order"):
        joints_to_bvh(joints, order="XXY")
