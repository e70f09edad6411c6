"""The prompt strings of the original MotionGPT, byte for byte, and how a record becomes a prompt.

The template is Alpaca's (as in alpaca-lora); the answer follows `### Response:` directly, with no space or newline.
Control codes (initial, last or key tokens) go into the input as `caption<Motion Token>a,b,c</Motion Token>`.
"""

from __future__ import annotations

from collections.abc import Sequence

from motiongpt.errors import MotionGPTError
from motiongpt.llm.tasks import Task

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
# The compact prompt: the task's short name and the input, then the same response marker. On SmolLM2's tokenizer
# it is about 50 tokens shorter than the Alpaca template (64 -> 13 tokens for a text-only prompt) (whose preamble and instruction are the same in every
# record), which a pretrained base finetuned on CPU pays for in every forward pass.
PROMPT_COMPACT = "{task}: {input}\n" + RESPONSE_MARKER
TEMPLATES = ("alpaca", "compact")

MOTION_OPEN = "<Motion Token>"
MOTION_CLOSE = "</Motion Token>"

def format_prompt(instruction: str, input: str = "", template: str = "alpaca") -> str:
    """The full prompt up to and including `### Response:`; the answer is appended directly.

    `template` is `alpaca` (the original's, byte for byte) or `compact` (`PROMPT_COMPACT`; an instruction that is
    none of the four tasks' is written out in full in place of a task name).
    """
    if template == "compact":
        task = Task.from_instruction(instruction)
        return PROMPT_COMPACT.format(task=task.value if task else instruction.strip(), input=input)
    if template != "alpaca":
        raise MotionGPTError(f"prompt template {template!r}: expected one of {', '.join(TEMPLATES)}")
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
