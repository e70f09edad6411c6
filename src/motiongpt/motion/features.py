"""HumanML3D motion features: joint positions <-> the 263-d (KIT-ML: 251-d) per-frame vectors.

Layout of one frame (J joints; t2m J=22, kit J=21), see `feature_slices`:

    root_rot_vel  1        half the root's turn about +Y to the next frame (radians; HumanML3D stores the
                           y part of a quaternion, i.e. the half-angle)
    root_lin_vel  2        root XZ displacement to the next frame, in the root's heading frame
    root_y        1        root height above the floor
    ric           (J-1)*3  joints 1.. relative to the root's XZ, heading removed
    rot           (J-1)*6  6D rotations of the bones ending at joints 1.. (HumanML3D chain convention)
    vel           J*3      joint displacements to the next frame, in the heading frame
    contacts      4        left then right foot joints: 1 when nearly still

`joints_to_features` follows HumanML3D's extraction: T frames in, T-1 out (the last frame has no velocity).
`features_to_joints` is HumanML3D's recover_from_ric, which rebuilds positions from the root and `ric` blocks.
"""

from __future__ import annotations

import numpy as np
import torch

from motiongpt.errors import MotionGPTError
from motiongpt.motion.kinematics import chain_inverse_kinematics
from motiongpt.motion.quaternion import (
    Array,
    _cat,
    cross,
    normalize,
    qbetween,
    qfix,
    qinv,
    qmul,
    qrot,
    quat_to_cont6d,
    qyrot,
)
from motiongpt.motion.skeleton import SkeletonSpec, get_spec

FORWARD_SMOOTHING_SIGMA = 20.0  # frames: the Gaussian that smooths the facing direction before the root rotation


def feature_slices(spec: str | SkeletonSpec = "t2m") -> dict[str, slice]:
    """Where each block sits in a feature vector of `spec`."""
    j = get_spec(spec).num_joints
    sizes = {"root_rot_vel": 1, "root_lin_vel": 2, "root_y": 1, "ric": (j - 1) * 3, "rot": (j - 1) * 6}
    sizes.update(vel=j * 3, contacts=4)
    out, start = {}, 0
    for name, size in sizes.items():
        out[name] = slice(start, start + size)
        start += size
    return out


def _check_joints(joints, spec: SkeletonSpec, min_frames: int) -> None:
    shape = tuple(joints.shape)
    if len(shape) < 3 or shape[-2:] != (spec.num_joints, 3):
        raise MotionGPTError(f"joints of shape {shape}: expected (T, {spec.num_joints}, 3) for skeleton {spec.name}")
    if shape[-3] < min_frames:
        raise MotionGPTError(f"joints of shape {shape}: need at least {min_frames} frames")


def _facing(pos: np.ndarray, spec: SkeletonSpec, hips: float = 1.0) -> np.ndarray:
    """Horizontal forward direction (unnormalised) per frame: up x (hips (l -> r) * `hips` + shoulders (l -> r))."""
    r_hip, l_hip, r_sdr, l_sdr = spec.face_joints
    across = normalize(hips * (pos[..., r_hip, :] - pos[..., l_hip, :]) + pos[..., r_sdr, :] - pos[..., l_sdr, :])
    return cross(np.array([0.0, 1.0, 0.0]), across)


def uniform_skeleton(joints: np.ndarray, spec: str | SkeletonSpec = "t2m") -> np.ndarray:
    """Retarget joints (T, J, 3) onto the target skeleton of `spec`, as HumanML3D's uniform_skeleton does.

    HumanML3D solves each bone's shortest-arc rotation from its raw direction and runs forward kinematics on
    target offsets along those raw directions; that puts every bone along its observed direction with the target
    length, which is what we do directly. The root path is scaled by the ratio of leg lengths (knee-ankle plus
    hip-knee, measured on the first frame).
    """
    spec = get_spec(spec)
    joints = np.asarray(joints, dtype=np.float64)
    _check_joints(joints, spec, 1)
    parents = spec.parents
    length = np.linalg.norm(spec.target_offsets, axis=-1)
    knee, ankle = spec.leg_joints
    src_leg = sum(np.linalg.norm(joints[0, j] - joints[0, parents[j]]) for j in (knee, ankle))
    if src_leg < 1e-8:
        raise MotionGPTError(
            f"joints: leg length is zero in frame 0 (joints {knee}, {ankle}); are they on skeleton {spec.name}?"
        )
    bones = normalize(joints[:, 1:] - joints[:, list(parents[1:])]) * length[1:, None]
    out = np.empty_like(joints)
    out[:, 0] = joints[:, 0] * ((length[knee] + length[ankle]) / src_leg)
    for j in range(1, spec.num_joints):
        out[:, j] = out[:, parents[j]] + bones[:, j - 1]
    return out


