"""Retargeting onto the user's rig: a generated motion on a real Bandai BVH (read back through the project's Bandai
importer), on SMPL-named and Mixamo-named rigs with extra joints and an arms-down rest (imported by Blender), and
the one-line error for a rig the map cannot cover."""

from __future__ import annotations

import numpy as np
import pytest

from motiongpt.cli import main
from motiongpt.data.bvh import read_bvh
from motiongpt.data.humanml3d import bvh_to_joints
from motiongpt.data.rigmap import builtin_map
from motiongpt.export.bvh import bvh_to_rig, save_rig_bvh
from motiongpt.export.retarget import load_template, named_rig, retarget
from motiongpt.export.verify import reproportioned, worst_bone_angle
from motiongpt.motion.fit import fit_skeleton
from motiongpt.motion.quaternion import qidentity
from motiongpt.motion.rig import RigMotion
from motiongpt.motion.skeleton import T2M

BANDAI_TEMPLATE = "dataset-2_walk_normal_001.bvh"


@pytest.fixture(scope="module")
def fitted() -> RigMotion:
    from motiongpt.generation.pipeline import MotionGPT

    joints = MotionGPT.from_pretrained(device="cpu").generate(["a person waves the right hand"], seed=3)[0].joints
    return fit_skeleton(joints)


def test_onto_a_real_bandai_rig(tmp_path, fitted, bandai_sample_bvh):
    template_path = bandai_sample_bvh / BANDAI_TEMPLATE
    template = read_bvh(template_path)
    out = tmp_path / "on_bandai.bvh"
    save_rig_bvh(retarget(fitted, load_template(template_path)), out)

    written = read_bvh(out)
    assert written.names == template.names and np.array_equal(written.parents, template.parents)
    assert written.channels == template.channels and np.allclose(written.offsets, template.offsets, atol=1e-9)
    assert written.end_sites.keys() == template.end_sites.keys()
    root = written.values[:, : len(written.channels[0])]
    assert np.all(root == 0.0)  # joint_Root is not mapped: it stays at rest, the pelvis carries the path

    back = bvh_to_joints(out, rig="bandai")  # the project's Bandai importer
    assert back.shape == fitted.positions().shape
    want = reproportioned(fitted.positions(), bvh_to_joints(template_path, rig="bandai")[0])
    errors = np.linalg.norm(back - want, axis=-1)
    assert errors.mean() < 0.015, errors.mean(0)
    assert worst_bone_angle(back, fitted.positions()) < 0.5


def _arms_down_rig(names: list[str], extra: dict[str, tuple[str, tuple[float, float, float]]],
                   order: str) -> RigMotion:
    """A one-frame template in centimetres: HumanML3D's target skeleton (arms hanging down, a rest that is not a
    T-pose) with longer arms, under `names`, plus `extra` joints (name -> (parent, offset in metres)) inserted after
    their parent."""
    arms = np.isin(np.arange(22), [16, 17, 18, 19, 20, 21])
    offsets = np.array(T2M.target_offsets) * np.where(arms, 1.2, 1.0)[:, None]
    joints = [(names[j], None if p < 0 else names[p], offsets[j]) for j, p in enumerate(T2M.parents)]
    for name, (parent, offset) in extra.items():
        joints.append((name, parent, np.array(offset)))
    order_of = {}

    def visit(name):
        order_of[name] = len(order_of)
        for child, parent, _ in joints:
            if parent == name:
                visit(child)

    visit(joints[0][0])
    joints.sort(key=lambda j: order_of[j[0]])
    index = {name: k for k, (name, _, _) in enumerate(joints)}
    rotation = tuple(f"{axis}rotation" for axis in order)
    count = len(joints)
    return RigMotion(names=[j[0] for j in joints], parents=[-1 if p is None else index[p] for _, p, _ in joints],
                     offsets=np.array([j[2] for j in joints]), rotations=qidentity((1, count), np.zeros(1)),
                     translations=np.array([j[2] for j in joints])[None], fps=30.0,
                     channels=[("Xposition", "Yposition", "Zposition", *rotation)] + [rotation] * (count - 1))


def _rig_names(map_name: str) -> list[str]:
    return [alts[0] for alts in builtin_map(map_name).alternatives]


@pytest.mark.parametrize("map_name, extra, order", [
    ("smpl", {"LeftHandIndex1": ("LeftHand", (0.0, -0.04, 0.0)), "HeadTop": ("Head", (0.0, 0.1, 0.0)),
              "LeftForeArmTwist": ("LeftForeArm", (0.0, -0.12, 0.0))}, "XYZ"),
    ("mixamo", {"mixamorig:LeftHandThumb1": ("mixamorig:LeftHand", (0.02, -0.03, 0.01)),
                "mixamorig:LeftHandThumb2": ("mixamorig:LeftHandThumb1", (0.0, -0.03, 0.0)),
                "mixamorig:HeadTop_End": ("mixamorig:Head", (0.0, 0.12, 0.0)),
                "mixamorig:RightUpLegTwist": ("mixamorig:RightUpLeg", (0.0, -0.2, 0.0))}, "ZYX"),
])
def test_onto_smpl_and_mixamo_named_rigs_in_blender(tmp_path, fitted, map_name, extra, order, blender):
    template = tmp_path / f"{map_name}_template.bvh"
    save_rig_bvh(_arms_down_rig(_rig_names(map_name), extra, order), template)
    out = tmp_path / f"on_{map_name}.bvh"
    save_rig_bvh(retarget(fitted, load_template(template)), out)

    written = bvh_to_rig(read_bvh(out), "cm")
    for name in extra:  # fingers, twist bones and end joints stay at rest under their parent
        assert np.allclose(written.rotations[:, written.names.index(name), 1:], 0.0, atol=1e-9)
    names, positions, fps = blender.import_positions(out, scale=0.01)
    assert set(names) == set(written.names) and fps == 20
    ours = written.positions()
    index = [names.index(n) for n in written.names]
    assert np.abs(positions[:, index] - ours).max() < 1e-3  # Blender poses it as the project does
    assert worst_bone_angle(builtin_map(map_name).apply(ours, written.names), fitted.positions()) < 0.5



def test_rig_mixamo_names_the_fitted_skeleton(tmp_path, fitted, blender):
    out = tmp_path / "mixamo.bvh"
    save_rig_bvh(named_rig(fitted, "mixamo"), out)
    names, positions, _ = blender.import_positions(out, scale=0.01)
    assert sorted(names) == sorted(_rig_names("mixamo"))
    index = [names.index(n) for n in _rig_names("mixamo")]
    assert np.abs(positions[:, index] - fitted.positions()).max() < 1e-3


def test_a_rig_the_map_cannot_cover_is_one_line_and_writes_nothing(tmp_path, joints, capsys):
    template = tmp_path / "odd.bvh"
    save_rig_bvh(fit_skeleton(joints[:5]).renamed([f"bone{k}" for k in range(22)]), template)
    src = tmp_path / "walk.npy"
    np.save(src, joints)
    out = tmp_path / "out" / "walk"
    assert main(["render", str(src), "--format", "bvh,glb", "-o", str(out), "--rig-template", str(template)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "odd.bvh" in err and "joints found: bone0, bone1" in err
    assert main(["render", str(src), "--format", "bvh", "-o", str(out), "--rig-template", str(template),
                 "--map", "mixamo"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "mixamorig:Hips" in err and "joints found: bone0" in err
    assert not (tmp_path / "out").exists()
