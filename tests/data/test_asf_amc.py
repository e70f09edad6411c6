"""ASF/AMC reading and forward kinematics: conventions on a small synthetic rig, and the real HDM05 samples."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from motiongpt.data.asf_amc import AMCMotion, find_skeleton, pair_skeletons, read_amc, read_asf
from motiongpt.data.humanml3d import amc_to_joints
from motiongpt.data.rigmap import detect_map
from motiongpt.errors import MotionGPTError

KICK = "HDM_bd_kickLFront1Reps_001_120"
CLIPS = [KICK, "HDM_bd_jogLeftCircle4StepsRstart_001_120", "HDM_bd_lieDownFloor_001_120",
         "HDM_bd_hopBothLegs1hops_001_120"]

ASF = """# a two-bone arm
:version 1.10
:name test
:units
  mass 1.0
  length 1.0
  angle {angle}
:root
   order {order}
   axis XYZ
   position 0 0 0
   orientation 0 0 0
:bonedata
  begin
     id 1
     name arm
     direction 1 0 0
     length 10
     axis {arm_axis} XYZ
    dof {arm_dof}
    limits (-10.0 10.0)
           (-10.0 10.0)
  end
  begin
     id 2
     name hand
     direction 1 0 0
     length 5
     axis 0 0 {hand_axis} XYZ
    dof l tx
  end
:hierarchy
  begin
    root arm
    arm hand
  end
