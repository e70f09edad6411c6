"""Rig maps: built-in maps on the real Bandai rig and on synthetic SMPL- and Mixamo-named rigs; user maps."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from motiongpt.data.bvh import BVHMotion, read_bvh, write_bvh
from motiongpt.data.rigmap import SMPL_JOINTS, RigMap, builtin_map, detect_map
from motiongpt.errors import MotionGPTError
from motiongpt.motion.skeleton import T2M

# Usual exported names of the 22 SMPL joints, in SMPL order (Mixamo's names without the namespace).
_RIG_NAMES = [
    "Hips", "LeftUpLeg", "RightUpLeg", "Spine", "LeftLeg", "RightLeg", "Spine1", "LeftFoot", "RightFoot", "Spine2",
    "LeftToeBase", "RightToeBase", "Neck", "LeftShoulder", "RightShoulder", "Head", "LeftArm", "RightArm",
    "LeftForeArm", "RightForeArm", "LeftHand", "RightHand",
]  # fmt: skip


def _bandai_clip(folder: Path, pattern: str) -> Path:
    files = sorted(folder.glob(pattern))
    assert files, f"no {pattern} in {folder}"
    return files[0]


def _smpl_rig_file(tmp_path: Path, names: list[str], extra: dict[str, int] | None = None) -> Path:
    """A BVH of the SMPL skeleton (HumanML3D target offsets, cm) under `names`, plus `extra` leaf joints
    (name -> parent SMPL index); the joints are re-ordered depth-first as BVH requires."""
    parents = list(T2M.parents) + list((extra or {}).values())
    names = list(names) + list((extra or {}).keys())
    offsets = np.concatenate([T2M.target_offsets, np.full((len(extra or {}), 3), 0.05)]) * 100
    children = [[c for c, p in enumerate(parents) if p == j] for j in range(len(names))]
    order: list[int] = []

    def visit(j: int) -> None:
        order.append(j)
        for c in children[j]:
            visit(c)

    visit(0)
    new_index = {old: new for new, old in enumerate(order)}
    rng = np.random.default_rng(0)
    channels = [("Xposition", "Yposition", "Zposition", "Zrotation", "Xrotation", "Yrotation")]
    channels += [("Zrotation", "Xrotation", "Yrotation")] * (len(names) - 1)
    values = rng.uniform(-20, 20, size=(4, 6 + 3 * (len(names) - 1)))
    motion = BVHMotion(
        names=[names[j] for j in order], parents=np.array([new_index.get(parents[j], -1) for j in order]),
        offsets=offsets[order], channels=channels, values=values, frame_time=1 / 30,
    )
    path = tmp_path / "rig.bvh"
    write_bvh(path, motion)
    return path


def test_builtin_maps_cover_the_22_joints():
    for name in ("bandai", "smpl", "mixamo", "smpl-native", "cmu"):
        rigmap = builtin_map(name)
        assert rigmap.name == name
        assert len(rigmap.alternatives) == len(rigmap.midpoints) == 22
    bandai = builtin_map("bandai")
    assert bandai.midpoints[SMPL_JOINTS.index("spine3")] == ("Chest", "Neck")
    with pytest.raises(MotionGPTError, match="available: bandai, smpl, mixamo, smpl-native, cmu"):
        builtin_map("kinect")


def test_bandai_map_on_real_clip(bandai_sample_bvh):
    path = _bandai_clip(bandai_sample_bvh, "*_walk_normal_*.bvh")
    motion = read_bvh(path, scale=0.01)
    rigmap = detect_map(motion.names, path)
    assert rigmap.name == "bandai"
    pos = motion.global_positions()
    joints = rigmap.apply(pos, motion.names, path)
    assert joints.shape == (motion.num_frames, 22, 3)
    np.testing.assert_array_equal(joints[:, 0], pos[:, motion.names.index("Hips")])
    np.testing.assert_allclose(joints[:, 9], 0.5 * (pos[:, motion.names.index("Chest")]
                                                    + pos[:, motion.names.index("Neck")]))
    # HumanML3D's forward: cross(up, (r_hip - l_hip) + (r_shoulder - l_shoulder)). With left at +x of the
    # facing direction, it points where the actor walks, and the toes lie ahead of the ankles.
    across = joints[:, 2] - joints[:, 1] + joints[:, 17] - joints[:, 16]
    forward = np.cross([0.0, 1.0, 0.0], across)
    forward /= np.linalg.norm(forward, axis=-1, keepdims=True)
    travel = joints[-1, 0] - joints[0, 0]
    travel[1] = 0.0
    assert np.dot(forward.mean(axis=0), travel) / np.linalg.norm(travel) > 0.9
    for ankle, toe in ((7, 10), (8, 11)):
        assert np.median(np.sum((joints[:, toe] - joints[:, ankle]) * forward, axis=-1)) > 0.03
    assert (joints[:, 15, 1] > joints[:, 12, 1]).all() and (joints[:, 12, 1] > joints[:, 0, 1]).all()


def test_bandai_map_on_dataset1(bandai_dir):
    folder = bandai_dir / "Bandai-Namco-Research-Motiondataset-1" / "data"
    path = _bandai_clip(folder, "dataset-1_kick_normal_*.bvh")
    motion = read_bvh(path, scale=0.01)
    joints = detect_map(motion.names, path).apply(motion.global_positions(), motion.names, path)
    # Left joints lie on the +x side of the body's facing direction, i.e. on its left.
    across = joints[:, 1] - joints[:, 2]
    forward = np.cross([0.0, 1.0, 0.0], joints[:, 2] - joints[:, 1] + joints[:, 17] - joints[:, 16])
    left_dir = np.cross(np.array([0.0, 1.0, 0.0]), forward)  # +x when facing +z
    assert (np.sum(across * left_dir, axis=-1) > 0).all()
    lengths = np.linalg.norm(joints[:, 4] - joints[:, 1], axis=-1)  # left thigh
    assert 0.3 < lengths.mean() < 0.55 and lengths.std() < 1e-3


@pytest.mark.parametrize("prefix, toe, expected", [
    ("", "ToeBase", "smpl"), ("", "Toe", "smpl"), ("mixamorig:", "ToeBase", "mixamo"),
])
def test_detects_smpl_and_mixamo_names(tmp_path, prefix, toe, expected):
    names = [prefix + n.replace("ToeBase", toe) for n in _RIG_NAMES]
    path = _smpl_rig_file(tmp_path, names, extra={prefix + "HeadTop_End": 15})
    motion = read_bvh(path, scale=0.01)
    rigmap = detect_map(motion.names, path)
    assert rigmap.name == expected
    pos = motion.global_positions()
    joints = rigmap.apply(pos, motion.names, path)
    assert joints.shape == (4, 22, 3)
    for k, name in enumerate(names):
        np.testing.assert_array_equal(joints[:, k], pos[:, motion.names.index(name)])


def test_detects_smpl_native_names(tmp_path):
    names = ["Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle", "Spine3",
             "L_Foot", "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow",
             "R_Elbow", "L_Wrist", "R_Wrist"]
    path = _smpl_rig_file(tmp_path, names)
    motion = read_bvh(path, scale=0.01)
    rigmap = detect_map(motion.names, path)
    assert rigmap.name == "smpl-native"
    pos = motion.global_positions()
    joints = rigmap.apply(pos, motion.names, path)
    np.testing.assert_array_equal(joints, pos[:, [motion.names.index(n) for n in names]])


def test_unmapped_rig_lists_its_joints(tmp_path):
    names = [f"bone{k}" for k in range(22)]
    path = _smpl_rig_file(tmp_path, names)
    motion = read_bvh(path)
    with pytest.raises(MotionGPTError) as info:
        detect_map(motion.names, path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message and "no built-in rig map" in message
    assert all(n in message for n in names)


def _bandai_table() -> dict[str, object]:
    """The built-in Bandai map written out as a user would."""
    bandai = builtin_map("bandai")
    return {smpl: {"midpoint": list(mid)} if mid else alts[0]
            for smpl, alts, mid in zip(SMPL_JOINTS, bandai.alternatives, bandai.midpoints)}


def test_user_maps_json_and_yaml(bandai_sample_bvh, tmp_path):
    path = _bandai_clip(bandai_sample_bvh, "*_run_*.bvh")
    motion = read_bvh(path, scale=0.01)
    pos = motion.global_positions()
    table = _bandai_table()
    table["spine3"] = "Chest"  # a user's own choice differs from the built-in midpoint
    json_map = tmp_path / "mine.json"
    json_map.write_text(json.dumps({"name": "mine", "joints": table}))
    yaml_map = tmp_path / "mine.yaml"
    yaml_map.write_text("".join(f"{k}: {v if isinstance(v, str) else json.dumps(v)}\n" for k, v in table.items()))
    from_json = RigMap.load(json_map).apply(pos, motion.names, path)
    from_yaml = RigMap.load(yaml_map).apply(pos, motion.names, path)
    np.testing.assert_array_equal(from_json, from_yaml)
    np.testing.assert_array_equal(from_json[:, 9], pos[:, motion.names.index("Chest")])
    builtin = builtin_map("bandai").apply(pos, motion.names, path)
    np.testing.assert_array_equal(np.delete(from_json, 9, axis=1), np.delete(builtin, 9, axis=1))


def test_user_map_naming_a_missing_joint(bandai_sample_bvh, tmp_path):
    path = _bandai_clip(bandai_sample_bvh, "*_run_*.bvh")
    motion = read_bvh(path)
    table = _bandai_table()
    table["head"] = "HeadTop"
    map_path = tmp_path / "mine.json"
    map_path.write_text(json.dumps(table))
    with pytest.raises(MotionGPTError) as info:
        RigMap.load(map_path).apply(motion.global_positions(), motion.names, path)
    message = str(info.value)
    assert "\n" not in message and str(path) in message
    assert "needs joint(s) HeadTop," in message and "joints found: joint_Root, Hips" in message


def test_malformed_user_maps(tmp_path):
    table = {k: "Hips" for k in SMPL_JOINTS}
    del table["neck"]
    bad = tmp_path / "short.json"
    bad.write_text(json.dumps(table))
    with pytest.raises(MotionGPTError, match=r"short\.json: rig map lacks SMPL joint\(s\) neck"):
        RigMap.load(bad)
    table["neck"] = {"midpoint": ["Hips"]}
    bad.write_text(json.dumps(table))
    with pytest.raises(MotionGPTError, match="entry for 'neck' must be"):
        RigMap.load(bad)
    table["nose"] = "Head"
    table["neck"] = "Neck"
    bad.write_text(json.dumps(table))
    with pytest.raises(MotionGPTError, match="unknown SMPL joint name"):
        RigMap.load(bad)
    broken = tmp_path / "broken.yaml"
    broken.write_text("pelvis: [Hips\nleft_hip: x\n")
    with pytest.raises(MotionGPTError, match=r"broken\.yaml:\d+: invalid YAML"):
        RigMap.load(broken)
