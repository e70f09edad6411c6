"""Real Blender (the `bpy` module, the optional `blender` extra) for what only Blender does well: FBX.

`save_fbx` has Blender import the fitted skeleton's BVH and export it as FBX with the scene's frame rate and
frame range set and every frame baked (no keyframe reduction, root motion kept). `import_positions` reads a BVH,
FBX or glTF file back through Blender's own importer and returns the animated joint positions, which is how the
tests and the fidelity benchmark check what a Blender user will see.

bpy is a process-wide singleton: every call starts from Blender's factory settings with an empty scene.
"""

from __future__ import annotations

import contextlib
import io
import logging
import tempfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from motiongpt.data.bvh import z_up_to_y_up
from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_path

INSTALL_HINT = 'pip install "motiongpt[blender]"'
IMPORTERS = (".bvh", ".fbx", ".glb", ".gltf")


def require_bpy():
    """The `bpy` module, or a one-line error naming the extra that installs it."""
    try:
        import bpy
    except ImportError as err:
        raise MotionGPTError(f"FBX export and Blender checks need Blender's Python module bpy ({err}); install it "
                             f"with {INSTALL_HINT} (Python 3.11)") from None
    return bpy


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Keep Blender's importers and exporters from printing progress into our output."""
    with contextlib.redirect_stdout(io.StringIO()):
        yield


def _empty_scene(bpy, fps: float | None = None, num_frames: int | None = None) -> None:
    """Factory settings, an empty scene; the frame rate and the frames 1 .. num_frames when given."""
    with _quiet():
        bpy.ops.wm.read_factory_settings(use_empty=True)
    scene = bpy.context.scene
    if fps is not None:
        scene.render.fps = max(1, round(fps))
        scene.render.fps_base = scene.render.fps / fps
    if num_frames is not None:
        scene.frame_start, scene.frame_end = 1, num_frames


def _armature(bpy, path: Path):
    armatures = [o for o in bpy.data.objects if o.type == "ARMATURE"]
    if len(armatures) != 1:
        raise MotionGPTError(f"{path}: Blender found {len(armatures)} armatures, expected one")
    return armatures[0]


def save_fbx(motion, path: str | Path) -> None:
    """Write a `RigMotion` as FBX (atomically) through Blender: its BVH imported, scene fps and frame range set,
    every frame of every bone baked."""
    from motiongpt.export.bvh import save_rig_bvh

    bpy = require_bpy()
    path = Path(path)
    with tempfile.TemporaryDirectory(prefix="motiongpt-fbx-") as tmp:
        bvh_path = Path(tmp) / f"{path.stem}.bvh"
        save_rig_bvh(motion, bvh_path, unit="m")
        _empty_scene(bpy, motion.fps, motion.num_frames)
        # Quaternions: Euler angles in Blender's single precision lose up to a millimetre near gimbal lock (a knee
        # bent 90 degrees about the middle axis of ZXY).
        with _quiet():
            bpy.ops.import_anim.bvh(filepath=str(bvh_path), global_scale=1.0, frame_start=1, rotate_mode="QUATERNION")
        armature = _armature(bpy, bvh_path)
        armature.name = armature.data.name = path.stem
        with atomic_path(path) as out, _quiet():
            result = bpy.ops.export_scene.fbx(
                filepath=str(out), check_existing=False, object_types={"ARMATURE"}, add_leaf_bones=False,
                apply_scale_options="FBX_SCALE_UNITS", bake_anim=True, bake_anim_use_all_bones=True,
                bake_anim_use_nla_strips=False, bake_anim_use_all_actions=False,
                bake_anim_force_startend_keying=True, bake_anim_step=1.0, bake_anim_simplify_factor=0.0)
            if result != {"FINISHED"}:
                raise MotionGPTError(f"{path}: Blender's FBX export did not finish ({', '.join(result)})")


def import_positions(path: str | Path, scale: float = 1.0,
                     gltf_fps: float = 20.0) -> tuple[list[str], np.ndarray, float]:
    """(bone names, positions (T, J, 3) in metres with Y up, fps) of a BVH, FBX or glTF file as Blender imports
    it: the posed head of every bone at every frame of its action. `scale` multiplies BVH file units (0.01 for
    centimetres). BVH and FBX files bring their frame rate; glTF keys are times, which Blender turns into frames
    at the scene's rate, set to `gltf_fps`."""
    bpy = require_bpy()
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in IMPORTERS:
        raise MotionGPTError(f"{path}: Blender import of {suffix or 'files without a suffix'} is not supported "
                             f"(expected {', '.join(IMPORTERS)})")
    if not path.is_file():
        raise MotionGPTError(f"{path}: not found")
    _empty_scene(bpy, gltf_fps if suffix in (".glb", ".gltf") else None)
    with _quiet():
        if suffix == ".bvh":
            bpy.ops.import_anim.bvh(filepath=str(path), global_scale=scale, frame_start=1, update_scene_fps=True,
                                    update_scene_duration=True)
        elif suffix == ".fbx":
            bpy.ops.import_scene.fbx(filepath=str(path), ignore_leaf_bones=False)
        else:
            bpy.ops.import_scene.gltf(filepath=str(path), loglevel=logging.ERROR)
    armature = _armature(bpy, path)
    scene = bpy.context.scene
    action = armature.animation_data.action if armature.animation_data else None
    if action is None:
        raise MotionGPTError(f"{path}: Blender imported the armature without an animation")
    first, last = (round(f) for f in action.frame_range)
    bones = list(armature.pose.bones)
    frames = []
    for frame in range(first, last + 1):
        scene.frame_set(frame)
        frames.append([tuple(armature.matrix_world @ bone.head) for bone in bones])
    positions = z_up_to_y_up(np.asarray(frames, dtype=np.float64))
    return [bone.name for bone in bones], positions, scene.render.fps / scene.render.fps_base
