"""BVH reading, forward kinematics, writing and resampling, on real Bandai Namco files and small synthetic rigs."""

from __future__ import annotations

from pathlib import Path

import bvh as pybvh
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motiongpt.data.bvh import BVHMotion, read_bvh, resample, write_bvh
from motiongpt.errors import MotionGPTError

DATASET1 = Path("Bandai-Namco-Research-Motiondataset-1") / "data"


def _samples(folder: Path, step: int = 7) -> list[Path]:
    files = sorted(folder.glob("*.bvh"))
    assert len(files) >= 10, f"expected the Bandai samples in {folder}"
    return files[::step]


def test_parse_agrees_with_independent_parser(bandai_sample_bvh):
    for path in _samples(bandai_sample_bvh, step=23):
        motion = read_bvh(path)
        ref = pybvh.Bvh(path.read_text())
        assert motion.names == ref.get_joints_names()
        assert motion.num_frames == ref.nframes
        assert motion.frame_time == pytest.approx(ref.frame_time)
        assert motion.fps == 30.0
        ref_values = np.array(ref.frames, dtype=np.float64)
        np.testing.assert_array_equal(motion.values, ref_values)
        for j, name in enumerate(motion.names):
            assert list(motion.channels[j]) == ref.joint_channels(name)
            np.testing.assert_array_equal(motion.offsets[j], ref.joint_offset(name))
            expected_parent = ref.joint_parent_index(name)
            assert motion.parents[j] == (expected_parent if expected_parent >= 0 else -1)


def test_bandai_rig_structure(bandai_sample_bvh):
    motion = read_bvh(_samples(bandai_sample_bvh)[0])
    assert len(motion.names) == 22 and motion.names[:2] == ["joint_Root", "Hips"]
    assert all(c == ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")
               for c in motion.channels)
    assert motion.values.shape[1] == 22 * 6
    leaves = {motion.names[j] for j in motion.end_sites}
    assert leaves == {"Head", "Hand_L", "Hand_R", "Toes_L", "Toes_R"}


def test_global_positions_plausible(bandai_sample_bvh):
    for path in _samples(bandai_sample_bvh):
        motion = read_bvh(path, scale=0.01)
        pos = motion.global_positions()
        assert pos.shape == (motion.num_frames, 22, 3)
        hips = pos[:, motion.names.index("Hips")]
        assert 0.75 < np.median(hips[:, 1]) < 1.1, path.name  # metres, Y-up
        head = pos[:, motion.names.index("Head")]
        assert (head[:, 1] > hips[:, 1] + 0.3).all(), path.name
        toes = pos[:, [motion.names.index("Toes_L"), motion.names.index("Toes_R")], 1]
        assert -0.05 < toes.min() < 0.15, path.name  # a foot reaches the floor
        # Rigid bones: every joint below the moving Hips keeps its distance to its parent.
        for j, p in enumerate(motion.parents):
            if p > 0:
                length = np.linalg.norm(pos[:, j] - pos[:, p], axis=-1)
                assert length.std() < 1e-3, (path.name, motion.names[j])


def test_forward_kinematics_matches_scipy(bandai_sample_bvh):
    """An independent per-joint FK with scipy's intrinsic Euler rotations gives the same positions."""
    motion = read_bvh(_samples(bandai_sample_bvh)[3], scale=0.01)
    starts = motion.channel_starts()
    glob_rot: list[Rotation] = []
    glob_pos: list[np.ndarray] = []
    for j, p in enumerate(motion.parents):
        block = motion.values[:, starts[j]:starts[j] + 6]
        local_pos = block[:, :3]  # Bandai position channels are X, Y, Z first
        local_rot = Rotation.from_euler("ZXY", block[:, 3:], degrees=True)
        if p < 0:
            glob_rot.append(local_rot)
            glob_pos.append(local_pos)
        else:
            glob_rot.append(glob_rot[p] * local_rot)
            glob_pos.append(glob_pos[p] + glob_rot[p].apply(local_pos))
    expected = np.stack(glob_pos, axis=1) * 0.01
    np.testing.assert_allclose(motion.global_positions(), expected, atol=1e-9)


def test_dataset1_walk_moves_forward(bandai_dir):
    path = bandai_dir / DATASET1 / "dataset-1_walk_normal_001.bvh"
    motion = read_bvh(path, scale=0.01)
    pos = motion.global_positions()
    hips = pos[:, motion.names.index("Hips")]
    travel = np.linalg.norm(hips[-1, [0, 2]] - hips[0, [0, 2]])
    speed = travel / (motion.num_frames / motion.fps)
    assert 0.5 < speed < 2.5  # m/s, a walk
    assert abs(hips[-1, 1] - hips[0, 1]) < 0.1


