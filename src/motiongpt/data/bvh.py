"""BVH motion files: read, write, forward kinematics to global joint positions, and resampling in time.

A BVH file is a joint hierarchy (OFFSET per joint, a CHANNELS list in any order and count, optional End Sites)
followed by one line of channel values per frame. Rotation channels are Euler angles in degrees, composed in the
order they are listed (`Zrotation Xrotation Yrotation` means R = Rz @ Rx @ Ry). Position channels replace the
joint's OFFSET on that axis, the convention of common exporters (the Bandai files repeat each OFFSET in them).

`read_bvh` keeps the file's numbers untouched, so `write_bvh` reproduces them exactly; the unit scale and the up
axis are applied only by `BVHMotion.global_positions`, which always returns Y-up positions.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_path, read_text_file
from motiongpt.limits import MAX_ABS_VALUE, MAX_FPS, MAX_JOINT_DEPTH, MIN_FPS, check_clip_size

POSITION_CHANNELS = {"xposition": 0, "yposition": 1, "zposition": 2}
ROTATION_CHANNELS = {"xrotation": 0, "yrotation": 1, "zrotation": 2}


@dataclass
class BVHMotion:
    """A parsed BVH file. `values[t, c]` is channel c of frame t; joints are in file (depth-first) order."""

    names: list[str]
    parents: np.ndarray  # (J,) int, -1 for a root
    offsets: np.ndarray  # (J, 3) in file units
    channels: list[tuple[str, ...]]  # per joint, as written in the file
    values: np.ndarray  # (T, C) with C = total channel count
    frame_time: float  # seconds per frame
    end_sites: dict[int, np.ndarray] = field(default_factory=dict)  # joint index -> End Site OFFSET (3,)
    scale: float = 1.0  # multiplies file units (0.01 turns cm into m)
    up: str = "y"  # the file's up axis, "y" or "z"

    @property
    def num_frames(self) -> int:
        return self.values.shape[0]

    @property
    def fps(self) -> float:
        """Frames per second; snapped to the integer when the file rounded 1/fps (e.g. 0.0333333 -> 30)."""
        fps = 1.0 / self.frame_time
        return float(round(fps)) if abs(fps - round(fps)) < 1e-3 else fps

    def channel_starts(self) -> np.ndarray:
        """Column of each joint's first channel in `values`."""
        counts = np.array([len(c) for c in self.channels], dtype=np.int64)
        return np.concatenate([[0], np.cumsum(counts)[:-1]])

    def global_positions(self) -> np.ndarray:
        """Forward kinematics: (T, J, 3) global joint positions, Y-up, multiplied by `scale`."""
        local_rot, local_pos = self.local_transforms()
        glob_rot = np.empty_like(local_rot)
        glob_pos = np.empty_like(local_pos)
        for j, p in enumerate(self.parents):
            if p < 0:
                glob_rot[:, j] = local_rot[:, j]
                glob_pos[:, j] = local_pos[:, j]
            else:
                glob_rot[:, j] = glob_rot[:, p] @ local_rot[:, j]
                glob_pos[:, j] = glob_pos[:, p] + np.einsum("tij,tj->ti", glob_rot[:, p], local_pos[:, j])
        glob_pos *= self.scale
        if self.up == "z":
            glob_pos = z_up_to_y_up(glob_pos)
        return glob_pos

    def local_transforms(self) -> tuple[np.ndarray, np.ndarray]:
        """(rotations (T, J, 3, 3), translations (T, J, 3) in file units) of each joint relative to its parent."""
        num_frames, num_joints = self.num_frames, len(self.names)
        starts = self.channel_starts()
        local_rot = np.broadcast_to(np.eye(3), (num_frames, num_joints, 3, 3)).copy()
        local_pos = np.broadcast_to(self.offsets, (num_frames, num_joints, 3)).copy()
        # Joints that share a rotation order are turned into matrices together.
        by_order: dict[tuple[int, ...], list[tuple[int, list[int]]]] = {}
        for j, chans in enumerate(self.channels):
            axes, cols = [], []
            for k, name in enumerate(chans):
                low = name.lower()
                if low in POSITION_CHANNELS:
                    local_pos[:, j, POSITION_CHANNELS[low]] = self.values[:, starts[j] + k]
                else:
                    axes.append(ROTATION_CHANNELS[low])
                    cols.append(starts[j] + k)
            if axes:
                by_order.setdefault(tuple(axes), []).append((j, cols))
        for axes, members in by_order.items():
            angles = np.deg2rad(self.values[:, [cols for _, cols in members]])  # (T, J_group, len(axes))
            local_rot[:, [j for j, _ in members]] = euler_to_matrix(angles, axes)
        return local_rot, local_pos


