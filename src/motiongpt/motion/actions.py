"""The action check: whether a motion does the whole-body action its description names, read from its joints.

Some actions have a plain physical signature that a sampled motion can miss while still resembling the action to
a text-motion evaluator: a bow whose head hardly drops, a sprint at a jogging pace, a walk backwards that drifts
forward. This check measures that signature (T2M joint order, Y up, metres and seconds):

- bow (bow, bend forward or over): how far the head drops below its height at the start;
- sprint (sprint, dash, full speed): the mean speed along the facing direction;
- backward (walk backwards, step back, retreat): the mean speed against the facing direction.

A floor is a least amount, not a classifier: runs can be as fast as dashes. Each sits under most real Bandai clips
of that content (dataset 1: 13 of 15 bows drop the head 0.10 m or more, the proud and the sad one 0.05 and 0.08;
12 of 15 dashes average 2.6 m/s or more, the happy, feminine and proud ones 2.4-2.6; every walk backwards 0.44 m/s
or more) and over what the bundled model's misses show (MODEL_CARD.md, "An action check"). Generation samples
again while a motion falls short (`motiongpt.generation.pipeline`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.motion.sides import PELVIS, body_frame, heading
from motiongpt.motion.skeleton import T2M

HEAD = T2M.joint_names.index("head")
START_SECONDS = 0.25  # the head's height at the start: its mean over this long

# the least a motion must show for each action, and what that is in words (for notes to the user)
FLOORS = {"bow": 0.10, "sprint": 2.6, "backward": 0.3}
NEEDS = {"bow": "a head drop of at least {floor:.2f} m", "sprint": "a mean forward speed of at least {floor:.1f} m/s",
         "backward": "a mean backward speed of at least {floor:.1f} m/s"}

_TRAVEL = (r"(walk|walks|walked|walking|step|steps|stepped|stepping|move|moves|moved|moving|go|goes|going|"
           r"pace|paces|pacing|shuffle|shuffles|shuffling|stroll|strolls|strolling|run|runs|running|jog|jogs|jogging)")
_PATTERNS = [  # first match wins
    ("backward", re.compile(rf"\b{_TRAVEL}\s+(\w+\s+){{0,2}}backwards?\b|\bbackwards? {_TRAVEL}\b|\bin reverse\b|"
                            rf"\breverse {_TRAVEL}\b|\bretreat(s|ed|ing)?\b|\bback(s|ed|ing)? (up|away)\b|"
                            rf"\b(step|steps|stepped|stepping) back\b")),
    ("sprint", re.compile(r"\b(sprint(s|ed|ing)?|dash(es|ed|ing)?|bolt(s|ed|ing)?|full speed|top speed|full tilt|"
                          r"max(imum)? speed|all[- ]out|as fast as)\b")),
    ("bow", re.compile(r"\bbow(s|ed|ing)?\b(?!\s+(and arrow|tie))|"
                       r"\b(bend|bends|bending|bent)\b[^,.;]*\b(forward|over|down|at the (waist|hips))\b")),
]


@dataclass(frozen=True)
class ActionVerdict:
    action: str  # one of FLOORS
    measured: float  # in the action's unit (metres, or metres per second)

    @property
    def floor(self) -> float:
        return FLOORS[self.action]

    @property
    def correct(self) -> bool:
        return self.measured >= self.floor

    @property
    def needs(self) -> str:
        return NEEDS[self.action].format(floor=self.floor)


def parse_action(description: str) -> str | None:
    """The checked action a free description names (a key of FLOORS), or None."""
    text = description.lower()
    for action, pattern in _PATTERNS:
        if pattern.search(text):
            return action
    return None


def travel(joints: np.ndarray, fps: float = T2M.fps) -> np.ndarray:
    """(T - 1, 3) the root's speed forward and sideways (to the left) in the facing direction, in m/s, and the
    turning speed in rad/s (to the left)."""
    angle = heading(joints)
    velocity = np.diff(joints[:, PELVIS, [0, 2]], axis=0) * fps
    c, s = np.cos(angle[1:]), np.sin(angle[1:])
    return np.stack([s * velocity[:, 0] + c * velocity[:, 1], c * velocity[:, 0] - s * velocity[:, 1],
                     np.diff(angle) * fps], axis=1)


def action_score(joints: np.ndarray, action: str, fps: float = T2M.fps) -> float:
    """What the motion shows of the action, in its unit: larger is more."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or joints.shape[1:] != (T2M.num_joints, 3) or len(joints) < 2:
        raise MotionGPTError(f"joints of shape {joints.shape}: expected (T >= 2, {T2M.num_joints}, 3)")
    if action == "bow":
        head = body_frame(joints)[:, HEAD, 1]
        return float(head[:max(1, round(START_SECONDS * fps))].mean() - head.min())
    if action in ("sprint", "backward"):
        forward = float(travel(joints, fps)[:, 0].mean())
        return forward if action == "sprint" else -forward
    raise MotionGPTError(f"action {action!r}: expected one of {', '.join(FLOORS)}")


def judge_action(joints: np.ndarray, action: str, fps: float = T2M.fps) -> ActionVerdict:
    """Whether the motion does enough of the action (its score against the action's floor)."""
    return ActionVerdict(action, action_score(joints, action, fps))
