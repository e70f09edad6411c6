"""The left/right judge on real Bandai clips: every description of the set is judged right on the clips of its
content (or judged wrong where it names the other side), and the verdicts flip on the clips' mirror images."""

from __future__ import annotations

import numpy as np
import pytest

from motiongpt.data.bandai import DATASET_1
from motiongpt.data.humanml3d import bvh_to_joints
from motiongpt.errors import MotionGPTError
from motiongpt.eval.sides import load_side_queries
from motiongpt.motion.sides import judge_side, parse_side
from motiongpt.motion.features import mirror_joints

# the side each content's clips use, as the captions of data/bandai.py say (dataset-2: from the samples)
CLIP_SIDES = {"wave-left-hand": "left", "wave-right-hand": "right", "raise-up-left-hand": "left",
              "raise-up-right-hand": "right", "walk-turn-left": "left", "walk-turn-right": "right",
              "walk-left": "left", "walk-right": "right", "kick": "right", "bye": "right", "respond": "left"}


@pytest.fixture(scope="module")
def clips(bandai_dir, bandai_sample_bvh) -> dict[str, list[np.ndarray]]:
    """Joints of every clip of the sided contents: 7 styles each in dataset-2's samples, all of dataset-1's."""
    found = {}
    for content in CLIP_SIDES:
        paths = sorted(bandai_sample_bvh.glob(f"dataset-2_{content}_*.bvh")) or \
            sorted((bandai_dir / DATASET_1 / "data").glob(f"dataset-1_{content}_*.bvh"))
        found[content] = [bvh_to_joints(p, "bandai", 0.01) for p in paths]
    return found


def test_the_set_has_forty_descriptions_whose_side_the_parser_reads():
    queries = load_side_queries()
    assert len(queries) >= 40
    assert {q.kind for q in queries} == {"hand", "leg", "turn", "veer"}
    for q in queries:
        parsed = parse_side(q.description)
        assert parsed is not None and (parsed.kind, parsed.side) == (q.kind, q.side), q.description
    assert parse_side("a person walks forward") is None and parse_side("wave from left to right") is None


def test_real_clips_pass_and_their_mirrors_fail(clips):
    queries = load_side_queries()
    judged = 0
    for content, side in CLIP_SIDES.items():
        assert clips[content], content
        for joints in clips[content]:
            for query in (q for q in queries if q.content == content):
                verdict, mirrored = judge_side(joints, query), judge_side(mirror_joints(joints), query)
                assert verdict.observed == side and mirrored.observed != side, (content, query.description)
                assert verdict.correct == (query.side == side) and mirrored.correct == (query.side != side)
                judged += 1
    assert judged >= 200


def test_a_description_without_a_side_or_bad_joints_is_one_line(clips):
    joints = clips["kick"][0]
    assert judge_side(joints, "kick high with the right leg").correct
    with pytest.raises(MotionGPTError, match="names no single left or right"):
        judge_side(joints, "a person bows")
    with pytest.raises(MotionGPTError, match="expected"):
        judge_side(joints[:, :10], "kick with the right leg")


def test_side_accuracy_judges_every_generated_motion(make_tiny_motiongpt):
    from motiongpt.eval.sides import side_accuracy

    queries = load_side_queries()[:6] + load_side_queries()[-4:]
    model = make_tiny_motiongpt("vocab", 64, [q.description for q in queries], [5], 8)
    result = side_accuracy(model, queries, seeds=(0, 1), max_codes=12)
    assert result["n"] == 20 and result["kinds"]["hand"]["n"] == 12 and result["kinds"]["veer"]["n"] == 8
    assert abs(result["right"] + result["opposite"] + result["undecided"] - 1) < 1e-9
    assert set(result["opposite_descriptions"]) <= {q.description for q in queries}
