"""The torch datasets over the HumanML3D layout, on the real HumanML3D clip."""

from __future__ import annotations

import shutil

import numpy as np
import torch

from motiongpt.data.dataset import KIT, TextMotionDataset, WindowDataset, collate, limits_for
from motiongpt.data.layout import load_captions, load_features, load_joints, load_mean_std, split_ids

CLIP = "012314"


def _split_of(root):
    return next(s for s in ("train", "val", "test") if CLIP in split_ids(root, s))


def test_items_are_normalised_cropped_and_captioned(humanml3d_mini):
    split = _split_of(humanml3d_mini)
    data = TextMotionDataset(humanml3d_mini, split, seed=1)
    assert len(data) == 1
    features = load_features(humanml3d_mini, CLIP)
    mean, std = load_mean_std(humanml3d_mini)
    texts = {c.text: c.tokens for c in load_captions(humanml3d_mini, CLIP)}
    lengths, captions = set(), set()
    for epoch in range(12):
        data.set_epoch(epoch)
        item = data[0]
        n = item["length"]
        assert n % 4 == 0 and n in (len(features) // 4 * 4, len(features) // 4 * 4 - 4)
        assert item["features"].shape == (n, 263) and item["features"].dtype == torch.float32
        normalised = (features - mean) / std
        offsets = [o for o in range(len(features) - n + 1)
                   if np.allclose(normalised[o:o + n], item["features"].numpy(), atol=1e-6)]
        assert offsets
        assert item["tokens"] == texts[item["caption"]]
        lengths.add(n)
        captions.add(item["caption"])
    assert len(lengths) == 2 and len(captions) >= 2
    data.set_epoch(3)
    again = TextMotionDataset(humanml3d_mini, split, seed=1)
    again.set_epoch(3)
    assert torch.equal(data[0]["features"], again[0]["features"])


def test_time_tags_crop_the_motion_and_joints(humanml3d_mini, tmp_path):
    root = tmp_path / "set"
    shutil.copytree(humanml3d_mini, root)
    (root / "texts" / f"{CLIP}.txt").write_text(
        "a person plays tennis#a/DET person/NOUN play/VERB tennis/NOUN#1.0#4.0\n"
        "a short bit#a/DET short/ADJ bit/NOUN#0.0#1.0\n")
    split = _split_of(root)
    data = TextMotionDataset(root, split, return_joints=True, random_crop=False)
    assert len(data) == 1  # no whole-motion caption; the 1 s part is under 40 frames
    item = data[0]
    mean, std = load_mean_std(root)
    expected = (load_features(root, CLIP)[20:80] - mean) / std
    assert item["length"] == 60 and item["caption"] == "a person plays tennis"
    np.testing.assert_allclose(item["features"].numpy(), expected, atol=1e-6)
    np.testing.assert_array_equal(item["joints"].numpy(), load_joints(root, CLIP)[20:80])


def test_collate_pads_to_the_longest(humanml3d_mini):
    data = TextMotionDataset(humanml3d_mini, _split_of(humanml3d_mini), return_joints=True, seed=0)
    items = []
    for epoch in range(6):
        data.set_epoch(epoch)
        items.append(data[0])
    batch = collate(items)
    longest = max(i["length"] for i in items)
    assert batch["features"].shape == (6, longest, 263) and batch["joints"].shape == (6, longest, 22, 3)
    for row, item in enumerate(items):
        n = item["length"]
        assert batch["lengths"][row] == n and batch["mask"][row].sum() == n
        assert torch.equal(batch["features"][row, :n], item["features"])
        assert not batch["features"][row, n:].any()
    assert batch["captions"] == [i["caption"] for i in items]


def test_windows_are_fixed_length_seeded(humanml3d_mini):
    split = _split_of(humanml3d_mini)
    data = WindowDataset(humanml3d_mini, split, window=64, seed=5)
    first = data[0]
    assert first.shape == (64, 263)
    assert torch.equal(WindowDataset(humanml3d_mini, split, window=64, seed=5)[0], first)
    seen = set()
    for epoch in range(8):
        data.set_epoch(epoch)
        seen.add(data[0][0, 4].item())
    assert len(seen) > 1


def test_limits_follow_the_feature_size():
    assert limits_for(251) == KIT and KIT.min_len == 24 and KIT.fps == 12.5
    assert limits_for(263).min_len == 40 and limits_for(263).max_len == 196
