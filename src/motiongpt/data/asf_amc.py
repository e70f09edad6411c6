"""ASF skeletons and AMC motions, the Acclaim format of the CMU and HDM05 mocap databases: reading, and forward
kinematics to global joint positions in metres, Y up.

An ASF file holds `:units` (mass, length scale, angle unit), `:root` (the order of the root's AMC values, the axis
order and values of its orientation, its position), `:bonedata` (per bone: its rest `direction` in the global
frame, `length`, `axis` angles with their order giving the bone's local frame C, the `dof` its AMC values drive and
their `limits`) and `:hierarchy` (a parent, then its children, per line). An AMC file is a frame number line
followed by one line per bone with its dof values, frame after frame; it does not store its frame rate (CMU and
HDM05 capture at 120 fps).

Conventions (those of the CMU and HDM05 data):
- An order lists the rotation applied first first: `axis 0 0 20 XYZ` and `dof rx ry rz` both mean Rz @ Ry @ Rx
  (column vectors), and the AMC values come in the order of `dof`.
- A bone turns by C @ M @ C^-1 relative to its parent, M being its dof rotations about the bone's own axes; it
  then reaches from its parent's end to its own end along direction * (length + l) + C @ (tx, ty, tz).
- Lengths are inches times the `:units length` value (0.45 in CMU and HDM05), so metres = value * 0.0254 / length.
- `limits` are parsed and kept, never applied: they are the joint ranges of the capture's fitting model, and a
  recorded value outside them is still what was captured, so clamping would only bend real poses.

The joints that forward kinematics and rig maps see are `root`, then one joint per bone at the bone's START (its
parent's end) named after the bone, so `lfemur` is the hip, `ltibia` the knee, `lfoot` the ankle and `ltoes` the
ball of the foot, and a `<bone>_end` joint at the end of every leaf bone (`head_end` is the top of the head).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motiongpt.data.bvh import euler_to_matrix
from motiongpt.errors import MotionGPTError
from motiongpt.limits import MAX_ABS_VALUE, check_clip_size, check_fps
from motiongpt.motion.kinematics import forward_kinematics
from motiongpt.motion.quaternion import matrix_to_quat

AMC_FPS = 120.0
INCH = 0.0254
ROTATIONS = {"rx": 0, "ry": 1, "rz": 2}
TRANSLATIONS = {"tx": 0, "ty": 1, "tz": 2}
BONE_DOFS = (*ROTATIONS, *TRANSLATIONS, "l")
ANGLE_UNITS = {"deg": "deg", "degree": "deg", "degrees": "deg", "rad": "rad", "radian": "rad", "radians": "rad"}


@dataclass
class Bone:
    """One `:bonedata` block (the root too, with its `order` as dof and its orientation as axis)."""

    name: str
    direction: np.ndarray  # (3,) unit vector in the global rest frame (zero for the root)
    length: float  # file units
    axis: np.ndarray  # (3, 3) C: the bone's local frame, from its `axis` angles and order
    dof: tuple[str, ...] = ()  # lower case, in the order of the AMC values
    limits: tuple[tuple[float, float], ...] = ()  # one (min, max) per dof, in file units, not applied
    line: int = 0  # where the bone is defined, for error messages


@dataclass
class ASFSkeleton:
    """A parsed ASF file and the joints forward kinematics gives positions for (see the module docstring)."""

    path: Path
    bones: dict[str, Bone]  # "root" first, then the :bonedata blocks in file order
    children: dict[str, list[str]]  # in :hierarchy order
    position: np.ndarray  # (3,) the root's rest position, file units
    length_unit: float = 1.0  # the `:units length` value
    angle_unit: str = "deg"  # of the ASF's axis, orientation and limits, and of AMC values without a header
    mass: float = 1.0
    scale: float = INCH  # metres per file unit
    names: list[str] = field(default_factory=list)  # joints: root, bones depth-first, <leaf>_end after each leaf
    parents: list[int] = field(default_factory=list)
    joint_bone: list[str | None] = field(default_factory=list)  # the bone whose rotation each joint carries
    offset_bone: list[str | None] = field(default_factory=list)  # the bone whose span each joint's offset is

    def __post_init__(self) -> None:
        if not self.names:
            self._joints("root", -1, None)

    def _joints(self, bone: str, parent: int, offset_bone: str | None) -> None:
        index = len(self.names)
        self.names.append(bone)
        self.parents.append(parent)
        self.joint_bone.append(bone)
        self.offset_bone.append(offset_bone)
        kids = self.children.get(bone, [])
        for child in kids:
            self._joints(child, index, None if bone == "root" else bone)
        if not kids and bone != "root":
            self.names.append(f"{bone}_end")
            self.parents.append(index)
            self.joint_bone.append(None)
            self.offset_bone.append(bone)


@dataclass
class AMCMotion:
    """An AMC file read against its skeleton. `values[bone]` is (T, len(dof)) in file units (angles as read)."""

    skeleton: ASFSkeleton
    values: dict[str, np.ndarray]
    num_frames: int
    fps: float = AMC_FPS
    radians: bool = False
    path: Path | None = None

    @property
    def names(self) -> list[str]:
        return self.skeleton.names

    def _dof(self, bone: Bone, kinds: dict[str, int]) -> tuple[list[int], list[int]]:
        """(axes, value columns) of the bone's dofs of one kind, in the order they are listed."""
        pairs = [(kinds[d], i) for i, d in enumerate(bone.dof) if d in kinds]
        return [a for a, _ in pairs], [i for _, i in pairs]

    def _rotation(self, bone: Bone) -> np.ndarray:
        """(T, 3, 3) turn of one bone relative to its parent: C @ M @ C^-1."""
        axes, cols = self._dof(bone, ROTATIONS)
        if not axes:
            return np.broadcast_to(np.eye(3), (self.num_frames, 3, 3))
        angles = self.values[bone.name][:, cols[::-1]] * (1.0 if self.radians else np.pi / 180.0)
        return bone.axis @ euler_to_matrix(angles, tuple(axes[::-1])) @ bone.axis.T

    def _span(self, bone: Bone) -> np.ndarray:
        """(T, 3) vector from a bone's start to its end, in its rest frame (file units)."""
        span = np.broadcast_to(bone.direction * bone.length, (self.num_frames, 3)).copy()
        values = self.values.get(bone.name)
        if "l" in bone.dof:
            span += values[:, [bone.dof.index("l")]] * bone.direction
        axes, cols = self._dof(bone, TRANSLATIONS)
        if axes:
            shift = np.zeros((self.num_frames, 3))
            shift[:, axes] = values[:, cols]
            span += shift @ bone.axis.T
        return span

    def global_positions(self) -> np.ndarray:
        """Forward kinematics: (T, J, 3) positions of `names`, metres, Y up."""
        sk = self.skeleton
        num = self.num_frames
        quats = np.zeros((num, len(sk.names), 4))
        quats[..., 0] = 1.0
        offsets = np.zeros((num, len(sk.names), 3))
        for j, name in enumerate(sk.joint_bone):
            if name is not None:
                quats[:, j] = matrix_to_quat(self._rotation(sk.bones[name]))
            if sk.offset_bone[j] is not None:
                offsets[:, j] = self._span(sk.bones[sk.offset_bone[j]])
        root_pos = np.broadcast_to(sk.position, (num, 3)).copy()
        axes, cols = self._dof(sk.bones["root"], TRANSLATIONS)
        if axes:
            root_pos[:, axes] += self.values["root"][:, cols]
        return forward_kinematics(quats, root_pos, offsets, sk.parents) * sk.scale


