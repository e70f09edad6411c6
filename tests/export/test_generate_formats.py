"""`motiongpt generate --formats bvh,fbx,glb` with the bundled model, onto a real Bandai rig; a template that no
map covers stops the command before anything is generated or written."""

from __future__ import annotations

import numpy as np
import pygltflib

from motiongpt.cli import main
from motiongpt.data.bvh import read_bvh
from motiongpt.export.bvh import BVH_JOINT_NAMES
from motiongpt.export.verify import bvh_package_positions, joint_errors


def test_generate_writes_every_rig_format_on_the_template(tmp_path, bandai_sample_bvh, capsys, blender):
    template = bandai_sample_bvh / "dataset-2_walk_normal_001.bvh"
    out = tmp_path / "wave"
    assert main(["generate", "a person waves the right hand", "-o", str(out), "--seed", "2",
                 "--formats", "npy,bvh,fbx,glb", "--rig-template", str(template), "--device", "cpu"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["features.npy", "motion.bvh", "motion.fbx", "motion.glb",
                                                     "motion.npy", "tokens.json"]
    bvh = read_bvh(out / "motion.bvh")
    assert bvh.names == read_bvh(template).names and bvh.fps == 20
    gltf = pygltflib.GLTF2().load_binary(str(out / "motion.glb"))
    assert [gltf.nodes[j].name for j in gltf.skins[0].joints] == bvh.names
    names, positions, fps = blender.import_positions(out / "motion.fbx")
    assert set(names) == set(bvh.names) and fps == 20 and len(positions) == bvh.num_frames


def test_the_bvh_read_back_by_another_parser_gives_the_joints_of_motion_npy(tmp_path):
    out = tmp_path / "walk"
    assert main(["generate", "a person walks forward and turns right", "-o", str(out), "--seed", "3",
                 "--formats", "npy,bvh"]) == 0
    joints = np.load(out / "motion.npy")
    names, positions = bvh_package_positions(out / "motion.bvh", scale=0.01)
    assert joint_errors(names, positions, BVH_JOINT_NAMES, joints).max() < 1e-3  # metres
    raw = tmp_path / "raw"
    assert main(["generate", "a person walks forward and turns right", "-o", str(raw), "--seed", "3",
                 "--formats", "npy,bvh", "--raw-joints"]) == 0
    names, positions = bvh_package_positions(raw / "motion.bvh", scale=0.01)  # the same fit of the same motion
    assert joint_errors(names, positions, BVH_JOINT_NAMES, joints).max() < 1e-3
    assert np.abs(np.load(raw / "motion.npy") - joints).max() > 1e-3  # the decoder's bones drift


def test_generate_with_an_uncovered_template_writes_nothing(tmp_path, capsys):
    template = tmp_path / "robot.bvh"
    template.write_text("HIERARCHY\nROOT base\n{\n\tOFFSET 0 0 0\n\tCHANNELS 6 Xposition Yposition Zposition "
                        "Zrotation Xrotation Yrotation\n\tJOINT arm\n\t{\n\t\tOFFSET 0 50 0\n\t\tCHANNELS 3 Zrotation "
                        "Xrotation Yrotation\n\t\tEnd Site\n\t\t{\n\t\t\tOFFSET 0 20 0\n\t\t}\n\t}\n}\nMOTION\n"
                        "Frames: 1\nFrame Time: 0.05\n0 0 0 0 0 0 0 0 0\n")
    out = tmp_path / "out"
    assert main(["generate", "a person waves", "-o", str(out), "--formats", "bvh", "--rig-template",
                 str(template)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "robot.bvh" in err and "joints found: base, arm" in err
    assert not out.exists()
