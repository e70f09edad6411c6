"""Skeleton constants of the two HumanML3D-format datasets: HumanML3D (`t2m`, 22 SMPL joints) and KIT-ML (`kit`).

Positions are metres, Y up. `raw_offsets` are the unit bone directions of the rest pose that HumanML3D's
inverse kinematics measures rotations against; `target_offsets` (direction x length) is the skeleton every motion
is retargeted to before features are extracted.

t2m target lengths are the bone lengths of HumanML3D's `new_joints/012314.npy`, which is already on the official
target skeleton (000021), so its lengths are the target's.

KIT-ML has no target skeleton here. Its released joints are in millimetres; we keep metres everywhere and use the
plausible adult (about 1.75 m tall) segment lengths below, so features built by this package for `kit` are in
metres and are not comparable with the official KIT-ML statistics (those are in millimetres). The contact
threshold is the official 0.05 mm^2 per frame, converted to m^2.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.io import load_npy
from motiongpt.limits import MAX_ABS_VALUE


@dataclass(frozen=True, eq=False)
class SkeletonSpec:
    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    kinematic_chain: tuple[tuple[int, ...], ...]  # chains from the root or a branching joint to a leaf
    raw_offsets: np.ndarray  # (J, 3) unit rest directions of the bone ending at each joint
    target_offsets: np.ndarray  # (J, 3) metres: raw direction x target bone length
    left_chain: tuple[int, ...]  # mirror pairs: left_chain[i] <-> right_chain[i]
    right_chain: tuple[int, ...]
    fid_l: tuple[int, ...]  # foot joints whose velocity gives the contact labels
    fid_r: tuple[int, ...]
    face_joints: tuple[int, int, int, int]  # r_hip, l_hip, r_shoulder, l_shoulder: they define "forward"
    leg_joints: tuple[int, int]  # knee and ankle: the leg length used to scale a source skeleton
    feet_thre: float  # squared per-frame foot displacement (m^2) below which a foot is in contact
    fps: float
    feature_dim: int
    num_joints: int


def _offsets(raw: list[list[float]], lengths: list[float]) -> np.ndarray:
    out = np.asarray(raw, dtype=np.float64) * np.asarray([0.0, *lengths])[:, None]
    out.setflags(write=False)
    return out


def _frozen(a: list[list[float]]) -> np.ndarray:
    out = np.asarray(a, dtype=np.float64)
    out.setflags(write=False)
    return out


_T2M_RAW = [
    [0, 0, 0], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0], [0, 1, 0], [0, -1, 0], [0, -1, 0],
    [0, 1, 0], [0, 0, 1], [0, 0, 1], [0, 1, 0], [1, 0, 0], [-1, 0, 0], [0, 0, 1], [0, -1, 0], [0, -1, 0],
    [0, -1, 0], [0, -1, 0], [0, -1, 0], [0, -1, 0],
]  # fmt: skip
_T2M_LENGTHS = [
    0.1031, 0.1099, 0.1316, 0.3936, 0.3902, 0.1432, 0.4324, 0.4256, 0.0574, 0.1434, 0.1494, 0.2194, 0.1375,
    0.1434, 0.1030, 0.1316, 0.1230, 0.2568, 0.2631, 0.2660, 0.2699,
]  # fmt: skip

T2M = SkeletonSpec(
    name="t2m",
    joint_names=(
        "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2", "left_ankle",
        "right_ankle", "spine3", "left_foot", "right_foot", "neck", "left_collar", "right_collar", "head",
        "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    ),  # fmt: skip
    parents=(-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19),
    kinematic_chain=(
        (0, 2, 5, 8, 11), (0, 1, 4, 7, 10), (0, 3, 6, 9, 12, 15), (9, 14, 17, 19, 21), (9, 13, 16, 18, 20)
    ),  # fmt: skip
    raw_offsets=_frozen(_T2M_RAW),
    target_offsets=_offsets(_T2M_RAW, _T2M_LENGTHS),
    left_chain=(1, 4, 7, 10, 13, 16, 18, 20),
    right_chain=(2, 5, 8, 11, 14, 17, 19, 21),
    fid_l=(7, 10),
    fid_r=(8, 11),
    face_joints=(2, 1, 17, 16),
    leg_joints=(5, 8),
    feet_thre=0.002,
    fps=20.0,
    feature_dim=263,
    num_joints=22,
)

# KIT-ML joint roles follow the HumanML3D KIT settings: 11-15 and 5-7 are the side it calls "right"
# (fid_r, face_joints), and its raw offsets put that side at +x.
_KIT_RAW = [
    [0, 0, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [0, 1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0], [-1, 0, 0],
    [0, -1, 0], [0, -1, 0], [1, 0, 0], [0, -1, 0], [0, -1, 0], [0, 0, 1], [0, 0, 1], [-1, 0, 0], [0, -1, 0],
    [0, -1, 0], [0, 0, 1], [0, 0, 1],
]  # fmt: skip
# Metres, for an adult about 1.75 m tall: pelvis, lower and upper spine, neck-to-head, shoulder, upper arm,
# forearm (x2 sides), hip, thigh, shank, ankle-to-ball, ball-to-toe (x2 sides).
_KIT_LENGTHS = [
    0.10, 0.20, 0.20, 0.15, 0.18, 0.30, 0.25, 0.18, 0.30, 0.25,
    0.09, 0.42, 0.41, 0.12, 0.05, 0.09, 0.42, 0.41, 0.12, 0.05,
]  # fmt: skip

KIT = SkeletonSpec(
    name="kit",
    joint_names=(
        "root", "torso", "chest", "neck", "head", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder",
        "left_elbow", "left_wrist", "right_hip", "right_knee", "right_ankle", "right_ball", "right_toe",
        "left_hip", "left_knee", "left_ankle", "left_ball", "left_toe",
    ),  # fmt: skip
    parents=(-1, 0, 1, 2, 3, 3, 5, 6, 3, 8, 9, 0, 11, 12, 13, 14, 0, 16, 17, 18, 19),
    kinematic_chain=((0, 11, 12, 13, 14, 15), (0, 16, 17, 18, 19, 20), (0, 1, 2, 3, 4), (3, 5, 6, 7), (3, 8, 9, 10)),
    raw_offsets=_frozen(_KIT_RAW),
    target_offsets=_offsets(_KIT_RAW, _KIT_LENGTHS),
    left_chain=(8, 9, 10, 16, 17, 18, 19, 20),
    right_chain=(5, 6, 7, 11, 12, 13, 14, 15),
    fid_l=(19, 20),
    fid_r=(14, 15),
    face_joints=(11, 16, 5, 8),
    leg_joints=(17, 18),
    feet_thre=0.05 * 1e-6,
    fps=12.5,
    feature_dim=251,
    num_joints=21,
)

_ALIASES = {"t2m": T2M, "humanml3d": T2M, "humanml": T2M, "kit": KIT, "kit-ml": KIT, "kitml": KIT}


def get_spec(name: str | SkeletonSpec) -> SkeletonSpec:
    """The spec for `name` ("t2m"/"humanml3d" or "kit"/"kit-ml"); a SkeletonSpec passes through."""
    if isinstance(name, SkeletonSpec):
        return name
    spec = _ALIASES.get(str(name).lower())
    if spec is None:
        raise MotionGPTError(f"skeleton {name!r}: unknown, expected one of {sorted(_ALIASES)}")
    return spec


_BY_DIM = {spec.feature_dim: spec for spec in (T2M, KIT)}
_BY_JOINTS = {spec.num_joints: spec for spec in (T2M, KIT)}


def _lookup(table: dict[int, SkeletonSpec], key: int, what: str) -> SkeletonSpec:
    spec = table.get(int(key))
    if spec is None:
        raise MotionGPTError(f"{what} {key}: no skeleton for it (expected {' or '.join(map(str, table))})")
    return spec


def spec_for_dim(feature_dim: int) -> SkeletonSpec:
    """The skeleton whose features are `feature_dim` wide (263 -> t2m, 251 -> kit)."""
    return _lookup(_BY_DIM, feature_dim, "features of width")


def spec_for_joints(num_joints: int) -> SkeletonSpec:
    """The skeleton with `num_joints` joints (22 -> t2m, 21 -> kit)."""
    return _lookup(_BY_JOINTS, num_joints, "joint count")


def motion_kind(array: np.ndarray, name: str = "motion") -> tuple[SkeletonSpec, bool]:
    """(skeleton, True for joints / False for features) of a finite (T, J, 3) joints or (T, D) features array."""
    if not isinstance(array, np.ndarray):
        raise MotionGPTError(f"{name}: holds {type(array).__name__}, expected one array (a .npz renamed .npy?)")
    shape = tuple(array.shape)
    if not (np.issubdtype(array.dtype, np.floating) or np.issubdtype(array.dtype, np.integer)):
        raise MotionGPTError(f"{name}: array of {array.dtype}, expected real numbers")
    if len(shape) == 3 and shape[0] >= 1 and shape[2] == 3 and shape[1] in _BY_JOINTS:
        spec, is_joints = _BY_JOINTS[shape[1]], True
    elif len(shape) == 2 and shape[0] >= 1 and shape[1] in _BY_DIM:
        spec, is_joints = _BY_DIM[shape[1]], False
    else:
        joints = " or ".join(f"(T, {j}, 3)" for j in _BY_JOINTS)
        features = " or ".join(f"(T, {d})" for d in _BY_DIM)
        raise MotionGPTError(f"{name}: array of shape {shape}, expected joints {joints}, or features {features}")
    what = "joints" if is_joints else "features"
    if not np.isfinite(array).all():
        raise MotionGPTError(f"{name}: {what} contain NaN or infinite values")
    if array.size and np.abs(array).max() > MAX_ABS_VALUE:
        raise MotionGPTError(f"{name}: {what} reach {float(np.abs(array).max()):.3g}, beyond the "
                             f"{MAX_ABS_VALUE:g} any motion stays within")
    return spec, is_joints


def load_motion(path: str | Path, what: str = "motion") -> tuple[np.ndarray, SkeletonSpec, bool]:
    """(array, skeleton, is_joints) of a .npy of joints (T x J x 3) or features (T x D); see `motion_kind`."""
    array = load_npy(path, what)
    spec, is_joints = motion_kind(array, str(path))
    return array, spec, is_joints
