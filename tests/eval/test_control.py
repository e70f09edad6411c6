"""Control metrics on constructed motions whose satisfaction, Recon and Vel are known by hand."""

from __future__ import annotations

import numpy as np
import pytest

from motiongpt.errors import MotionGPTError
from motiongpt.eval.control import (control_metrics, control_positions, local_joints, mean_metrics,
                                    matched_windows, task_controls)
from motiongpt.motion.features import features_to_joints, joints_to_features
from motiongpt.motion.skeleton import T2M

FPS = 20.0
J = 22


def smooth_motion(frames: int, seed: int = 0) -> np.ndarray:
    """Local joints (frames, 22, 3) with a smooth random trajectory per joint."""
    rng = np.random.default_rng(seed)
    return np.cumsum(rng.normal(0, 0.01, (frames, J, 3)), axis=0) + rng.normal(0, 0.3, (1, J, 3))


@pytest.mark.parametrize("task, positions", [("init", [0]), ("last", [9]), ("key", [1, 4, 8])])
def test_generated_equal_to_real_gives_zero_and_satisfied(task, positions):
    real = smooth_motion(40)
    codes = list(range(100, 110))
    metrics = control_metrics(task, codes, real.copy(), codes, real, positions, FPS)
    assert metrics == {"satisfied": 1.0, "recon": 0.0, "vel": 0.0}


def test_a_known_offset_gives_a_known_recon_and_velocity_jump():
    real = smooth_motion(40)
    generated = real.copy()
    generated[:4] += [0.03, 0.04, 0.0]  # the first window moved by 5 cm
    init = control_metrics("init", [7] + [1] * 9, generated, [7] + [2] * 9, real, [0], FPS)
    assert init["satisfied"] == 1.0
    assert init["recon"] == pytest.approx(0.05)
    assert init["vel"] == pytest.approx(0.05 * FPS)  # frames 3 -> 4 jump back by 5 cm in one frame

    generated = real.copy()
    generated[-4:] += [0.0, 0.0, 0.02]
    last = control_metrics("last", [1] * 10, generated, [2] * 10, real, [9], FPS)
    assert last["satisfied"] == 0.0  # the last code differs from the control
    assert last["recon"] == pytest.approx(0.02) and last["vel"] == pytest.approx(0.02 * FPS)


def test_key_tokens_are_matched_to_the_nearest_generated_window():
    real = smooth_motion(40, seed=1)
    # The generated motion holds the real windows 2 and 6 at its windows 5 and 1, plus unrelated frames.
    generated = smooth_motion(32, seed=2) + 5.0
    generated[20:24] = real[8:12]
    generated[4:8] = real[24:28] + [0.0, 0.01, 0.0]
    assert matched_windows("key", generated, real, [2, 6]) == [(5, 2), (1, 6)]
    metrics = control_metrics("key", [0, 3, 0, 0, 0, 1, 0, 0], generated, [9, 9, 1, 9, 9, 9, 3, 9, 9, 9], real,
                              [2, 6], FPS)
    assert metrics["recon"] == pytest.approx(0.005)  # windows: 0 and 1 cm
    assert metrics["satisfied"] == 0.0  # keys 1 then 3 appear as 3 then 1: out of order
    # Velocity jumps at both edges of both windows: compare with an explicit computation.
    jumps = []
    for q, p in ((5, 2), (1, 6)):
        for g, r in ((4 * q, 4 * p), (4 * q + 4, 4 * p + 4)):
            dv = (generated[g] - generated[g - 1]) - (real[r] - real[r - 1])
            jumps.append(np.linalg.norm(dv * FPS, axis=-1).mean())
    assert metrics["vel"] == pytest.approx(np.mean(jumps))


def test_one_code_motion_has_no_velocity_edge():
    real = smooth_motion(8)
    metrics = control_metrics("init", [4], real[:4], [4, 5], real, [0], FPS)
    assert metrics["recon"] == 0.0 and np.isnan(metrics["vel"])
    assert mean_metrics([metrics, {"satisfied": 0.0, "recon": 1.0, "vel": 3.0}]) == \
        {"satisfied": 0.5, "recon": 0.5, "vel": 3.0}


def test_positions_and_controls_follow_the_instruction_build():
    rng = np.random.default_rng(0)
    assert control_positions("init", 12, rng) == [0] and control_positions("last", 12, rng) == [11]
    counts = set()
    for _ in range(200):
        keys = control_positions("key", 12, rng)
        assert keys == sorted(set(keys)) and all(0 <= k < 12 for k in keys)
        counts.add(len(keys))
    assert counts == {3, 4, 5}
    assert control_positions("key", 2, rng) == [0, 1]
    codes = [10, 11, 12, 13, 14]
    assert task_controls("init", codes, [0]).init == 10 and task_controls("last", codes, [4]).last == 14
    assert task_controls("key", codes, [1, 3]).keys == (11, 13)
    with pytest.raises(MotionGPTError, match="control task 'pose'"):
        control_positions("pose", 5, rng)


def pairwise_distances(joints: np.ndarray) -> np.ndarray:
    return np.linalg.norm(joints[:, :, None] - joints[:, None], axis=-1)


def test_local_joints_are_the_joints_with_root_moved_to_the_origin_and_facing_z():
    rng = np.random.default_rng(0)
    frames = 30
    pose = np.zeros((J, 3))
    for j, parent in enumerate(T2M.parents):
        if parent >= 0:
            pose[j] = pose[parent] + T2M.target_offsets[j]
    angle = np.cumsum(np.full(frames, 0.05))[:, None]
    body = pose[None] + rng.normal(0, 0.005, (frames, J, 3))
    joints = body.copy()  # turning on the spot while walking along a line
    joints[..., 0] = np.cos(angle) * body[..., 0] + np.sin(angle) * body[..., 2]
    joints[..., 2] = -np.sin(angle) * body[..., 0] + np.cos(angle) * body[..., 2]
    joints += np.linspace(0, 1, frames)[:, None, None] * [1.0, 0.0, 0.5]
    features = np.asarray(joints_to_features(joints), np.float64)
    local = local_joints(features)
    recovered = features_to_joints(features)
    assert np.allclose(local[:, 0, [0, 2]], 0.0)
    assert np.allclose(local[:, 0, 1], recovered[:, 0, 1])
    assert np.allclose(pairwise_distances(local), pairwise_distances(recovered), atol=1e-5)
    with pytest.raises(MotionGPTError, match=r"expected \(T, 263\)"):
        local_joints(np.zeros((5, 251)))


def test_windows_follow_the_given_frames_per_code():
    real = smooth_motion(16)
    generated = real.copy()
    generated[2:4] += 0.3  # outside the first 2-frame window, half of the first 4-frame window
    assert matched_windows("key", real, real, [2], frames_per_code=2) == [(2, 2)]
    two = control_metrics("init", [0] * 8, generated, [0] * 8, real, [0], FPS, frames_per_code=2)
    four = control_metrics("init", [0] * 4, generated, [0] * 4, real, [0], FPS)
    assert two["recon"] == 0.0 and four["recon"] == pytest.approx(0.3 * np.sqrt(3) / 2)
