"""A rigid skeleton and its animation: what the skeleton fit and retargeting produce and every export format writes.

Joints are listed parents first. Each joint has a local rotation per frame and a local translation per frame
(its rest offset, except where a joint moves: the root); positions follow by forward kinematics in the
joint-hierarchy convention of `motiongpt.motion.kinematics` (a joint's rotation turns all of its children).
Lengths are metres, Y up, +Z forward.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from motiongpt.motion.kinematics import forward_kinematics
from motiongpt.motion.quaternion import qidentity, quat_to_matrix


@dataclass
class RigMotion:
    """Joint names and hierarchy, rest offsets, and per-frame local rotations and translations."""

    names: list[str]
    parents: list[int]  # -1 for the root; every parent precedes its children
    offsets: np.ndarray  # (J, 3) metres: rest translation of each joint from its parent
    rotations: np.ndarray  # (T, J, 4) local rotations, unit quaternions (w, x, y, z)
    translations: np.ndarray  # (T, J, 3) metres: local translations (the offsets, the root's path)
    fps: float
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint -> End Site offset (metres)
    channels: list[tuple[str, ...]] | None = None  # BVH channels to write (a template's); None: the default
    unit: str = "cm"  # the BVH file unit: "cm" or "m"

    @property
    def num_frames(self) -> int:
        return self.rotations.shape[0]

    def positions(self) -> np.ndarray:
        """(T, J, 3) global joint positions in metres."""
        return forward_kinematics(self.rotations, self.translations[:, 0], self.translations, self.parents)

    def global_rotations(self) -> np.ndarray:
        """(T, J, 3, 3) global rotation matrices."""
        local = quat_to_matrix(self.rotations)
        out = np.empty_like(local)
        for j, p in enumerate(self.parents):
            out[:, j] = local[:, j] if p < 0 else out[:, p] @ local[:, j]
        return out

    def rest_positions(self) -> np.ndarray:
        """(J, 3) joint positions of the rest pose (no rotation) with the root at the origin."""
        rest = dataclasses.replace(self, rotations=qidentity((1, len(self.names)), self.offsets),
                                   translations=self.offsets[None].copy())
        rest.translations[0, 0] = 0.0
        return rest.positions()[0]

    def renamed(self, names: list[str]) -> RigMotion:
        """The same skeleton and animation under other joint names."""
        return dataclasses.replace(self, names=list(names))



def local_rotations(glob: np.ndarray, parents: list[int] | tuple[int, ...]) -> np.ndarray:
    """Local rotation matrices (T, J, 3, 3) of global ones: each joint's relative to its parent's."""
    local = glob.copy()
    for j, p in enumerate(parents):
        if p >= 0:
            local[:, j] = np.swapaxes(glob[:, p], -1, -2) @ glob[:, j]
    return local
