"""motiongpt: text (optionally with pose constraints) to 3D human motion with a finetuned LLM."""

__version__ = "0.1.0"