def test_write_read_round_trip(bandai_sample_bvh, tmp_path):
    src = _samples(bandai_sample_bvh)[1]
    motion = read_bvh(src, scale=0.01)
    out = tmp_path / "copy.bvh"
    write_bvh(out, motion)
    back = read_bvh(out, scale=0.01)
    assert back.names == motion.names and back.channels == motion.channels
    np.testing.assert_array_equal(back.parents, motion.parents)
    np.testing.assert_array_equal(back.offsets, motion.offsets)
    np.testing.assert_array_equal(back.values, motion.values)
    assert back.frame_time == motion.frame_time
    assert back.end_sites.keys() == motion.end_sites.keys()
    for j, offset in motion.end_sites.items():
        np.testing.assert_array_equal(back.end_sites[j], offset)
    np.testing.assert_array_equal(back.global_positions(), motion.global_positions())
    # The independent parser reads our output too.
    assert pybvh.Bvh(out.read_text()).nframes == motion.num_frames
    assert [p.name for p in tmp_path.iterdir()] == ["copy.bvh"]  # no temporary file left behind


def test_resample_30_to_20(bandai_sample_bvh):
    pos = read_bvh(_samples(bandai_sample_bvh)[2], scale=0.01).global_positions()
    num = pos.shape[0]
    out = resample(pos, 30, 20)
    assert out.shape == ((num - 1) * 2 // 3 + 1, 22, 3)
    # Frame k at 20 fps lies at source frame 1.5 k: even k hit a frame, odd k fall halfway between two.
    np.testing.assert_allclose(out[0::2], pos[0:3 * ((out.shape[0] + 1) // 2):3], atol=1e-12)
    odd = np.arange(1, out.shape[0], 2)
    np.testing.assert_allclose(out[odd], 0.5 * (pos[(3 * odd) // 2] + pos[(3 * odd) // 2 + 1]), atol=1e-12)
    np.testing.assert_array_equal(resample(pos, 20, 20), pos)


def test_resample_is_exact_on_linear_motion():
    t = np.arange(31) / 30.0
    track = np.stack([2 * t, -t + 1, 3 * t], axis=-1)
    out = resample(track, 30, 20)
    t_out = np.arange(21) / 20.0
    np.testing.assert_allclose(out, np.stack([2 * t_out, -t_out + 1, 3 * t_out], axis=-1), atol=1e-12)


# --------------------------------------------------------------------------------------- synthetic rigs

# A small rig with mixed channel layouts: rotation orders differ per joint, one joint has no position channels
# and two rotations only, one has positions between its rotations.
_NAMES = ["root", "spine", "head", "arm", "hand", "leg"]
_PARENTS = [-1, 0, 1, 1, 3, 0]
_CHANNELS = [
    ("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation"),
    ("Yrotation", "Xrotation", "Zrotation"),
    ("Xrotation", "Zrotation"),
    ("Zrotation", "Xposition", "Yrotation", "Yposition", "Zposition", "Xrotation"),
    ("Xrotation", "Yrotation", "Zrotation"),
    ("Yrotation", "Zrotation", "Xrotation"),
]


def _synthetic(rng: np.random.Generator) -> tuple[BVHMotion, BVHMotion]:
    """The same random motion of the small rig, written once Y-up and once Z-up (x, -z, y)."""
    offsets_y = rng.normal(size=(6, 3))
    values_y = [rng.uniform(-90, 90, size=(5, len(c))) for c in _CHANNELS]
    for j, chans in enumerate(_CHANNELS):
        for k, name in enumerate(chans):
            if name.endswith("position"):
                values_y[j][:, k] = rng.normal(size=5)
    offsets_z = offsets_y[:, [0, 2, 1]] * [1, -1, 1]
    channels_z, values_z = [], []
    axis_map = {"X": ("X", 1), "Y": ("Z", 1), "Z": ("Y", -1)}  # a Y-up axis -> (Z-up axis, sign)
    for chans, vals in zip(_CHANNELS, values_y):
        new = [axis_map[c[0]][0] + c[1:] for c in chans]
        signs = np.array([axis_map[c[0]][1] for c in chans])
        channels_z.append(tuple(new))
        values_z.append(vals * signs)

    def make(offsets, channels, values, up):
        return BVHMotion(names=list(_NAMES), parents=np.array(_PARENTS), offsets=offsets, channels=channels,
                         values=np.concatenate(values, axis=1), frame_time=1 / 30, end_sites={2: np.ones(3)},
                         up=up)

    return make(offsets_y, list(_CHANNELS), values_y, "y"), make(offsets_z, channels_z, values_z, "z")


def test_z_up_file_matches_its_y_up_twin(tmp_path):
    y_motion, z_motion = _synthetic(np.random.default_rng(0))
    write_bvh(tmp_path / "y.bvh", y_motion)
    write_bvh(tmp_path / "z.bvh", z_motion)
    y_pos = read_bvh(tmp_path / "y.bvh", scale=0.5).global_positions()
    z_pos = read_bvh(tmp_path / "z.bvh", scale=0.5, up="z").global_positions()
    np.testing.assert_allclose(z_pos, y_pos, atol=1e-9)
    raw = read_bvh(tmp_path / "z.bvh").global_positions()
    assert not np.allclose(raw, y_pos * 2)  # the conversion did something


def test_channel_layouts_follow_file_order(tmp_path):
    y_motion, _ = _synthetic(np.random.default_rng(1))
    write_bvh(tmp_path / "m.bvh", y_motion)
    motion = read_bvh(tmp_path / "m.bvh")
    pos = motion.global_positions()
    # Joint "arm": its position channels replace the offset, rotations compose in the listed order.
    starts = motion.channel_starts()
    arm = motion.values[:, starts[3]:starts[3] + 6]
    spine_rot = Rotation.from_euler("YXZ", motion.values[:, starts[1]:starts[1] + 3], degrees=True)
    root_rot = Rotation.from_euler("ZXY", motion.values[:, 3:6], degrees=True)
    root_pos = motion.values[:, :3]
    spine_pos = root_pos + root_rot.apply(motion.offsets[1])
    arm_pos = spine_pos + (root_rot * spine_rot).apply(arm[:, [1, 3, 4]])
    np.testing.assert_allclose(pos[:, 3], arm_pos, atol=1e-9)


# --------------------------------------------------------------------------------------- bad input


def _lines(bandai_sample_bvh) -> tuple[str, list[str]]:
    path = _samples(bandai_sample_bvh)[0]
    return path.name, path.read_text().split("\n")


def _motion_index(lines: list[str]) -> int:
    return next(i for i, line in enumerate(lines) if line.strip() == "MOTION")


def _error(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "bad.bvh"
    path.write_text("\n".join(lines))
    with pytest.raises(MotionGPTError) as info:
        read_bvh(path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    return message


def test_truncated_frames(bandai_sample_bvh, tmp_path):
    _, lines = _lines(bandai_sample_bvh)
    m = _motion_index(lines)
    frames = int(lines[m + 1].split()[1])
    message = _error(tmp_path, lines[:m + 3 + frames - 5])
    assert "truncated" in message and f"Frames: {frames}" in message and f"{frames - 5} frame lines" in message


def test_cut_off_hierarchy(bandai_sample_bvh, tmp_path):
    _, lines = _lines(bandai_sample_bvh)
    message = _error(tmp_path, lines[:40])
    assert "cut off" in message and ":40:" in message


def test_wrong_channel_count_on_a_line(bandai_sample_bvh, tmp_path):
    _, lines = _lines(bandai_sample_bvh)
    m = _motion_index(lines)
    bad = m + 3 + 4  # 0-based index of frame 4
    lines[bad] = " ".join(lines[bad].split()[:-2])
    message = _error(tmp_path, lines)
    assert f":{bad + 1}:" in message and "frame 4 has 130 values, expected 132" in message


def test_unknown_channel_name(bandai_sample_bvh, tmp_path):
    _, lines = _lines(bandai_sample_bvh)
    k = next(i for i, line in enumerate(lines) if "CHANNELS" in line and i > 10)
    lines[k] = lines[k].replace("Xrotation", "Wrotation")
    message = _error(tmp_path, lines)
    assert f":{k + 1}:" in message and "unknown channel 'Wrotation'" in message


def test_non_numeric_value(bandai_sample_bvh, tmp_path):
    _, lines = _lines(bandai_sample_bvh)
    m = _motion_index(lines)
    bad = m + 3 + 2
    words = lines[bad].split()
    words[10] = "1.2.3"
    lines[bad] = " ".join(words)
    message = _error(tmp_path, lines)
    assert f":{bad + 1}:" in message and "non-numeric value '1.2.3' in frame 2" in message


def test_non_numeric_offset_and_missing_file(bandai_sample_bvh, tmp_path):
    _, lines = _lines(bandai_sample_bvh)
    lines[3] = lines[3].replace("0.0", "zero", 1)
    message = _error(tmp_path, lines)
    assert ":4:" in message and "OFFSET of joint 'joint_Root' must be a number" in message
    with pytest.raises(MotionGPTError, match="not found"):
        read_bvh(tmp_path / "missing.bvh")