"""


def _rig(tmp_path, frames, angle="deg", order="TX TY TZ RX RY RZ", arm_axis="0 0 0", arm_dof="rx rz",
         header=":FULLY-SPECIFIED\n:DEGREES\n"):
    asf = tmp_path / "arm.asf"
    hand_axis = 90 if angle == "deg" else np.pi / 2
    asf.write_text(ASF.format(angle=angle, order=order, arm_axis=arm_axis, arm_dof=arm_dof, hand_axis=hand_axis))
    amc = tmp_path / "arm.amc"
    body = "".join(f"{k + 1}\nroot {' '.join(map(str, f[0]))}\narm {' '.join(map(str, f[1]))}\n"
                   f"hand {' '.join(map(str, f[2]))}\n" for k, f in enumerate(frames))
    amc.write_text(header + body)
    motion = read_amc(amc, read_asf(asf, scale=1.0))
    return motion, {name: i for i, name in enumerate(motion.names)}


def test_joints_sit_at_bone_starts_with_an_end_per_leaf(tmp_path):
    motion, at = _rig(tmp_path, [[(1, 2, 3, 0, 0, 0), (0, 0), (0, 0)]])
    assert motion.names == ["root", "arm", "hand", "hand_end"]
    pos = motion.global_positions()[0]
    np.testing.assert_allclose(pos, [[1, 2, 3], [1, 2, 3], [11, 2, 3], [16, 2, 3]], atol=1e-12)


def test_dof_rotations_apply_in_listed_order_about_the_bone_axes(tmp_path):
    """`dof rx rz` applies rx first; `axis` turns the axes the dof rotate about (C M C^-1)."""
    for arm_dof, values, euler in (("rx rz", (30, 50), "xz"), ("rz rx", (50, 30), "zx")):
        for arm_axis in ("0 0 0", "20 -35 70"):
            motion, at = _rig(tmp_path, [[(0, 0, 0, 0, 0, 0), values, (0, 0)]], arm_axis=arm_axis, arm_dof=arm_dof)
            axis = Rotation.from_euler("xyz", [float(a) for a in arm_axis.split()], degrees=True).as_matrix()
            turn = Rotation.from_euler(euler, values, degrees=True).as_matrix()  # extrinsic: first letter first
            expected = axis @ turn @ axis.T @ np.array([10.0, 0.0, 0.0])
            np.testing.assert_allclose(motion.global_positions()[0, at["hand"]], expected, atol=1e-9)


def test_root_order_radians_length_and_translation_dofs(tmp_path):
    frames = [[(np.pi / 2, 1, 2, 3), (0, 0), (2, 0.5)]]
    motion, at = _rig(tmp_path, frames, angle="rad", order="RY TX TY TZ", header="")
    assert motion.radians and motion.skeleton.angle_unit == "rad"
    pos = motion.global_positions()[0]
    # The root turns 90 degrees about Y: +x goes to -z. The hand's axis turns its tx onto +y.
    np.testing.assert_allclose(pos[at["hand"]], [1, 2, 3 - 10], atol=1e-9)
    np.testing.assert_allclose(pos[at["hand_end"]], [1, 2 + 0.5, 3 - 10 - 5 - 2], atol=1e-9)


def test_limits_are_parsed_but_not_applied(tmp_path):
    motion, at = _rig(tmp_path, [[(0, 0, 0, 0, 0, 0), (0, 90), (0, 0)]])
    assert motion.skeleton.bones["arm"].limits == ((-10.0, 10.0), (-10.0, 10.0))
    np.testing.assert_allclose(motion.global_positions()[0, at["hand"]], [0, 10, 0], atol=1e-9)


def test_find_skeleton_by_name_prefix(tmp_path):
    for name in ("HDM_bd", "HDM_bk", "01", "02"):
        (tmp_path / f"{name}.asf").write_text("")
    (tmp_path / "amc").mkdir()
    amc = tmp_path / "amc" / "HDM_bk_squat1Reps_003_120.amc"
    candidates = sorted(tmp_path.glob("*.asf"))
    assert find_skeleton(amc, candidates).name == "HDM_bk.asf"
    assert find_skeleton(tmp_path / "02_07.amc", candidates).name == "02.asf"
    with pytest.raises(MotionGPTError, match="pass --asf"):
        find_skeleton(tmp_path / "walk.amc", candidates)
    clips = [amc, tmp_path / "02_07.amc", tmp_path / "amc" / "HDM_bd_kick_001_120.amc"]
    assert {c.name: a.name for c, a in pair_skeletons(clips, candidates).items()} == {
        "HDM_bk_squat1Reps_003_120.amc": "HDM_bk.asf", "02_07.amc": "02.asf", "HDM_bd_kick_001_120.amc": "HDM_bd.asf"}


def test_real_skeletons_are_in_inches_times_the_length_unit_and_people_sized(hdm05_sample):
    heights = []
    for asf in sorted((hdm05_sample / "asf").glob("*.asf")):
        skeleton = read_asf(asf)
        assert skeleton.length_unit == 0.45 and skeleton.angle_unit == "deg"
        assert skeleton.scale == pytest.approx(0.0254 / 0.45)
        rest = {name: np.zeros((1, len(bone.dof))) for name, bone in skeleton.bones.items() if bone.dof}
        pos = AMCMotion(skeleton, rest, 1).global_positions()[0]
        heights.append(pos[skeleton.names.index("head_end"), 1] - pos[:, 1].min())
    assert len(heights) == 5 and 1.55 < min(heights) and max(heights) < 1.85, heights


def test_real_clip_values_and_frame_count(hdm05_sample):
    path = hdm05_sample / "amc" / f"{KICK}.amc"
    motion = read_amc(path, read_asf(hdm05_sample / "asf" / "HDM_bd.asf"))
    lines = path.read_text(encoding="latin-1").splitlines()
    assert motion.num_frames == sum(ln.strip().isdigit() for ln in lines) == 161
    first_root = next(ln for ln in lines if ln.startswith("root ")).split()[1:]
    np.testing.assert_array_equal(motion.values["root"][0], np.array(first_root, dtype=float))
    assert motion.values["lfemur"].shape == (161, 3) and motion.values["ltibia"].shape == (161, 1)
    assert motion.fps == 120.0 and not motion.radians


@pytest.mark.parametrize("clip", CLIPS)
def test_real_bone_lengths_are_constant_and_feet_touch_the_capture_floor(hdm05_sample, clip):
    skeleton = read_asf(hdm05_sample / "asf" / "HDM_bd.asf")
    motion = read_amc(hdm05_sample / "amc" / f"{clip}.amc", skeleton)
    pos = motion.global_positions()
    for j, bone in enumerate(skeleton.offset_bone):
        if bone is None:
            continue
        length = np.linalg.norm(pos[:, j] - pos[:, skeleton.parents[j]], axis=-1)
        np.testing.assert_allclose(length, skeleton.bones[bone].length * skeleton.scale, atol=1e-9)
    feet = [motion.names.index(n) for n in ("lfoot", "rfoot", "ltoes", "rtoes", "ltoes_end", "rtoes_end")]
    assert abs(pos[:, feet, 1].min()) < 0.06, clip


def test_rig_map_and_resampling(hdm05_sample):
    skeleton = read_asf(hdm05_sample / "asf" / "HDM_bd.asf")
    assert detect_map(skeleton.names).name == "cmu"
    joints = amc_to_joints(hdm05_sample / "amc" / f"{KICK}.amc", hdm05_sample / "asf" / "HDM_bd.asf")
    assert joints.shape == ((161 - 1) // 6 + 1, 22, 3)
    raw = read_amc(hdm05_sample / "amc" / f"{KICK}.amc", skeleton).global_positions()
    np.testing.assert_allclose(joints[2, 4], raw[12, skeleton.names.index("ltibia")], atol=1e-12)  # left knee


def test_find_skeleton_prefers_the_given_skeleton_to_a_namesake_in_a_sibling_folder(tmp_path):
    (tmp_path / "given").mkdir()
    (tmp_path / "other").mkdir()
    given = tmp_path / "given" / "HDM_bd.asf"
    for path in (given, tmp_path / "other" / "HDM_bd.asf", tmp_path / "other" / "zz.asf"):
        path.write_text("")
    (tmp_path / "clips").mkdir()
    amc = tmp_path / "clips" / "HDM_bd_kick_001_120.amc"
    assert find_skeleton(amc, [given]) == given.resolve()
    assert find_skeleton(tmp_path / "clips" / "walk.amc", [given]) == given.resolve()
    with pytest.raises(MotionGPTError, match=r"zz.asf\); pass --asf"):
        find_skeleton(tmp_path / "clips" / "walk.amc", [])
