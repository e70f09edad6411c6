"""The LLM: the paper's prompts and tasks, answer formats, instruction data, bases, LoRA or full finetuning."""

from motiongpt.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "motiongpt.llm.tasks": ["Task"],
    "motiongpt.llm.formats": ["build_prompt", "format_codes", "parse_codes"],
    "motiongpt.llm.instructions": ["build_instructions", "load_instructions"],
    "motiongpt.llm.base": ["build_base", "load_causal_lm", "load_tokenizer"],
    "motiongpt.llm.finetune": ["FinetuneConfig", "finetune"],
    "motiongpt.llm.finetuned": ["load_finetuned"],
})
