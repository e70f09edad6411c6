"""How codes are sampled: the one place that holds the sampling defaults (the original's), for the Python API, the
CLI, the evaluation and the web page."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from motiongpt.data.layout import MAX_FRAMES, UNIT_LENGTH
from motiongpt.errors import MotionGPTError
from motiongpt.limits import MAX_TEMPERATURE, MIN_TEMPERATURE, check_int, check_number

MAX_CODES_LIMIT = 4096  # far past any model's positions; each model checks its own room (`MotionGPT.generate`)


@dataclass(frozen=True)
class GenerationSettings:
    """The original's sampling: temperature 0.8, top-k 200, no top-p, at most 196 frames (49 codes of 4 frames)."""

    temperature: float = 0.8
    top_k: int | None = 200  # None: off
    top_p: float | None = None  # None: off
    max_codes: int = MAX_FRAMES // UNIT_LENGTH
    constrained: bool = True  # every answer parses and meets its controls (False: the original's free sampling)
    use_cache: bool = True  # the KV cache (False gives the same codes, slower; for checks)

    def check(self) -> GenerationSettings:
        """The settings themselves, or a one-line error naming the first bad value."""
        # Below MIN_TEMPERATURE the scores overflow to infinity; above MAX_TEMPERATURE sampling is uniform anyway.
        check_number(self.temperature, "temperature", MIN_TEMPERATURE, MAX_TEMPERATURE)
        if self.top_k is not None:
            check_int(self.top_k, "top-k", 1)
        if self.top_p is not None and check_number(self.top_p, "top-p", 0.0, 1.0) == 0.0:
            raise MotionGPTError(f"top-p {self.top_p}: must be in (0, 1]")
        check_int(self.max_codes, "max codes", 1, MAX_CODES_LIMIT)
        return self

    def updated(self, **changes: object) -> GenerationSettings:
        """A checked copy with some fields changed; an unknown name is a one-line error."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise MotionGPTError(f"unknown generation setting(s) {', '.join(unknown)}; expected some of "
                                 f"{', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes).check()
