"""A finetuned LLM dir, as `motiongpt finetune` writes it and generation reads it.

    motiongpt.json   what the dir holds: kind (lora or full), base, answer format, codebook size, the VQ-VAE pin
    adapter_*        the LoRA adapter (kind lora; the base lies at `base`, relative to the dir or absolute)
    model.safetensors, config.json   the full weights (kind full)
    tokenizer files  the base's tokenizer, with code tokens added for the vocab format
"""

from __future__ import annotations

from pathlib import Path

import torch

from motiongpt.errors import MotionGPTError
from motiongpt.io import read_json

META_NAME = "motiongpt.json"


def bos_ids(tokenizer) -> list[int]:
    """What starts every sequence, in training and in generation alike: BOS if the tokenizer has one."""
    return [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []


def encode_prompt(tokenizer, prompt: str) -> list[int]:
    """Token ids of a prompt as training sees it: BOS (if the tokenizer has one) + prompt, no special tokens."""
    return bos_ids(tokenizer) + tokenizer(prompt, add_special_tokens=False)["input_ids"]


def base_path(directory: Path, base: str) -> Path:
    """The HF dir of a LoRA's base: a named base or GGUF file (converted once, cached), else a dir relative to
    the finetuned dir or absolute."""
    from motiongpt.llm.gguf import is_gguf_base, resolve_pretrained

    if is_gguf_base(base):
        return resolve_pretrained(base if Path(base).is_absolute() or not base.lower().endswith(".gguf")
                                  else str(directory / base))
    return directory / base if not Path(base).is_absolute() else Path(base)


def load_finetuned(directory: str | Path, device: str | torch.device = "cpu", dtype: torch.dtype | None = None,
                   merge: bool = False, load_in_4bit: bool = False):
    """(model, tokenizer, meta) of a finetuned dir: the full model, or its base with the LoRA adapter on top.

    `merge` folds the adapter into the base weights (faster generation, no PEFT wrapper). `load_in_4bit` puts
    the linear layers on the CUDA `device` in 4-bit NF4 (other weights in `dtype`, default bfloat16); a LoRA then
    stays unmerged, since merging would round it into 4 bits.
    """
    from transformers.utils import logging as hf_logging

    from motiongpt.llm.base import (load_causal_lm, load_tokenizer,  # transformers: seconds to import, so only here
                                    nf4_config, require_4bit)

    hf_logging.disable_progress_bar()  # weight-loading bars would bury the one-line messages

    directory = Path(directory)
    meta = read_json(directory / META_NAME)
    tokenizer = load_tokenizer(directory)
    kwargs = {"dtype": dtype or torch.float32}
    if load_in_4bit:
        require_4bit()
        kwargs = {"dtype": dtype or torch.bfloat16, "quantization_config": nf4_config(dtype or torch.bfloat16),
                  "device_map": {"": device}}
        merge = False
    if meta.get("kind") == "full":
        model = load_causal_lm(directory, **kwargs)
    elif meta.get("kind") == "lora":
        from peft import PeftModel
        base_dir = base_path(directory, meta["base"])
        model = load_causal_lm(base_dir, **kwargs)
        if model.get_input_embeddings().num_embeddings < len(tokenizer):
            model.resize_token_embeddings(len(tokenizer), mean_resizing=False)  # rows come from the adapter
        model = PeftModel.from_pretrained(model, str(directory))
        if merge:
            model = model.merge_and_unload()
    else:
        raise MotionGPTError(f"{directory / META_NAME}: unknown kind {meta.get('kind')!r} (expected lora or full)")
    model.config.use_cache = True
    return (model if load_in_4bit else model.to(device)).eval(), tokenizer, meta
