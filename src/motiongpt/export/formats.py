"""Write one motion's character-animation files (BVH, FBX, glTF binary) from one skeleton fit, optionally on the
user's rig: what `motiongpt generate --formats` and `motiongpt render --format` share."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.export.bvh import save_rig_bvh
from motiongpt.export.gltf import save_glb
from motiongpt.export.retarget import Template, load_template, named_rig, retarget, rig_names
from motiongpt.motion.fit import fit_skeleton
from motiongpt.motion.rig import RigMotion

RIG_FORMATS = ("bvh", "fbx", "glb")


@dataclass(frozen=True)
class RigChoice:
    """Which skeleton the files carry: the fitted one (SMPL names), renamed by a built-in map, or a template's."""

    template: Template | None = None
    rig: str | None = None

    def apply(self, fitted: RigMotion) -> RigMotion:
        if self.template is not None:
            return retarget(fitted, self.template)
        return fitted if self.rig is None else named_rig(fitted, self.rig)


def rig_choice(formats: list[str], template: str | Path | None = None, rigmap: str | None = None,
               rig: str | None = None) -> RigChoice:
    """Check and load the rig options up front, so that a bad template fails before anything is generated or
    written: `--rig-template FILE.bvh [--map MAP]` or `--rig NAME`, for the rig formats among `formats`."""
    if (template, rigmap, rig) != (None, None, None) and not any(f in RIG_FORMATS for f in formats):
        raise MotionGPTError(f"--rig-template, --map and --rig shape the {', '.join(RIG_FORMATS)} files; none of "
                             "them is among the formats asked for")
    if template is not None and rig is not None:
        raise MotionGPTError("--rig-template and --rig exclude each other: give the template's rig or a named one")
    if rigmap is not None and template is None:
        raise MotionGPTError("--map goes with --rig-template (the map says which template joint is which)")
    if rig is not None:
        rig_names(rig)
    if "fbx" in formats:
        from motiongpt.export.blender import require_bpy

        require_bpy()
    return RigChoice(template=None if template is None else load_template(template, rigmap), rig=rig)


def check_formats(formats: list[str], num_joints: int) -> None:
    """Refuse rig formats for motions that are not on the 22-joint skeleton."""
    wanted = [f for f in formats if f in RIG_FORMATS]
    if wanted and num_joints != 22:
        raise MotionGPTError(f"{num_joints} joints; {'/'.join(wanted)} export needs the 22-joint SMPL skeleton "
                             "(drop them from the formats)")


def write_rig_files(joints: np.ndarray, base: Path, formats: list[str], fps: float,
                    choice: RigChoice = RigChoice(), fitted: RigMotion | None = None) -> list[Path]:
    """Write base.bvh / base.fbx / base.glb (those of `formats` among them) from one skeleton fit of `joints`
    (`fitted` when the caller has it already: a generated motion's `rig`)."""
    wanted = [f for f in RIG_FORMATS if f in formats]
    if not wanted:
        return []
    motion = choice.apply(fit_skeleton(joints, fps=fps) if fitted is None else fitted)
    written = []
    for fmt in wanted:
        path = base.with_name(f"{base.name}.{fmt}")
        if fmt == "bvh":
            save_rig_bvh(motion, path)
        elif fmt == "glb":
            save_glb(motion, path)
        else:
            from motiongpt.export.blender import save_fbx

            save_fbx(motion, path)
        written.append(path)
    return written
