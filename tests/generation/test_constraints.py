"""The answer grammar and controls, without an LLM: random walks over the allowed tokens, and every valid answer
must stay allowed token by token."""

from __future__ import annotations

import random

import pytest
import torch
from transformers import LogitsProcessorList

from motiongpt.errors import MotionGPTError
from motiongpt.generation.constraints import AnswerVocab, CodeConstraint, CodePlan, Controls
from motiongpt.generation.controls import build_controls
from motiongpt.llm.formats import format_codes, parse_codes


def random_controls(rng: random.Random, codebook: int) -> tuple[Controls, int]:
    code = lambda: rng.randrange(codebook)  # noqa: E731
    controls = Controls(init=code() if rng.random() < 0.5 else None, last=code() if rng.random() < 0.5 else None,
                        keys=tuple(code() for _ in range(rng.choice([0, 0, 1, 3, 5]))))
    return controls, controls.min_codes() + rng.randrange(4)


def walk(vocab: AnswerVocab, controls: Controls, max_codes: int, rng: random.Random) -> list[int]:
    """Pick uniformly among the allowed tokens until the answer is finished."""
    constraint = CodeConstraint(vocab, [controls], max_codes)
    ids = torch.zeros(1, 1, dtype=torch.long)
    scores = torch.zeros(1, max(vocab.eos_id, *vocab.digit_ids, vocab.comma_id, *vocab.code_ids, vocab.end_id) + 1)
    out = []
    for _ in range(vocab.max_new_tokens(max_codes)):
        allowed = torch.isfinite(constraint(ids, scores)[0]).nonzero().flatten().tolist()
        token = rng.choice(allowed)
        out.append(token)
        ids = torch.cat([ids, torch.tensor([[token]])], dim=1)
        if token in vocab.stop_ids:
            return out
    raise AssertionError(f"no end within the token budget: {out}")


@pytest.fixture(scope="module")
def vocab(pipeline) -> AnswerVocab:
    return pipeline.answer_vocab


def test_random_walks_always_give_codes_that_meet_the_controls(vocab, pipeline):
    rng = random.Random(0)
    lengths = set()
    for _ in range(300):
        controls, max_codes = random_controls(rng, pipeline.codebook_size)
        tokens = walk(vocab, controls, max_codes, rng)
        codes = parse_codes(pipeline.tokenizer.decode(tokens, skip_special_tokens=True), vocab.fmt, pipeline.codebook_size)
        assert 1 <= len(codes) <= max_codes
        assert controls.satisfied_by(codes), (controls, codes)
        lengths.add(len(codes))
    assert len(lengths) > 3  # walks end at many lengths, not only at max_codes


def test_repeated_control_codes_are_all_met(vocab, pipeline):
    """Controls drawn from 3 codes repeat often (keys 16, 8, 8; last == a key): the end waits for every one."""
    rng = random.Random(1)
    for _ in range(200):
        controls, max_codes = random_controls(rng, 3)
        tokens = walk(vocab, controls, max_codes, rng)
        codes = parse_codes(pipeline.tokenizer.decode(tokens, skip_special_tokens=True), vocab.fmt, pipeline.codebook_size)
        assert controls.satisfied_by(codes), (controls, codes)


def test_every_valid_answer_stays_allowed(vocab, pipeline):
    """Completeness: the canonical tokens of any code list meeting the controls pass the mask step by step."""
    rng = random.Random(1)
    for _ in range(200):
        controls, max_codes = random_controls(rng, pipeline.codebook_size)
        n = rng.randint(controls.min_codes(), max_codes)
        codes = [rng.randrange(pipeline.codebook_size) for _ in range(n)]
        fixed = ([controls.init] if controls.init is not None else []) + list(controls.keys)
        codes[: len(fixed)] = fixed[: n]
        if controls.last is not None:
            codes[-1] = controls.last
        if not controls.satisfied_by(codes):
            continue
        answer = pipeline.tokenizer(format_codes(codes, vocab.fmt), add_special_tokens=False)["input_ids"]
        answer.append(vocab.eos_id)
        constraint = CodeConstraint(vocab, [controls], max_codes)
        ids = torch.zeros(1, 1, dtype=torch.long)
        for token in answer:
            masked = LogitsProcessorList([constraint])(ids, torch.zeros(1, len(pipeline.tokenizer)))
            assert torch.isfinite(masked[0, token]), (codes, controls, max_codes, token)
            ids = torch.cat([ids, torch.tensor([[token]])], dim=1)


def test_text_numbers_stay_below_the_codebook(text_pipeline):
    pipeline = text_pipeline
    vocab = AnswerVocab.from_tokenizer(pipeline.tokenizer, "text", 300)
    seen = set()
    rng = random.Random(2)
    for _ in range(400):
        tokens = walk(vocab, Controls(), 1, rng)
        seen.add(int(pipeline.tokenizer.decode(tokens, skip_special_tokens=True)))
    assert max(seen) < 300 and max(seen) >= 250 and min(seen) < 10  # all 1-3 digit numbers, none >= 300


def test_plan_forces_the_remaining_controls_at_the_end():
    plan = CodePlan(Controls(init=4, last=9, keys=(7, 8)), max_codes=5)
    assert plan.allowed() == {4}
    plan.push(4)
    assert plan.allowed() is None  # 4 slots left, 3 needed (7, 8, 9)
    plan.push(1)
    assert plan.allowed() == {7}  # now every slot is needed
    plan.push(7)
    assert plan.allowed() == {8}
    plan.push(8)
    assert plan.allowed() == {9} and not plan.can_continue_after()
    assert plan.can_end_after(9)


def test_controls_min_codes_and_task():
    assert Controls().min_codes() == 1 and Controls().task == "text"
    assert Controls(init=3, last=3).min_codes() == 1
    assert Controls(init=3, keys=(3, 5), last=5).min_codes() == 2
    assert Controls(init=3, keys=(5,), last=6).min_codes() == 3
    assert Controls(last=2).task == "last" and Controls(init=1, last=2).task == "key"
    assert Controls(init=1, keys=(4,), last=2).prompt_codes() == [1, 4, 2]


@pytest.mark.parametrize("kwargs, message", [
    (dict(init_token=300), "outside the codebook"),
    (dict(last_token=-1), "outside the codebook"),
    (dict(key_tokens=[1, "2"]), "expected an integer"),
    (dict(key_tokens="1,2"), "expected a list"),
    (dict(key_tokens=[]), "empty list"),
    (dict(init_token=1.0), "expected an integer"),
    (dict(key_tokens=[1, 2, 3, 4], max_codes=3), "need at least 4 codes"),
])
def test_invalid_controls_raise_one_line_errors(kwargs, message):
    with pytest.raises(MotionGPTError, match=message) as err:
        build_controls(300, **kwargs)
    assert "\n" not in str(err.value)


def test_text_format_rejects_tokenizers_that_merge_digits(pipeline):
    from transformers import PreTrainedTokenizerFast
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocab = {c: i for i, c in enumerate(["<unk>", "</s>", ",", "12", *"0123456789"])}
    tok = Tokenizer(models.WordPiece(vocab, unk_token="<unk>", continuing_subword_prefix=""))
    tok.pre_tokenizer = pre_tokenizers.Punctuation()
    merged = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="</s>", unk_token="<unk>")
    with pytest.raises(MotionGPTError, match="every digit"):
        AnswerVocab.from_tokenizer(merged, "text", 512)
