"""The four tasks of the paper, one name each everywhere: instruction records, prompts, generation, `tokens.json`,
evaluation results and reports.

The instruction strings are the original's, byte for byte; the order is the order in which the original writes the
four records of a motion.
"""

from __future__ import annotations

from enum import Enum

from motiongpt.errors import MotionGPTError

_DESCRIPTION = "Generate a sequence of motion tokens matching the following human motion description"
# names written by motiongpt 0.1 (instruction records and tokens.json), read as today's
LEGACY_NAMES = {"t2m": "text", "initial": "init"}


class Task(str, Enum):
    """A task's value is its short name (`text`, `init`, `last`, `key`); it compares equal to that string."""

    TEXT = "text"
    INIT = "init"
    LAST = "last"
    KEY = "key"

    def __str__(self) -> str:
        return self.value

    @property
    def instruction(self) -> str:
        """The original's instruction for this task."""
        return {Task.TEXT: f"{_DESCRIPTION}.", Task.INIT: f"{_DESCRIPTION} given the initial token.",
                Task.LAST: f"{_DESCRIPTION} given the last token.",
                Task.KEY: f"{_DESCRIPTION} given several key tokens."}[self]

    @property
    def label(self) -> str:
        """The row title in evaluation reports."""
        return {Task.TEXT: "Text-only", Task.INIT: "Text + initial token", Task.LAST: "Text + last token",
                Task.KEY: "Text + key tokens"}[self]

    @property
    def controlled(self) -> bool:
        return self is not Task.TEXT

    @classmethod
    def parse(cls, name: object) -> Task:
        """A task from its name (also the 0.1 names `t2m` and `initial`), or a one-line error listing the names."""
        key = LEGACY_NAMES.get(str(name).strip(), str(name).strip())
        try:
            return cls(key)
        except ValueError:
            raise MotionGPTError(f"task {name!r}: expected one of {','.join(t.value for t in cls)}") from None

    @classmethod
    def from_instruction(cls, text: str) -> Task | None:
        """The task whose instruction is `text` (surrounding white space ignored), or None."""
        return next((task for task in cls if task.instruction == text.strip()), None)


CONTROL_TASKS = tuple(task for task in Task if task.controlled)