# ----------------------------------------------------------------------------------------------- ASF


def _read_text(path: Path, kind: str) -> str:
    if not path.is_file():
        raise MotionGPTError(f"{path}: {kind} file not found")
    try:
        return path.read_text()
    except UnicodeDecodeError:
        return path.read_text(encoding="latin-1")  # comments may hold non-UTF-8 paths (HDM05's do)


def _numbers(path: Path, line: int, words: Sequence[str], count: int, what: str) -> list[float]:
    if len(words) != count:
        raise MotionGPTError(f"{path}:{line}: {what} needs {count} number(s), found {len(words)}: "
                             f"{' '.join(words) or '(nothing)'}")
    try:
        out = [float(w) for w in words]
    except ValueError:
        bad = next(w for w in words if not _is_number(w))
        raise MotionGPTError(f"{path}:{line}: {what} must be numbers, found '{bad}'") from None
    if not all(np.isfinite(out)):
        raise MotionGPTError(f"{path}:{line}: {what} must be finite, found {' '.join(words)}")
    return out


def _is_number(word: str) -> bool:
    try:
        float(word)
    except ValueError:
        return False
    return True


def _order(path: Path, line: int, word: str) -> tuple[int, ...]:
    axes = tuple("XYZ".find(c) for c in word.upper())
    if len(axes) != 3 or sorted(axes) != [0, 1, 2]:
        raise MotionGPTError(f"{path}:{line}: rotation order must be a permutation of XYZ, found '{word}'")
    return axes


