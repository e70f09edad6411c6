"""motiongpt: text (optionally with pose constraints) to 3D human motion with a finetuned LLM.

    from motiongpt import MotionGPT
    motion = MotionGPT.from_pretrained().generate("a person walks forward", seed=0)[0]

Each stage of the data flow is a sub-package with its public names in its `__init__`: motion, data, tokenizer,
llm, generation, eval, export, app.
"""

from motiongpt.lazy import lazy_exports

__version__ = "0.2.0"

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "motiongpt.generation.pipeline": ["MotionGPT", "GeneratedMotion"],
    "motiongpt.generation.settings": ["GenerationSettings"],
})