def euler_to_matrix(angles: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """Rotation matrices (..., 3, 3) from angles (..., K) in radians about `axes` (0=x, 1=y, 2=z), composed
    left to right: R = R_axes[0] @ R_axes[1] @ ..."""
    out = None
    for k, axis in enumerate(axes):
        c, s = np.cos(angles[..., k]), np.sin(angles[..., k])
        m = np.zeros(angles.shape[:-1] + (3, 3))
        i, j = (axis + 1) % 3, (axis + 2) % 3
        m[..., axis, axis] = 1.0
        m[..., i, i] = c
        m[..., j, j] = c
        m[..., i, j] = -s
        m[..., j, i] = s
        out = m if out is None else out @ m
    return out


def z_up_to_y_up(positions: np.ndarray) -> np.ndarray:
    """Rotate -90 degrees about x: (x, y, z) Z-up -> (x, z, -y) Y-up, so the Z-up front (-y) faces +z."""
    return np.stack([positions[..., 0], positions[..., 2], -positions[..., 1]], axis=-1)


def resample(positions: np.ndarray, src_fps: float, dst_fps: float) -> np.ndarray:
    """Linearly interpolate frames (time is axis 0) from `src_fps` to `dst_fps`, keeping the first frame and
    every output frame inside the source's time span (30 -> 20 fps turns 133 frames into 89)."""
    positions = np.asarray(positions, dtype=np.float64)
    num = positions.shape[0]
    if num == 0 or src_fps == dst_fps:
        return positions.copy()
    duration = (num - 1) / src_fps
    num_out = int(np.floor(duration * dst_fps + 1e-6)) + 1
    src_idx = np.arange(num_out) * (src_fps / dst_fps)
    lo = np.minimum(np.floor(src_idx).astype(np.int64), num - 1)
    hi = np.minimum(lo + 1, num - 1)
    w = (src_idx - lo).reshape((-1,) + (1,) * (positions.ndim - 1))
    return positions[lo] * (1.0 - w) + positions[hi] * w


# ----------------------------------------------------------------------------------------------- reading


def read_bvh(path: str | Path, scale: float = 1.0, up: str = "y") -> BVHMotion:
    """Parse a BVH file. `scale` converts its units to metres (0.01 for cm); `up` is its up axis ("y" or "z")."""
    path = Path(path)
    if up not in ("y", "z"):
        raise MotionGPTError(f"{path}: up axis must be 'y' or 'z', got {up!r}")
    lines = read_text_file(path, "BVH").split("\n")
    parser = _HierarchyParser(path, lines)
    parser.parse()
    values, frame_time = _parse_motion(path, lines, parser.motion_line, sum(len(c) for c in parser.channels),
                                       len(parser.names))
    return BVHMotion(
        names=parser.names, parents=np.array(parser.parents, dtype=np.int64),
        offsets=np.array(parser.offsets, dtype=np.float64).reshape(-1, 3), channels=parser.channels,
        values=values, frame_time=frame_time, end_sites=parser.end_sites, scale=scale, up=up,
    )


class _HierarchyParser:
    """Walks the HIERARCHY section token by token, remembering line numbers for error messages."""

    def __init__(self, path: Path, lines: list[str]):
        self.path, self.lines = path, lines
        self.names: list[str] = []
        self.parents: list[int] = []
        self.offsets: list[list[float]] = []
        self.channels: list[tuple[str, ...]] = []
        self.end_sites: dict[int, np.ndarray] = {}
        self.motion_line = -1
        self._tokens = self._tokenize()
        self._pos = 0

    def _tokenize(self) -> list[tuple[str, int]]:
        tokens = []
        for number, line in enumerate(self.lines, start=1):
            words = line.split()
            if words and words[0] == "MOTION":
                tokens.append(("MOTION", number))
                break
            for word in words:
                # Braces may be glued to names ("Hips{"); split them off.
                for part in word.replace("{", " { ").replace("}", " } ").split():
                    tokens.append((part, number))
        return tokens

    def _fail(self, line: int, message: str) -> MotionGPTError:
        return MotionGPTError(f"{self.path}:{line}: {message}")

    def _next(self, what: str) -> tuple[str, int]:
        if self._pos >= len(self._tokens):
            last = self._tokens[-1][1] if self._tokens else 1
            raise self._fail(last, f"hierarchy is cut off: file ends where {what} was expected")
        token = self._tokens[self._pos]
        self._pos += 1
        return token

    def _expect(self, word: str) -> int:
        token, line = self._next(f"'{word}'")
        if token != word:
            raise self._fail(line, f"expected '{word}', found '{token}'")
        return line

    def _number(self, what: str) -> float:
        token, line = self._next(what)
        try:
            value = float(token)
        except ValueError:
            raise self._fail(line, f"{what} must be a number, found '{token}'") from None
        if not abs(value) <= MAX_ABS_VALUE:
            raise self._fail(line, f"{what} is {token[:30]}, expected a finite number within +-{MAX_ABS_VALUE:g}")
        return value

    def parse(self) -> None:
        self._expect("HIERARCHY")
        token, line = self._next("ROOT")
        if token != "ROOT":
            raise self._fail(line, f"expected ROOT, found '{token}'")
        while token == "ROOT":
            self._joint(-1, line, 0)
            token, line = self._next("MOTION or another ROOT")
        if token != "MOTION":
            raise self._fail(line, f"expected MOTION after the hierarchy, found '{token}'")
        self.motion_line = line  # 1-based number of the MOTION line = 0-based index of the next line

    def _name(self, keyword_line: int) -> str:
        words = []
        while self._pos < len(self._tokens) and self._tokens[self._pos][1] == keyword_line \
                and self._tokens[self._pos][0] != "{":
            words.append(self._tokens[self._pos][0])
            self._pos += 1
        if not words:
            raise self._fail(keyword_line, "joint has no name")
        return " ".join(words)

    def _joint(self, parent: int, keyword_line: int, depth: int) -> None:
        if depth > MAX_JOINT_DEPTH:
            raise self._fail(keyword_line, f"joints nested more than {MAX_JOINT_DEPTH} deep (a body has about 10 "
                                           "levels; is a '}' missing?)")
        name = self._name(keyword_line)
        index = len(self.names)
        self.names.append(name)
        self.parents.append(parent)
        self.channels.append(())
        self._expect("{")
        self._expect("OFFSET")
        self.offsets.append([self._number(f"OFFSET of joint '{name}'") for _ in range(3)])
        while True:
            token, line = self._next(f"'}}' closing joint '{name}'")
            if token == "}":
                return
            if token == "CHANNELS":
                self.channels[index] = self._channels(name)
            elif token == "JOINT":
                self._joint(index, line, depth + 1)
            elif token == "End":
                self._expect("Site")
                self._expect("{")
                self._expect("OFFSET")
                self.end_sites[index] = np.array([self._number(f"End Site OFFSET of '{name}'") for _ in range(3)])
                self._expect("}")
            elif token == "MOTION":
                raise self._fail(line, f"hierarchy is cut off: MOTION inside joint '{name}' (missing '}}')")
            else:
                raise self._fail(line, f"unexpected '{token}' in joint '{name}' "
                                       "(expected CHANNELS, JOINT, End Site or '}')")

    def _channels(self, name: str) -> tuple[str, ...]:
        token, line = self._next(f"channel count of joint '{name}'")
        try:
            count = int(token)
        except ValueError:
            raise self._fail(line, f"channel count of joint '{name}' must be an integer, found '{token}'") from None
        chans = []
        for _ in range(count):
            chan, line = self._next(f"a channel name of joint '{name}'")
            if chan.lower() not in POSITION_CHANNELS and chan.lower() not in ROTATION_CHANNELS:
                raise self._fail(line, f"unknown channel '{chan}' in joint '{name}' (expected X/Y/Z + "
                                       "position/rotation, e.g. Zrotation)")
            chans.append(chan)
        return tuple(chans)


def _header_value(path: Path, lines: list[str], index: int, label: str) -> str:
    if index >= len(lines):
        raise MotionGPTError(f"{path}:{index + 1}: file ends before '{label}'")
    line = lines[index].strip()
    if not line.startswith(label):
        raise MotionGPTError(f"{path}:{index + 1}: expected '{label} ...', found '{line[:40]}'")
    return line[len(label):].strip()


def _parse_motion(path: Path, lines: list[str], start: int, num_channels: int,
                  num_joints: int) -> tuple[np.ndarray, float]:
    """Parse 'Frames:', 'Frame Time:' and the frame lines that follow; `start` is the 0-based index after MOTION."""
    frames_text = _header_value(path, lines, start, "Frames:")
    if not (frames_text.isdigit() and frames_text.isascii() and len(frames_text) <= 9):
        raise MotionGPTError(f"{path}:{start + 1}: 'Frames:' must be a whole number of at most 9 digits, found "
                             f"'{frames_text[:30]}'")
    num_frames = int(frames_text)
    time_text = _header_value(path, lines, start + 1, "Frame Time:")
    try:
        frame_time = float(time_text)
    except ValueError:
        raise MotionGPTError(f"{path}:{start + 2}: 'Frame Time:' must be a number, found '{time_text[:30]}'") from None
    if not 1.0 / MAX_FPS <= frame_time <= 1.0 / MIN_FPS:
        raise MotionGPTError(f"{path}:{start + 2}: 'Frame Time: {time_text[:30]}' is outside {1.0 / MAX_FPS:g}.."
                             f"{1.0 / MIN_FPS:g} s ({MIN_FPS:g} to {MAX_FPS:g} frames per second)")
    check_clip_size(num_frames, 1.0 / frame_time, num_joints, f"{path}:{start + 1}")

    first = start + 2
    body = lines[first:]
    while body and not body[-1].strip():
        body.pop()
    if len(body) < num_frames:
        raise MotionGPTError(f"{path}:{first + len(body)}: truncated: 'Frames: {num_frames}' but only "
                             f"{len(body)} frame lines")
    if len(body) > num_frames:
        raise MotionGPTError(f"{path}:{first + num_frames + 1}: 'Frames: {num_frames}' but the file has "
                             f"{len(body)} frame lines")
    words = " ".join(body).split()
    if len(words) == num_frames * num_channels:
        try:
            values = np.array(words, dtype=np.float64).reshape(num_frames, num_channels)
        except ValueError:
            values = None
        if values is not None and (np.abs(values) <= MAX_ABS_VALUE).all():
            return values, frame_time
    # Something is off: find the first bad line and say exactly what.
    for k, line in enumerate(body):
        words = line.split()
        if len(words) != num_channels:
            raise MotionGPTError(f"{path}:{first + k + 1}: frame {k} has {len(words)} values, expected "
                                 f"{num_channels} (one per channel in the hierarchy)")
        for word in words:
            try:
                value = float(word)
            except ValueError:
                raise MotionGPTError(f"{path}:{first + k + 1}: non-numeric value '{word}' in frame {k}") from None
            if not abs(value) <= MAX_ABS_VALUE:
                raise MotionGPTError(f"{path}:{first + k + 1}: value '{word[:30]}' in frame {k} is not a finite "
                                     f"number within +-{MAX_ABS_VALUE:g}")
    raise MotionGPTError(f"{path}:{first + 1}: could not parse the frame values")


# ----------------------------------------------------------------------------------------------- writing


def write_bvh(path: str | Path, motion: BVHMotion) -> None:
    """Write `motion` as BVH (atomically). Numbers are written in their shortest exact form, so reading the file
    back gives identical arrays."""
    children: list[list[int]] = [[] for _ in motion.names]
    roots = []
    for j, p in enumerate(motion.parents):
        (roots if p < 0 else children[p]).append(j)
    order: list[int] = []
    out = ["HIERARCHY"]

    def fmt(xs) -> str:
        return " ".join(repr(float(x)) for x in xs)

    def emit(j: int, depth: int) -> None:
        order.append(j)
        pad = "\t" * depth
        out.append(f"{pad}{'ROOT' if motion.parents[j] < 0 else 'JOINT'} {motion.names[j]}")
        out.append(pad + "{")
        out.append(f"{pad}\tOFFSET {fmt(motion.offsets[j])}")
        if motion.channels[j]:
            out.append(f"{pad}\tCHANNELS {len(motion.channels[j])} {' '.join(motion.channels[j])}")
        for c in children[j]:
            emit(c, depth + 1)
        if j in motion.end_sites:
            site = fmt(motion.end_sites[j])
            out.extend([f"{pad}\tEnd Site", f"{pad}\t{{", f"{pad}\t\tOFFSET {site}", f"{pad}\t}}"])
        out.append(pad + "}")

    for r in roots:
        emit(r, 0)
    if order != list(range(len(motion.names))):
        raise MotionGPTError(f"{path}: joints must be listed in depth-first order (each joint's subtree right "
                             "after it) to be written as BVH")
    out += ["MOTION", f"Frames: {motion.num_frames}", f"Frame Time: {repr(float(motion.frame_time))}"]
    out += [" ".join(map(repr, row)) for row in motion.values.astype(np.float64).tolist()]
    with atomic_path(path) as tmp:
        tmp.write_text("\n".join(out) + "\n")
