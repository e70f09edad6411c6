"""motiongpt: text (optionally with pose constraints) to 3D human motion with a finetuned LLM."""

__version__ = "0.1.0"

__all__ = ["MotionGPT"]


def __getattr__(name: str):
    """`from motiongpt import MotionGPT` without importing torch for every `motiongpt` command."""
    if name == "MotionGPT":
        from motiongpt.generation.pipeline import MotionGPT

        return MotionGPT
    raise AttributeError(f"module 'motiongpt' has no attribute {name!r}")
