"""Generation: the MotionGPT pipeline (text + controls -> codes -> motion), constrained decoding, pose controls."""

from motiongpt.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "motiongpt.generation.pipeline": ["MotionGPT", "GeneratedMotion", "assemble"],
    "motiongpt.generation.settings": ["GenerationSettings"],
    "motiongpt.generation.constraints": ["Controls"],
    "motiongpt.generation.matcher": ["CaptionMatcher"],
})
