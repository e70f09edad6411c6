"""Fit a rigid skeleton to joint positions (T x 22 x 3, metres, Y up): the one fit every export format writes.

Generated joints do not keep their bone lengths (a forearm may range from 0.19 to 0.30 m within a clip), so no
rotations of a fixed skeleton reproduce them exactly. The fit takes each bone's length as its median over the
frames, then poses the rigid skeleton as close to the joints as those lengths allow:
- the root follows the motion exactly;
- down each chain a bone aims from where its parent joint actually is to where its child should be, so an error
  is never passed on along the chain; a branching joint (pelvis, spine top) takes the rotation that best places all
  its children (Kabsch);
- Levenberg-Marquardt steps over all joint rotations then spread what is left over the whole body: least squares
  of every joint's position, then the sum of fourth powers, which trims the worst frames.
Rotations are then chosen to animate a character naturally, not only to place points: the thigh and upper arm
twist so that the knee and elbow bend in their hinge plane, so knees and elbows turn about one axis like hinges
(found from the next bone; as the limb straightens the twist carries on from the frames before, drifting towards
the foot's direction for a leg and the collar's for an arm), the two lower spine joints share the twist between
pelvis and chest, and the collars, neck and head follow the chest.

The rest pose is a T-pose facing +Z: legs straight down, feet forward, arms out along +-X, spine, neck and head up;
the pelvis and spine top keep their children in the median layout the motion shows.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from motiongpt.errors import MotionGPTError
from motiongpt.motion.kinematics import best_rotation, children_of
from motiongpt.motion.quaternion import matrix_to_quat, normalize, qfix
from motiongpt.motion.rig import RigMotion, local_rotations
from motiongpt.motion.skeleton import T2M

# SMPL joint names as DCC tools and SMPL exporters spell them, in T2M (SMPL) joint order.
JOINT_NAMES = (
    "Pelvis", "L_Hip", "R_Hip", "Spine1", "L_Knee", "R_Knee", "Spine2", "L_Ankle", "R_Ankle", "Spine3", "L_Foot",
    "R_Foot", "Neck", "L_Collar", "R_Collar", "Head", "L_Shoulder", "R_Shoulder", "L_Elbow", "R_Elbow", "L_Wrist",
    "R_Wrist",
)  # fmt: skip
END_SITE_FRACTION = 0.5  # a leaf's End Site continues its incoming bone by this fraction of its length
# Range (radians) of the rest feet's downward pitch, which follows the motion's feet: a foot on the ground points
# down from the ankle to the toes, and a rest pose like that binds a character's feet as they are.
FOOT_PITCH = (0.0, np.radians(60.0))
# Levenberg-Marquardt after the chain-following pose: (power p of the joint distances summed, steps). p = 2 is
# least squares; p = 4 then trims the worst frames (real clips: 10.4 -> 7.9 mm) and lowers the means too.
SCHEDULE = ((2, 3), (4, 6))
SETTLED = 0.01  # a frame whose last step lowered its cost by less than this fraction takes no more steps
# The thigh and upper arm twist so the knee or elbow bends in its hinge plane: fully from a bend of asin(HINGE_FULL)
# = 30 degrees, fading into the previous frame's twist as the limb straightens; that twist in turn drifts towards
# the prior (the foot's direction for a leg, the collar's for an arm) by HINGE_RELAX per frame. A bend against the
# current plane under HINGE_FLIP = 45 degrees is read as over-extension, not as a half turn of the limb.
HINGE_FULL, HINGE_RELAX, HINGE_FLIP = 0.5, 0.1, np.sin(np.radians(45.0))

X, Y, Z = np.eye(3)
# limb joint -> rest direction in which the next bone bends away from its own: knees bend back, elbows forward
HINGES = {1: -Z, 2: -Z, 16: Z, 17: Z}
# spine joint -> weight of the pelvis's left axis in its twist reference (the rest from the chest's)
SPINE_TWIST = {3: 2.0 / 3.0, 6: 1.0 / 3.0}
PELVIS, CHEST = T2M.joint_names.index("pelvis"), T2M.joint_names.index("spine3")


def tpose_directions() -> np.ndarray:
    """(22, 3) rest direction of the bone ending at each joint: HumanML3D's raw offsets with the arms raised to a
    T-pose and the head pointing up."""
    rest = np.array(T2M.raw_offsets, dtype=np.float64)
    for left, right in ((16, 17), (18, 19), (20, 21)):  # shoulders, elbows, wrists
        rest[left], rest[right] = X, -X
    rest[15] = Y
    return rest


def check_joints(joints: np.ndarray) -> np.ndarray:
    """`joints` as float64 (T, 22, 3), or a one-line error saying what is wrong with them."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (22, 3) or joints.shape[0] < 1:
        raise MotionGPTError(f"joints of shape {joints.shape}: export needs (T, 22, 3) SMPL joints in metres")
    if not np.all(np.isfinite(joints)):
        raise MotionGPTError("joints contain NaN or infinite values: cannot export them")
    return joints


