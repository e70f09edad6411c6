"""Read exported files back with code that is not the exporter's, and measure how far they are from the motion.

Each reader returns (joint names, positions (T, J, 3) in metres with Y up):
- `bvh_package_positions`: the independent `bvh` package parses the file, scipy composes its Euler angles;
- `gltf_positions`: pygltflib reads the nodes, accessors and animation channels of a .glb, and forward kinematics
  over the node hierarchy poses them;
- `motiongpt.export.blender.import_positions`: Blender's own importers.
`joint_errors` compares such positions with the motion's joints by name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.motion.kinematics import children_of
from motiongpt.motion.skeleton import T2M


def bvh_package_positions(path: str | Path, scale: float = 1.0) -> tuple[list[str], np.ndarray]:
    """Forward kinematics of a BVH file parsed by the `bvh` package (a test dependency), scipy's Euler angles."""
    from bvh import Bvh
    from scipy.spatial.transform import Rotation

    mocap = Bvh(Path(path).read_text())
    names = mocap.get_joints_names()  # parents come before children
    positions: dict[str, np.ndarray] = {}
    rotations: dict[str, np.ndarray] = {}
    for name in names:
        channels = mocap.joint_channels(name)
        values = np.array(mocap.frames_joint_channels(name, channels), dtype=np.float64).reshape(-1, len(channels))
        rot = [c for c in channels if c.lower().endswith("rotation")]
        local = Rotation.from_euler("".join(c[0] for c in rot).upper(), values[:, [channels.index(c) for c in rot]],
                                    degrees=True).as_matrix() if rot else np.eye(3)[None]
        offset = np.broadcast_to(np.array(mocap.joint_offset(name), dtype=np.float64), (len(values), 3)).copy()
        for axis, label in enumerate(("xposition", "yposition", "zposition")):
            found = [k for k, c in enumerate(channels) if c.lower() == label]
            if found:
                offset[:, axis] = values[:, found[0]]  # a position channel replaces the offset on its axis
        parent = mocap.joint_parent(name)
        if parent is None:
            positions[name], rotations[name] = offset, local
        else:
            positions[name] = positions[parent.name] + np.einsum("tij,tj->ti", rotations[parent.name], offset)
            rotations[name] = rotations[parent.name] @ local
    return list(names), np.stack([positions[n] for n in names], axis=1) * scale


def _accessor(gltf, index: int) -> np.ndarray:
    """The numbers of one accessor as float64 (count, width), read from the binary chunk."""
    import pygltflib

    accessor = gltf.accessors[index]
    view = gltf.bufferViews[accessor.bufferView]
    dtype = {pygltflib.FLOAT: np.float32, pygltflib.UNSIGNED_SHORT: np.uint16, pygltflib.UNSIGNED_INT: np.uint32,
             pygltflib.UNSIGNED_BYTE: np.uint8}[accessor.componentType]
    width = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT4": 16}[accessor.type]
    itemsize = np.dtype(dtype).itemsize * width
    stride = view.byteStride or itemsize
    start = view.byteOffset + (accessor.byteOffset or 0)
    blob = gltf.binary_blob()
    rows = [np.frombuffer(blob, dtype=dtype, count=width, offset=start + k * stride) for k in range(accessor.count)]
    return np.array(rows, dtype=np.float64).reshape(accessor.count, width)


