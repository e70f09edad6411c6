"""The Bandai build on real clips: captions from labels, and physical sanity of the written motions."""

from __future__ import annotations

import numpy as np
import pytest

from motiongpt.data.bandai import DATASET_1, DATASET_2, build_bandai, clip_captions, dataset_jobs, read_labels
from motiongpt.data.dataset import TextMotionDataset
from motiongpt.data.humanml3d import MIN_FRAMES, bvh_to_joints
from motiongpt.data.layout import load_captions, load_features, load_joints, split_ids
from motiongpt.motion.features import features_to_joints, uniform_skeleton
from motiongpt.motion.skeleton import T2M

FEET = [7, 8, 10, 11]
SWAP = list(range(22))
for _l, _r in zip(T2M.left_chain, T2M.right_chain):
    SWAP[_l], SWAP[_r] = _r, _l

CLIPS = ["walk_normal", "walk_exhausted", "walk_active", "run_normal", "run_active", "walk-turn-left_normal",
         "wave-right-hand_normal", "raise-up-left-hand_youthful"]


@pytest.fixture(scope="module")
def built(bandai_sample_bvh, tmp_path_factory):
    cfg = bandai_sample_bvh.parent / "cfg"
    jobs = [j for j in dataset_jobs(bandai_sample_bvh, cfg, "dataset-2") if j.name.split("_", 1)[1][:-4] in CLIPS]
    assert len(jobs) == len(CLIPS)
    out = tmp_path_factory.mktemp("bandai") / "set"
    summary = build_bandai(bandai_sample_bvh, out, workers=1, jobs=jobs)
    return out, summary


def _ids(out):
    return [i for s in ("train", "val", "test") for i in split_ids(out, s)]


def _heading(joints):
    r_hip, l_hip, r_sdr, l_sdr = T2M.face_joints
    across = joints[:, r_hip] - joints[:, l_hip] + joints[:, r_sdr] - joints[:, l_sdr]
    forward = np.cross([0.0, 1.0, 0.0], across)
    return np.unwrap(np.arctan2(forward[:, 0], forward[:, 2]))


def test_every_label_pair_gets_three_distinct_captions(bandai_dir):
    for dataset in (DATASET_1, DATASET_2):
        contents, styles = read_labels(bandai_dir / dataset / "cfg")
        for content in contents:
            for style in styles:
                captions = clip_captions(f"{content}_{style}", content, style)
                assert len(captions) == 3 and len({c.lower() for c in captions}) == 3, (content, style)


def test_captions_name_the_style_and_the_turn_direction():
    exhausted = " ".join(clip_captions("x", "walk", "exhausted", 6))
    assert any(w in exhausted for w in ("exhausted", "tired", "wearily", "trudge", "drag", "worn out"))
    turn = clip_captions("y", "walk-turn-left", "normal")
    assert all("left" in c and "right" not in c for c in turn)


def test_layout_counts_and_metadata(built, bandai_sample_bvh):
    out, summary = built
    assert summary["clips_kept"] + len(summary["clips_dropped"]) == len(CLIPS) >= summary["clips_kept"] >= 6
    for name in summary["clips_dropped"]:  # too short: fewer than 40 feature frames at 20 fps
        assert len(bvh_to_joints(bandai_sample_bvh / f"{name}.bvh", "bandai", 0.01)) - 1 < MIN_FRAMES
    assert summary["motions"] == 2 * summary["windows"]
    assert summary["license"] == "CC BY-NC 4.0" and "2306.08861" in summary["citation"]
    ids = _ids(out)
    assert len(ids) == len(set(ids)) == summary["motions"]
    for split in ("train", "val", "test"):
        names = split_ids(out, split)
        assert all(("M" + i in names) for i in names if not i.startswith("M"))
    for motion_id in ids:
        captions = load_captions(out, motion_id)
        assert len({c.text for c in captions}) >= 3
    train = TextMotionDataset(out, "train")
    assert len(train) > 0 and train[0]["features"].shape[1] == 263
    mirrored = " ".join(c.text for c in load_captions(out, "Mdataset-2_walk-turn-left_normal_001"))
    assert "right" in mirrored and "left" not in mirrored


