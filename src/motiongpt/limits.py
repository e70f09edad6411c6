"""The bounds every input is checked against at the edge, and the checks themselves, defined once.

Why bounds at all: a number that parses is not a number the tool can work with. A frame time of 1e300 rounds the
frame rate to 0, a 5,000-digit integer cannot be converted, a temperature of 5e-324 turns every score into
infinity, and a billion samples fill the memory. Each limit below is far beyond any real use and still small
enough that the work it allows is bounded; the checks give one line naming the value and the range.
"""

from __future__ import annotations

import math
import re

from motiongpt.errors import MotionGPTError

MAX_SEED = 2**32 - 1  # seeds are 0..2^32-1; sample j of a call uses seed + j
MAX_INT_DIGITS = 18  # longer integers are refused before conversion (Python refuses beyond 4,300 digits)
MAX_DESCRIPTION_CHARS = 1000  # a description longer than this is not a motion description
MAX_ROWS_PER_CALL = 1000  # descriptions x samples in one generate call
MAX_UPLOAD_BYTES = 64 * 2**20  # web uploads, counted while they stream in
MIN_FPS, MAX_FPS = 1.0, 1000.0  # BVH Frame Time and AMC capture rates
MAX_CLIP_SECONDS = 3600.0  # one clip: an hour of motion
MAX_CLIP_FRAMES = 1_000_000
MAX_CLIP_VALUES = 20_000_000  # frames x joints of one clip (its forward kinematics holds 9 floats per pair)
MAX_JOINT_DEPTH = 200  # nesting of a BVH hierarchy (real rigs: under 30)
MAX_POSE_FRAMES = 12_000  # a pose clip: 10 minutes at 20 fps (a whole motion is 196 frames)
MAX_ABS_VALUE = 1e7  # a channel value, offset or pose coordinate (cm, degrees, metres, features)
MIN_TEMPERATURE, MAX_TEMPERATURE = 1e-3, 100.0
# classifier-free guidance: 1 is off (the original's sampling); beyond 10 it only sharpens the codes toward noise
MIN_GUIDANCE, NO_GUIDANCE, MAX_GUIDANCE = 0.0, 1.0, 10.0

_INT = re.compile(r"[+-]?\d+")


def parse_int(text: str, name: str, low: int | None = None, high: int | None = None) -> int:
    """A whole number from user text, refusing huge digit strings before converting them."""
    text = str(text).strip()
    if not _INT.fullmatch(text) or not text.isascii():
        raise MotionGPTError(f"{name} {_shown(text)}: expected a whole number")
    if len(text.lstrip("+-")) > MAX_INT_DIGITS:
        raise MotionGPTError(f"{name} {_shown(text)}: a number of {len(text.lstrip('+-'))} digits"
                             + (f", expected {low}..{high}" if low is not None and high is not None else ""))
    return check_int(int(text), name, low, high)


def check_int(value: object, name: str, low: int | None = None, high: int | None = None) -> int:
    """An integer in [low, high] (either bound optional); bools and floats are refused."""
    if isinstance(value, bool) or not isinstance(value, int) and not _is_numpy_int(value):
        raise MotionGPTError(f"{name} {_shown(value)}: expected a whole number")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        bounds = f"{low}..{high}" if low is not None and high is not None else \
            f"at least {low}" if low is not None else f"at most {high}"
        raise MotionGPTError(f"{name} {value}: expected {bounds}")
    return value


def check_number(value: object, name: str, low: float, high: float) -> float:
    """A finite real number in [low, high]."""
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        raise MotionGPTError(f"{name} {_shown(value)}: expected a number") from None
    if isinstance(value, (bool, complex)) or not math.isfinite(number) or not low <= number <= high:
        raise MotionGPTError(f"{name} {_shown(value)}: expected a finite number in {low:g}..{high:g}")
    return number


def check_guidance(value: object, name: str = "guidance") -> float:
    """A classifier-free guidance scale, as a float (generation.decoding)."""
    return check_number(value, name, MIN_GUIDANCE, MAX_GUIDANCE)


def parse_number(text: str, name: str, low: float, high: float) -> float:
    """A finite real number in [low, high] from user text."""
    try:
        number = float(str(text).strip())
    except ValueError:
        raise MotionGPTError(f"{name} {_shown(text)}: expected a number") from None
    return check_number(number, name, low, high)


def check_fps(fps: float, where: str) -> float:
    """A capture rate within MIN_FPS..MAX_FPS (a rate rounding to 0 would divide by zero when resampling)."""
    if not MIN_FPS <= fps <= MAX_FPS:
        raise MotionGPTError(f"{where}: a frame rate of {fps:.4g} fps, expected {MIN_FPS:g}..{MAX_FPS:g}")
    return fps


def check_clip_size(num_frames: int, fps: float, num_joints: int, where: str) -> None:
    """Bound the work one clip makes: its frames, its length in seconds, and frames x joints."""
    if not 1 <= num_frames <= MAX_CLIP_FRAMES:
        raise MotionGPTError(f"{where}: {num_frames} frames, expected 1..{MAX_CLIP_FRAMES}")
    if num_frames / fps > MAX_CLIP_SECONDS:
        raise MotionGPTError(f"{where}: {num_frames} frames at {fps:.4g} fps last {num_frames / fps:.0f} s, more than "
                             f"the {MAX_CLIP_SECONDS:g} s one clip may last (cut it into shorter clips)")
    if num_frames * num_joints > MAX_CLIP_VALUES:
        raise MotionGPTError(f"{where}: {num_frames} frames x {num_joints} joints, more than {MAX_CLIP_VALUES} "
                             "(cut it into shorter clips)")


def check_seed(seed: object, name: str = "seed") -> int:
    """A seed in 0..2^32-1 (negative or larger seeds would alias others in torch's generator)."""
    return check_int(seed, name, 0, MAX_SEED)


def _is_numpy_int(value: object) -> bool:
    return type(value).__module__ == "numpy" and hasattr(value, "dtype") and value.dtype.kind in "iu"


def _shown(value: object, limit: int = 40) -> str:
    """A value as an error message shows it: repr, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit - 5]}...{text[-2:]}"
