"""Control tokens from user input: code numbers, or poses (joints or features) turned into codes by the VQ encoder.

A pose is a .npy of joints (T x J x 3, metres, Y up) or features (T x D), an array of either, or `FILE.npy:FRAME`
for the 4 frames (one code) starting at FRAME. Without a frame, an initial pose is the first 4 frames, a last pose
the last 4 frames, and key poses give one code per 4 frames of each array, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.generation.constraints import Controls
from motiongpt.motion.features import joints_to_features

Pose = str | Path | np.ndarray


def check_code(value: object, codebook_size: int, name: str) -> int:
    """One control code as an int in the codebook."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise MotionGPTError(f"{name} {value!r}: expected an integer code in 0..{codebook_size - 1}")
    if not 0 <= int(value) < codebook_size:
        raise MotionGPTError(f"{name} {int(value)}: outside the codebook (expected 0..{codebook_size - 1})")
    return int(value)


def parse_code_list(text: str, name: str) -> list[int]:
    """`"315,91,406"` -> [315, 91, 406], for command-line options and the original's `<Motion Token>` input."""
    parts = [p.strip() for p in str(text).split(",")]
    if not parts or not all(p.isdigit() and p.isascii() for p in parts):
        raise MotionGPTError(f"{name} {text!r}: expected comma-separated non-negative integers such as 315,91,406")
    return [int(p) for p in parts]


def parse_code(text: str, name: str) -> int:
    """`"315"` -> 315 (one code, as for --init-token)."""
    codes = parse_code_list(text, name)
    if len(codes) != 1:
        raise MotionGPTError(f"{name} {text!r}: expected one code")
    return codes[0]


def parse_pose_spec(spec: str | Path) -> tuple[Path, int | None]:
    """`clip.npy` -> (clip.npy, None); `clip.npy:30` -> (clip.npy, 30)."""
    text = str(spec)
    path, sep, frame = text.rpartition(":")
    if sep and path.lower().endswith(".npy"):
        if not frame.isdigit():
            raise MotionGPTError(f"pose {text!r}: the frame after ':' must be a non-negative integer")
        return Path(path), int(frame)
    return Path(text), None


def _load_array(path: Path) -> np.ndarray:
    if not path.is_file():
        raise MotionGPTError(f"{path}: pose file not found")
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError) as err:
        raise MotionGPTError(f"{path}: not a readable .npy array ({err})") from err


def pose_features(pose: Pose, input_dim: int, spec: str, name: str = "pose") -> tuple[np.ndarray, int | None]:
    """(raw features (F, D), frame or None) of a pose given as a path, `path:frame` or an array."""
    frame = None
    if isinstance(pose, np.ndarray):
        array = pose
    else:
        path, frame = parse_pose_spec(pose)
        array, name = _load_array(path), str(path)
    num_joints = (input_dim + 1) // 12
    if not np.issubdtype(array.dtype, np.number) or not np.isfinite(array).all():
        raise MotionGPTError(f"{name}: expected finite numbers, got {array.dtype} with NaN/inf or non-numbers")
    if array.ndim == 3 and array.shape[1:] == (num_joints, 3):
        if len(array) < 5:
            raise MotionGPTError(f"{name}: {len(array)} frames of joints, expected at least 5 (4 feature frames)")
        features = np.asarray(joints_to_features(array.astype(np.float64), spec), dtype=np.float32)
    elif array.ndim == 2 and array.shape[1] == input_dim:
        features = array.astype(np.float32)
    else:
        raise MotionGPTError(f"{name}: array of shape {array.shape}, expected joints (T, {num_joints}, 3) or "
                             f"features (T, {input_dim})")
    if len(features) < 4:
        raise MotionGPTError(f"{name}: {len(features)} frames of features, expected at least 4 (one code)")
    if frame is not None and frame + 4 > len(features):
        raise MotionGPTError(f"{name}: frame {frame} leaves fewer than 4 frames (the motion has {len(features)} "
                             f"feature frames, so the frame must be at most {len(features) - 4})")
    return features, frame


def pose_codes(vq, pose: Pose, role: str, spec: str) -> list[int]:
    """Codes of a pose for `role` in {"init", "last", "key"} (see the module docstring)."""
    features, frame = pose_features(pose, vq.config.input_dim, spec, name=f"{role} pose")
    if frame is not None:
        window = features[frame:frame + 4]
    elif role == "init":
        window = features[:4]
    elif role == "last":
        window = features[len(features) - 4:]
    else:
        window = features[: len(features) // 4 * 4]
    return [int(c) for c in vq.encode_motion(window)]


def build_controls(codebook_size: int, *, init_token=None, last_token=None, key_tokens=None, init_pose=None,
                   last_pose=None, key_poses: Sequence[Pose] | None = None, vq=None, spec: str = "t2m",
                   max_codes: int | None = None) -> Controls:
    """Check the given controls (tokens or poses, not both for one role) and turn them into `Controls`."""
    for role, token, pose in (("init", init_token, init_pose), ("last", last_token, last_pose),
                              ("key", key_tokens, key_poses)):
        if token is not None and pose is not None:
            raise MotionGPTError(f"give the {role} control as tokens or as a pose, not both")
    if init_pose is not None:
        init_token = pose_codes(vq, init_pose, "init", spec)[0]
    if last_pose is not None:
        last_token = pose_codes(vq, last_pose, "last", spec)[-1]
    if key_poses is not None:
        if isinstance(key_poses, (str, Path, np.ndarray)):
            key_poses = [key_poses]
        key_tokens = [c for pose in key_poses for c in pose_codes(vq, pose, "key", spec)]
    if key_tokens is not None:
        if isinstance(key_tokens, (str, bytes)) or not isinstance(key_tokens, Sequence | np.ndarray):
            raise MotionGPTError(f"key tokens {key_tokens!r}: expected a list of integer codes")
        if len(key_tokens) == 0:
            raise MotionGPTError("key tokens: empty list, expected at least one code")
    controls = Controls(
        init=None if init_token is None else check_code(init_token, codebook_size, "initial token"),
        last=None if last_token is None else check_code(last_token, codebook_size, "last token"),
        keys=tuple(check_code(k, codebook_size, "key token") for k in (key_tokens if key_tokens is not None else [])),
    )
    if max_codes is not None and controls.min_codes() > max_codes:
        raise MotionGPTError(f"the controls need at least {controls.min_codes()} codes, more than max codes "
                             f"{max_codes}")
    return controls
