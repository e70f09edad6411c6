"""Put a fitted motion onto the user's character: a template BVH rig, or the 22 joints under a rig's names.

`--rig-template FILE.bvh [--map MAP]`: the output has the template's joint names, hierarchy, rest offsets, channels
and unit. A rig map (the built-in Bandai, SMPL-name and Mixamo maps, detected from the joint names, or the user's
file, as for import) says which template joint each of the 22 SMPL joints is. The template's first frame, with its
unmapped joints put back at rest, is the reference pose: the fitted skeleton is posed like it, and each mapped
joint keeps the turn between its own orientation there and the fitted joint's (so twists carry over as the
template's rig twists, whatever its rest pose). Every frame, a mapped joint's global orientation is the fitted
joint's followed by that turn; unmapped joints (fingers, twist bones, end joints) stay at rest. The root path is
scaled by the ratio of leg lengths, template to fit, so the feet keep to the floor, and lands on the template's
pelvis (its position channels when it has them, else its nearest ancestor's).

`--rig NAME`: the fitted skeleton as it is, its joints named by a built-in map with one joint per SMPL joint
(mixamo: mixamorig:Hips, ... for the Mixamo / Blender retargeting workflow; smpl: Hips, LeftUpLeg, ...).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motiongpt.data.bvh import BVHMotion, read_bvh
from motiongpt.data.humanml3d import load_rig
from motiongpt.data.rigmap import BUILTIN_NAMES, SMPL_JOINTS, RigMap, builtin_map
from motiongpt.errors import MotionGPTError
from motiongpt.export.bvh import bvh_to_rig
from motiongpt.motion.fit import pose_rotations
from motiongpt.motion.quaternion import matrix_to_quat, qfix
from motiongpt.motion.rig import RigMotion, local_rotations
from motiongpt.motion.skeleton import T2M

LEG = (("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("right_hip", "right_knee"),
       ("right_knee", "right_ankle"))


@dataclass
class Template:
    """A template rig read from a BVH file, with the rig map that covers it."""

    path: Path
    rig: RigMotion  # the file in metres, with its channels and unit
    rigmap: RigMap
    drivers: dict[int, int]  # template joint -> the SMPL joint that turns it


def _file_unit(bvh: BVHMotion) -> str:
    """"cm" or "m": a person is 1-2.2 m tall, so a first pose larger than 10 units is in centimetres."""
    return "cm" if np.ptp(bvh.global_positions()[0], axis=0).max() > 10.0 else "m"


def load_template(path: str | Path, rigmap: str | None = None) -> Template:
    """Read a template BVH (Y up) and the map that covers its joints: `rigmap` is a map file or a built-in name,
    None detects a built-in map from the joint names. A map that does not cover the rig is a one-line error that
    lists the joints found."""
    path = Path(path)
    bvh = read_bvh(path)
    rig = bvh_to_rig(bvh, _file_unit(bvh))
    chosen = load_rig(rigmap, rig.names, str(path))
    chosen.apply(np.zeros((1, len(rig.names), 3)), rig.names, path)  # the map's one-line error if it misses joints
    index = {name: k for k, name in enumerate(rig.names)}
    drivers = {}
    for s, alternatives in enumerate(chosen.alternatives):
        if alternatives is not None:
            drivers[index[next(a for a in alternatives if a in index)]] = s
    pelvis = next((k for k, s in drivers.items() if s == 0), None)
    if pelvis is None:
        raise MotionGPTError(f"{path}: rig map '{chosen.name}' gives the pelvis as a midpoint; retargeting needs it "
                             "to be one joint")
    if _mover(rig, pelvis) is None:
        raise MotionGPTError(f"{path}: neither the pelvis joint '{rig.names[pelvis]}' nor any joint above it has "
                             "position channels, so the rig cannot move through space")
    return Template(path=path, rig=rig, rigmap=chosen, drivers=drivers)


def _mover(rig: RigMotion, joint: int) -> int | None:
    """The joint nearest `joint` (itself or above it) that has position channels."""
    while joint >= 0:
        if any(c.lower().endswith("position") for c in rig.channels[joint]):
            return joint
        joint = rig.parents[joint]
    return None


def _leg_length(positions: np.ndarray) -> float:
    """Mean length of the two legs (hip to knee to ankle) of one pose (22, 3) of SMPL joints."""
    index = {name: k for k, name in enumerate(SMPL_JOINTS)}
    return sum(float(np.linalg.norm(positions[index[a]] - positions[index[b]])) for a, b in LEG) / 2.0


def retarget(fitted: RigMotion, template: Template) -> RigMotion:
    """`fitted` (from `fit_skeleton`) on the template's rig; see the module docstring."""
    rig, drivers = template.rig, template.drivers
    reference = dataclasses.replace(rig, rotations=rig.rotations[:1].copy(), translations=rig.translations[:1])
    for k in range(len(rig.names)):
        if k not in drivers:
            reference.rotations[0, k] = (1.0, 0.0, 0.0, 0.0)
    reference_joints = template.rigmap.apply(reference.positions(), rig.names, template.path)
    rig_reference = reference.global_rotations()[0]  # (J, 3, 3)
    fit_reference = pose_rotations(reference_joints, fitted.offsets)[0]  # (22, 3, 3)
    scale = _leg_length(reference_joints[0]) / _leg_length(fitted.rest_positions())

    fit_global = fitted.global_rotations()
    glob = np.empty((fitted.num_frames, len(rig.names), 3, 3))
    for k, p in enumerate(rig.parents):
        if k in drivers:
            s = drivers[k]
            glob[:, k] = fit_global[:, s] @ (fit_reference[s].T @ rig_reference[k])
        else:  # at rest under its parent
            glob[:, k] = np.eye(3) if p < 0 else glob[:, p]
    translations = np.broadcast_to(rig.offsets, (fitted.num_frames, len(rig.names), 3)).copy()
    out = RigMotion(names=list(rig.names), parents=list(rig.parents), offsets=rig.offsets,
                    rotations=qfix(matrix_to_quat(local_rotations(glob, rig.parents)), axis=0),
                    translations=translations, fps=fitted.fps, end_sites=dict(rig.end_sites),
                    channels=list(rig.channels), unit=rig.unit)
    pelvis = next(k for k, s in drivers.items() if s == 0)
    mover = _mover(rig, pelvis)
    target = fitted.translations[:, 0] * scale  # where the pelvis goes
    parent = rig.parents[mover]
    turn = np.broadcast_to(np.eye(3), glob.shape[:1] + (3, 3)) if parent < 0 else glob[:, parent]
    out.translations[:, mover] += np.einsum("tji,tj->ti", turn, target - out.positions()[:, pelvis])
    return out


def rig_names(name: str) -> list[str]:
    """The 22 joint names (SMPL order) that the built-in map `name` gives, one rig joint per SMPL joint."""
    rigmap = builtin_map(name)
    names = []
    for joint, alternatives in zip(T2M.joint_names, rigmap.alternatives):
        if alternatives is None:
            usable = [n for n in BUILTIN_NAMES if all(a is not None for a in builtin_map(n).alternatives)]
            raise MotionGPTError(f"--rig {name}: its map makes '{joint}' from two joints, so it names no 22-joint "
                                 f"skeleton (use one of {', '.join(usable)}, or --rig-template with such a rig)")
        names.append(alternatives[0])
    return names


def named_rig(fitted: RigMotion, name: str) -> RigMotion:
    """The fitted skeleton with its joints named by the built-in map `name`."""
    return fitted.renamed(rig_names(name))
