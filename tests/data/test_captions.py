"""The caption tagger, mirroring and templates."""

from __future__ import annotations

from motiongpt.data.captions import (POS_TAGS, VERBS, Style, compose, gerund, make_caption, mirror_text, tag,
                                     third_person)
from motiongpt.data.layout import format_caption_line, load_captions, parse_caption_line


def test_tagger_reproduces_humanml3d_tokens(humanml3d_mini):
    captions = load_captions(humanml3d_mini, "012314")
    assert len(captions) == 3
    for caption in captions:
        assert tag(caption.text) == caption.tokens


def test_lemmas_and_tags_of_motion_words():
    tokens = tag("A man walks forward, waving both hands; then he is running to the left.")
    assert tokens == ["a/DET", "man/NOUN", "walk/VERB", "forward/ADV", "wave/VERB", "both/DET", "hand/NOUN",
                      "then/ADV", "he/PRON", "is/AUX", "run/VERB", "to/ADP", "the/DET", "left/NOUN"]
    assert tag("someone kicks with the left leg")[-2:] == ["left/ADJ", "leg/NOUN"]
    assert tag("turns counter-clockwise twice") == ["turn/VERB", "counterclockwise/ADV", "twice/ADV"]
    assert tag("a person stepped back") == ["a/DET", "person/NOUN", "step/VERB", "back/ADV"]


def test_unknown_words_get_a_tag_from_the_allowed_set():
    for token in tag("The zorblax flimmers gracelessly, 3 blorfing trundles!"):
        word, pos = token.split("/")
        assert word.isalpha() and pos in POS_TAGS
    assert tag("he glides smoothly")[-1] == "smoothly/ADV"


def test_mirror_swaps_sides_and_turning_direction():
    assert mirror_text("Left hand up, turn right, spin clockwise.") == \
        "Right hand up, turn left, spin counterclockwise."
    assert mirror_text("a person turns left") == "a person turns right"
    assert mirror_text(mirror_text("the right leg kicks to the left")) == "the right leg kicks to the left"
    assert mirror_text("the leftover bright light") == "the leftover bright light"


def test_caption_line_round_trip():
    caption = make_caption("a person jumps # twice", 1.0, 2.5)
    line = format_caption_line(caption)
    assert line == "a person jumps twice#a/DET person/NOUN jump/VERB twice/ADV#1.0#2.5"
    assert parse_caption_line(line) == caption


def test_verb_forms():
    assert third_person("walk forward") == "walks forward"
    assert third_person("wave both hands") == "waves both hands"
    assert third_person("punch forward") == "punches forward"
    assert third_person("do a kick") == "does a kick"
    assert gerund("run ahead") == "running ahead"
    assert gerund("wave") == "waving"
    assert gerund("drag themself forward") == "dragging themself forward"


def test_compose_gives_distinct_seeded_captions_with_the_style():
    style = Style(("tired", "weary"), ("wearily", "in a tired way"))
    captions = compose(["walk forward", "trudge forward"], style, "clip-1", 4)
    assert len(captions) == 4 and len({c.lower() for c in captions}) == 4
    assert compose(["walk forward", "trudge forward"], style, "clip-1", 4) == captions
    assert any(w in " ".join(captions) for w in ("tired", "weary", "wearily"))
    plain = compose(["walk forward", "walk ahead"], Style(), "clip-2", 3)
    assert len(set(plain)) == 3 and all("forward" in c or "ahead" in c for c in plain)


def test_coordinated_verbs_agree_with_the_subject():
    assert third_person("walk forward, then turn to the left and walk on") == \
        "walks forward, then turns to the left and walks on"
    assert gerund("raise both hands and wave them") == "raising both hands and waving them"
    assert third_person("walk forward and to the right") == "walks forward and to the right"


def test_every_bandai_caption_conjugates_each_verb():
    from motiongpt.data.bandai import ACTIONS, STYLES
    from motiongpt.data.captions import compose

    for content, actions in ACTIONS.items():
        for style_name, style in STYLES.items():
            for caption in compose(actions, style, f"{content}_{style_name}", count=3):
                words = caption.rstrip(".").replace(",", "").split()
                for prev, word in zip(words, words[1:]):
                    if prev in ("and", "then") and word in VERBS:
                        raise AssertionError(f"{caption!r}: {word!r} is not conjugated")
