"""Forward and inverse kinematics, numpy or torch, vectorised over frames (leading axes).

Two conventions live here, because two consumers need different ones:

* Joint hierarchy (`forward_kinematics`, `inverse_kinematics`): each joint has one local rotation that turns all
  of its children, as in BVH. The position of joint j is p[parent] + G[parent] * offsets[j], with global rotation
  G[j] = G[parent] * L[j]. This is what the BVH exporter writes.
* HumanML3D bone chains (`chain_inverse_kinematics`, `chain_forward_kinematics`): each bone (parent -> j) has its
  own rotation, stored at j, and each kinematic chain starts again from the root rotation, even chains that
  branch off the spine. This is the convention of the `rot` block of the 263-d features.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from motiongpt.motion.quaternion import Array, _stack, matrix_to_quat, normalize, qbetween, qidentity, qinv, qmul, qrot


def _as_like(x, like):
    """Constant array `x` in the backend, dtype and device of `like`."""
    if isinstance(like, torch.Tensor):
        return torch.as_tensor(x, dtype=like.dtype, device=like.device)
    return np.asarray(x, dtype=like.dtype)


def children_of(parents: Sequence[int]) -> list[list[int]]:
    kids: list[list[int]] = [[] for _ in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            kids[p].append(j)
    return kids


def _check_topological(parents: Sequence[int]) -> None:
    if parents[0] != -1 or any(not 0 <= p < j for j, p in enumerate(parents) if j > 0):
        raise ValueError(f"parents {list(parents)}: joint 0 must be the root and every parent must precede its child")


def offsets_from_joints(pose: Array, parents: Sequence[int]) -> Array:
    """Bone vectors (J, 3) of one pose (J, 3): a rest skeleton on which `inverse_kinematics` of motions with the
    same bone lengths and the same rigid branchings (pelvis, spine top) reproduces them exactly."""
    idx = [max(p, 0) for p in parents]
    out = pose - pose[idx]
    out[0] = 0.0
    return out


def forward_kinematics(local_quats: Array, root_pos: Array, offsets: Array, parents: Sequence[int]) -> Array:
    """Joint positions (..., J, 3) from local rotations (..., J, 4), root positions (..., 3) and offsets (J, 3)
    or (..., J, 3), in the joint-hierarchy convention."""
    _check_topological(parents)
    offsets = _as_like(offsets, local_quats)
    glob = [local_quats[..., 0, :]]
    pos = [root_pos]
    for j in range(1, len(parents)):
        p = parents[j]
        pos.append(pos[p] + qrot(glob[p], offsets[..., j, :]))
        glob.append(qmul(glob[p], local_quats[..., j, :]))
    return _stack(pos, axis=-2)


def best_rotation(rest: Array, current: Array) -> Array:
    """Rotation matrices (..., 3, 3) that best turn the rest directions (K, 3) onto current ones (..., K, 3)
    (Wahba's problem, solved with an SVD and no reflection)."""
    h = (current[..., :, :, None] * rest[..., :, None, :]).sum(-3)  # sum_k current_k rest_k^T
    if isinstance(h, torch.Tensor):
        u, _, vt = torch.linalg.svd(h)
        d = torch.sign(torch.linalg.det(u @ vt))
    else:
        u, _, vt = np.linalg.svd(h)
        d = np.sign(np.linalg.det(u @ vt))
    d = d + (d == 0)  # no reflection: flip the weakest axis where U V^T would mirror
    ones = d * 0 + 1
    u = u * _stack([ones, ones, d])[..., None, :]
    return u @ vt


def inverse_kinematics(joints: Array, offsets: Array, parents: Sequence[int]) -> Array:
    """Local rotations (..., J, 4) that pose the skeleton `offsets` (J, 3) like `joints` (..., J, 3), in the
    joint-hierarchy convention (the root position is joints[..., 0, :]).

    A joint with one child turns by the shortest arc from its parent's frame (no added twist). A joint with
    several children takes the rotation that best fits all child directions. Leaves get the identity.
    forward_kinematics(inverse_kinematics(x), x[..., 0, :], offsets) reproduces x exactly when every bone of x
    has its offset's length and the children of each branching joint sit rigidly as in `offsets` (true for
    SMPL-derived joints with `offsets_from_joints` of one of their frames); otherwise bone directions of
    single-child joints are still exact and branchings are a least-squares fit.
    """
    _check_topological(parents)
    offsets = _as_like(offsets, joints)
    kids = children_of(parents)
    batch = joints.shape[:-2]
    ident = qidentity(batch, joints)
    glob: list = [None] * len(parents)
    local: list = [None] * len(parents)
    for j in range(len(parents)):
        g_parent = ident if parents[j] < 0 else glob[parents[j]]
        if not kids[j]:
            glob[j], local[j] = g_parent, ident
            continue
        if len(kids[j]) == 1:
            c = kids[j][0]
            bone = qrot(qinv(g_parent), joints[..., c, :] - joints[..., j, :])
            local[j] = qbetween(offsets[c], bone)
            glob[j] = qmul(g_parent, local[j])
        else:
            rest = normalize(offsets[kids[j]])
            current = normalize(joints[..., kids[j], :] - joints[..., j : j + 1, :])
            glob[j] = matrix_to_quat(best_rotation(rest, current))
            local[j] = qmul(qinv(g_parent), glob[j])
    return _stack(local, axis=-2)


def chain_inverse_kinematics(
    joints: Array, raw_offsets: Array, kinematic_chain: Sequence[Sequence[int]], root_quat: Array
) -> Array:
    """Per-bone rotations (..., J, 4) in HumanML3D's convention; index 0 holds `root_quat` (..., 4).

    The bone parent -> j turns by the shortest arc from raw_offsets[j] to the observed bone; its stored rotation
    is that arc relative to the previous bone of its chain (relative to root_quat at a chain start).
    """
    raw = _as_like(raw_offsets, joints)
    parent_idx, child_idx, frame_idx = [], [], []
    for chain in kinematic_chain:
        for k in range(1, len(chain)):
            parent_idx.append(chain[k - 1])
            child_idx.append(chain[k])
            frame_idx.append(-1 if k == 1 else chain[k - 1])
    swing = qbetween(raw[child_idx], joints[..., child_idx, :] - joints[..., parent_idx, :])
    slot = {j: i for i, j in enumerate(child_idx)}
    frames = [root_quat if f < 0 else swing[..., slot[f], :] for f in frame_idx]
    local = qmul(qinv(_stack(frames, axis=-2)), swing)
    out = [root_quat] + [None] * len(child_idx)
    for i, j in enumerate(child_idx):
        out[j] = local[..., i, :]
    return _stack(out, axis=-2)


def chain_forward_kinematics(
    quats: Array, root_pos: Array, offsets: Array, kinematic_chain: Sequence[Sequence[int]]
) -> Array:
    """Joint positions (..., J, 3) from per-bone rotations (..., J, 4) in HumanML3D's convention (the inverse of
    `chain_inverse_kinematics` when `offsets` point along the raw directions)."""
    offsets = _as_like(offsets, quats)
    pos: list = [None] * quats.shape[-2]
    pos[0] = root_pos
    for chain in kinematic_chain:
        rot = quats[..., 0, :]
        for k in range(1, len(chain)):
            rot = qmul(rot, quats[..., chain[k], :])
            pos[chain[k]] = pos[chain[k - 1]] + qrot(rot, offsets[..., chain[k], :])
    return _stack(pos, axis=-2)
