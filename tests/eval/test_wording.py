"""The held-out wording set: enough rows, real labels, and no description the Bandai caption generator can write."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from motiongpt.data import captions
from motiongpt.data.bandai import ACTIONS, DATASET_1, DATASET_2, STYLED_WALKS, STYLES, clip_captions, read_labels
from motiongpt.errors import MotionGPTError
from motiongpt.eval.wording import load_heldout_wording


def _norm(text: str) -> str:
    return " ".join(re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split())


def _every_generated_caption() -> set[str]:
    """All captions `compose` can write for any content and style, and their left/right mirrors (normalised)."""
    out = set()
    for content, phrases in ACTIONS.items():
        for style_name, style in STYLES.items():
            actions = phrases + (STYLED_WALKS.get(style_name, []) if content == "walk" else [])
            for action in actions:
                for subject in captions.SUBJECTS:
                    fields = {"v": captions.third_person(action), "g": captions.gerund(action), "S": subject,
                              "s": subject}
                    texts = [t.format(**fields) for t in captions._PLAIN]
                    noun = subject.split(" ", 1)[1] if subject != "someone" else "person"
                    for adjective in style.adjectives:
                        texts += [t.format(**fields, a=adjective, A=captions._article(adjective), N=noun)
                                  for t in captions._WITH_ADJ]
                    for adverb in style.adverbs:
                        texts += [t.format(**fields, d=adverb, D=adverb) for t in captions._WITH_ADV]
                    out.update(_norm(t) for t in texts)
                    out.update(_norm(captions.mirror_text(t)) for t in texts)
    return out


@pytest.fixture(scope="module")
def generated() -> set[str]:
    return _every_generated_caption()


@pytest.fixture(scope="module")
def labels(bandai_dir) -> dict[str, tuple[list[str], list[str]]]:
    """Dataset name -> (contents, styles) from its cfg/ label lists."""
    return {name: read_labels(bandai_dir / name / "cfg") for name in (DATASET_1, DATASET_2)}


def test_enough_rows_and_every_label_is_a_bandai_content(labels):
    rows = load_heldout_wording()
    assert len(rows) >= 120
    known = set(labels[DATASET_1][0]) | set(labels[DATASET_2][0])
    assert {content for _, content in rows} <= known
    counts = Counter(content for _, content in rows)
    assert all(counts[c] >= 8 for c in labels[DATASET_2][0]), counts
    main_dataset_1 = {"dash", "walk-back", "walk-left", "walk-right", "bow", "bye", "byebye", "guide", "respond",
                      "call", "punch", "kick", "slash"}
    assert all(counts[c] >= 4 for c in main_dataset_1), counts
    assert len({_norm(d) for d, _ in rows}) == len(rows)


def test_the_enumeration_covers_what_the_generator_writes(labels, generated):
    """Sampled captions of every content x style pair, many seeds: each lies in the enumerated set."""
    for dataset, (contents, styles) in labels.items():
        for content in contents:
            for style in styles:
                for seed in range(6):
                    for text in clip_captions(f"{dataset}-{content}-{style}-{seed}", content, style, count=8):
                        assert _norm(text) in generated, text


def test_no_description_is_a_generated_caption(generated):
    clashes = [d for d, _ in load_heldout_wording() if _norm(d) in generated]
    assert not clashes, clashes


def test_bad_rows_are_reported_with_their_line(tmp_path):
    path = tmp_path / "wording.tsv"
    path.write_text("# comment\na human strolls ahead\twalk\nsomeone flies\tfly\n")
    with pytest.raises(MotionGPTError, match=r"wording.tsv:3: unknown content 'fly'"):
        load_heldout_wording(path)
    path.write_text("no tab here\n")
    with pytest.raises(MotionGPTError, match=r"wording.tsv:1: expected"):
        load_heldout_wording(path)


def test_content_of_a_motion_id():
    from motiongpt.eval.wording import bandai_content

    assert bandai_content("dataset-1_walk-turn-left_angry_002") == "walk-turn-left"
    assert bandai_content("dataset-2_raise-up-both-hands_elderly_003_w1") == "raise-up-both-hands"
    assert bandai_content("Mdataset-1_bye_happy_001") is None  # a mirrored goodbye is left-handed: no content
    assert bandai_content("000021") is None and bandai_content("dataset-1_fly_happy_001") is None


def test_the_content_judge_reads_a_rare_content_beside_a_common_many_styled_one():
    import numpy as np

    from motiongpt.data.humanml3d import clip_counts, clip_of, window_id
    from motiongpt.eval.wording import ContentJudge, cross_validated

    rng = np.random.default_rng(0)
    # "walk": 200 motions in two styles far apart; "bow": 10 motions overlapping the edge of one of them
    walk = np.concatenate([rng.normal([-4, 0], 0.5, (100, 2)), rng.normal([4, 0], 1.0, (100, 2))])
    bow = rng.normal([4, 2.5], 0.5, (10, 2))
    x, contents = np.concatenate([walk, bow]), ["walk"] * 200 + ["bow"] * 10
    judge = ContentJudge.fit(x, contents)
    assert judge.predict(np.array([[4, 3], [-4, 0], [4, 0]])) == ["bow", "walk", "walk"]
    assert ContentJudge.fit(x, contents).predict(bow) == judge.predict(bow)  # no seed: the same fit
    assert sum(p == "bow" for p in judge.predict(bow)) >= 8  # each content weighs the same, not 10 against 200
    clips = [window_id(f"dataset-1_walk_normal_{i // 2:03d}", i % 2, 2) for i in range(200)] + [
        window_id(f"b{i}", 0, 1) for i in range(10)]
    assert clip_of(clips[1]) == clip_of(clips[0]) == "dataset-1_walk_normal_000" and clip_of(clips[-1]) == "b9"
    assert clip_counts(clips + ["M" + clips[0]], contents + ["walk"]) == {"bow": 10, "walk": 100}  # mirror: same
    cross = cross_validated(x, contents, [clip_of(c) for c in clips])
    assert np.mean([p == t for p, t in zip(cross, contents)]) > 0.9
    with pytest.raises(MotionGPTError, match="1 content"):
        ContentJudge.fit(walk, ["walk"] * 200)


def test_template_captions(generated):
    from motiongpt.eval.wording import template_captions

    rows = load_heldout_wording()
    templates = template_captions(rows, seed=0)
    assert [c for _, c in templates] == [c for _, c in rows]
    assert all(_norm(t) in generated for t, _ in templates)  # the wording the model was trained on
    assert template_captions(rows, seed=0) == templates


def test_retrieval_with_the_bundled_model_and_evaluator(sample_set, capsys):
    import json

    from motiongpt.cli import main

    rows = [("someone jogs", "run"), ("a human strolls ahead", "walk"), ("lift up both arms", "raise-up-both-hands"),
            ("flap your left hand around", "wave-left-hand"), ("do a bow", "bow")]
    wording = sample_set.parent / "wording.tsv"
    wording.write_text("".join(f"{t}\t{c}\n" for t, c in rows))
    out = sample_set.parent / "wording.json"
    assert main(["eval-wording", "--data", str(sample_set), "--wording", str(wording), "--samples", "2", "--json",
                 str(out), "--quiet"]) == 0
    result = json.loads(out.read_text())
    assert result["skipped"] == {"bow": 1} and result["descriptions"] == 4  # dataset-2 has no bow
    assert result["real_test"]["motions"] > 0 and result["real_test"]["accuracy"] > 0.5
    real = result["real_train_cross_validated"]
    assert real["accuracy"] > 0.5 and set(real["per_content"]) >= {"run", "walk", "raise-up-both-hands"}
    assert set(result["train_clips"]) == set(real["per_content"]) and min(result["train_clips"].values()) >= 1
    for mode in ("matched", "raw"):
        for name in ("template", "heldout"):
            assert result[mode][name]["motions"] == 8 and 0 <= result[mode][name]["accuracy"] <= 1
    given = {m["text"]: m["given"] for m in result["matched"]["heldout"]["misses"]}
    assert all(text != caption for text, caption in given.items())
    printed = capsys.readouterr().out
    assert "held-out wording" in printed and "skipped 1 description(s) of bow" in printed
    run = next(line.split() for line in printed.splitlines() if line.startswith("run "))
    assert run[1] == str(result["train_clips"]["run"]) and float(run[2]) == pytest.approx(
        real["per_content"]["run"], abs=0.005)
    assert float(run[3]) == pytest.approx(result["matched"]["per_content"]["run"]["template"], abs=0.005)


def test_the_joint_descriptor_reads_waving_travel_and_bad_joints(bandai_sample_bvh):
    """What the content judge adds to the evaluator's embedding, read off real clips: a wave of the right hand
    reverses the right wrist more often than the left; a walk travels forward, not sideways; a walk turning left
    turns left (positive)."""
    import numpy as np

    from motiongpt.data.humanml3d import bvh_to_joints
    from motiongpt.eval.wording import motion_descriptor

    def read(name: str) -> tuple[np.ndarray, np.ndarray]:
        d = motion_descriptor(bvh_to_joints(bandai_sample_bvh / f"dataset-2_{name}_normal_001.bvh"))
        reversals = d[:12].reshape(4, 3)  # per second: left wrist, right wrist, left elbow, right elbow (x, y, z)
        travel = d[14 + 4 * 66:][:3]  # mean forward, sideways (to the left) and turning speed
        return reversals, travel

    wave, _ = read("wave-right-hand")
    assert wave[1].sum() > 2 * wave[0].sum()
    _, walk = read("walk")
    assert walk[0] > 0.5 and abs(walk[1]) < 0.25 * walk[0]
    _, turn = read("walk-turn-left")
    assert turn[2] > 0.1 and turn[2] > 5 * abs(walk[2])
    with pytest.raises(MotionGPTError, match=r"joints of shape \(2, 22, 3\)"):
        motion_descriptor(np.zeros((2, 22, 3)))
