import numpy as np
import pytest

from motiongpt.errors import MotionGPTError
from motiongpt.motion.features import feature_slices
from motiongpt.motion.skeleton import KIT, T2M, get_spec


@pytest.mark.parametrize("spec", [T2M, KIT])
def test_spec_is_consistent(spec):
    j = spec.num_joints
    assert len(spec.joint_names) == len(spec.parents) == len(spec.raw_offsets) == len(spec.target_offsets) == j
    for chain in spec.kinematic_chain:
        for parent, child in zip(chain[:-1], chain[1:]):
            assert spec.parents[child] == parent
    assert sorted(c for chain in spec.kinematic_chain for c in chain[1:]) == list(range(1, j))
    np.testing.assert_allclose(np.linalg.norm(spec.raw_offsets[1:], axis=-1), 1.0)
    lengths = np.linalg.norm(spec.target_offsets, axis=-1, keepdims=True)
    np.testing.assert_allclose(spec.target_offsets[1:], spec.raw_offsets[1:] * lengths[1:])
    assert sorted(spec.left_chain + spec.right_chain) == sorted(set(spec.left_chain + spec.right_chain))
    for left, right in zip(spec.left_chain, spec.right_chain):  # mirror pairs: same length, x mirrored
        np.testing.assert_allclose(spec.raw_offsets[left] * [-1, 1, 1], spec.raw_offsets[right])
    assert list(feature_slices(spec).values())[-1].stop == spec.feature_dim


def test_feature_dims():
    assert (T2M.feature_dim, T2M.num_joints, KIT.feature_dim, KIT.num_joints) == (263, 22, 251, 21)
    s = feature_slices("t2m")
    blocks = (s["ric"], s["rot"], s["vel"], s["contacts"])
    assert blocks == (slice(4, 67), slice(67, 193), slice(193, 259), slice(259, 263))


def test_t2m_target_lengths_are_those_of_the_released_joints(humanml3d_mini):
    joints = np.load(humanml3d_mini / "new_joints" / "012314.npy")
    bones = np.linalg.norm(joints[:, 1:] - joints[:, list(T2M.parents[1:])], axis=-1)
    np.testing.assert_allclose(bones.mean(0), np.linalg.norm(T2M.target_offsets[1:], axis=-1), atol=6e-5)


def test_get_spec_aliases_and_errors():
    assert get_spec("HumanML3D") is T2M and get_spec("kit-ml") is KIT and get_spec(KIT) is KIT
    with pytest.raises(MotionGPTError, match="unknown"):
        get_spec("smplx")


def test_feature_width_and_joint_count_name_the_skeleton():
    from motiongpt.motion.skeleton import spec_for_dim, spec_for_joints

    for spec in (T2M, KIT):
        assert spec_for_dim(spec.feature_dim) is spec and spec_for_joints(spec.num_joints) is spec
    with pytest.raises(MotionGPTError, match="width 262: no skeleton"):
        spec_for_dim(262)
    with pytest.raises(MotionGPTError, match="joint count 23: no skeleton"):
        spec_for_joints(23)


def test_load_motion_tells_joints_from_features_and_rejects_bad_files(tmp_path):
    from motiongpt.motion.skeleton import load_motion

    np.save(tmp_path / "joints.npy", np.zeros((6, 21, 3), np.float32))
    np.save(tmp_path / "features.npy", np.zeros((5, 263), np.float32))
    _, spec, is_joints = load_motion(tmp_path / "joints.npy")
    assert spec is KIT and is_joints
    _, spec, is_joints = load_motion(tmp_path / "features.npy")
    assert spec is T2M and not is_joints
    np.save(tmp_path / "nan.npy", np.full((5, 251), np.nan, np.float32))
    np.save(tmp_path / "text.npy", np.array(["a", "b"]))
    (tmp_path / "corrupt.npy").write_bytes(b"not numpy")
    for name, message in (("missing.npy", "not found"), ("corrupt.npy", "cannot read"), ("nan.npy", "NaN"),
                          ("text.npy", "expected real numbers")):
        with pytest.raises(MotionGPTError, match=message) as err:
            load_motion(tmp_path / name)
        assert name in str(err.value) and "\n" not in str(err.value)
    np.save(tmp_path / "wide.npy", np.zeros((5, 264), np.float32))
    with pytest.raises(MotionGPTError, match=r"shape \(5, 264\), expected joints \(T, 22, 3\)"):
        load_motion(tmp_path / "wide.npy")
