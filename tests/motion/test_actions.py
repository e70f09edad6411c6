"""The action check on real Bandai clips (dataset 1, every style) and on the captions the data is trained with."""

from __future__ import annotations

import numpy as np
import pytest

from motiongpt.data.bandai import ACTIONS, DATASET_1, STYLES, clip_captions
from motiongpt.data.humanml3d import bvh_to_joints
from motiongpt.errors import MotionGPTError
from motiongpt.motion.actions import FLOORS, judge_action, parse_action

CHECKED = {"bow": "bow", "dash": "sprint", "walk-back": "backward"}  # Bandai content -> the action it names


@pytest.fixture(scope="module")
def clips(bandai_dir) -> dict[str, list[np.ndarray]]:
    """Joints of every dataset-1 clip of the checked contents and of three that must fail them."""
    folder = bandai_dir / DATASET_1 / "data"
    return {content: [bvh_to_joints(p, "bandai", 0.01) for p in sorted(folder.glob(f"dataset-1_{content}_*.bvh"))]
            for content in (*CHECKED, "walk", "run", "bye")}


def test_every_caption_of_a_checked_content_names_its_action_and_no_other_caption_does():
    for content in ACTIONS:
        for style in STYLES:
            for caption in clip_captions(f"{content}-{style}", content, style, 6):
                assert parse_action(caption) == CHECKED.get(content), caption


def test_free_wording_is_read_and_look_alikes_are_not():
    for text, action in [("somebody bows down", "bow"), ("she bends forward at the waist", "bow"),
                         ("a man walks slowly backwards", "backward"), ("he backs away", "backward"),
                         ("someone who looks tired walks backward.", "backward"), ("she sprints off", "sprint"),
                         ("runs at full speed", "sprint"), ("she leans backward", None), ("an elbow up", None),
                         ("walks back and forth", None), ("he aims a bow and arrow", None),
                         ("a person jogs forward quickly", None)]:
        assert parse_action(text) == action, text


def test_most_real_clips_of_an_action_pass_and_clips_without_it_fail(clips):
    passed = {content: [judge_action(j, action).correct for j in clips[content]] for content, action in CHECKED.items()}
    assert all(len(v) == 15 for v in passed.values())
    assert sum(passed["bow"]) >= 13 and sum(passed["dash"]) >= 12 and all(passed["walk-back"])
    for action, contents in {"bow": ("bye", "walk-back"), "sprint": ("walk", "walk-back", "bow"),
                             "backward": ("walk", "run", "dash", "bow", "bye")}.items():
        for content in contents:
            failed = [not judge_action(j, action).correct for j in clips[content]]
            assert failed and all(failed), (action, content)


def test_a_verdict_says_what_it_needs_and_bad_input_is_one_line(clips):
    verdict = judge_action(clips["walk-back"][0], "backward")
    assert verdict.floor == FLOORS["backward"] and verdict.measured > verdict.floor
    assert verdict.needs == "a mean backward speed of at least 0.3 m/s"
    reversed_walk = judge_action(clips["walk-back"][0][::-1], "backward")  # played backwards: walks forwards
    assert reversed_walk.measured < 0 and not reversed_walk.correct
    with pytest.raises(MotionGPTError, match="expected one of bow, sprint, backward"):
        judge_action(clips["bow"][0], "cartwheel")
    with pytest.raises(MotionGPTError, match="expected"):
        judge_action(clips["bow"][0][:, :10], "bow")
