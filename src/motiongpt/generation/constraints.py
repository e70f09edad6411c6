"""Constrained decoding: the LLM may only write answers that parse into a valid code list and meet the controls.

The original samples freely and then parses whatever came out, so a model that drifts into prose yields no motion
(its issues #5, #7, #16). Here a `transformers` LogitsProcessor masks, at every step and for every row, the tokens
that would make the answer invalid:

- `CodePlan` works on whole codes: which values the next code may take so that the sequence can still be finished
  within `max_codes` (or at exactly `max_codes`, when a length was asked for) with the first code = the initial
  token, the key tokens in order, and the last code = the last token; and whether the answer may end after a
  given code.
- `TextAnswer` / `VocabAnswer` spell that plan in tokens: digit by digit with commas and EOS for the `text`
  format (number prefixes stay below the codebook size, no leading zeros), or `<motion_begin>`, one token per code,
  `<motion_end>` and EOS for the `vocab` format.

The processor (a transformers-style logits processor, without importing transformers) keeps one small state machine
per row and advances it with the tokens appended since its last call,
so it works inside `model.generate` as well as in this package's own decoding loop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch

from motiongpt.errors import MotionGPTError
from motiongpt.llm.formats import MOTION_BEGIN, MOTION_END, check_format, vocab_tokens
from motiongpt.llm.tasks import Task

DIGITS = "0123456789"


@dataclass(frozen=True)
class Controls:
    """Codes the answer must hold: the first code, the last code, and key codes appearing in this order."""

    init: int | None = None
    last: int | None = None
    keys: tuple[int, ...] = ()

    @property
    def task(self) -> Task:
        """The task these controls make; several at once are given as key tokens, as the original does."""
        given = [task for task, on in ((Task.INIT, self.init is not None), (Task.LAST, self.last is not None),
                                       (Task.KEY, bool(self.keys))) if on]
        if not given:
            return Task.TEXT
        return given[0] if len(given) == 1 else Task.KEY

    @property
    def instruction(self) -> str:
        return self.task.instruction

    def prompt_codes(self) -> list[int] | None:
        """The codes written inside `<Motion Token>...</Motion Token>`, in sequence order."""
        task = self.task
        if task == Task.TEXT:
            return None
        if task == Task.INIT:
            return [self.init]
        if task == Task.LAST:
            return [self.last]
        return ([self.init] if self.init is not None else []) + list(self.keys) + \
            ([self.last] if self.last is not None else [])

    def satisfied_by(self, codes: Sequence[int]) -> bool:
        codes = list(codes)
        if not codes:
            return False
        if self.init is not None and codes[0] != self.init:
            return False
        if self.last is not None and codes[-1] != self.last:
            return False
        it = iter(codes)
        return all(any(c == k for c in it) for k in self.keys)

    def min_codes(self) -> int:
        """The fewest codes an answer meeting these controls can have."""
        plan = CodePlan(self, max_codes=1 << 30)
        first = self.init if self.init is not None else (self.keys[0] if self.keys else self.last)
        return 1 + plan.needed_after(first)


@dataclass
class CodePlan:
    """Code-level state of one answer: codes written so far and how many key tokens they matched."""

    controls: Controls
    max_codes: int
    exact: bool = False  # the answer has exactly max_codes codes (a length was asked for)
    codes: list[int] = field(default_factory=list)
    matched: int = 0

    def _matched_after(self, code: int | None) -> int:
        keys = self.controls.keys
        return self.matched + 1 if self.matched < len(keys) and code == keys[self.matched] else self.matched

    def needed_after(self, code: int | None) -> int:
        """How many more codes are needed at least after writing `code` (None: a code matching no control)."""
        keys, last = self.controls.keys, self.controls.last
        remaining = len(keys) - self._matched_after(code)
        if remaining == 0:
            return 0 if last is None or code == last else 1
        return remaining + (0 if last is None or keys[-1] == last else 1)

    def allowed(self) -> frozenset[int] | None:
        """Values the next code may take (None: any code), keeping the answer finishable within max_codes."""
        slots_after = self.max_codes - len(self.codes) - 1
        if not self.codes and self.controls.init is not None:
            return frozenset([self.controls.init])
        if self.needed_after(None) <= slots_after:
            return None
        candidates = [c for c in (self._next_key(), self.controls.last) if c is not None]
        return frozenset(c for c in candidates if self.needed_after(c) <= slots_after)

    def _next_key(self) -> int | None:
        keys = self.controls.keys
        return keys[self.matched] if self.matched < len(keys) else None

    def can_end_after(self, code: int) -> bool:
        """Whether the answer may end right after writing `code` (not yet pushed)."""
        return self.needed_after(code) == 0 and (not self.exact or len(self.codes) + 1 == self.max_codes)

    def complete(self) -> bool:
        """Whether the codes pushed so far satisfy every control, so the answer may end now."""
        last = self.controls.last
        ends_right = last is None or (bool(self.codes) and self.codes[-1] == last)
        return self.matched == len(self.controls.keys) and ends_right and \
            (not self.exact or len(self.codes) == self.max_codes)

    def can_continue_after(self) -> bool:
        """Whether another code fits after the one being written."""
        return len(self.codes) + 1 < self.max_codes

    def push(self, code: int) -> None:
        self.matched = self._matched_after(code)
        self.codes.append(code)


@dataclass(frozen=True)
class AnswerVocab:
    """The token ids an answer in one format is spelled with, worked out from the tokenizer."""

    fmt: str
    codebook_size: int
    eos_id: int
    lead_ids: tuple[int, ...] = ()  # text: tokens a tokenizer puts before the first digit (SentencePiece's "▁")
    digit_ids: tuple[int, ...] = ()
    comma_id: int = -1
    code_ids: tuple[int, ...] = ()
    begin_id: int = -1
    end_id: int = -1

    @classmethod
    def from_tokenizer(cls, tokenizer, fmt: str, codebook_size: int,
                       answer_follows_prompt: bool = False) -> "AnswerVocab":
        """`answer_follows_prompt`: the model learned its answers tokenised together with the prompt, as the original
        MotionGPT did, so a text answer starts with its first digit and not with the word-start token ("▁") that a
        SentencePiece tokenizer puts before an answer tokenised alone (this project's finetuning)."""
        check_format(fmt)
        if codebook_size < 1:
            raise MotionGPTError(f"codebook size {codebook_size}: expected at least 1")
        eos = tokenizer.eos_token_id
        if eos is None:
            raise MotionGPTError("the tokenizer has no EOS token; answers could not end")
        if fmt == "vocab":
            ids = tokenizer.convert_tokens_to_ids(vocab_tokens(codebook_size))
            unk = tokenizer.unk_token_id
            if any(i is None or (unk is not None and i == unk) for i in ids):
                raise MotionGPTError(f"the tokenizer lacks the vocab format's tokens ({MOTION_BEGIN}, "
                                     f"<motion_id_N> for N < {codebook_size}, {MOTION_END})")
            return cls(fmt, codebook_size, eos, code_ids=tuple(ids[:-2]), begin_id=ids[-2], end_id=ids[-1])
        probe = ",".join(DIGITS)
        ids = tokenizer(probe, add_special_tokens=False)["input_ids"]
        tail, lead = ids[-len(probe):], ids[:-len(probe)]
        merged = tokenizer("1234567890,9876543210", add_special_tokens=False)["input_ids"]
        if len(ids) < len(probe) or [tokenizer.decode([i]) for i in tail] != list(probe) or len(lead) > 2 \
                or tokenizer.decode(lead).strip() or len(merged) != 21 + len(lead):
            raise MotionGPTError("the text answer format needs a tokenizer that writes every digit and comma as "
                                 "its own token (as LLaMA's does); use the vocab format with this tokenizer")
        return cls(fmt, codebook_size, eos, lead_ids=() if answer_follows_prompt else tuple(lead),
                   digit_ids=tuple(tail[0::2]), comma_id=tail[1])

    def max_new_tokens(self, max_codes: int) -> int:
        """Tokens an answer of `max_codes` codes takes, end included (196 for 49 codes of 3 digits, the
        original's evaluation budget)."""
        if self.fmt == "text":
            return len(self.lead_ids) + max_codes * (len(str(self.codebook_size - 1)) + 1)
        return max_codes + 3

    @property
    def token_ids(self) -> tuple[int, ...]:
        """Every token a constrained answer can hold, stops included: the only LM-head rows decoding needs."""
        ids = {self.eos_id, *self.lead_ids, *self.digit_ids, *self.code_ids, self.comma_id, self.begin_id,
               self.end_id}
        return tuple(sorted(i for i in ids if i >= 0))

    @property
    def stop_ids(self) -> frozenset[int]:
        """Tokens after which a row is finished (the vocab format's answer is complete at `<motion_end>`)."""
        return frozenset([self.eos_id] if self.fmt == "text" else [self.eos_id, self.end_id])


class TextAnswer:
    """Token-level state machine of a `text` answer: `lead? d+ (, d+)* EOS` under a CodePlan."""

    def __init__(self, vocab: AnswerVocab, plan: CodePlan):
        self.vocab, self.plan = vocab, plan
        self.lead = 0
        self.prefix = ""
        self.values = plan.allowed()
        self.done = False
        self._digit = {i: d for d, i in zip(DIGITS, vocab.digit_ids)}

    def allowed(self) -> list[int]:
        v = self.vocab
        if self.done:
            return [v.eos_id]
        if self.lead < len(v.lead_ids):
            return [v.lead_ids[self.lead]]
        out = [v.digit_ids[int(d)] for d in self._next_digits()]
        if self.prefix and (self.values is None or int(self.prefix) in self.values):
            code = int(self.prefix)
            if self.plan.can_continue_after():
                out.append(v.comma_id)
            if self.plan.can_end_after(code):
                out.append(v.eos_id)
        return out

    def _next_digits(self) -> list[str]:
        p, n = self.prefix, self.vocab.codebook_size
        if self.values is not None:
            return sorted({str(c)[len(p)] for c in self.values if str(c).startswith(p) and len(str(c)) > len(p)})
        if p == "0":
            return []
        base = int(p) * 10 if p else 0
        return [d for d in DIGITS if base + int(d) < n]

    def step(self, token: int) -> None:
        if self.done:
            return
        v = self.vocab
        if self.lead < len(v.lead_ids):
            self.lead += 1
        elif token in self._digit:
            self.prefix += self._digit[token]
        elif token in (v.comma_id, v.eos_id) and self.prefix:
            self.plan.push(int(self.prefix))
            self.prefix = ""
            self.done = token == v.eos_id
            self.values = None if self.done else self.plan.allowed()
        else:
            raise MotionGPTError(f"token {token} is not allowed in a text answer here (was the answer constrained?)")


class VocabAnswer:
    """Token-level state machine of a `vocab` answer: `<motion_begin> <motion_id_N>+ <motion_end> EOS`."""

    def __init__(self, vocab: AnswerVocab, plan: CodePlan):
        self.vocab, self.plan = vocab, plan
        self.begun = self.ended = self.done = False
        self._code = {i: c for c, i in enumerate(vocab.code_ids)}

    def allowed(self) -> list[int]:
        v = self.vocab
        if self.done or self.ended:
            return [v.eos_id]
        if not self.begun:
            return [v.begin_id]
        out = []
        if len(self.plan.codes) < self.plan.max_codes:
            values = self.plan.allowed()
            out = list(v.code_ids) if values is None else [v.code_ids[c] for c in sorted(values)]
        if self.plan.codes and self.plan.complete():
            out.append(v.end_id)
        return out

    def step(self, token: int) -> None:
        v = self.vocab
        if self.done:
            return
        if self.ended:
            self.done = token == v.eos_id
        elif not self.begun and token == v.begin_id:
            self.begun = True
        elif self.begun and token in self._code:
            self.plan.push(self._code[token])
        elif self.begun and token == v.end_id and self.plan.codes:
            self.ended = True
        else:
            raise MotionGPTError(f"token {token} is not allowed in a vocab answer here (was the answer constrained?)")


class CodeConstraint:
    """Masks every token that would break the answer grammar or a control, row by row.

    Call it on the prompt-only `input_ids` first (it remembers that width), then once per generated token.
    `select(rows)` keeps only some rows, for loops that drop finished rows from the batch.
    """

    def __init__(self, vocab: AnswerVocab, controls: Sequence[Controls], max_codes: int, exact: bool = False):
        answer = TextAnswer if vocab.fmt == "text" else VocabAnswer
        self.vocab = vocab
        self.rows = [answer(vocab, CodePlan(c, max_codes, exact)) for c in controls]
        self.seen: int | None = None

    def __call__(self, input_ids: torch.LongTensor, scores: torch.Tensor) -> torch.Tensor:
        if input_ids.shape[0] != len(self.rows):
            raise ValueError(f"CodeConstraint holds {len(self.rows)} rows, got a batch of {input_ids.shape[0]}")
        if self.seen is not None:
            for column in input_ids[:, self.seen:].T.tolist():
                for row, token in zip(self.rows, column):
                    row.step(token)
        self.seen = input_ids.shape[1]
        banned = torch.ones(scores.shape, dtype=torch.bool)
        for i, row in enumerate(self.rows):
            banned[i, row.allowed()] = False
        return scores.masked_fill(banned.to(scores.device), float("-inf"))

    def select(self, rows: Sequence[int]) -> None:
        self.rows = [self.rows[i] for i in rows]
