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

import functools
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from motiongpt.errors import MotionGPTError
from motiongpt.motion.kinematics import best_rotation, children_of
from motiongpt.motion.quaternion import EPS, cross, matrix_to_quat, normalize, qfix
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
# Frames refined in one pass: fewer, larger array operations than one motion at a time, while the Jacobians still
# fit in the cache (16 generated motions: 256-frame passes take 0.53 s, one pass over all 1,740 frames 0.84 s).
CHUNK_FRAMES = 256
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
    return np.stack([x, y, cross(x, y)], axis=-1)


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
    """Positions (T, 22, 3) of the rigid skeleton (offsets (22, 3), or (T, 22, 3): one skeleton per frame) posed
    down each chain. With `follow`, every bone aims from where its parent joint ended up at where its child should
    be (closest positions); otherwise along the bone of `joints` itself (same directions, for a skeleton of other
    proportions)."""
    kids = children_of(T2M.parents)
    offsets = np.broadcast_to(offsets, joints.shape)
    pos = np.empty_like(joints)
    pos[:, 0] = joints[:, 0]
    for j in range(len(kids)):
        start = pos[:, j : j + 1] if follow else joints[:, j : j + 1]
        if len(kids[j]) == 1:
            c = kids[j][0]
            length = np.linalg.norm(offsets[:, c], axis=-1, keepdims=True)
            pos[:, c] = pos[:, j] + normalize(joints[:, c] - start[:, 0]) * length
        elif kids[j]:
            rest = offsets[:, kids[j]]
            rot = best_rotation(rest, joints[:, kids[j]] - start)
            pos[:, kids[j]] = pos[:, j : j + 1] + np.einsum("tij,tkj->tki", rot, rest)
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
    """Global rotations (T, 22, 3, 3) that place a rigid skeleton (offsets (T, 22, 3)) at `pos`, twisting each bone
    as little as its parent allows (enough to drive the Gauss-Newton steps, which only need positions)."""
    kids = children_of(T2M.parents)
    out = np.empty(pos.shape[:2] + (3, 3))
    for j, p in enumerate(T2M.parents):
        parent = np.broadcast_to(np.eye(3), out[:, 0].shape) if p < 0 else out[:, p]
        if len(kids[j]) > 1:
            out[:, j] = best_rotation(offsets[:, kids[j]], pos[:, kids[j]] - pos[:, j : j + 1])
        elif kids[j]:
            out[:, j] = _swing(parent, offsets[:, kids[j][0]], pos[:, kids[j][0]] - pos[:, j])
        else:
            out[:, j] = parent
    return out


