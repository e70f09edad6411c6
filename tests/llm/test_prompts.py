from motiongpt.llm.tasks import Task
from motiongpt.llm.prompts import (PROMPT_NO_INPUT, PROMPT_WITH_INPUT, format_input,
                                   format_prompt, split_input, text_codes)

# The reference strings of the original (scripts/generate_dataset.py and the alpaca-lora template).
REF_WITH_INPUT = ("Below is an instruction that describes a task, paired with an input that provides further context. "
                  "Write a response that appropriately completes the request.\n\n### Instruction:\n{instruction}"
                  "\n\n### Input:\n{input}\n\n### Response:")
REF_NO_INPUT = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
                "request.\n\n### Instruction:\n{instruction}\n\n### Response:")
REF_INSTRUCTIONS = [
    "Generate a sequence of motion tokens matching the following human motion description.",
    "Generate a sequence of motion tokens matching the following human motion description given the initial token.",
    "Generate a sequence of motion tokens matching the following human motion description given the last token.",
    "Generate a sequence of motion tokens matching the following human motion description given several key tokens.",
]


def test_templates_and_instructions_are_byte_equal_to_the_original():
    assert PROMPT_WITH_INPUT.encode() == REF_WITH_INPUT.encode()
    assert PROMPT_NO_INPUT.encode() == REF_NO_INPUT.encode()
    assert [t.instruction.encode() for t in Task] == [s.encode() for s in REF_INSTRUCTIONS]


def test_full_prompt_and_motion_token_input():
    inp = format_input("a person walks forward.", text_codes([315, 91, 406]))
    assert inp == "a person walks forward.<Motion Token>315,91,406</Motion Token>"
    prompt = format_prompt(REF_INSTRUCTIONS[3], inp)
    assert prompt == REF_WITH_INPUT.format(instruction=REF_INSTRUCTIONS[3], input=inp)
    assert prompt.endswith("### Response:")
    assert format_prompt(REF_INSTRUCTIONS[0]) == REF_NO_INPUT.format(instruction=REF_INSTRUCTIONS[0])
    assert split_input(inp) == ("a person walks forward.", "315,91,406")
    assert split_input("a person walks forward.") == ("a person walks forward.", None)


def test_the_compact_template_keeps_the_task_input_and_marker():
    import pytest

    from motiongpt.errors import MotionGPTError
    from motiongpt.llm.formats import parse_codes, render_record

    inp = format_input("a person walks forward.", text_codes([315, 91]))
    compact = format_prompt(REF_INSTRUCTIONS[3], inp, "compact")
    assert compact == "key: a person walks forward.<Motion Token>315,91</Motion Token>\n### Response:"
    assert len(compact) < len(format_prompt(REF_INSTRUCTIONS[3], inp)) / 3
    assert format_prompt("Dance.", "x", "compact") == "Dance.: x\n### Response:"
    record = {"instruction": REF_INSTRUCTIONS[1], "input": inp, "output": "7,8,9"}
    prompt, answer = render_record(record, "vocab", "compact")
    assert prompt.startswith("init: a person walks forward.<Motion Token><motion_id_315>")
    assert parse_codes(prompt + answer, "vocab", 512) == [7, 8, 9]
    with pytest.raises(MotionGPTError, match="prompt template 'short'"):
        format_prompt(REF_INSTRUCTIONS[0], "", "short")
