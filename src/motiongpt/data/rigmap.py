"""Rig maps: which joints of a BVH rig give the 22 SMPL joints that HumanML3D features are built on.

A map is a small JSON or YAML file: a mapping from each of the 22 SMPL joint names (`pelvis`, `left_hip`, ...)
to one of
- a rig joint name: `"left_hip": "UpperLeg_L"`,
- a list of alternative names, the first one the rig has is used: `"left_foot": ["LeftToeBase", "LeftToe"]`,
- the midpoint of two rig joints: `"spine3": {"midpoint": ["Chest", "Neck"]}`.
The mapping may also sit under a `"joints"` key next to a `"name"` and a `"description"`.
Built-in maps (package data in `rigmaps/`) cover the Bandai Namco rig, SMPL-style rigs with the usual exported
names (Hips, LeftUpLeg, ...), Mixamo rigs (mixamorig:Hips, ...), rigs with the SMPL model's own joint names
(Pelvis, L_Hip, ..., as motiongpt's BVH export writes them) and the ASF skeletons of CMU and HDM05 (root, lfemur, ...).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from motiongpt.errors import MotionGPTError
from motiongpt.io import read_json
from motiongpt.motion.skeleton import T2M

SMPL_JOINTS: tuple[str, ...] = T2M.joint_names
BUILTIN_DIR = Path(__file__).with_name("rigmaps")
BUILTIN_NAMES = ("bandai", "smpl", "mixamo", "smpl-native", "cmu")


@dataclass(frozen=True)
class RigMap:
    """For each SMPL joint (in `SMPL_JOINTS` order): the rig joint names it may come from, or a midpoint pair."""

    name: str
    alternatives: tuple[tuple[str, ...] | None, ...]  # rig joint names to try, in order (None for a midpoint)
    midpoints: tuple[tuple[str, str] | None, ...]  # the two rig joints averaged (None for a direct joint)

    @classmethod
    def from_dict(cls, data: object, name: str, origin: str) -> RigMap:
        """Build from a parsed map file; `origin` names the file in error messages."""
        if isinstance(data, dict) and isinstance(data.get("joints"), dict):
            name = str(data.get("name", name))
            data = data["joints"]
        if not isinstance(data, dict):
            raise MotionGPTError(f"{origin}: a rig map must be a mapping from SMPL joint names to rig joints")
        unknown = [k for k in data if k not in SMPL_JOINTS]
        if unknown:
            raise MotionGPTError(f"{origin}: unknown SMPL joint name(s) {', '.join(map(str, unknown))} "
                                 f"(expected: {', '.join(SMPL_JOINTS)})")
        missing = [k for k in SMPL_JOINTS if k not in data]
        if missing:
            raise MotionGPTError(f"{origin}: rig map lacks SMPL joint(s) {', '.join(missing)}")
        alternatives, midpoints = [], []
        for joint in SMPL_JOINTS:
            entry = data[joint]
            if isinstance(entry, str):
                entry = [entry]
            if isinstance(entry, list) and entry and all(isinstance(e, str) for e in entry):
                alternatives.append(tuple(entry))
                midpoints.append(None)
            elif (isinstance(entry, dict) and list(entry) == ["midpoint"] and isinstance(entry["midpoint"], list)
                  and len(entry["midpoint"]) == 2 and all(isinstance(e, str) for e in entry["midpoint"])):
                alternatives.append(None)
                midpoints.append(tuple(entry["midpoint"]))
            else:
                raise MotionGPTError(f"{origin}: entry for '{joint}' must be a rig joint name, a list of names "
                                     f"or {{\"midpoint\": [a, b]}}, got {entry!r}")
        return cls(name=name, alternatives=tuple(alternatives), midpoints=tuple(midpoints))

    @classmethod
    def load(cls, path: str | Path) -> RigMap:
        """Read a user map from JSON (.json) or YAML (.yaml/.yml)."""
        path = Path(path)
        if path.suffix.lower() in (".yaml", ".yml"):
            if not path.is_file():
                raise MotionGPTError(f"{path}: not found")
            try:
                data = yaml.safe_load(path.read_text())
            except yaml.YAMLError as err:
                mark = getattr(err, "problem_mark", None)
                where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
                raise MotionGPTError(f"{where}: invalid YAML ({getattr(err, 'problem', err)})") from err
        else:
            data = read_json(path)
        return cls.from_dict(data, name=path.stem, origin=str(path))

    def resolve(self, joint_names: Sequence[str]) -> tuple[list[str], list[str]] | None:
        """The rig joints averaged for each SMPL joint (pairs, or a joint twice), or None if any is missing."""
        present = set(joint_names)
        first, second = [], []
        for alts, mid in zip(self.alternatives, self.midpoints):
            if mid is not None:
                if mid[0] not in present or mid[1] not in present:
                    return None
                first.append(mid[0])
                second.append(mid[1])
            else:
                found = next((a for a in alts if a in present), None)
                if found is None:
                    return None
                first.append(found)
                second.append(found)
        return first, second

    def missing(self, joint_names: Sequence[str]) -> list[str]:
        """Rig joints this map needs that `joint_names` lacks (alternatives shown joined by '|')."""
        present = set(joint_names)
        out = []
        for alts, mid in zip(self.alternatives, self.midpoints):
            if mid is not None:
                out += [m for m in mid if m not in present]
            elif not any(a in present for a in alts):
                out.append("|".join(alts))
        return out

    def apply(self, positions: np.ndarray, joint_names: Sequence[str], source: str | Path = "") -> np.ndarray:
        """(T, J_rig, 3) rig joint positions -> (T, 22, 3) SMPL joint positions. `source` names the file in
        errors."""
        positions = np.asarray(positions)
        if positions.ndim != 3 or positions.shape[1:] != (len(joint_names), 3):
            raise MotionGPTError(f"{source or 'positions'}: expected (T, {len(joint_names)}, 3) positions for "
                                 f"{len(joint_names)} joint names, got shape {positions.shape}")
        resolved = self.resolve(joint_names)
        if resolved is None:
            raise MotionGPTError(f"{source or 'skeleton'}: rig map '{self.name}' needs joint(s) "
                                 f"{', '.join(self.missing(joint_names))}, which the file lacks "
                                 f"(joints found: {', '.join(joint_names)})")
        index = {n: i for i, n in enumerate(joint_names)}
        a = positions[:, [index[n] for n in resolved[0]]]
        b = positions[:, [index[n] for n in resolved[1]]]
        return 0.5 * (a + b)


def builtin_map(name: str) -> RigMap:
    """One of the maps shipped with the package: "bandai", "smpl", "mixamo", "smpl-native" or "cmu"."""
    if name not in BUILTIN_NAMES:
        raise MotionGPTError(f"unknown built-in rig map '{name}' (available: {', '.join(BUILTIN_NAMES)})")
    return RigMap.load(BUILTIN_DIR / f"{name}.json")


def detect_map(joint_names: Sequence[str], source: str | Path = "") -> RigMap:
    """The first built-in map whose joints the rig all has; otherwise an error listing the rig's joints."""
    for name in BUILTIN_NAMES:
        rigmap = builtin_map(name)
        if rigmap.resolve(joint_names) is not None:
            return rigmap
    raise MotionGPTError(f"{source or 'skeleton'}: no built-in rig map ({', '.join(BUILTIN_NAMES)}) fits this "
                         f"rig; joints found: {', '.join(joint_names)}. Pass a rig map (JSON or YAML) that maps "
                         f"the 22 SMPL joints ({', '.join(SMPL_JOINTS)}) to these names")
