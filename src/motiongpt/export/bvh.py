"""Joint positions (T x 22 x 3, metres, Y up) -> BVH for Blender, Maya, Unity, Unreal; any `RigMotion` -> BVH.

The skeleton is the rigid one `motiongpt.motion.fit.fit_skeleton` fits to the motion (bone lengths from the motion,
an upright T-pose at rest, natural twists), with the SMPL joint names; its root path is the motion's. A `RigMotion`
retargeted onto a template rig keeps the template's channels (order and count) and unit.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motiongpt.data.bvh import POSITION_CHANNELS, ROTATION_CHANNELS, BVHMotion, write_bvh
from motiongpt.errors import MotionGPTError
from motiongpt.motion.fit import JOINT_NAMES, fit_skeleton
from motiongpt.motion.kinematics import children_of
from motiongpt.motion.quaternion import matrix_to_quat, quat_to_matrix
from motiongpt.motion.rig import RigMotion
from motiongpt.motion.skeleton import T2M

BVH_JOINT_NAMES = JOINT_NAMES  # SMPL joint names as DCC tools and SMPL exporters spell them, in T2M order
UNITS = {"cm": 100.0, "m": 1.0}
AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}


def depth_first_order(parents: tuple[int, ...] | list[int]) -> list[int]:
    """Joint indices in the depth-first order a BVH hierarchy lists them (each subtree right after its joint)."""
    kids = children_of(parents)
    order: list[int] = []
    stack = [j for j, p in enumerate(parents) if p < 0][::-1]
    while stack:
        j = stack.pop()
        order.append(j)
        stack.extend(reversed(kids[j]))
    return order


def matrix_to_euler(m: np.ndarray, order: str) -> np.ndarray:
    """Angles (..., 3) in radians, in the order of `order` (e.g. "ZXY"), such that R = R_0 @ R_1 @ R_2 -- the
    inverse of `motiongpt.data.bvh.euler_to_matrix`. At gimbal lock the last angle is set to zero."""
    a, b, c = (AXIS_INDEX[ch] for ch in order)
    sign = 1.0 if (b - a) % 3 == 1 else -1.0  # +1 for cyclic orders (XYZ, YZX, ZXY)
    beta = np.arcsin(np.clip(sign * m[..., a, c], -1.0, 1.0))
    alpha = np.arctan2(-sign * m[..., b, c], m[..., c, c])
    gamma = np.arctan2(-sign * m[..., a, b], m[..., a, a])
    locked = np.abs(np.cos(beta)) < 1e-6
    alpha = np.where(locked, np.arctan2(sign * m[..., c, b], m[..., b, b]), alpha)
    gamma = np.where(locked, 0.0, gamma)
    return np.stack([alpha, beta, gamma], axis=-1)


def _check_format(unit: str, order: str) -> str:
    if unit not in UNITS:
        raise MotionGPTError(f"unit {unit!r}: expected one of {', '.join(UNITS)}")
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise MotionGPTError(f"rotation order {order!r}: expected a permutation of XYZ, e.g. ZXY")
    return order


def rig_to_bvh(motion: RigMotion, unit: str | None = None, order: str = "ZXY") -> BVHMotion:
    """A BVHMotion of `motion`: its own channels when it has them (a template's), else root position channels plus
    Euler rotations in `order` for every joint; values in `unit` ("cm" or "m", default the motion's own)."""
    unit = motion.unit if unit is None else unit
    order = _check_format(unit, order)
    factor = UNITS[unit]
    rotation_channels = tuple(f"{axis}rotation" for axis in order)
    channels = motion.channels or [(("Xposition", "Yposition", "Zposition") if p < 0 else ()) + rotation_channels
                                   for p in motion.parents]
    matrices = quat_to_matrix(motion.rotations)
    bvh_order = depth_first_order(motion.parents)
    position = {j: k for k, j in enumerate(bvh_order)}
    columns = []
    for j in bvh_order:
        rot = [c for c in channels[j] if c.lower() in ROTATION_CHANNELS]
        if len(rot) == 3:
            angles = np.degrees(matrix_to_euler(matrices[:, j], "".join(c[0].upper() for c in rot)))
            angles = np.unwrap(angles, period=360.0, axis=0)  # no 360-degree jumps between frames
        elif np.allclose(matrices[:, j], np.eye(3), atol=1e-9):
            angles = np.zeros((motion.num_frames, len(rot)))
        else:
            raise MotionGPTError(f"joint '{motion.names[j]}' turns but has {len(rot)} rotation channel(s); BVH "
                                 "export needs three")
        for name in channels[j]:
            low = name.lower()
            columns.append(motion.translations[:, j, POSITION_CHANNELS[low]] * factor if low in POSITION_CHANNELS
                           else angles[:, rot.index(name)])
    return BVHMotion(
        names=[motion.names[j] for j in bvh_order],
        parents=np.array([-1 if motion.parents[j] < 0 else position[motion.parents[j]] for j in bvh_order],
                         dtype=np.int64),
        offsets=motion.offsets[bvh_order] * factor,
        channels=[tuple(channels[j]) for j in bvh_order],
        values=np.stack(columns, axis=1) if columns else np.zeros((motion.num_frames, 0)),
        frame_time=1.0 / motion.fps,
        end_sites={position[j]: np.asarray(site) * factor for j, site in motion.end_sites.items()},
        scale=1.0 / factor,
        up="y",
    )


def bvh_to_rig(bvh: BVHMotion, unit: str = "cm") -> RigMotion:
    """A read BVH file as a `RigMotion` in metres (`unit`: the file's, "cm" or "m"), keeping its channels: each
    joint's Euler channels in their order, position channels replacing the offset on their axis."""
    factor = UNITS[unit]
    rotations, translations = bvh.local_transforms()
    return RigMotion(names=list(bvh.names), parents=[int(p) for p in bvh.parents], offsets=bvh.offsets / factor,
                     rotations=matrix_to_quat(rotations), translations=translations / factor, fps=bvh.fps,
                     end_sites={j: site / factor for j, site in bvh.end_sites.items()},
                     channels=[tuple(c) for c in bvh.channels], unit=unit)


def save_rig_bvh(motion: RigMotion, path: str | Path, unit: str | None = None, order: str = "ZXY") -> BVHMotion:
    """Write `motion` as a BVH file (atomically); returns the written motion."""
    bvh = rig_to_bvh(motion, unit=unit, order=order)
    write_bvh(path, bvh)
    return bvh


def joints_to_bvh(joints: np.ndarray, fps: float = 20.0, unit: str = "cm", order: str = "ZXY") -> BVHMotion:
    """A BVHMotion of SMPL joints (T, 22, 3) in metres, Y up, on the rigid skeleton fitted to them: root position
    channels plus per-joint Euler rotations in `order`, values in `unit` ("cm" or "m"); its `global_positions()`
    give metres again."""
    _check_format(unit, order)
    return rig_to_bvh(fit_skeleton(joints, fps=fps), unit=unit, order=order)


def bvh_to_smpl_order() -> list[int]:
    """Index into a BVH export's joints for each SMPL joint: `global_positions()[:, bvh_to_smpl_order()]` is
    (T, 22, 3) in SMPL order."""
    position = {j: k for k, j in enumerate(depth_first_order(T2M.parents))}
    return [position[j] for j in range(len(T2M.parents))]


def save_bvh(joints: np.ndarray, path: str | Path, fps: float = 20.0, unit: str = "cm",
             order: str = "ZXY") -> BVHMotion:
    """Write SMPL joints (T, 22, 3, metres, Y up) as a BVH file (atomically); returns the written motion."""
    motion = joints_to_bvh(joints, fps=fps, unit=unit, order=order)
    write_bvh(path, motion)
    return motion