def gltf_positions(path: str | Path) -> tuple[list[str], np.ndarray]:
    """Joint positions of a .glb's first skin over its first animation: pygltflib reads the nodes and accessors,
    `motiongpt.motion.kinematics.forward_kinematics` poses the node hierarchy (a joint's ancestors outside the
    skin must not move)."""
    import pygltflib

    from motiongpt.motion.kinematics import forward_kinematics

    gltf = pygltflib.GLTF2().load_binary(str(path))
    joints = gltf.skins[0].joints
    parent_of = {c: n for n, node in enumerate(gltf.nodes) for c in node.children}
    order: list[int] = []
    while len(order) < len(joints):  # parents first
        order += [j for j in joints if j not in order and (parent_of.get(j) not in joints or parent_of[j] in order)]
    channels = {(c.target.node, c.target.path): gltf.animations[0].samplers[c.sampler]
                for c in gltf.animations[0].channels}
    times = _accessor(gltf, next(iter(channels.values())).input)[:, 0]
    rotations, translations = [], []
    for j in order:
        node = gltf.nodes[j]
        if node.scale not in (None, [1.0, 1.0, 1.0]) or node.matrix is not None:
            raise MotionGPTError(f"{path}: node '{node.name}' has a scale or matrix, which this reader skips")
        sampler = channels.get((j, "rotation"))
        rot = _accessor(gltf, sampler.output) if sampler else np.array([node.rotation or [0.0, 0.0, 0.0, 1.0]])
        sampler = channels.get((j, "translation"))
        move = _accessor(gltf, sampler.output) if sampler else np.array([node.translation or [0.0, 0.0, 0.0]])
        rotations.append(np.broadcast_to(rot[:, [3, 0, 1, 2]], (len(times), 4)))  # to w, x, y, z
        translations.append(np.broadcast_to(move, (len(times), 3)))
    position = {j: k for k, j in enumerate(order)}
    parents = [position.get(parent_of.get(j), -1) for j in order]
    if parents.count(-1) != 1:
        raise MotionGPTError(f"{path}: the skin's joints form {parents.count(-1)} trees, expected one")
    rotations, translations = np.stack(rotations, axis=1), np.stack(translations, axis=1)
    positions = forward_kinematics(rotations, translations[:, 0], translations, parents)
    return [gltf.nodes[j].name for j in order], positions


def joint_errors(names: Sequence[str], positions: np.ndarray, want_names: Sequence[str],
                 want: np.ndarray) -> np.ndarray:
    """Per-frame distances (T, J) in metres between `positions` of `names` and `want` (T, J, 3) of `want_names`;
    joints are matched by name and frames must agree in number."""
    index = {n: i for i, n in enumerate(names)}
    missing = [n for n in want_names if n not in index]
    if missing:
        raise MotionGPTError(f"read-back lacks joint(s) {', '.join(missing)} (found: {', '.join(names)})")
    got = np.asarray(positions)[:, [index[n] for n in want_names]]
    if got.shape != np.shape(want):
        raise MotionGPTError(f"read-back has {got.shape[0]} frames of {got.shape[1]} joints, expected "
                             f"{np.shape(want)[0]} of {np.shape(want)[1]}")
    return np.linalg.norm(got - want, axis=-1)


def reproportioned(joints: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """SMPL joints (T, 22, 3) rebuilt bone by bone with the bone lengths of the pose `reference` (22, 3), every
    bone's direction kept and the root path scaled by the ratio of leg lengths (hip-knee-ankle): how a motion
    should look on a body of other proportions, the yardstick for retargeting."""
    parents = T2M.parents
    lengths = np.linalg.norm(reference[1:] - reference[list(parents[1:])], axis=-1)
    own = np.linalg.norm(joints[:, 1:] - joints[:, list(parents[1:])], axis=-1).mean(0)
    legs = [j - 1 for j in (4, 7, 5, 8)]  # the bones ending at the knees and ankles
    out = np.empty_like(joints)
    out[:, 0] = joints[:, 0] * lengths[legs].sum() / own[legs].sum()
    for j in range(1, len(parents)):
        bone = joints[:, j] - joints[:, parents[j]]
        out[:, j] = out[:, parents[j]] + lengths[j - 1] * bone / np.linalg.norm(bone, axis=-1, keepdims=True)
    return out


def worst_bone_angle(joints: np.ndarray, other: np.ndarray) -> float:
    """Largest angle in degrees between the same bone of two SMPL-joint motions (T, 22, 3), over the bones leaving
    a joint with one child (a branching joint's children keep each skeleton's own layout)."""
    kids = children_of(T2M.parents)
    bones = [(p, c[0]) for p, c in enumerate(kids) if len(c) == 1]
    a = np.stack([joints[:, c] - joints[:, p] for p, c in bones], axis=1)
    b = np.stack([other[:, c] - other[:, p] for p, c in bones], axis=1)
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return float(np.degrees(np.arccos(np.clip(cos, -1.0, 1.0))).max())


def summarize(errors: np.ndarray) -> dict[str, float]:
    """The two fidelity figures in millimetres: the worst joint's mean error and the worst single frame."""
    return {"worst_joint_mean_mm": float(errors.mean(0).max() * 1000), "worst_frame_mm": float(errors.max() * 1000)}
