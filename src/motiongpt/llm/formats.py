"""How motion codes are written in an LLM answer, and how generated text is read back into codes.

Two formats:
- `text`: the paper's; codes are comma-separated decimals (`81,81,207`). With a tokenizer that splits numbers into
  single digits (as LLaMA's does) a 3-digit code costs 4 tokens with its comma.
- `vocab`: one added token per code (`<motion_id_17>`) between `<motion_begin>` and `<motion_end>`: one token per
  code plus two, about 3.4x shorter answers on the Bandai codes, at the price of new embedding rows that must be trained.

The parser never raises: whatever the model wrote, it returns a (possibly empty) list of in-codebook codes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from motiongpt.errors import MotionGPTError
from motiongpt.llm.prompts import RESPONSE_MARKER, format_input, format_prompt, split_input, text_codes

FORMATS = ("text", "vocab")
MOTION_BEGIN = "<motion_begin>"
MOTION_END = "<motion_end>"
_DIGITS = re.compile(r"\d+")
_CODE_TOKEN = re.compile(r"<motion_id_(\d+)>")


def code_token(code: int) -> str:
    return f"<motion_id_{int(code)}>"


def vocab_tokens(codebook_size: int) -> list[str]:
    """The tokens the `vocab` format adds to a tokenizer: one per code, then begin and end."""
    return [code_token(i) for i in range(codebook_size)] + [MOTION_BEGIN, MOTION_END]


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise MotionGPTError(f"format {fmt!r}: expected one of {', '.join(FORMATS)}")
    return fmt


def format_control(codes: Sequence[int], fmt: str = "text") -> str:
    """Control codes inside `<Motion Token>...</Motion Token>`: `a,b,c` or `<motion_id_a><motion_id_b>...`."""
    if check_format(fmt) == "text":
        return text_codes(codes)
    return "".join(code_token(c) for c in codes)


def format_codes(codes: Sequence[int], fmt: str = "text") -> str:
    """The answer for a code sequence (what the LLM is trained to write after `### Response:`)."""
    if check_format(fmt) == "text":
        return text_codes(codes)
    return MOTION_BEGIN + format_control(codes, fmt) + MOTION_END


def _cut(codes: list[int], codebook_size: int | None) -> list[int]:
    if codebook_size is None:
        return codes
    for i, code in enumerate(codes):
        if code >= codebook_size:
            return codes[:i]
    return codes


def parse_codes(text: object, fmt: str = "text", codebook_size: int | None = 512) -> list[int]:
    """Codes from generated text; never raises.

    If the text holds `### Response:`, only what follows its first occurrence counts. `text`: every run of digits
    (whatever separates them), as the original's evaluation. `vocab`: every `<motion_id_N>` after `<motion_begin>`
    (if present) and before `<motion_end>` (if present). Both cut the list at the first code outside the codebook.
    """
    if not isinstance(text, str):
        return []
    if RESPONSE_MARKER in text:
        text = text.split(RESPONSE_MARKER, 1)[1]
    if fmt == "vocab":
        begin = text.find(MOTION_BEGIN)
        if begin >= 0:
            text = text[begin + len(MOTION_BEGIN):]
        end = text.find(MOTION_END)
        if end >= 0:
            text = text[:end]
        found = _CODE_TOKEN.findall(text)
    else:
        found = _DIGITS.findall(text)
    return _cut([int(s) for s in found], codebook_size)


def build_prompt(instruction: str, caption: str, control: Sequence[int] | None = None, fmt: str = "text",
                 template: str = "alpaca") -> str:
    """The prompt for a caption and optional control codes, in the given answer format and prompt template."""
    control_text = None if control is None else format_control(control, fmt)
    return format_prompt(instruction, format_input(caption, control_text), template)


def render_record(record: dict, fmt: str = "text", template: str = "alpaca") -> tuple[str, str]:
    """(prompt, answer) of an instruction record (stored in the text form) rendered in `fmt` and `template`."""
    if check_format(fmt) == "text":
        return format_prompt(record["instruction"], record["input"], template), record["output"]
    caption, control = split_input(record["input"])
    control_codes = None if control is None else parse_codes(control, "text", None)
    prompt = build_prompt(record["instruction"], caption, control_codes, fmt, template)
    return prompt, format_codes(parse_codes(record["output"], "text", None), fmt)
