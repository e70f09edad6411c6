"""`motiongpt render`: npy joints and features to GIF/MP4/BVH; bad input is one line and exit code 2."""

from __future__ import annotations

import shutil

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np

from motiongpt.cli import main
from motiongpt.data.bvh import read_bvh
from motiongpt.export.bvh import bvh_to_smpl_order


def test_render_joints_to_gif_mp4_and_bvh(tmp_path, humanml3d_mini, capsys):
    src = tmp_path / "walk.npy"
    np.save(src, np.load(humanml3d_mini / "new_joints" / "012314.npy")[:24])
    assert main(["render", str(src), "--format", "gif,mp4,bvh", "--size", "160", "--titles"]) == 0
    assert iio.imread(tmp_path / "walk.gif", index=None).shape[0] == 24
    assert imageio_ffmpeg.count_frames_and_secs(str(tmp_path / "walk.mp4"))[0] == 24
    positions = read_bvh(tmp_path / "walk.bvh", scale=0.01).global_positions()[:, bvh_to_smpl_order()]
    assert np.abs(positions - np.load(src)).max() < 1e-3
    assert "walk.gif: 24 frames at 20 fps" in capsys.readouterr().out


def test_render_features_side_by_side_with_joints(tmp_path, humanml3d_mini):
    features = tmp_path / "feats.npy"
    np.save(features, np.load(humanml3d_mini / "new_joint_vecs" / "012314.npy")[:20])
    shutil.copy(humanml3d_mini / "new_joints" / "012314.npy", tmp_path / "joints.npy")
    out = tmp_path / "out" / "both.gif"
    assert main(["render", str(features), str(tmp_path / "joints.npy"), "-o", str(out), "--size", "120"]) == 0
    frames = iio.imread(out, index=None)
    assert frames.shape[0] == 170  # the longer motion sets the length
    assert frames.shape[2] == 240  # two panels


def test_bad_shape_is_one_line_and_exit_2(tmp_path, capsys):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((12, 23, 3), dtype=np.float32))
    assert main(["render", str(bad)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    assert "bad.npy" in err and "(12, 23, 3)" in err and "(T, 22, 3)" in err
    assert not (tmp_path / "bad.gif").exists()


def test_kit_joints_refuse_bvh_and_unknown_formats(tmp_path, capsys):
    kit = tmp_path / "kit.npy"
    np.save(kit, np.random.default_rng(0).normal(size=(5, 21, 3)).astype(np.float32))
    assert main(["render", str(kit), "--format", "bvh"]) == 2
    assert "kit.npy: 21 joints" in capsys.readouterr().err
    assert main(["render", str(kit), "--format", "webm"]) == 2
    assert "--format" in capsys.readouterr().err
