"""How codes are sampled: the one place that holds the sampling defaults (the original's), for the Python API, the
CLI, the evaluation and the web page."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from motiongpt.data.layout import MAX_FRAMES, UNIT_LENGTH
from motiongpt.errors import MotionGPTError


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
        if not self.temperature > 0:
            raise MotionGPTError(f"temperature {self.temperature}: must be positive")
        if self.top_k is not None and (isinstance(self.top_k, bool) or int(self.top_k) != self.top_k
                                       or self.top_k < 1):
            raise MotionGPTError(f"top-k {self.top_k}: must be a positive integer")
        if self.top_p is not None and not 0 < self.top_p <= 1:
            raise MotionGPTError(f"top-p {self.top_p}: must be in (0, 1]")
        if isinstance(self.max_codes, bool) or int(self.max_codes) != self.max_codes or self.max_codes < 1:
            raise MotionGPTError(f"max codes {self.max_codes}: must be a positive integer")
        return self

    def updated(self, **changes: object) -> GenerationSettings:
        """A checked copy with some fields changed; an unknown name is a one-line error."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise MotionGPTError(f"unknown generation setting(s) {', '.join(unknown)}; expected some of "
                                 f"{', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes).check()
