"""The prompt strings of the original MotionGPT, byte for byte, and how a record becomes a prompt.

The template is Alpaca's (as in alpaca-lora); the answer follows `### Response:` directly, with no space or newline.
Control codes (initial, last or key tokens) go into the input as `caption<Motion Token>a,b,c</Motion Token>`.
"""

from __future__ import annotations

from collections.abc import Sequence

PROMPT_WITH_INPUT = (
    "Below is an instruction that describes a task, paired with an input that provides further context. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:"
)
PROMPT_NO_INPUT = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
    "### Instruction:\n{instruction}\n\n### Response:"
)
RESPONSE_MARKER = "### Response:"

MOTION_OPEN = "<Motion Token>"
MOTION_CLOSE = "</Motion Token>"

def format_prompt(instruction: str, input: str = "") -> str:
    """The full prompt up to and including `### Response:`; the answer is appended directly."""
    if input:
        return PROMPT_WITH_INPUT.format(instruction=instruction, input=input)
    return PROMPT_NO_INPUT.format(instruction=instruction)


def format_input(caption: str, control: str | None = None) -> str:
    """`caption` alone, or `caption<Motion Token>control</Motion Token>` (no space before the tag)."""
    if control is None:
        return caption
    return f"{caption}{MOTION_OPEN}{control}{MOTION_CLOSE}"


def split_input(input: str) -> tuple[str, str | None]:
    """Inverse of `format_input`: (caption, control text or None)."""
    start = input.find(MOTION_OPEN)
    end = input.find(MOTION_CLOSE, start + 1)
    if start < 0 or end < 0:
        return input, None
    return input[:start], input[start + len(MOTION_OPEN):end]


def text_codes(codes: Sequence[int]) -> str:
    """Codes as the original writes them everywhere: comma-separated decimals, no spaces."""
    return ",".join(str(int(c)) for c in codes)