def joints_to_features(joints: Array, spec: str | SkeletonSpec = "t2m") -> Array:
    """Features (T-1, D) of one motion's joint positions (T, J, 3), in metres with Y up.

    Steps (HumanML3D's process_file): retarget to the target skeleton, put the lowest point on the floor, move
    frame 0's root to the XZ origin, turn the motion so frame 0 faces +Z, then read off the blocks. Two details of
    the original are kept because the released features depend on them: the per-frame heading comes from a
    facing direction in which the hip term enters with the opposite sign (left minus right hip, plus right minus
    left shoulder), smoothed over time; and frame 0's heading is the identity. Computed in float64 numpy;
    returns the input's kind and dtype (torch tensors on their device).
    """
    spec = get_spec(spec)
    _check_joints(joints, spec, 2)
    if len(joints.shape) != 3:
        raise MotionGPTError(f"joints of shape {tuple(joints.shape)}: expected one motion (T, J, 3)")
    is_torch = isinstance(joints, torch.Tensor)
    x = joints.detach().cpu().double().numpy() if is_torch else np.asarray(joints, dtype=np.float64)
    if not np.isfinite(x).all():
        raise MotionGPTError("joints: contain NaN or infinite values")

    pos = uniform_skeleton(x, spec)
    pos[..., 1] -= pos[..., 1].min()
    pos -= pos[0, 0] * np.array([1.0, 0.0, 1.0])
    pos = qrot(qbetween(_facing(pos[0], spec), np.array([0.0, 0.0, 1.0])), pos)

    step = pos[1:] - pos[:-1]
    contact_l = ((step[:, spec.fid_l] ** 2).sum(-1) < spec.feet_thre).astype(np.float64)
    contact_r = ((step[:, spec.fid_r] ** 2).sum(-1) < spec.feet_thre).astype(np.float64)

    from scipy.ndimage import gaussian_filter1d  # scipy.ndimage takes 0.4 s to import; decoding never needs it

    facing = gaussian_filter1d(_facing(pos, spec, hips=-1.0), FORWARD_SMOOTHING_SIGMA, axis=0, mode="nearest")
    heading = qbetween(facing, np.array([0.0, 0.0, 1.0]))
    heading[0] = (1.0, 0.0, 0.0, 0.0)
    heading = qfix(heading)
    bones = chain_inverse_kinematics(pos, spec.raw_offsets, spec.kinematic_chain, heading)
    rot = quat_to_cont6d(bones[:, 1:])

    root_vel = qrot(heading[1:], step[:, 0])
    turn = np.arcsin(np.clip(qmul(heading[1:], qinv(heading[:-1]))[:, 2], -1.0, 1.0))
    ric = qrot(heading[:, None], pos - pos[:, :1] * np.array([1.0, 0.0, 1.0]))
    vel = qrot(heading[:-1, None], step)

    n = len(step)
    feats = np.concatenate(
        [
            turn[:, None],
            root_vel[:, [0, 2]],
            pos[:-1, 0, 1:2],
            ric[:-1, 1:].reshape(n, -1),
            rot[:-1].reshape(n, -1),
            vel.reshape(n, -1),
            contact_l,
            contact_r,
        ],
        axis=-1,
    )
    if is_torch:
        return torch.from_numpy(feats).to(dtype=joints.dtype, device=joints.device)
    dtype = joints.dtype if np.issubdtype(joints.dtype, np.floating) else np.float32
    return feats.astype(dtype, copy=False)


def _cumsum(x, axis: int):
    return torch.cumsum(x, dim=axis) if isinstance(x, torch.Tensor) else np.cumsum(x, axis=axis)


def _zeros_like(x):
    return torch.zeros_like(x) if isinstance(x, torch.Tensor) else np.zeros_like(x)


def features_to_joints(features: Array, spec: str | SkeletonSpec = "t2m") -> Array:
    """Joint positions (..., T, J, 3) from features (..., T, D): integrate the root, then place `ric` around it.

    Works on numpy arrays and (differentiably) on torch tensors, with any leading batch axes.
    """
    spec = get_spec(spec)
    if features.shape[-1] != spec.feature_dim or len(features.shape) < 2:
        raise MotionGPTError(
            f"features of shape {tuple(features.shape)}: expected (..., T, {spec.feature_dim}) for skeleton {spec.name}"
        )
    s = feature_slices(spec)
    half_turn = features[..., 0]
    angle = _cat([_zeros_like(half_turn[..., :1]), _cumsum(half_turn[..., :-1], -1)], -1)
    inv_heading = qinv(qyrot(2.0 * angle))
    zero = _zeros_like(angle)

    lin = features[..., s["root_lin_vel"]]
    step = _cat([lin[..., :-1, :1], zero[..., 1:, None], lin[..., :-1, 1:2]], -1)
    step = _cat([_zeros_like(step[..., :1, :]), step], -2)
    root_xz = _cumsum(qrot(inv_heading, step), -2)
    root = _cat([root_xz[..., :1], features[..., 3:4], root_xz[..., 2:3]], -1)

    ric = features[..., s["ric"]].reshape(*features.shape[:-1], spec.num_joints - 1, 3)
    ric = qrot(inv_heading[..., None, :], ric)
    ric = ric + _cat([root[..., None, :1], zero[..., None, None], root[..., None, 2:3]], -1)
    return _cat([root[..., None, :], ric], -2)


def mirror_joints(joints: Array, spec: str | SkeletonSpec = "t2m") -> Array:
    """Left-right mirror image of joints (..., J, 3): negate x and swap the left and right joints."""
    spec = get_spec(spec)
    perm = list(range(spec.num_joints))
    for left, right in zip(spec.left_chain, spec.right_chain):
        perm[left], perm[right] = right, left
    mirrored = joints[..., perm, :]
    return _cat([-mirrored[..., :1], mirrored[..., 1:]], -1)
