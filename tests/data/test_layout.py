import numpy as np
import pytest

from motiongpt.data import layout
from motiongpt.errors import MotionGPTError


def test_reads_official_humanml3d_clip(humanml3d_mini):
    assert "012314" in layout.split_ids(humanml3d_mini, "test") + layout.split_ids(
        humanml3d_mini, "train") + layout.split_ids(humanml3d_mini, "val")
    feats = layout.load_features(humanml3d_mini, "012314")
    joints = layout.load_joints(humanml3d_mini, "012314")
    assert feats.shape == (170, 263) and joints.shape == (170, 22, 3)
    mean, std = layout.load_mean_std(humanml3d_mini)
    assert mean.shape == std.shape == (263,)
    captions = layout.load_captions(humanml3d_mini, "012314")
    assert len(captions) == 3
    assert captions[0].text.startswith("a person appears to be playing tennis")
    assert all("/" in tok for tok in captions[0].tokens)
    line = layout.format_caption_line(captions[0])
    assert layout.parse_caption_line(line) == captions[0]


def test_missing_split_is_a_clear_error(tmp_path):
    with pytest.raises(MotionGPTError, match="train.txt"):
        layout.split_ids(tmp_path, "train")


def test_missing_or_corrupt_arrays_are_one_line_errors(tmp_path):
    (tmp_path / "new_joint_vecs").mkdir()
    (tmp_path / "new_joint_vecs" / "a.npy").write_bytes(b"garbage")
    np.save(tmp_path / "Mean.npy", np.zeros(263, np.float32))
    for call, message in ((lambda: layout.load_features(tmp_path, "a"), "a.npy: cannot read"),
                          (lambda: layout.load_features(tmp_path, "b"), "b.npy: feature array file not found"),
                          (lambda: layout.load_joints(tmp_path, "a"), "a.npy: joint array file not found"),
                          (lambda: layout.load_mean_std(tmp_path), "Std.npy: statistics array file not found")):
        with pytest.raises(MotionGPTError, match=message) as err:
            call()
        assert "\n" not in str(err.value)
