"""glTF binary and FBX round trips: the .glb read by pygltflib with the project's forward kinematics and by
Blender's importer, and the .fbx written by Blender and read back by it, give the BVH's joint positions within
1 mm, at 20 fps, with the root motion kept."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pygltflib
import pytest

from motiongpt.cli import main
from motiongpt.export.bvh import BVH_JOINT_NAMES, save_rig_bvh
from motiongpt.export.gltf import save_glb
from motiongpt.export.verify import bvh_package_positions, gltf_positions, joint_errors
from motiongpt.motion.fit import fit_skeleton

MM = 1e-3


@pytest.fixture(scope="module")
def written(tmp_path_factory, joints) -> dict:
    """One fitted real motion written as BVH, glTF and (when Blender is there) FBX."""
    out = tmp_path_factory.mktemp("formats")
    motion = fit_skeleton(joints)
    save_rig_bvh(motion, out / "m.bvh")
    save_glb(motion, out / "m.glb")
    names, bvh_positions = bvh_package_positions(out / "m.bvh", scale=0.01)
    reference = bvh_positions[:, [names.index(n) for n in BVH_JOINT_NAMES]]
    return {"dir": out, "motion": motion, "bvh": reference}


def test_glb_is_a_skinned_animation_at_20_fps(written):
    gltf = pygltflib.GLTF2().load_binary(str(written["dir"] / "m.glb"))
    skin = gltf.skins[0]
    assert [gltf.nodes[j].name for j in skin.joints] == list(BVH_JOINT_NAMES)
    assert gltf.accessors[skin.inverseBindMatrices].count == 22
    mesh_node = next(n for n in gltf.nodes if n.mesh is not None)
    assert mesh_node.skin == 0 and gltf.meshes[mesh_node.mesh].primitives[0].attributes.JOINTS_0 is not None
    channels = gltf.animations[0].channels
    paths = {(gltf.nodes[c.target.node].name, c.target.path) for c in channels}
    assert ("Pelvis", "translation") in paths and ("L_Elbow", "rotation") in paths
    times = gltf.accessors[gltf.animations[0].samplers[0].input]
    assert times.count == len(written["motion"].rotations)
    assert times.max[0] == pytest.approx((times.count - 1) / 20.0)


def test_glb_read_by_pygltflib_matches_the_bvh(written):
    names, positions = gltf_positions(written["dir"] / "m.glb")
    assert joint_errors(names, positions, BVH_JOINT_NAMES, written["bvh"]).max() < 1 * MM


def test_glb_and_fbx_imported_by_blender_match_the_bvh(written, blender):
    blender.save_fbx(written["motion"], written["dir"] / "m.fbx")
    for name in ("m.glb", "m.fbx"):
        names, positions, fps = blender.import_positions(written["dir"] / name)
        assert fps == 20
        errors = joint_errors(names, positions, BVH_JOINT_NAMES, written["bvh"])
        assert errors.max() < 1 * MM, name
        pelvis = positions[:, names.index("Pelvis")]
        assert np.ptp(pelvis, axis=0).max() > 0.05, name  # the root moves (and where the BVH's does)
    names, positions, _ = blender.import_positions(written["dir"] / "m.bvh", scale=0.01)
    assert joint_errors(names, positions, BVH_JOINT_NAMES, written["bvh"]).max() < 1 * MM


def test_render_writes_glb_and_fbx_beside_the_bvh(tmp_path, joints, capsys, blender):
    src = tmp_path / "walk.npy"
    np.save(src, joints[:40])
    assert main(["render", str(src), "--format", "bvh,glb,fbx", "--rig", "mixamo"]) == 0
    out = capsys.readouterr().out
    for suffix in ("bvh", "glb", "fbx"):
        assert (tmp_path / f"walk.{suffix}").is_file() and f"walk.{suffix}: 40 frames at 20 fps" in out
    assert "ROOT mixamorig:Hips" in (tmp_path / "walk.bvh").read_text()


def test_fbx_without_blender_is_one_line_naming_the_extra(tmp_path, joints):
    src = tmp_path / "walk.npy"
    np.save(src, joints[:10])
    code = ("import sys; sys.modules['bpy'] = None\n"  # as if bpy were not installed
            "from motiongpt.cli import main\n"
            f"sys.exit(main(['render', {str(src)!r}, '--format', 'bvh,fbx']))")
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert run.returncode == 2
    assert len(run.stderr.strip().splitlines()) == 1 and 'pip install "motiongpt[blender]"' in run.stderr
    assert not (tmp_path / "walk.bvh").exists() and not (tmp_path / "walk.fbx").exists()