def _frame(angles: Sequence[float], axes: tuple[int, ...], radians: bool) -> np.ndarray:
    """The rotation of `axis a b c ORDER`: the first axis of the order applied first."""
    values = np.asarray(angles, dtype=np.float64)[list(axes)]
    values = values if radians else np.deg2rad(values)
    return euler_to_matrix(values[::-1], axes[::-1])


def _sections(path: Path, text: str) -> dict[str, list[tuple[int, list[str]]]]:
    """`:keyword` -> its lines (line number, words), the words after the keyword first when there are any."""
    sections: dict[str, list[tuple[int, list[str]]]] = {}
    current: list | None = None
    for number, line in enumerate(text.splitlines(), start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].startswith(":"):
            key = words[0][1:].lower()
            if key in sections and key in ("units", "root", "bonedata", "hierarchy"):
                raise MotionGPTError(f"{path}:{number}: second ':{key}' section")
            current = sections.setdefault(key, [])
            current.append((number, words[1:]))
        elif current is None:
            raise MotionGPTError(f"{path}:{number}: '{words[0]}' before the first ':section'")
        else:
            current.append((number, words))
    for key in ("bonedata", "hierarchy"):
        if key not in sections:
            raise MotionGPTError(f"{path}: no ':{key}' section; is this an ASF skeleton?")
    return sections


def _units(path: Path, lines: list[tuple[int, list[str]]]) -> tuple[float, str, float]:
    length, angle, mass = 1.0, "deg", 1.0
    for number, words in lines:
        if not words:
            continue
        key = words[0].lower()
        if key in ("length", "mass"):
            value = _numbers(path, number, words[1:], 1, f"units {key}")[0]
            if value <= 0:
                raise MotionGPTError(f"{path}:{number}: units {key} must be positive, found {words[1]}")
            length, mass = (value, mass) if key == "length" else (length, value)
        elif key == "angle":
            unit = words[1].lower() if len(words) == 2 else ""
            if unit not in ANGLE_UNITS:
                raise MotionGPTError(f"{path}:{number}: units angle must be deg or rad, found "
                                     f"'{' '.join(words[1:])}'")
            angle = ANGLE_UNITS[unit]
    return length, angle, mass


def _root(path: Path, lines: list[tuple[int, list[str]]], radians: bool) -> tuple[Bone, np.ndarray]:
    order, axes, orientation, position = ("tx", "ty", "tz", "rx", "ry", "rz"), (0, 1, 2), [0.0] * 3, [0.0] * 3
    first = lines[0][0] if lines else 0
    for number, words in lines:
        if not words:
            continue
        key = words[0].lower()
        if key == "order":
            order = tuple(w.lower() for w in words[1:])
            bad = [w for w in order if w not in ROTATIONS and w not in TRANSLATIONS]
            if bad or len(set(order)) != len(order):
                raise MotionGPTError(f"{path}:{number}: root order must list distinct TX TY TZ RX RY RZ, found "
                                     f"'{' '.join(words[1:])}'")
        elif key == "axis":
            axes = _order(path, number, words[1] if len(words) == 2 else " ".join(words[1:]))
        elif key in ("position", "orientation"):
            values = _numbers(path, number, words[1:], 3, f"root {key}")
            position, orientation = (values, orientation) if key == "position" else (position, values)
    frame = _frame(orientation, axes, radians)
    return Bone("root", np.zeros(3), 0.0, frame, order, line=first), np.array(position)


def _limits(path: Path, number: int, words: list[str]) -> list[float]:
    values = []
    for word in " ".join(words).replace("(", " ").replace(")", " ").split():
        try:
            values.append(float(word))
        except ValueError:
            raise MotionGPTError(f"{path}:{number}: limits must be numbers in parentheses, found '{word}'") from None
    return values


