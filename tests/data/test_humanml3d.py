"""Writing the HumanML3D layout: windows, splits, statistics, and from-bvh on real Bandai clips."""

from __future__ import annotations

import numpy as np
import pytest

from motiongpt.data.humanml3d import (MAX_FRAMES, build_from_bvh, bvh_to_joints, mean_std, motion_windows,
                                      process_joints, read_captions_tsv, split_clips)
from motiongpt.data.layout import load_captions, load_features, load_joints, load_mean_std, split_ids
from motiongpt.errors import MotionGPTError
from motiongpt.motion.features import feature_slices, features_to_joints


def test_windows_cover_long_clips_and_keep_short_ones_whole():
    assert motion_windows(150) == [(0, 150)]
    assert motion_windows(MAX_FRAMES + 1) == [(0, MAX_FRAMES + 1)]
    windows = motion_windows(600)
    assert all(end - start == MAX_FRAMES + 1 for start, end in windows)
    assert windows[0][0] == 0 and windows[-1][1] == 600
    assert all(b[0] - a[0] <= 98 for a, b in zip(windows, windows[1:]))


def test_splits_are_stratified_seeded_and_complete():
    groups = {"walk": [f"w{i}" for i in range(20)], "bow": ["b0", "b1", "b2"], "kick": ["k0"]}
    split = split_clips(groups, seed=3)
    assert split == split_clips(groups, seed=3)
    assert split != split_clips(groups, seed=4)
    assert set(split) == {n for names in groups.values() for n in names}
    for names in ("walk", "bow"):
        got = [split[n] for n in groups[names]]
        assert "test" in got and "train" in got
    assert [split[n] for n in groups["walk"]].count("test") == 3
    assert split["k0"] == "train"


def test_mean_std_average_std_within_groups(humanml3d_mini):
    features = load_features(humanml3d_mini, "012314").astype(np.float64)
    sums = np.stack([features.sum(0), (features**2).sum(0), np.full(263, len(features))])
    mean, std = mean_std(sums)
    np.testing.assert_allclose(mean, features.mean(0), rtol=1e-5, atol=1e-6)
    for name, sl in feature_slices("t2m").items():
        expected = features[:, sl].std(0).mean()
        np.testing.assert_allclose(std[sl], 1.0 if expected < 1e-8 else expected, rtol=1e-4)


def test_process_joints_gives_joints_that_match_the_features(humanml3d_mini):
    features, joints = process_joints(load_joints(humanml3d_mini, "012314"))
    assert features.shape == (169, 263) and joints.shape == (169, 22, 3)
    assert features.dtype == np.float32 and joints.dtype == np.float32
    np.testing.assert_allclose(features_to_joints(features), joints, atol=1e-5)


def test_captions_tsv(tmp_path):
    tsv = tmp_path / "captions.tsv"
    tsv.write_text("clip_a\ta person waves\nclip_a\tsomeone waves a hand\n\nclip_b.bvh\ta person bows\n")
    assert read_captions_tsv(tsv) == {"clip_a": ["a person waves", "someone waves a hand"],
                                      "clip_b": ["a person bows"]}
    tsv.write_text("clip_a\ta person waves\nclip_b\n")
    with pytest.raises(MotionGPTError, match=r"captions.tsv:2"):
        read_captions_tsv(tsv)


def test_from_bvh_writes_the_layout(bandai_sample_bvh, tmp_path):
    files = [bandai_sample_bvh / f"dataset-2_{c}_normal_001.bvh" for c in ("walk-turn-left", "wave-left-hand")]
    tsv = tmp_path / "captions.tsv"
    tsv.write_text(f"{files[0].stem}\ta person walks and turns left\n{files[0].stem}\tsomeone turns to the left\n"
                   f"{files[1].stem}\ta person waves the left hand\n")
    out = tmp_path / "set"
    summary = build_from_bvh(files, out, rig="bandai", captions=tsv, workers=1)
    assert summary["clips_kept"] == 2 and summary["motions"] == 4 and summary["captions"] == 6
    ids = [i for s in ("train", "val", "test") for i in split_ids(out, s)]
    assert sorted(ids) == sorted([f.stem for f in files] + ["M" + f.stem for f in files])
    mean, std = load_mean_std(out)
    assert mean.shape == std.shape == (263,) and np.all(std > 0)
    stem = files[0].stem
    assert [c.text for c in load_captions(out, stem)] == ["a person walks and turns left", "someone turns to the left"]
    assert [c.text for c in load_captions(out, "M" + stem)] == ["a person walks and turns right",
                                                                 "someone turns to the right"]
    assert load_captions(out, stem)[0].tokens[-1] == "left/ADV"
    feats, joints = load_features(out, stem), load_joints(out, stem)
    raw = bvh_to_joints(files[0], "bandai", 0.01)
    assert feats.shape == (len(raw) - 1, 263) and joints.shape == (len(raw) - 1, 22, 3)
