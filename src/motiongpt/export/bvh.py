"""Joint positions (T x 22 x 3, metres, Y up) -> BVH on the SMPL skeleton, for Blender, Maya, Unity, Unreal.

The rest pose is a T-pose built from the motion's own mean bone lengths: legs straight down, feet forward, arms out
along +-x, spine, neck and head up. The pelvis and the spine top keep their children (hips and spine; neck and
collars) in the layout the motion shows, expressed in an upright frame facing +z, because HumanML3D joints hold
those branchings rigid. Rotations come from `motiongpt.motion.kinematics.inverse_kinematics`: the shortest arc from
the parent's frame for one child, the best fit over all children at a branching (stable twist). Forward
kinematics of the result reproduces the input wherever bone lengths are constant and the branchings rigid, as in
HumanML3D's `new_joints`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from motiongpt.data.bvh import BVHMotion, write_bvh
from motiongpt.errors import MotionGPTError
from motiongpt.motion.kinematics import children_of, inverse_kinematics
from motiongpt.motion.quaternion import normalize, quat_to_matrix
from motiongpt.motion.skeleton import T2M

# SMPL joint names as DCC tools and SMPL exporters spell them, in T2M (SMPL) joint order.
BVH_JOINT_NAMES = (
    "Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle", "Spine3", "L_Foot",
    "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist",
    "R_Wrist",
)  # fmt: skip
UNITS = {"cm": 100.0, "m": 1.0}
AXIS_INDEX = {"X": 0, "Y": 1, "Z": 2}
END_SITE_FRACTION = 0.5  # a leaf's End Site continues its incoming bone by this fraction of its length


def _tpose_directions() -> np.ndarray:
    """Rest direction of the bone ending at each joint: HumanML3D's raw offsets with the arms raised to a T-pose
    and the head pointing up."""
    rest = np.array(T2M.raw_offsets, dtype=np.float64)
    for left, right in ((16, 17), (18, 19), (20, 21)):  # shoulders, elbows, wrists
        rest[left], rest[right] = (1.0, 0.0, 0.0), (-1.0, 0.0, 0.0)
    rest[15] = (0.0, 1.0, 0.0)
    return rest


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


def _upright_frame(vectors: np.ndarray, left: int, right: int, center: int) -> np.ndarray:
    """Per-frame rotation (T, 3, 3) whose columns are body left (+x), up (+y) and forward (+z), from a branching
    joint's child vectors (T, K, 3): left minus right child gives x, the centre child (made orthogonal) gives y."""
    x = normalize(vectors[:, left] - vectors[:, right])
    c = vectors[:, center]
    y = normalize(c - (c * x).sum(-1, keepdims=True) * x)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def rest_offsets(joints: np.ndarray) -> np.ndarray:
    """(22, 3) rest offsets in metres: mean bone lengths along T-pose directions; the children of a branching joint
    keep their mean layout relative to that joint's upright frame."""
    parents = T2M.parents
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, list(parents[1:])], axis=-1).mean(0)
    offsets = _tpose_directions() * np.concatenate([[0.0], lengths])[:, None]
    left, right = set(T2M.left_chain), set(T2M.right_chain)
    for j, kids in enumerate(children_of(parents)):
        if len(kids) < 2:
            continue
        sides = [next(k for k, c in enumerate(kids) if c in side) for side in (left, right)]
        center = next(k for k, c in enumerate(kids) if c not in left and c not in right)
        vectors = joints[:, kids] - joints[:, j : j + 1]
        frame = _upright_frame(vectors, sides[0], sides[1], center)
        local = np.einsum("tji,tkj->tki", frame, vectors).mean(0)  # child vectors in the upright frame
        offsets[kids] = normalize(local) * lengths[np.asarray(kids) - 1][:, None]
    return offsets


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


def joints_to_bvh(joints: np.ndarray, fps: float = 20.0, unit: str = "cm", order: str = "ZXY") -> BVHMotion:
    """A BVHMotion of SMPL joints (T, 22, 3) in metres, Y up: root position channels plus per-joint Euler
    rotations in `order`, values in `unit` ("cm" or "m"); its `global_positions()` give metres again."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3) or joints.shape[0] < 1:
        raise MotionGPTError(f"joints of shape {joints.shape}: BVH export needs (T, 22, 3) SMPL joints in metres")
    if not np.all(np.isfinite(joints)):
        raise MotionGPTError("joints contain NaN or infinite values: cannot export BVH")
    if unit not in UNITS:
        raise MotionGPTError(f"unit {unit!r}: expected one of {', '.join(UNITS)}")
    order = order.upper()
    if sorted(order) != ["X", "Y", "Z"]:
        raise MotionGPTError(f"rotation order {order!r}: expected a permutation of XYZ, e.g. ZXY")
    if not fps > 0:
        raise MotionGPTError(f"fps {fps}: must be positive")

    parents = T2M.parents
    offsets = rest_offsets(joints)
    angles = np.degrees(matrix_to_euler(quat_to_matrix(inverse_kinematics(joints, offsets, parents)), order))
    angles = np.unwrap(angles, period=360.0, axis=0)  # no 360-degree jumps between frames
    factor = UNITS[unit]

    bvh_order = depth_first_order(parents)
    position = {j: k for k, j in enumerate(bvh_order)}
    rotation_channels = tuple(f"{axis}rotation" for axis in order)
    kids = children_of(parents)
    end_sites = {}
    for j in bvh_order:
        if not kids[j]:
            end_sites[position[j]] = offsets[j] * END_SITE_FRACTION * factor
    columns = [joints[:, 0] * factor] + [angles[:, j] for j in bvh_order]
    return BVHMotion(
        names=[BVH_JOINT_NAMES[j] for j in bvh_order],
        parents=np.array([-1 if parents[j] < 0 else position[parents[j]] for j in bvh_order], dtype=np.int64),
        offsets=offsets[bvh_order] * factor,
        channels=[("Xposition", "Yposition", "Zposition") + rotation_channels] + [rotation_channels] * 21,
        values=np.concatenate(columns, axis=1),
        frame_time=1.0 / fps,
        end_sites=end_sites,
        scale=1.0 / factor,
        up="y",
    )


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
