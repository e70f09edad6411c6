"""How codes are sampled: the one place that holds the sampling defaults (the original's), for the Python API, the
CLI, the evaluation and the web page."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from motiongpt.data.layout import MAX_FRAMES, UNIT_LENGTH
from motiongpt.errors import MotionGPTError
from motiongpt.limits import MAX_TEMPERATURE, MIN_TEMPERATURE, check_guidance, check_int, check_number

MAX_CODE_FRAMES = 16  # frames per code of any VQ-VAE this package builds (4 as the original's), for bounds only
MAX_CODES_LIMIT = 4096  # far past any model's positions; each model checks its own room (`MotionGPT.generate`)
MAX_CHECK_RETRIES = 16


@dataclass(frozen=True)
class GenerationSettings:
    """The original's sampling: temperature 0.8, top-k 200, no top-p, at most 196 frames (49 codes of 4 frames)."""

    temperature: float = 0.8
    top_k: int | None = 200  # None: off
    top_p: float | None = None  # None: off
    max_codes: int = MAX_FRAMES // UNIT_LENGTH
    constrained: bool = True  # every answer parses and meets its controls (False: the original's free sampling)
    use_cache: bool = True  # the KV cache (False gives the same codes, slower; for checks)
    frames: int | None = None  # the motion's exact length in frames (None: the model ends it); needs `constrained`
    # a description naming one side (left hand, right leg, turn left) whose motion the joint-space judge
    # (motion.sides) does not find clearly on that side, or an action (bow, sprint, walk backwards) whose motion
    # falls short of its floor (motion.actions), is sampled again with new seeds, up to this many times; 0: off
    check_retries: int = 3
    # the joints of a rigid skeleton fitted to the decoded ones (motion.fit), which every file then shares;
    # False: the decoder's joints, whose bone lengths drift (a forearm may span 0.19-0.30 m in one clip)
    rigid_bones: bool = True
    # classifier-free guidance: the logits with the description pushed away from those without it by this factor
    # (generation.decoding); 1: off, as the original; None: the model's own (its LLM's `guidance`, else 1)
    guidance: float | None = None

    def check(self) -> GenerationSettings:
        """The settings themselves (a guidance given as text made a float), or a one-line error naming the first
        bad value."""
        # Below MIN_TEMPERATURE the scores overflow to infinity; above MAX_TEMPERATURE sampling is uniform anyway.
        check_number(self.temperature, "temperature", MIN_TEMPERATURE, MAX_TEMPERATURE)
        if self.top_k is not None:
            check_int(self.top_k, "top-k", 1)
        if self.top_p is not None and check_number(self.top_p, "top-p", 0.0, 1.0) == 0.0:
            raise MotionGPTError(f"top-p {self.top_p}: must be in (0, 1]")
        check_int(self.max_codes, "max codes", 1, MAX_CODES_LIMIT)
        check_int(self.check_retries, "check retries", 0, MAX_CHECK_RETRIES)
        if self.frames is not None:
            check_int(self.frames, "length in frames", 1, MAX_CODES_LIMIT * MAX_CODE_FRAMES)
            if not self.constrained:
                raise MotionGPTError("a length (frames or seconds) is met only by constrained decoding; drop "
                                     "--unconstrained")
        return self if self.guidance is None else dataclasses.replace(self, guidance=check_guidance(self.guidance))

    def exact_codes(self, frames_per_code: int) -> int | None:
        """The number of codes the chosen length needs (the last code's frames beyond it are cut), or None."""
        return None if self.frames is None else -(-self.frames // frames_per_code)

    def updated(self, **changes: object) -> GenerationSettings:
        """A checked copy with some fields changed; an unknown name is a one-line error."""
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise MotionGPTError(f"unknown generation setting(s) {', '.join(unknown)}; expected some of "
                                 f"{', '.join(sorted(names))}")
        return dataclasses.replace(self, **changes).check()
