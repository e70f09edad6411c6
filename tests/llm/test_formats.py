import random

import pytest

from motiongpt.llm.base import add_code_tokens, build_base
from motiongpt.llm.formats import (MOTION_BEGIN, MOTION_END, build_prompt, format_codes, parse_codes,
                                   render_record)
from motiongpt.llm.tasks import Task


@pytest.mark.parametrize("fmt", ["text", "vocab"])
def test_parse_inverts_format_for_random_codes(fmt):
    rng = random.Random(0)
    for _ in range(200):
        codes = [rng.randrange(512) for _ in range(rng.randrange(0, 60))]
        assert parse_codes(format_codes(codes, fmt), fmt, 512) == codes
        assert parse_codes("### Response:" + format_codes(codes, fmt), fmt, 512) == codes


@pytest.mark.parametrize("fmt", ["text", "vocab"])
def test_parse_never_raises_on_garbage(fmt):
    rng = random.Random(1)
    alphabet = "0123456789,<>_/motin_dbegn #:\n\t\u00e9\u4e2d\U0001f600" + MOTION_BEGIN + MOTION_END
    garbage = [None, 17, b"1,2", "", "### Response:", "### Response:### Response:", "<motion_id_>", "<motion_id_-3>",
               "9" * 500, "<motion_id_" + "9" * 400 + ">"]
    garbage += ["".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 200))) for _ in range(300)]
    garbage += [bytes(rng.randrange(256) for _ in range(100)).decode("latin-1") for _ in range(100)]
    for text in garbage:
        codes = parse_codes(text, fmt, 512)
        assert isinstance(codes, list) and all(0 <= c < 512 for c in codes)


def test_text_parse_follows_the_original_eval():
    # every run of digits whatever the separators, cut at the first code outside the codebook
    assert parse_codes("### Response: 12, 7;x33 600,3", "text", 512) == [12, 7, 33]
    assert parse_codes("Input:\nwalk<Motion Token>5</Motion Token>\n\n### Response:1,2", "text", 512) == [1, 2]
    assert parse_codes("abc", "text", 512) == []
    assert parse_codes("511,512", "text", None) == [511, 512]


def test_vocab_parse_uses_begin_and_end():
    text = "<motion_id_9><motion_begin><motion_id_3> <motion_id_4><motion_end><motion_id_5>"
    assert parse_codes(text, "vocab", 512) == [3, 4]
    assert parse_codes("<motion_id_1><motion_id_700><motion_id_2>", "vocab", 512) == [1]


def test_vocab_record_rewrites_control_codes():
    record = {"instruction": Task.KEY.instruction, "input": "a man jumps.<Motion Token>3,40</Motion Token>",
              "output": "3,7,40"}
    prompt, answer = render_record(record, "vocab")
    assert prompt == build_prompt(Task.KEY.instruction, "a man jumps.", [3, 40], "vocab")
    assert "<Motion Token><motion_id_3><motion_id_40></Motion Token>" in prompt
    assert answer == "<motion_begin><motion_id_3><motion_id_7><motion_id_40><motion_end>"
    assert render_record(record, "text") == (build_prompt(Task.KEY.instruction, "a man jumps.", [3, 40]), "3,7,40")


def test_tokenizer_splits_digits_and_vocab_is_shorter():
    texts = [build_prompt(t.instruction, c, [12, 345]) for t in Task
             for c in ("a person walks forward.", "a man jumps.")] * 3
    model, tokenizer = build_base("tiny", texts)
    assert tokenizer.tokenize("315,7") == ["3", "1", "5", ",", "7"]
    codes = [random.Random(2).randrange(512) for _ in range(40)]
    text_ids = tokenizer(format_codes(codes, "text"), add_special_tokens=False)["input_ids"]
    assert len(text_ids) == sum(len(str(c)) for c in codes) + len(codes) - 1
    add_code_tokens(model, tokenizer, 512)
    vocab_ids = tokenizer(format_codes(codes, "vocab"), add_special_tokens=False)["input_ids"]
    assert len(vocab_ids) == len(codes) + 2
    assert parse_codes(tokenizer.decode(vocab_ids), "vocab", 512) == codes
    assert model.get_input_embeddings().num_embeddings == len(tokenizer)
