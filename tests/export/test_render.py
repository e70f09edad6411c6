"""Stick-figure rendering: frame counts and timing of GIF/MP4, grids, and what a frame shows."""

from __future__ import annotations

import imageio.v3 as iio
import imageio_ffmpeg
import numpy as np
import pytest
from matplotlib.colors import to_rgb

from motiongpt.errors import MotionGPTError
from motiongpt.export.render import (
    LEFT_COLOR,
    PATH_COLOR,
    RIGHT_COLOR,
    StickFigureVideo,
    load_joints,
    render_gif,
    render_grid,
    render_mp4,
)


def _has_color(frame: np.ndarray, color: str, tol: int = 40) -> int:
    rgb = np.array(to_rgb(color)) * 255
    return int((np.abs(frame.astype(np.float64) - rgb).max(-1) < tol).sum())


def test_gif_has_one_frame_per_motion_frame_even_when_still(tmp_path, joints):
    # A held pose in the middle: identical frames must not be merged by the GIF encoder.
    motion = np.concatenate([joints[:12], np.repeat(joints[12:13], 6, axis=0), joints[13:20]])
    path = tmp_path / "m.gif"
    assert render_gif(motion, path, title="a person lunges") == len(motion)
    frames = iio.imread(path, index=None)
    assert frames.shape[0] == len(motion)
    assert all(iio.immeta(path, index=i)["duration"] == 50 for i in range(len(motion)))


def test_mp4_is_valid_h264_with_one_frame_per_motion_frame(tmp_path, joints):
    path = tmp_path / "m.mp4"
    assert render_mp4(joints[:30], path, size=200) == 30
    reader = imageio_ffmpeg.read_frames(str(path))
    meta = next(reader)
    frames = list(reader)
    assert len(frames) == 30
    assert meta["codec"] == "h264" and meta["fps"] == 20
    width, height = meta["size"]
    assert width % 2 == 0 and height % 2 == 0


def test_frame_shows_both_sides_and_the_root_path_upright(joints):
    video = StickFigureVideo([joints], ["title"], size=320)
    frame = video.frame(len(joints) - 1)
    assert frame.shape == (*video.shape, 3) and frame.dtype == np.uint8
    for color in (LEFT_COLOR, RIGHT_COLOR, PATH_COLOR):
        assert _has_color(frame, color) > 20, color
    # Upright: the right arm's and right leg's pixels (same colour) span a tall region, above the path on the floor.
    rows = np.nonzero((np.abs(frame.astype(float) - np.array(to_rgb(RIGHT_COLOR)) * 255).max(-1) < 40).any(1))[0]
    path_rows = np.nonzero((np.abs(frame.astype(float) - np.array(to_rgb(PATH_COLOR)) * 255).max(-1) < 40).any(1))[0]
    assert rows.min() < path_rows.min()
    assert rows.max() - rows.min() > 0.2 * frame.shape[0]


def test_grid_holds_shorter_motions_and_places_panels_side_by_side(tmp_path, joints):
    path = tmp_path / "grid.gif"
    assert render_grid([joints[:25], joints[:10]], ["long", "short"], path, size=160) == 25
    frames = iio.imread(path, index=None)
    single = StickFigureVideo([joints[:10]], ["short"], size=160)
    assert frames.shape[0] == 25
    assert frames.shape[2] == 2 * single.shape[1]
    # The short motion holds its last pose (the frame counter sits in the first panel only).
    video = StickFigureVideo([joints[:25], joints[:10]], ["long", "short"], size=160)
    assert np.array_equal(video.frame(9)[:, 160:], video.frame(24)[:, 160:])
    assert not np.array_equal(video.frame(9)[:, :160], video.frame(24)[:, :160])


def test_bad_shapes_are_rejected(tmp_path, joints):
    with pytest.raises(MotionGPTError, match=r"\(5, 23, 3\)"):
        StickFigureVideo([np.zeros((5, 23, 3))], ["bad"])
    with pytest.raises(MotionGPTError, match="NaN"):
        StickFigureVideo([np.full((5, 22, 3), np.nan)])
    with pytest.raises(MotionGPTError, match="unknown video format"):
        render_grid([joints[:3]], None, tmp_path / "m.avi")
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((7, 66)))
    with pytest.raises(MotionGPTError, match=r"bad\.npy: array of shape \(7, 66\)"):
        load_joints(bad)
