"""The left/right judge: which hand, leg or direction a motion used, read from its joints, against what its
description asked for.

A text-motion evaluator scores a motion by embedding similarity, which barely tells "wave the left hand" from
"wave the right hand"; a model that answers with the opposite side scores almost as well. This judge reads the
side from joint space instead (T2M joint order, Y up, the person's left at +x when facing +z):

- hand (wave, raise): the wrist that rises higher above the pelvis and travels further around the body;
- leg (kick): the ankle that rises higher above the lowest foot;
- turn: the sign of the change in heading (facing direction) from the first to the last quarter-second;
- veer (walk diagonally): the side of the body, at the mean heading, on which the root's path ends up.

A side is called only when its evidence passes a floor and is at least twice the other side's; otherwise the
verdict is undecided, which counts as wrong (a motion that moves both hands alike answers neither side).
Generation uses it to never answer with the opposite side (`motiongpt.generation.pipeline`); `motiongpt.eval.sides`
measures models with it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.motion.skeleton import T2M

KINDS = ("hand", "leg", "turn", "veer")
SIDES = ("left", "right")
FPS = T2M.fps

PELVIS, L_ANKLE, R_ANKLE, L_FOOT, R_FOOT, L_WRIST, R_WRIST = (T2M.joint_names.index(name) for name in (
    "pelvis", "left_ankle", "right_ankle", "left_foot", "right_foot", "left_wrist", "right_wrist"))

_PATTERNS = [  # first match wins: the kind of side a description names
    ("veer", re.compile(r"\b(diagonal(ly)?|veer(s|ing)?|angles?|slants?)\b.*\b(left|right)\b")),
    ("veer", re.compile(r"\b(forward)[- ](left|right)\b")),
    ("turn", re.compile(r"\b(turn(s|ing)?|rotates?|pivots?|u-turn|curves?)\b.*\b(left|right)\b")),
    ("leg", re.compile(r"\b(left|right)\b.*\b(leg|foot)\b|\b(leg|foot)\b.*\b(left|right)\b")),
    ("hand", re.compile(r"\b(left|right)\b.*\b(hand|arm|palm)\b|\b(hand|arm|palm)\b.*\b(left|right)\b")),
]


@dataclass(frozen=True)
class SideQuery:
    description: str
    kind: str  # one of KINDS
    side: str  # left or right
    content: str | None = None  # the Bandai content it asks for, where the set says so


@dataclass(frozen=True)
class Verdict:
    expected: str
    observed: str | None  # None: neither side clearly
    scores: tuple[float, float]  # (left, right) evidence, in the kind's unit (metres or radians)

    @property
    def correct(self) -> bool:
        return self.observed == self.expected


def named_side(description: str) -> str | None:
    """"left" or "right" when the description names that side alone; None for neither or both ("from left to
    right")."""
    sides = set(re.findall(r"\b(left|right)\b", description.lower()))
    return sides.pop() if len(sides) == 1 else None


def parse_side(description: str) -> SideQuery | None:
    """The side a free description names (and for which body part or direction), or None if it names none."""
    side = named_side(description)
    if side is None:
        return None
    for kind, pattern in _PATTERNS:
        if pattern.search(description.lower()):
            return SideQuery(description, kind, side)
    return None


def _check(joints: np.ndarray) -> np.ndarray:
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (T2M.num_joints, 3) or len(joints) < 2:
        raise MotionGPTError(f"joints of shape {joints.shape}: expected (T >= 2, {T2M.num_joints}, 3)")
    if not np.isfinite(joints).all():
        raise MotionGPTError("joints: not finite")
    return joints


def heading(joints: np.ndarray) -> np.ndarray:
    """Unwrapped facing angle per frame (radians about +y; 0 faces +z, growing as the person turns left)."""
    r_hip, l_hip, r_shoulder, l_shoulder = T2M.face_joints
    across = joints[:, r_hip] - joints[:, l_hip] + joints[:, r_shoulder] - joints[:, l_shoulder]
    forward = np.cross([0.0, 1.0, 0.0], across)
    return np.unwrap(np.arctan2(forward[:, 0], forward[:, 2]))


def body_frame(joints: np.ndarray) -> np.ndarray:
    """Joints relative to the pelvis on the ground plane, rotated so that every frame faces +z."""
    angle = heading(joints)
    local = joints - joints[:, PELVIS:PELVIS + 1] * np.array([1.0, 0.0, 1.0])
    c, s = np.cos(-angle)[:, None], np.sin(-angle)[:, None]
    x, z = local[..., 0], local[..., 2]
    return np.stack([c * x + s * z, local[..., 1], -s * x + c * z], axis=-1)


def side_scores(joints: np.ndarray, kind: str) -> tuple[float, float]:
    """(left, right) evidence that the motion used that side: larger is more."""
    joints = _check(joints)
    if kind == "hand":
        body = body_frame(joints)
        out = []
        for wrist in (L_WRIST, R_WRIST):
            rise = np.percentile(body[:, wrist, 1] - body[:, PELVIS, 1], 95) - np.percentile(
                body[:, wrist, 1] - body[:, PELVIS, 1], 5)
            travel = np.linalg.norm(np.diff(body[:, wrist], axis=0), axis=-1).sum() / len(body) * FPS
            out.append(float(rise + 0.25 * travel))
        return out[0], out[1]
    if kind == "leg":
        floor = np.minimum(joints[:, L_FOOT, 1], joints[:, R_FOOT, 1])
        return tuple(float(np.percentile(joints[:, ankle, 1] - floor, 98)) for ankle in (L_ANKLE, R_ANKLE))
    quarter = max(1, int(round(FPS / 4)))
    angle = heading(joints)
    if kind == "turn":
        change = float(angle[-quarter:].mean() - angle[:quarter].mean())
        return max(change, 0.0), max(-change, 0.0)
    if kind == "veer":
        mean = np.arctan2(np.sin(angle).mean(), np.cos(angle).mean())
        left = np.array([np.cos(mean), -np.sin(mean)])  # (x, z) of cross(up, forward) at the mean heading
        path = joints[-quarter:, PELVIS, [0, 2]].mean(0) - joints[:quarter, PELVIS, [0, 2]].mean(0)
        lateral = float(path @ left)
        return max(lateral, 0.0), max(-lateral, 0.0)
    raise MotionGPTError(f"kind {kind!r}: expected one of {', '.join(KINDS)}")


# the least evidence for a call (metres, metres, radians, metres); the called side must also show RATIO x the other's
MARGINS = {"hand": 0.05, "leg": 0.1, "turn": 0.35, "veer": 0.2}
RATIO = 2.0


def judge_side(joints: np.ndarray, query: SideQuery | str) -> Verdict:
    """Whether the motion used the side its description asks for, decided from joint space alone."""
    if isinstance(query, str):
        parsed = parse_side(query)
        if parsed is None:
            raise MotionGPTError(f"description {query!r}: names no single left or right hand, leg or direction")
        query = parsed
    left, right = side_scores(joints, query.kind)
    low, high = sorted((left, right))
    clear = high >= MARGINS[query.kind] and high >= RATIO * low
    observed = None if not clear else "left" if left > right else "right"
    return Verdict(query.side, observed, (left, right))