def bone_lengths(joints: np.ndarray) -> np.ndarray:
    """(22,) median length over the frames of the bone ending at each joint (0 for the root)."""
    parents = list(T2M.parents)
    lengths = np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1)
    return np.concatenate([[0.0], np.median(lengths, axis=0)])


def _upright_frame(vectors: np.ndarray, left: int, right: int, center: int) -> np.ndarray:
    """Per-frame rotation (T, 3, 3) whose columns are body left (+x), up (+y) and forward (+z), from a branching
    joint's child vectors (T, K, 3): left minus right child gives x, the centre child (made orthogonal) gives y."""
    x = normalize(vectors[:, left] - vectors[:, right])
    c = vectors[:, center]
    y = normalize(c - (c * x).sum(-1, keepdims=True) * x)
    return np.stack([x, y, np.cross(x, y)], axis=-1)


def rest_offsets(joints: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """(22, 3) rest offsets in metres: `lengths` along T-pose directions, the feet pointing forward and down as much
    as the motion's feet do on the median frame; the children of a branching joint keep their median layout
    relative to that joint's upright frame."""
    offsets = tpose_directions() * lengths[:, None]
    feet = joints[:, [10, 11]] - joints[:, [7, 8]]
    drop = np.median(-feet[..., 1] / np.maximum(np.linalg.norm(feet, axis=-1), 1e-9))
    pitch = np.clip(np.arcsin(np.clip(drop, -1.0, 1.0)), *FOOT_PITCH)
    offsets[[10, 11]] = np.array([0.0, -np.sin(pitch), np.cos(pitch)]) * lengths[[10, 11], None]
    left, right = set(T2M.left_chain), set(T2M.right_chain)
    for j, kids in enumerate(children_of(T2M.parents)):
        if len(kids) < 2:
            continue
        sides = [next(k for k, c in enumerate(kids) if c in side) for side in (left, right)]
        center = next(k for k, c in enumerate(kids) if c not in left and c not in right)
        vectors = joints[:, kids] - joints[:, j : j + 1]
        frame = _upright_frame(vectors, sides[0], sides[1], center)
        local = np.median(normalize(np.einsum("tji,tkj->tki", frame, vectors)), axis=0)
        offsets[kids] = normalize(local) * lengths[kids][:, None]
    return offsets


def _chain_pose(joints: np.ndarray, offsets: np.ndarray, follow: bool = True) -> np.ndarray:
    """Positions (T, 22, 3) of the rigid skeleton posed down each chain. With `follow`, every bone aims from where
    its parent joint ended up at where its child should be (closest positions); otherwise along the bone of
    `joints` itself (same directions, for a skeleton of other proportions)."""
    kids = children_of(T2M.parents)
    pos = np.empty_like(joints)
    pos[:, 0] = joints[:, 0]
    for j in range(len(kids)):
        start = pos[:, j : j + 1] if follow else joints[:, j : j + 1]
        if len(kids[j]) == 1:
            c = kids[j][0]
            pos[:, c] = pos[:, j] + normalize(joints[:, c] - start[:, 0]) * np.linalg.norm(offsets[c])
        elif kids[j]:
            rot = best_rotation(offsets[kids[j]], joints[:, kids[j]] - start)
            pos[:, kids[j]] = pos[:, j : j + 1] + np.einsum("tij,kj->tki", rot, offsets[kids[j]])
    return pos


def _skew(v: np.ndarray) -> np.ndarray:
    out = np.zeros(v.shape[:-1] + (3, 3))
    out[..., 0, 1], out[..., 0, 2], out[..., 1, 2] = -v[..., 2], v[..., 1], -v[..., 0]
    return out - np.swapaxes(out, -1, -2)


def _rotvec_matrix(w: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of rotation vectors (..., 3) (Rodrigues)."""
    angle = np.linalg.norm(w, axis=-1)[..., None, None]
    k = _skew(w / np.maximum(angle[..., 0], 1e-12))
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def _pose_rotations(pos: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Global rotations (T, 22, 3, 3) that place a rigid skeleton at `pos`, twisting each bone as little as its
    parent allows (enough to drive the Gauss-Newton steps, which only need positions)."""
    kids = children_of(T2M.parents)
    out = np.empty(pos.shape[:2] + (3, 3))
    for j, p in enumerate(T2M.parents):
        parent = np.broadcast_to(np.eye(3), out[:, 0].shape) if p < 0 else out[:, p]
        if len(kids[j]) > 1:
            out[:, j] = best_rotation(offsets[kids[j]], pos[:, kids[j]] - pos[:, j : j + 1])
        elif kids[j]:
            out[:, j] = _swing(parent, offsets[kids[j][0]], pos[:, kids[j][0]] - pos[:, j])
        else:
            out[:, j] = parent
    return out


def _pose(root: np.ndarray, rot: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Positions (T, 22, 3) of the skeleton with global rotations `rot` (T, 22, 3, 3) and its root at `root`."""
    pos = np.empty(rot.shape[:2] + (3,))
    pos[:, 0] = root
    for j, p in enumerate(T2M.parents):
        if p >= 0:
            pos[:, j] = pos[:, p] + rot[:, p] @ offsets[j]
    return pos


def _cost(pos: np.ndarray, joints: np.ndarray, power: float) -> np.ndarray:
    """Per-frame sum over joints of the distance to the target raised to `power`."""
    return (np.square(pos - joints).sum(-1) ** (power / 2)).sum(-1)


def _refine(joints: np.ndarray, pos: np.ndarray, offsets: np.ndarray, steps: int, power: float) -> np.ndarray:
    """Levenberg-Marquardt on every non-leaf joint's global rotation (root position fixed), minimising the sum of
    joint distances raised to `power`; a step is kept only in the frames where it helps, and a frame it helped by
    less than SETTLED of its cost takes no more steps (the fit 8 % faster, its distances within 0.1 mm). Turning
    joint j by a small w moves each of its children c, and everything below c, by w x (p_c - p_j)."""
    parents = T2M.parents
    kids = children_of(parents)
    movers = [j for j in range(len(parents)) if kids[j]]
    subtree = np.eye(len(parents), dtype=bool)  # subtree[c, k]: k is c or below it
    for k in range(len(parents) - 1, 0, -1):
        subtree[parents[k]] |= subtree[k]
    rot = _pose_rotations(pos, offsets)
    frames, half = len(pos), power / 2
    cost = _cost(pos, joints, power)
    damping = np.full((frames, 1, 1), 1e-3)
    live = np.ones(frames, dtype=bool)  # frames still improving: a frame whose step gained < SETTLED is left
    for _ in range(steps):
        t = np.flatnonzero(live)
        if not len(t):
            break
        at = pos[t]
        jac = np.zeros((len(t), len(parents), 3, len(movers), 3))
        for m, j in enumerate(movers):
            block = jac[:, :, :, m]  # a view: (T, J, 3, 3)
            for c in kids[j]:
                block[:, subtree[c]] = -_skew(at[:, c] - at[:, j])[:, None]
        jac = jac[:, 1:].reshape(len(t), len(parents) - 1, 3, -1)
        diff = (at - joints[t])[:, 1:]
        if power == 2:  # the three coordinates of each joint's offset
            jac, residual = jac.reshape(len(t), -1, jac.shape[-1]), diff.reshape(len(t), -1, 1)
        else:  # one residual |d|^(p/2) per joint
            norm = np.sqrt(np.square(diff).sum(-1) + 1e-12)
            residual = (norm**half)[..., None]
            jac = (half * norm ** (half - 2))[..., None] * np.einsum("tki,tkim->tkm", diff, jac)
        jtj = np.swapaxes(jac, 1, 2) @ jac
        scale = np.trace(jtj, axis1=1, axis2=2)[:, None, None] / jtj.shape[1] + 1e-12
        # torch: numpy's batched solve of small systems crawls when BLAS threads compete for few cores
        before, damped = cost[t], damping[t]
        step = -torch.linalg.solve(torch.from_numpy(jtj + damped * scale * np.eye(jtj.shape[1])),
                                   torch.from_numpy(np.swapaxes(jac, 1, 2) @ residual)).numpy()
        trial = rot[t]
        trial[:, movers] = _rotvec_matrix(step.reshape(len(t), len(movers), 3)) @ trial[:, movers]
        trial_pos = _pose(joints[t, 0], trial, offsets)
        trial_cost = _cost(trial_pos, joints[t], power)
        better = trial_cost < before
        live[t[better & (before - trial_cost < SETTLED * before)]] = False
        kept = t[better]
        rot[kept], pos[kept], cost[kept] = trial[better], trial_pos[better], trial_cost[better]
        damping[t] = np.where(better[:, None, None], damped * 0.3, damped * 10.0)
    return pos


def _swing(parent: np.ndarray, rest: np.ndarray, bone: np.ndarray) -> np.ndarray:
    """Global rotation (T, 3, 3): `parent` followed by the shortest arc that turns the rest direction, as the
    parent carries it, onto `bone` (no added twist)."""
    a = normalize(np.einsum("tij,j->ti", parent, rest))
    b = normalize(bone)
    v = np.cross(a, b)
    c = (a * b).sum(-1)[:, None, None]
    k = _skew(v)
    arc = np.eye(3) + k + (k @ k) / np.maximum(1.0 + c, 1e-9)
    flipped = c[:, 0, 0] < -1.0 + 1e-9  # opposite directions: half a turn about an axis normal to a
    if flipped.any():
        axis = normalize(np.cross(a[flipped], np.where(np.abs(a[flipped, :1]) < 0.9, X, Y)))
        arc[flipped] = 2.0 * axis[:, :, None] * axis[:, None, :] - np.eye(3)
    return arc @ parent


def _aim(rest: np.ndarray, rest_ref: np.ndarray, bone: np.ndarray, ref: np.ndarray,
         fallback: np.ndarray) -> np.ndarray:
    """Global rotation (T, 3, 3) turning the rest direction `rest` onto `bone` and the rest reference direction
    (normal to `rest`) towards `ref`; where `ref` is parallel to the bone, `fallback` (T, 3, 3) gives the twist."""
    a0 = normalize(rest)
    n0 = normalize(rest_ref - (rest_ref @ a0) * a0)
    a = normalize(bone)
    n = ref - (ref * a).sum(-1, keepdims=True) * a
    weak = np.linalg.norm(n, axis=-1) < 1e-6
    if weak.any():
        n[weak] = np.einsum("tij,j->ti", fallback[weak], n0)
    n = normalize(n)
    target = np.stack([a, n, np.cross(a, n)], axis=-1)
    return target @ np.stack([a0, n0, np.cross(a0, n0)], axis=-1).T


def _hinge_reference(bone: np.ndarray, nxt: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """(T, 3) direction, frame by frame, that a limb's rest bend direction turns to (see HINGE_FULL): `bone` is
    the limb's first bone, `nxt` the next one, `prior` the twist to fall back on. The pass starts at the most bent
    frame (a true bend there, not an over-extension) and runs backwards and forwards from it."""
    a = normalize(bone)
    bend = normalize(nxt)
    bend = bend - (bend * a).sum(-1, keepdims=True) * a  # its length is the sine of the bend angle
    strength = np.linalg.norm(bend, axis=-1)
    plane = bend / np.maximum(strength, 1e-12)[:, None]
    start = int(strength.argmax())
    out = np.empty_like(a)
    for frames in (range(start, -1, -1), range(start, len(a))):
        previous = plane[start] if strength[start] >= HINGE_FULL else prior[start]
        for t in frames:
            ref = previous + HINGE_RELAX * prior[t]
            ref = normalize(ref - (ref @ a[t]) * a[t])
            side = -1.0 if plane[t] @ ref < 0.0 and strength[t] < HINGE_FLIP else 1.0
            weight = min(strength[t] / HINGE_FULL, 1.0)
            out[t] = previous = normalize(weight * side * plane[t] + (1.0 - weight) * ref)
    return out


def natural_rotations(pos: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Global rotations (T, 22, 3, 3) that place a rigid skeleton with `offsets` at `pos` and twist its bones as a
    body does (see the module docstring)."""
    kids = children_of(T2M.parents)
    out = np.empty(pos.shape[:2] + (3, 3))
    for j in (PELVIS, CHEST):
        out[:, j] = best_rotation(offsets[kids[j]], pos[:, kids[j]] - pos[:, j : j + 1])
    for j, p in enumerate(T2M.parents):
        if j in (PELVIS, CHEST):
            continue
        if not kids[j]:
            out[:, j] = out[:, p]
            continue
        c = kids[j][0]
        bone = pos[:, c] - pos[:, j]
        swing = _swing(out[:, p], offsets[c], bone)
        if j in HINGES:
            prior = np.einsum("tij,j->ti", swing, HINGES[j])
            if p == PELVIS:  # a straight leg twists with its foot, which points forward, away from a knee's bend
                ankle = kids[c][0]
                prior = prior * 0.1 - normalize(pos[:, kids[ankle][0]] - pos[:, ankle])
            ref = _hinge_reference(bone, pos[:, kids[c][0]] - pos[:, c], prior)
            out[:, j] = _aim(offsets[c], HINGES[j], bone, ref, swing)
        elif j in SPINE_TWIST:
            w = SPINE_TWIST[j]
            ref = w * out[:, PELVIS, :, 0] + (1.0 - w) * out[:, CHEST, :, 0]  # blend of the left axes
            out[:, j] = _aim(offsets[c], X, bone, ref, swing)
        else:
            out[:, j] = swing
    return out


def pose_rotations(joints: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Global rotations (T, 22, 3, 3) of the skeleton `offsets` pointing its bones as the bones of `joints` point,
    whatever their lengths, with the twists of `natural_rotations` (retargeting compares a template's pose with the
    fitted skeleton's this way)."""
    return natural_rotations(_chain_pose(check_joints(joints), offsets, follow=False), offsets)


def fit_skeleton(joints: np.ndarray, fps: float = T2M.fps) -> RigMotion:
    """The rigid skeleton (SMPL joint names and order) that follows `joints` (T, 22, 3, metres, Y up) as closely as
    rigid bones allow, with natural twists; its root path is exactly joints[:, 0]."""
    joints = check_joints(joints)
    if not fps > 0:
        raise MotionGPTError(f"fps {fps}: must be positive")
    lengths = bone_lengths(joints)
    offsets = rest_offsets(joints, lengths)
    pos = _chain_pose(joints, offsets)
    for power, steps in SCHEDULE:
        pos = _refine(joints, pos, offsets, steps, power)
    local = local_rotations(natural_rotations(pos, offsets), T2M.parents)
    translations = np.broadcast_to(offsets, joints.shape).copy()
    translations[:, 0] = joints[:, 0]
    kids = children_of(T2M.parents)
    end_sites = {j: offsets[j] * END_SITE_FRACTION for j in range(len(kids)) if not kids[j]}
    return RigMotion(names=list(JOINT_NAMES), parents=list(T2M.parents), offsets=offsets,
                     rotations=qfix(matrix_to_quat(local), axis=0), translations=translations, fps=float(fps),
                     end_sites=end_sites)


def fit_skeletons(motions: Sequence[np.ndarray], fps: float = T2M.fps) -> list[RigMotion]:
    """`fit_skeleton` of several motions on as many threads as there are cores: numpy and torch release the GIL
    in the fit's array work (32 generated motions on 2 cores: 2.4 s one after the other, 1.6 s on 2 threads)."""
    workers = min(len(motions), len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else
                  os.cpu_count() or 1)
    if workers <= 1:
        return [fit_skeleton(m, fps=fps) for m in motions]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(lambda m: fit_skeleton(m, fps=fps), motions))