def test_bones_are_rigid_and_feet_reach_the_floor(built):
    out, _ = built
    parents = T2M.parents
    for motion_id in _ids(out):
        joints = load_joints(out, motion_id)
        bones = np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1)
        assert bones.std(0).max() < 1e-3, motion_id
        assert abs(joints[:, FEET, 1].min()) < 0.05, motion_id


def test_features_reproduce_the_written_joints(built):
    out, _ = built
    for motion_id in _ids(out):
        np.testing.assert_allclose(features_to_joints(load_features(out, motion_id)), load_joints(out, motion_id),
                                   atol=1e-4)


def test_written_joints_follow_the_source_capture(built, bandai_sample_bvh):
    """Retargeted source joints, floored and turned about Y onto the written ones, agree within 5 mm."""
    out, _ = built
    for motion_id in split_ids(out, "train") + split_ids(out, "test"):
        if motion_id.startswith("M") or "_w" in motion_id:
            continue
        written = load_joints(out, motion_id).astype(np.float64)
        source = uniform_skeleton(bvh_to_joints(bandai_sample_bvh / f"{motion_id}.bvh", "bandai", 0.01))
        source = source[: len(written)]
        source[..., 1] -= source[..., 1].min()
        a = source[..., [0, 2]].reshape(-1, 2)
        b = written[..., [0, 2]].reshape(-1, 2)
        a_mean, b_mean = a.mean(0), b.mean(0)
        u, _, vt = np.linalg.svd((a - a_mean).T @ (b - b_mean))
        rotation = u @ vt  # best rotation about Y (a proper one: the capture is not mirrored)
        assert np.linalg.det(rotation) > 0, motion_id
        aligned = source.copy()
        aligned[..., [0, 2]] = (source[..., [0, 2]] - a_mean) @ rotation + b_mean
        assert np.abs(aligned - written).max() < 0.005, motion_id


def _speed(joints):
    root = joints[:, 0, [0, 2]]
    return np.linalg.norm(root[-1] - root[0]) / (len(joints) / 20.0)


def test_walks_and_runs_move_forward_at_plausible_speeds(built):
    out, _ = built
    walks = [_speed(load_joints(out, f"dataset-2_walk_{s}_001")) for s in ("normal", "exhausted", "active")]
    runs = [_speed(load_joints(out, f"dataset-2_run_{s}_001")) for s in ("normal", "active")]
    assert all(0.5 <= v <= 2.0 for v in walks), walks
    assert min(runs) > max(walks), (runs, walks)
    walk = load_joints(out, "dataset-2_walk_normal_001")
    assert walk[-1, 0, 2] - walk[0, 0, 2] > 0.9 * np.linalg.norm(walk[-1, 0, [0, 2]] - walk[0, 0, [0, 2]])


def test_walk_turn_left_turns_left(built):
    out, _ = built
    turn = np.degrees(_heading(load_joints(out, "dataset-2_walk-turn-left_normal_001")))
    assert 60 < turn[-1] - turn[0] < 130  # heading from +Z towards +X, the body's left
    mirrored = np.degrees(_heading(load_joints(out, "Mdataset-2_walk-turn-left_normal_001")))
    assert -130 < mirrored[-1] - mirrored[0] < -60


def test_a_clip_and_its_mirror_are_reflections(built):
    out, _ = built
    for motion_id in [i for i in _ids(out) if not i.startswith("M")]:
        joints, mirrored = load_joints(out, motion_id), load_joints(out, "M" + motion_id)
        reflected = mirrored[:, SWAP] * np.array([-1.0, 1.0, 1.0])
        local = (reflected - reflected[:, :1]) - (joints - joints[:, :1])
        assert np.linalg.norm(local, axis=-1).max() < 0.03, motion_id
        path = np.linalg.norm(np.diff(joints[:, 0], axis=0), axis=-1).sum()
        assert np.linalg.norm(reflected[:, 0] - joints[:, 0], axis=-1).max() < 0.03 + 0.02 * path, motion_id