def _pose(root: np.ndarray, rot: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Positions (T, 22, 3) of the skeleton (offsets (T, 22, 3)) with global rotations `rot` (T, 22, 3, 3) and its
    root at `root`."""
    parents = list(T2M.parents)
    bones = (rot[:, parents[1:]] @ offsets[:, 1:, :, None])[..., 0]  # each bone's offset, turned by its parent
    pos = np.empty(rot.shape[:2] + (3,))
    pos[:, 0] = root
    for j, p in enumerate(parents[1:], start=1):
        pos[:, j] = pos[:, p] + bones[:, j - 1]
    return pos


def _cost(pos: np.ndarray, joints: np.ndarray, power: float) -> np.ndarray:
    """Per-frame sum over joints of the distance to the target raised to `power`."""
    return (np.square(pos - joints).sum(-1) ** (power / 2)).sum(-1)


@functools.cache
def _paths() -> tuple[list[int], np.ndarray, np.ndarray, np.ndarray]:
    """The non-leaf joints (movers), and for every bone on the path from the root to each joint k > 0: (k - 1,
    the index among the movers of the bone's start, the bone's end - 1). Turning a mover's global rotation moves
    the joints below that bone as it moves the bone's end, so these entries are the Jacobian's non-zero blocks."""
    parents = T2M.parents
    kids = children_of(parents)
    movers = [j for j in range(len(parents)) if kids[j]]
    joint, mover, bone = [], [], []
    for k in range(1, len(parents)):
        c = k
        while parents[c] >= 0:
            joint.append(k - 1), mover.append(movers.index(parents[c])), bone.append(c - 1)
            c = parents[c]
    return movers, np.array(joint), np.array(mover), np.array(bone)


def _damped_solve(jac: np.ndarray, residual: np.ndarray, damping: np.ndarray) -> np.ndarray:
    """(J^T J + d s I)^-1 J^T r for each frame: J (T, R, N), r (T, R, 1), d (T, 1, 1) and s the mean of J^T J's
    diagonal. With fewer residuals than unknowns (one per joint: 21 against 51) it solves the same step as
    J^T (J J^T + d s I)^-1 r, a system less than half the size."""
    rows, unknowns = jac.shape[1:]
    jac_t = np.swapaxes(jac, 1, 2)
    scale = np.square(jac).sum((1, 2))[:, None, None] / unknowns + 1e-12
    small = rows < unknowns
    gram = jac @ jac_t if small else jac_t @ jac
    system = gram + damping * scale * np.eye(gram.shape[1])
    # torch: numpy's batched solve of small systems crawls when BLAS threads compete for few cores
    if small:
        return jac_t @ torch.linalg.solve(torch.from_numpy(system), torch.from_numpy(residual)).numpy()
    return torch.linalg.solve(torch.from_numpy(system), torch.from_numpy(jac_t @ residual)).numpy()


def _refine(joints: np.ndarray, pos: np.ndarray, offsets: np.ndarray, steps: int, power: float) -> np.ndarray:
    """Levenberg-Marquardt on every non-leaf joint's global rotation (root position fixed), minimising the sum of
    joint distances raised to `power`; offsets (T, 22, 3). A step is kept only in the frames where it helps, and a
    frame it helped by less than SETTLED of its cost takes no more steps (the fit 8 % faster, its distances within
    0.1 mm). Turning joint j by a small w moves each of its children c, and everything below c, by w x (p_c - p_j).
    Every frame is solved on its own, so the frames of several motions can be refined in one call."""
    parents = list(T2M.parents)
    movers, joint, mover, bone = _paths()
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
        vectors = (at[:, 1:] - at[:, parents[1:]])[:, bone]  # (T, entries, 3): each path bone's vector
        diff = (at - joints[t])[:, 1:]
        if power == 2:  # the three coordinates of each joint's offset: blocks -[v]x
            jac = np.zeros((len(t), len(parents) - 1, len(movers), 3, 3))
            jac[:, joint, mover] = -_skew(vectors)
            jac = jac.transpose(0, 1, 3, 2, 4).reshape(len(t), -1, 3 * len(movers))
            residual = diff.reshape(len(t), -1, 1)
        else:  # one residual |d|^(p/2) per joint, whose gradient in w is (p/2)|d|^(p/2-2) (v x d)
            norm = np.sqrt(np.square(diff).sum(-1) + 1e-12)
            residual = (norm**half)[..., None]
            jac = np.zeros((len(t), len(parents) - 1, len(movers), 3))
            jac[:, joint, mover] = (half * norm[:, joint] ** (half - 2))[..., None] * cross(vectors, diff[:, joint])
            jac = jac.reshape(len(t), len(parents) - 1, -1)
        before, damped = cost[t], damping[t]
        step = -_damped_solve(jac, residual, damped)
        trial = rot[t]
        trial[:, movers] = _rotvec_matrix(step.reshape(len(t), len(movers), 3)) @ trial[:, movers]
        trial_pos = _pose(joints[t, 0], trial, offsets[t])
        trial_cost = _cost(trial_pos, joints[t], power)
        better = trial_cost < before
        live[t[better & (before - trial_cost < SETTLED * before)]] = False
        kept = t[better]
        rot[kept], pos[kept], cost[kept] = trial[better], trial_pos[better], trial_cost[better]
        damping[t] = np.where(better[:, None, None], damped * 0.3, damped * 10.0)
    return pos


def _swing(parent: np.ndarray, rest: np.ndarray, bone: np.ndarray) -> np.ndarray:
    """Global rotation (T, 3, 3): `parent` followed by the shortest arc that turns the rest direction ((3,) or
    (T, 3)), as the parent carries it, onto `bone` (no added twist)."""
    a = normalize((parent @ rest[..., None])[..., 0])
    b = normalize(bone)
    v = cross(a, b)
    c = (a * b).sum(-1)[:, None, None]
    k = _skew(v)
    arc = np.eye(3) + k + (k @ k) / np.maximum(1.0 + c, 1e-9)
    flipped = c[:, 0, 0] < -1.0 + 1e-9  # opposite directions: half a turn about an axis normal to a
    if flipped.any():
        axis = normalize(cross(a[flipped], np.where(np.abs(a[flipped, :1]) < 0.9, X, Y)))
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
    target = np.stack([a, n, cross(a, n)], axis=-1)
    return target @ np.stack([a0, n0, cross(a0, n0)], axis=-1).T


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
    # one frame after another: plain floats, as numpy's calls on 3-vectors cost more than their arithmetic
    a, plane, prior, strength = a.tolist(), plane.tolist(), prior.tolist(), strength.tolist()
    out = [None] * len(a)
    for frames in (range(start, -1, -1), range(start, len(a))):
        previous = plane[start] if strength[start] >= HINGE_FULL else prior[start]
        for t in frames:
            (ax, ay, az), (bx, by, bz) = a[t], plane[t]
            rx, ry, rz = (p + HINGE_RELAX * q for p, q in zip(previous, prior[t]))
            along = rx * ax + ry * ay + rz * az
            rx, ry, rz = _unit(rx - along * ax, ry - along * ay, rz - along * az)
            side = -1.0 if bx * rx + by * ry + bz * rz < 0.0 and strength[t] < HINGE_FLIP else 1.0
            weight = min(strength[t] / HINGE_FULL, 1.0)
            out[t] = previous = _unit(weight * side * bx + (1.0 - weight) * rx,
                                      weight * side * by + (1.0 - weight) * ry,
                                      weight * side * bz + (1.0 - weight) * rz)
    return np.array(out)


def _unit(x: float, y: float, z: float) -> tuple[float, float, float]:
    """`normalize` of one vector of plain floats (a zero vector stays zero)."""
    n = math.sqrt(x * x + y * y + z * z)
    n = n if n >= EPS else n + 1.0
    return x / n, y / n, z / n


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
    return _fit_together([joints], fps)[0]


def _fit_together(motions: Sequence[np.ndarray], fps: float) -> list[RigMotion]:
    """`fit_skeleton` of each motion, their frames refined together CHUNK_FRAMES at a time: each frame is solved on
    its own, so each motion comes out as its own fit (to rounding: batched products may add in another order), in
    fewer and larger array operations."""
    if not fps > 0:
        raise MotionGPTError(f"fps {fps}: must be positive")
    motions = [check_joints(m) for m in motions]
    offsets = [rest_offsets(m, bone_lengths(m)) for m in motions]
    joints = np.concatenate(motions)
    per_frame = np.concatenate([np.broadcast_to(o, m.shape) for o, m in zip(offsets, motions)])
    pos = np.empty_like(joints)
    for start in range(0, len(joints), CHUNK_FRAMES):
        part = slice(start, start + CHUNK_FRAMES)
        pos[part] = _chain_pose(joints[part], per_frame[part])
        for power, steps in SCHEDULE:
            pos[part] = _refine(joints[part], pos[part], per_frame[part], steps, power)
    ends = np.cumsum([len(m) for m in motions])
    return [_rig(m, p, o, fps) for m, p, o in zip(motions, np.split(pos, ends[:-1]), offsets)]


def _rig(joints: np.ndarray, pos: np.ndarray, offsets: np.ndarray, fps: float) -> RigMotion:
    """The rig of a fitted pose: natural rotations of the skeleton `offsets` at `pos`, its root at joints[:, 0]."""
    local = local_rotations(natural_rotations(pos, offsets), T2M.parents)
    translations = np.broadcast_to(offsets, joints.shape).copy()
    translations[:, 0] = joints[:, 0]
    kids = children_of(T2M.parents)
    end_sites = {j: offsets[j] * END_SITE_FRACTION for j in range(len(kids)) if not kids[j]}
    return RigMotion(names=list(JOINT_NAMES), parents=list(T2M.parents), offsets=offsets,
                     rotations=qfix(matrix_to_quat(local), axis=0), translations=translations, fps=float(fps),
                     end_sites=end_sites)


def fit_skeletons(motions: Sequence[np.ndarray], fps: float = T2M.fps) -> list[RigMotion]:
    """`fit_skeleton` of several motions: split into as many groups of about equal frames as there are cores, each
    group fitted together on its own thread (numpy and torch release the GIL in large array operations, not in
    the many small ones of one motion at a time)."""
    if not motions:
        return []
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    ends = np.cumsum([len(m) for m in motions])
    workers = max(1, min(len(motions), cores))
    targets = ends[-1] * np.arange(1, workers) / workers
    cuts = np.abs(ends[:, None] - targets[None]).argmin(0) + 1  # after the motion ending nearest each target
    groups = [g for g in np.split(np.arange(len(motions)), cuts) if len(g)]
    if len(groups) <= 1:
        return _fit_together(motions, fps)
    with ThreadPoolExecutor(len(groups)) as pool:
        fitted = pool.map(lambda g: _fit_together([motions[i] for i in g], fps), groups)
        return [rig for group in fitted for rig in group]
