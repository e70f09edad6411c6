"""The HDM05 build on the real sample clips (one per class): captions from classes, licence, and the acceptance
checks of the written motions (rigid bones, feet on the floor, the left kick, the left circle, lying down)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from motiongpt.data.captions import mirror_text
from motiongpt.data.hdm05 import ACTIONS, MIN_FRAMES, build_hdm05, clip_captions, clip_jobs, parse_name
from motiongpt.data.layout import load_captions, load_joints, split_ids
from motiongpt.errors import MotionGPTError
from motiongpt.motion.skeleton import T2M

FEET = [7, 8, 10, 11]
L_HIP, R_HIP, L_ANKLE, R_ANKLE = (T2M.joint_names.index(n) for n in ("left_hip", "right_hip", "left_ankle",
                                                                      "right_ankle"))
KICK = "HDM_bd_kickLFront1Reps_001_120"
JOG = "HDM_bd_jogLeftCircle4StepsRstart_001_120"
LIE = "HDM_bd_lieDownFloor_001_120"


@pytest.fixture(scope="module")
def built(hdm05_sample, tmp_path_factory):
    out = tmp_path_factory.mktemp("hdm05") / "set"
    summary = build_hdm05(hdm05_sample, out, workers=1)  # an unpacked folder: asf/ and amc/
    return out, summary


def _angle(xz):
    """Unwrapped angles (degrees) of (x, z) vectors, growing as they turn from +Z towards +X: to the body's left
    when it faces +Z (the layout puts the left hip at +X)."""
    return np.degrees(np.unwrap(np.arctan2(xz[:, 0], xz[:, 1])))


def _turns(joints):
    """(turn of the line from the right hip to the left one, turn of the root's path from its first 5 steps to
    its last 5), in degrees, positive to the left."""
    hips = _angle(joints[:, L_HIP, [0, 2]] - joints[:, R_HIP, [0, 2]])
    steps = np.diff(joints[:, 0, [0, 2]], axis=0)
    path = _angle(np.stack([steps[:5].sum(0), steps[-5:].sum(0)]))
    return hips[-1] - hips[0], path[1] - path[0]


def test_every_class_gets_three_distinct_captions_with_the_right_side():
    sides = {"depositFloorR": "right", "grabHighR": "right", "kickLFront1Reps": "left",
             "jogLeftCircle4StepsRstart": "left", "elbowToKnee1RepsLelbowStart": None}
    for action in ACTIONS:
        for k in range(5):
            captions = clip_captions(f"HDM_xx_{action}_{k:03d}_120", action)
            assert len({c.lower() for c in captions}) == 3, captions
            if sides.get(action):
                other = {"left": "right", "right": "left"}[sides[action]]
                text = " ".join(captions)
                assert sides[action] in text and f"{other} hand" not in text and f"{other} leg" not in text, text
    touch = " ".join(clip_captions("x", "elbowToKnee1RepsLelbowStart", 6))
    assert "left elbow" in touch and "right knee" in touch and "right elbow" not in touch
    assert mirror_text("jogs a quarter circle counterclockwise to the left") == \
        "jogs a quarter circle clockwise to the right"


def test_clip_names(hdm05_sample, tmp_path):
    assert [j.name for j in clip_jobs(hdm05_sample)][5] == KICK
    with pytest.raises(MotionGPTError, match="neither HDM05-subset.tar.xz nor asf/ and amc/"):
        build_hdm05(tmp_path, tmp_path / "out")
    assert parse_name(Path(f"{KICK}.amc")) == ("bd", "kickLFront1Reps", 120.0)
    with pytest.raises(MotionGPTError, match="HDM_<actor>_<class>_<nnn>_<fps>"):
        parse_name(Path("walk_01.amc"))
    with pytest.raises(MotionGPTError, match="unknown HDM05 class 'cartwheel'"):
        clip_captions("HDM_bd_cartwheel_001_120", "cartwheel")


def test_layout_counts_licence_and_mirrored_captions(built):
    out, summary = built
    assert summary["clips"] == summary["clips_kept"] == 11 and summary["clips_dropped"] == []
    assert summary["min_frames"] == MIN_FRAMES == 8 and summary["motions"] == 2 * summary["windows"] == 22
    assert summary["license"] == "CC BY-SA 3.0" and "Bandai" in summary["license_note"]
    assert "HDM05" in summary["citation"] and "HDM05" in summary["acknowledgement"]
    ids = split_ids(out, "all")
    assert len(ids) == len(set(ids)) == 22
    assert min(len(load_joints(out, i)) for i in ids) >= MIN_FRAMES
    kick = " ".join(c.text for c in load_captions(out, KICK))
    mirrored = " ".join(c.text for c in load_captions(out, "M" + KICK))
    assert "left" in kick and "right" not in kick and "right" in mirrored and "left" not in mirrored


def test_bones_are_rigid_and_feet_reach_the_floor(built):
    out, _ = built
    parents = list(T2M.parents)
    for motion_id in split_ids(out, "all"):
        joints = load_joints(out, motion_id)
        bones = np.linalg.norm(joints[:, 1:] - joints[:, parents[1:]], axis=-1)
        assert bones.std(0).max() < 1e-3, motion_id
        assert 0.0 <= joints[:, FEET, 1].min() < 0.05, motion_id


def test_the_left_front_kick_raises_the_left_ankle(built):
    out, _ = built
    joints = load_joints(out, KICK)
    left, right = joints[:, L_ANKLE, 1].max(), joints[:, R_ANKLE, 1].max()
    assert left > 0.8 and left - right > 0.5, (left, right)
    mirrored = load_joints(out, "M" + KICK)
    assert mirrored[:, R_ANKLE, 1].max() - mirrored[:, L_ANKLE, 1].max() > 0.5


def test_jog_left_circle_turns_left(built):
    out, _ = built
    hips, path = _turns(load_joints(out, JOG))
    assert 45 < hips < 135 and 45 < path < 135, (hips, path)
    hips, path = _turns(load_joints(out, "M" + JOG))
    assert -135 < hips < -45 and -135 < path < -45, (hips, path)


def test_lie_down_ends_with_the_pelvis_low(built):
    out, _ = built
    joints = load_joints(out, LIE)
    assert joints[0, 0, 1] > 0.8 and joints[-1, 0, 1] < 0.4, (joints[0, 0, 1], joints[-1, 0, 1])
