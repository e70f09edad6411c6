"""Control tokens from user input: code numbers, or poses (joints or features) turned into codes by the VQ encoder.

A pose is a .npy of joints (T x J x 3, metres, Y up) or features (T x D), an array of either, or `FILE.npy:FRAME`
for the frames of one code (4 with the usual VQ-VAE) starting at FRAME. Without a frame, an initial pose is the first
code's frames, a last pose the last code's, and key poses give one code per code's frames of each array, in order.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.limits import MAX_POSE_FRAMES, parse_int
from motiongpt.generation.constraints import Controls
from motiongpt.motion.features import joints_to_features
from motiongpt.motion.skeleton import load_motion, motion_kind, spec_for_dim
from motiongpt.tokenizer.config import VQVAEConfig
from motiongpt.tokenizer.model import VQVAE

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
        raise MotionGPTError(f"{name} {str(text)[:40]!r}: expected comma-separated non-negative integers such as "
                             "315,91,406")
    return [parse_int(p, name) for p in parts]


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
        if not (frame.isdigit() and frame.isascii()):
            raise MotionGPTError(f"pose {text[:60]!r}: the frame after ':' must be a non-negative integer")
        return Path(path), parse_int(frame, f"pose {path}: frame")
    return Path(text), None


def check_pose_spec(spec: str | Path) -> None:
    """Read a pose given as `FILE.npy[:FRAME]` once, so that a bad file is refused before the model loads."""
    path, _ = parse_pose_spec(spec)
    load_motion(path, "pose")


def pose_features(pose: Pose, config: VQVAEConfig, name: str = "pose", frame: int | None = None) -> np.ndarray:
    """Raw features (F, D) of a pose given as a path, `path:frame` or an array: the whole motion, or the one code's
    frames from `frame` (from `path:frame` or the argument)."""
    k = config.frames_per_code
    if isinstance(pose, np.ndarray):
        spec, is_joints = motion_kind(pose, name)
        array = pose
    else:
        path, path_frame = parse_pose_spec(pose)
        if path_frame is not None and frame is not None:
            raise MotionGPTError(f"{name} {str(pose)!r}: the frame is given twice")
        frame = path_frame if frame is None else frame
        array, spec, is_joints = load_motion(path, "pose")
        name = str(path)
    if len(array) > MAX_POSE_FRAMES:
        raise MotionGPTError(f"{name}: {len(array)} frames, more than the {MAX_POSE_FRAMES} a pose clip may have "
                             "(cut out the part you mean)")
    expected = spec_for_dim(config.input_dim)
    if spec is not expected:
        raise MotionGPTError(f"{name}: array of shape {array.shape}, expected joints (T, {expected.num_joints}, 3) or "
                             f"features (T, {expected.feature_dim}) for this model")
    if is_joints:
        if len(array) < k + 1:
            raise MotionGPTError(f"{name}: {len(array)} frames of joints, expected at least {k + 1} ({k} feature "
                                 "frames)")
        features = np.asarray(joints_to_features(array.astype(np.float64), spec), dtype=np.float32)
    else:
        features = array.astype(np.float32)
    if len(features) < k:
        raise MotionGPTError(f"{name}: {len(features)} frames of features, expected at least {k} (one code)")
    if frame is None:
        return features
    if frame + k > len(features):
        raise MotionGPTError(f"{name}: frame {frame} leaves fewer than {k} frames (the motion has {len(features)} "
                             f"feature frames, so the frame must be at most {len(features) - k})")
    return features[frame:frame + k]


def pose_codes(vq: VQVAE, pose: Pose, role: str) -> list[int]:
    """Codes of a pose for `role` in {"init", "last", "key"} (see the module docstring)."""
    features = pose_features(pose, vq.config, name=f"{role} pose")
    k = vq.config.frames_per_code
    if role == "init":
        window = features[:k]
    elif role == "last":
        window = features[len(features) - k:]
    else:
        window = features
    return [int(c) for c in vq.encode_motion(window)]


def build_controls(codebook_size: int, *, init_token=None, last_token=None, key_tokens=None, init_pose=None,
                   last_pose=None, key_poses: Sequence[Pose] | None = None, vq: VQVAE | None = None,
                   max_codes: int | None = None) -> Controls:
    """Check the given controls (tokens or poses, not both for one role) and turn them into `Controls`."""
    for role, token, pose in (("init", init_token, init_pose), ("last", last_token, last_pose),
                              ("key", key_tokens, key_poses)):
        if token is not None and pose is not None:
            raise MotionGPTError(f"give the {role} control as tokens or as a pose, not both")
    if init_pose is not None:
        init_token = pose_codes(vq, init_pose, "init")[0]
    if last_pose is not None:
        last_token = pose_codes(vq, last_pose, "last")[-1]
    if key_poses is not None:
        if isinstance(key_poses, (str, Path, np.ndarray)):
            key_poses = [key_poses]
        key_tokens = [c for pose in key_poses for c in pose_codes(vq, pose, "key")]
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
