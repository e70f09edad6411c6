"""Control metrics: does a motion generated with pose tokens really hold those poses where they were asked for?

The paper (supplement, Table 5) reports Recon and Vel, "both measured by L2 loss", without formula, space or unit,
and released no code. This module fixes one definition, used for every control task and for the text-only baseline
(a motion generated without controls, scored against the same ground-truth poses).

Tasks and control tokens, as the original instruction build draws them from a motion's own codes:
    init  the first code      last  the last code      key  3-5 codes at sorted random positions (all if fewer)

Poses are compared as *local joints*: the joint positions (metres) with the root moved to x = z = 0 and turned to
face +Z in every frame, i.e. the HumanML3D `ric` block plus the root height. A code describes exactly this (the
VQ-VAE sees no global position or heading), so drift of the whole body does not count as a control error.

Code position q covers frames kq..kq+k-1, its *window* (k = the VQ-VAE's frames per code, 4 in the paper). Each
control token is matched to one window of the generated motion: init → the first window, last → the last window, key
token at real position p → the generated window nearest to the real window p (the paper's "nearest Euclidean
distance"; windows of several keys may coincide). Then, per motion:

- satisfied: the generated codes hold the control tokens (first / last / as an ordered subsequence) — 0 or 1.
- recon (m): mean over the matched windows of the pose error: the mean over the window's k frames and all joints
  of ||generated − real||₂. Generated == real gives 0; a pose shifted by d metres gives d.
- vel (m/s): the velocity jump at the window's edges inside both motions (init: the edge after the window, frames
  k-1→k; last: the edge before it; key: both edges): ||v_gen − v_real||₂ per joint, v = local-joint displacement
  between the two frames × fps, averaged over joints, edges and windows; NaN (left out of means) when no edge lies
  inside both motions, e.g. a one-code motion.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from motiongpt.data.layout import UNIT_LENGTH
from motiongpt.errors import MotionGPTError
from motiongpt.generation.constraints import Controls
from motiongpt.llm.tasks import CONTROL_TASKS, Task
from motiongpt.motion.features import feature_slices
from motiongpt.motion.skeleton import get_spec

KEY_TOKENS = (3, 5)  # inclusive range of key tokens per motion, as the original instruction build
METRICS = ("satisfied", "recon", "vel")


def control_positions(task: str, num_codes: int, rng: np.random.Generator) -> list[int]:
    """Code positions whose tokens become the controls of `task` for a motion of `num_codes` codes."""
    if num_codes < 1:
        raise MotionGPTError(f"a motion of {num_codes} codes has no control token")
    if task == Task.INIT:
        return [0]
    if task == Task.LAST:
        return [num_codes - 1]
    if task == Task.KEY:
        count = min(int(rng.integers(KEY_TOKENS[0], KEY_TOKENS[1] + 1)), num_codes)
        return sorted(rng.choice(num_codes, count, replace=False).tolist())
    raise MotionGPTError(f"control task {task!r}: expected one of {', '.join(CONTROL_TASKS)}")


def task_controls(task: str, codes: Sequence[int], positions: Sequence[int]) -> Controls:
    """The `Controls` the generator is given: the real codes at `positions`."""
    picked = tuple(int(codes[p]) for p in positions)
    if task == Task.INIT:
        return Controls(init=picked[0])
    if task == Task.LAST:
        return Controls(last=picked[-1])
    return Controls(keys=picked)


def local_joints(features: np.ndarray, spec: str = "t2m") -> np.ndarray:
    """(T, J, 3) joint positions around a root at x = z = 0 facing +Z, from raw features (T, D)."""
    spec = get_spec(spec)
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or features.shape[1] != spec.feature_dim:
        raise MotionGPTError(f"features of shape {features.shape}: expected (T, {spec.feature_dim})")
    s = feature_slices(spec)
    root = np.zeros((len(features), 1, 3))
    root[:, 0, 1] = features[:, s["root_y"]][:, 0]
    return np.concatenate([root, features[:, s["ric"]].reshape(len(features), spec.num_joints - 1, 3)], axis=1)


def _window(joints: np.ndarray, q: int, k: int) -> np.ndarray:
    return joints[q * k:(q + 1) * k]


def pose_error(a: np.ndarray, b: np.ndarray) -> float:
    """Mean over frames and joints of the Euclidean distance between two equally shaped (F, J, 3) poses."""
    return float(np.linalg.norm(a - b, axis=-1).mean())


def matched_windows(task: str, generated: np.ndarray, real: np.ndarray, positions: Sequence[int], *,
                    frames_per_code: int = UNIT_LENGTH) -> list[tuple[int, int]]:
    """(generated window, real window) pairs for the control tokens at real code `positions`."""
    k = frames_per_code
    n_gen = len(generated) // k
    if n_gen < 1 or len(real) < k * (max(positions) + 1):
        raise MotionGPTError(f"motions of {len(generated)} generated / {len(real)} real frames are too short for "
                             f"control positions {list(positions)}")
    if task == Task.INIT:
        return [(0, positions[0])]
    if task == Task.LAST:
        return [(n_gen - 1, positions[-1])]
    if task != Task.KEY:
        raise MotionGPTError(f"control task {task!r}: expected one of {', '.join(CONTROL_TASKS)}")
    windows = generated[: n_gen * k].reshape(n_gen, k, *generated.shape[1:])
    pairs = []
    for p in positions:
        distances = np.linalg.norm(windows - _window(real, p, k)[None], axis=-1).mean(axis=(1, 2))
        pairs.append((int(distances.argmin()), p))
    return pairs


def _edge_jumps(generated: np.ndarray, real: np.ndarray, q: int, p: int, fps: float, k: int) -> list[float]:
    """Velocity jumps at the edges of generated window q vs real window p that lie inside both motions."""
    jumps = []
    for gen_at, real_at in ((q * k, p * k), ((q + 1) * k, (p + 1) * k)):
        if 0 < gen_at < len(generated) and 0 < real_at < len(real):
            v_gen = (generated[gen_at] - generated[gen_at - 1]) * fps
            v_real = (real[real_at] - real[real_at - 1]) * fps
            jumps.append(float(np.linalg.norm(v_gen - v_real, axis=-1).mean()))
    return jumps


def control_metrics(task: str, generated_codes: Sequence[int], generated: np.ndarray, real_codes: Sequence[int],
                    real: np.ndarray, positions: Sequence[int], fps: float, *,
                    frames_per_code: int = UNIT_LENGTH) -> dict[str, float]:
    """satisfied, recon (m) and vel (m/s) of one generated motion; `generated`/`real` are local joints."""
    k = frames_per_code
    controls = task_controls(task, real_codes, positions)
    pairs = matched_windows(task, generated, real, positions, frames_per_code=k)
    recon = float(np.mean([pose_error(_window(generated, q, k), _window(real, p, k)) for q, p in pairs]))
    jumps = [j for q, p in pairs for j in _edge_jumps(generated, real, q, p, fps, k)]
    return {"satisfied": float(controls.satisfied_by(list(generated_codes))), "recon": recon,
            "vel": float(np.mean(jumps)) if jumps else float("nan")}


def mean_metrics(rows: Iterable[dict[str, float]]) -> dict[str, float]:
    """Per-metric mean over motions, leaving out NaN (a metric with no value at all stays NaN)."""
    rows = list(rows)
    out = {}
    for name in METRICS:
        values = np.array([r[name] for r in rows], dtype=np.float64)
        values = values[~np.isnan(values)]
        out[name] = float(values.mean()) if len(values) else float("nan")
    return out