def _bone(path: Path, block: list[tuple[int, list[str]]], radians: bool) -> Bone:
    start = block[0][0]
    fields: dict[str, tuple[int, list[str]]] = {}
    limits: list[float] = []
    limits_line = start
    in_limits = False
    for number, words in block:
        key = words[0].lower()
        if key.startswith("limits("):
            key, words = "limits", ["limits", words[0][6:], *words[1:]]
        if in_limits and words[0].startswith("("):
            limits += _limits(path, number, words)
            continue
        in_limits = key == "limits"
        if in_limits:
            limits_line = number
            limits += _limits(path, number, words[1:])
        else:
            fields[key] = (number, words[1:])
    if "name" not in fields or len(fields["name"][1]) != 1:
        raise MotionGPTError(f"{path}:{start}: bone block without a one-word 'name'")
    name = fields["name"][1][0]
    if name == "root":
        raise MotionGPTError(f"{path}:{fields['name'][0]}: a bone may not be called 'root'")
    line, words = fields.get("direction", (start, []))
    direction = np.array(_numbers(path, line, words, 3, f"direction of bone '{name}'"))
    norm = np.linalg.norm(direction)
    direction = direction / norm if norm > 0 else direction
    line, words = fields.get("length", (start, []))
    length = _numbers(path, line, words, 1, f"length of bone '{name}'")[0]
    frame = np.eye(3)
    if "axis" in fields:
        line, words = fields["axis"]
        if len(words) != 4:
            raise MotionGPTError(f"{path}:{line}: axis of bone '{name}' needs three angles and an order (e.g. "
                                 f"'0 0 20 XYZ'), found '{' '.join(words)}'")
        frame = _frame(_numbers(path, line, words[:3], 3, f"axis of bone '{name}'"), _order(path, line, words[3]),
                       radians)
    dof: tuple[str, ...] = ()
    if "dof" in fields:
        line, words = fields["dof"]
        dof = tuple(w.lower() for w in words)
        bad = [w for w in dof if w not in BONE_DOFS]
        if bad or len(set(dof)) != len(dof):
            raise MotionGPTError(f"{path}:{line}: dof of bone '{name}' must list distinct rx ry rz tx ty tz l, "
                                 f"found '{' '.join(words)}'")
    if limits and len(limits) != 2 * len(dof):
        raise MotionGPTError(f"{path}:{limits_line}: bone '{name}' has {len(dof)} dof but {len(limits) // 2} "
                             f"limits; expected one (min max) pair per dof")
    pairs = tuple((limits[2 * i], limits[2 * i + 1]) for i in range(len(limits) // 2))
    return Bone(name, direction, length, frame, dof, pairs, start)


def _bonedata(path: Path, lines: list[tuple[int, list[str]]], radians: bool) -> dict[str, Bone]:
    bones: dict[str, Bone] = {}
    block: list[tuple[int, list[str]]] | None = None
    for number, words in lines:
        if not words:
            continue
        key = words[0].lower()
        if key == "begin":
            if block is not None:
                raise MotionGPTError(f"{path}:{number}: 'begin' inside a bone block (missing 'end')")
            block = []
        elif key == "end":
            if not block:
                raise MotionGPTError(f"{path}:{number}: 'end' without a bone block before it")
            bone = _bone(path, block, radians)
            if bone.name in bones:
                raise MotionGPTError(f"{path}:{bone.line}: bone '{bone.name}' defined twice")
            bones[bone.name] = bone
            block = None
        elif block is None:
            raise MotionGPTError(f"{path}:{number}: '{words[0]}' outside a begin/end bone block")
        else:
            block.append((number, words))
    if block is not None:
        raise MotionGPTError(f"{path}: the last bone block has no 'end'; the file is truncated")
    return bones


def _find_cycle(children: dict[str, list[tuple[str, int]]]) -> tuple[list[str], int] | None:
    """A cycle of parent -> child links (its bones and the line closing it), if there is one."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(bone: str, trail: list[str]) -> tuple[list[str], int] | None:
        state[bone] = 1
        for child, line in children.get(bone, []):
            if state.get(child) == 1:
                return trail[trail.index(child):] + [bone, child] if child in trail else [bone, child], line
            if child not in state:
                found = visit(child, trail + [bone])
                if found:
                    return found
        state[bone] = 2
        return None

    for bone in list(children):
        if bone not in state:
            found = visit(bone, [])
            if found:
                return found
    return None


def _hierarchy(path: Path, lines: list[tuple[int, list[str]]], bones: dict[str, Bone]) -> dict[str, list[str]]:
    links: dict[str, list[tuple[str, int]]] = {}
    for number, words in lines:
        if not words or words[0].lower() in ("begin", "end"):
            continue
        for name in words:
            if name not in bones:
                raise MotionGPTError(f"{path}:{number}: hierarchy names bone '{name}', which :bonedata lacks")
        if len(words) < 2:
            raise MotionGPTError(f"{path}:{number}: hierarchy line needs a parent and its children, found "
                                 f"'{words[0]}' alone")
        links.setdefault(words[0], []).extend((child, number) for child in words[1:])
    cycle = _find_cycle(links)
    if cycle:
        bones_on, line = cycle
        raise MotionGPTError(f"{path}:{line}: the hierarchy has a cycle: {' -> '.join(bones_on)}")
    parent_of: dict[str, tuple[str, int]] = {}
    for parent, kids in links.items():
        for child, number in kids:
            if child == "root":
                raise MotionGPTError(f"{path}:{number}: 'root' listed as a child of '{parent}'")
            if child in parent_of:
                raise MotionGPTError(f"{path}:{number}: bone '{child}' has two parents, '{parent_of[child][0]}' "
                                     f"(line {parent_of[child][1]}) and '{parent}'")
            parent_of[child] = (parent, number)
    orphans = [b for b in bones if b != "root" and b not in parent_of]
    if orphans:
        raise MotionGPTError(f"{path}:{bones[orphans[0]].line}: bone '{orphans[0]}' is not in the :hierarchy "
                             f"(not connected to the root)")
    return {parent: [c for c, _ in kids] for parent, kids in links.items()}


def read_asf(path: str | Path, scale: float | None = None) -> ASFSkeleton:
    """Parse an ASF skeleton. `scale` (metres per file unit) overrides the inches-times-`:units length` default."""
    path = Path(path)
    sections = _sections(path, _read_text(path, "ASF"))
    length, angle, mass = _units(path, sections.get("units", []))
    radians = angle == "rad"
    root, position = _root(path, sections.get("root", []), radians)
    bones = {"root": root, **_bonedata(path, sections["bonedata"], radians)}
    children = _hierarchy(path, sections["hierarchy"], bones)
    return ASFSkeleton(path, bones, children, position, length, angle, mass,
                       INCH / length if scale is None else scale)


# ----------------------------------------------------------------------------------------------- AMC


def _close_frame(path: Path, number: int, line: int, seen: set[str], need: dict[str, int], last: bool) -> None:
    missing = [b for b in need if b not in seen]
    if missing:
        cut = "; the file is truncated" if last else ""
        raise MotionGPTError(f"{path}:{line}: frame {number} lacks bone(s) {', '.join(missing)}{cut}")


def _bad_value(path: Path, lines: list[str]) -> MotionGPTError:
    for number, line in enumerate(lines, start=1):
        words = line.split()
        if not words or words[0].startswith(("#", ":")) or len(words) == 1:
            continue
        for word in words[1:]:
            if not _is_number(word) or not abs(float(word)) <= MAX_ABS_VALUE:
                return MotionGPTError(f"{path}:{number}: value '{word[:30]}' of bone '{words[0]}' is not a finite "
                                      f"number within +-{MAX_ABS_VALUE:g}")
    return MotionGPTError(f"{path}: could not parse the frame values")


def read_amc(path: str | Path, skeleton: ASFSkeleton, fps: float = AMC_FPS) -> AMCMotion:
    """Parse an AMC motion of `skeleton`. Every bone with dof must appear once in every frame, frames numbered
    consecutively; `fps` is the capture rate, which AMC files do not store."""
    path = Path(path)
    check_fps(fps, f"{path}")
    lines = _read_text(path, "AMC").splitlines()
    bones = skeleton.bones
    need = {name: len(bone.dof) for name, bone in bones.items() if bone.dof}
    tokens: dict[str, list[str]] = {name: [] for name in need}
    radians = skeleton.angle_unit == "rad"
    seen: set[str] | None = None
    frame = frame_line = frames = 0
    last = max((i for i, ln in enumerate(lines, start=1) if ln.strip()), default=0)
    for number, line in enumerate(lines, start=1):
        words = line.split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].startswith(":"):
            if words[0].lower() in (":degrees", ":radians"):
                radians = words[0].lower() == ":radians"
            continue
        if len(words) == 1 and words[0].isdigit():
            if seen is not None:
                _close_frame(path, frame, frame_line, seen, need, False)
                if int(words[0]) != frame + 1:
                    raise MotionGPTError(f"{path}:{number}: frame number {words[0]} follows frame {frame}")
            frame, frame_line, seen = int(words[0]), number, set()
            frames += 1
            continue
        name = words[0]
        if seen is None:
            raise MotionGPTError(f"{path}:{number}: bone line '{name}' before the first frame number")
        if name not in bones:
            raise MotionGPTError(f"{path}:{number}: bone '{name}' is not in the skeleton {skeleton.path.name}")
        count = need.get(name, 0)
        if len(words) - 1 != count:
            cut = "; the file is truncated" if number == last else ""
            raise MotionGPTError(f"{path}:{number}: bone '{name}' has {len(words) - 1} value(s), its dof "
                                 f"({' '.join(bones[name].dof) or 'none'}) needs {count}{cut}")
        if name in seen:
            raise MotionGPTError(f"{path}:{number}: bone '{name}' appears twice in frame {frame}")
        seen.add(name)
        if count:
            tokens[name] += words[1:]
    if seen is None:
        raise MotionGPTError(f"{path}: no frames (expected a frame number line, then one line per bone)")
    _close_frame(path, frame, frame_line, seen, need, True)
    values = {}
    for name, count in need.items():
        try:
            values[name] = np.array(tokens[name], dtype=np.float64).reshape(-1, count)
        except ValueError:
            raise _bad_value(path, lines) from None
        if not (np.abs(values[name]) <= MAX_ABS_VALUE).all():
            raise _bad_value(path, lines)
    check_clip_size(frames, fps, len(bones), f"{path}")
    return AMCMotion(skeleton, values, frames, float(fps), radians, path)


# ----------------------------------------------------------------------------------------------- pairing


def find_skeleton(amc: str | Path, candidates: Iterable[str | Path]) -> Path:
    """The ASF of an AMC clip: the one whose name starts the AMC's name (`HDM_bd.asf` for `HDM_bd_kick_001_120.amc`,
    `01.asf` for `01_02.amc`), the longest such; else the only one in the nearest place that has any. Places, nearest
    first: `candidates` (what the user passed), beside the AMC, sibling folders (the CMU and HDM05 `asf/` + `amc/`
    layout), so an unrelated skeleton further away never shadows the one the user gave."""
    return pair_skeletons([amc], candidates)[Path(amc)]


def pair_skeletons(amcs: Iterable[str | Path], candidates: Iterable[str | Path]) -> dict[Path, Path]:
    """AMC -> its ASF (`find_skeleton`) for many clips, each folder searched once."""
    given = sorted({Path(p).resolve() for p in candidates})
    near: dict[Path, list[list[Path]]] = {}  # folder -> [its ASFs, its sibling folders' ASFs]
    paired = {}
    for amc in map(Path, amcs):
        folder = amc.parent
        if folder not in near:
            near[folder] = [sorted({p.resolve() for p in place.glob(pattern)})
                            for place, pattern in ((folder, "*.asf"), (folder.parent, "*/*.asf"))]
        paired[amc] = _skeleton_of(amc, [given, *near[folder]])
    return paired


def _skeleton_of(amc: Path, places: list[list[Path]]) -> Path:
    stem = amc.stem.lower()
    for place in places:
        matches = [p for p in place if stem == p.stem.lower() or stem.startswith(p.stem.lower() + "_")]
        if matches:
            return max(matches, key=lambda p: (len(p.stem), str(p)))
    nearest = next((place for place in places if place), [])
    if len(nearest) == 1:
        return nearest[0]
    listed = ", ".join(p.name for p in nearest) or "none found"
    raise MotionGPTError(f"{amc}: which ASF skeleton does this AMC use? ({listed}); pass --asf")
