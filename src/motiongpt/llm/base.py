"""Base LLMs: any local causal LM dir, or a small LLaMA-architecture model trained from scratch.

`tiny` is for tests. `small` is sized so that full finetuning on a few thousand motions fits in about an hour on
a 2-core CPU and generates a motion in well under a second (see benchmarks/bench_llm.py). Their tokenizer is a
byte-level BPE trained on the instruction prompts (captions plus the fixed prompt strings), with digits split one
by one as LLaMA's SentencePiece tokenizer does, so the `text` answer format costs the same tokens per code.
"""

from __future__ import annotations

import importlib.util

from collections.abc import Iterable
from pathlib import Path

import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

from motiongpt.errors import MotionGPTError
from motiongpt.llm.formats import vocab_tokens

BOS, EOS, PAD, UNK = "<s>", "</s>", "<pad>", "<unk>"

# name -> (LlamaConfig fields, tokenizer vocabulary size)
BASES: dict[str, tuple[dict, int]] = {
    "tiny": (dict(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=4,
                  num_key_value_heads=4), 384),
    "small": (dict(hidden_size=256, intermediate_size=688, num_hidden_layers=4, num_attention_heads=4,
                   num_key_value_heads=4), 2048),
}
MAX_POSITIONS = 1024


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Byte-level BPE with single-digit numbers, BOS prepended by the post-processor as LLaMA's."""
    tok = Tokenizer(models.BPE(unk_token=None, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Digits(individual_digits=True),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, min_frequency=2, special_tokens=[UNK, BOS, EOS, PAD],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(texts, trainer=trainer)
    tok.post_processor = processors.TemplateProcessing(
        single=f"{BOS} $A", pair=f"{BOS} $A {BOS} $B", special_tokens=[(BOS, tok.token_to_id(BOS))])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=BOS, eos_token=EOS, pad_token=PAD,
                                   unk_token=UNK, clean_up_tokenization_spaces=False)


def build_base(name: str, texts: Iterable[str], seed: int = 1337) -> tuple[LlamaForCausalLM, PreTrainedTokenizerFast]:
    """A randomly initialised LLaMA-architecture model of the named size with a tokenizer trained on `texts`."""
    if name not in BASES:
        raise MotionGPTError(f"base {name!r}: expected a model dir or one of {', '.join(BASES)}")
    fields, vocab_size = BASES[name]
    tokenizer = train_tokenizer(texts, vocab_size)
    config = LlamaConfig(vocab_size=len(tokenizer), max_position_embeddings=MAX_POSITIONS, rms_norm_eps=1e-5,
                         bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                         pad_token_id=tokenizer.pad_token_id, tie_word_embeddings=False, **fields)
    with torch.random.fork_rng(devices=[]):  # seeded weights without moving the caller's random stream
        torch.manual_seed(seed)
        model = LlamaForCausalLM(config)
    return model, tokenizer


def load_tokenizer(path: str | Path):
    try:
        tokenizer = AutoTokenizer.from_pretrained(str(path))
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise MotionGPTError(f"{path}: cannot load a tokenizer ({str(err).splitlines()[0]})") from err
    if tokenizer.eos_token_id is None:
        raise MotionGPTError(f"{path}: the tokenizer has no EOS token; set eos_token in its tokenizer_config.json")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # padded positions are masked out of attention and loss
    return tokenizer


def load_causal_lm(path: str | Path, **kwargs) -> torch.nn.Module:
    """`AutoModelForCausalLM.from_pretrained` with a one-line error when `path` is not a causal LM dir."""
    path = Path(path)
    if not (path / "config.json").is_file():
        raise MotionGPTError(f"{path}: not a model dir (no config.json)")
    try:
        return AutoModelForCausalLM.from_pretrained(str(path), **kwargs)
    except (OSError, ValueError, KeyError, TypeError) as err:
        raise MotionGPTError(f"{path}: not a causal LM that transformers can load "
                             f"({str(err).strip().splitlines()[0]})") from err


def add_code_tokens(model: torch.nn.Module, tokenizer, codebook_size: int) -> list[int]:
    """Add the `vocab` format's tokens and grow the embeddings; returns the new tokens' ids (to be trained)."""
    tokens = vocab_tokens(codebook_size)
    tokenizer.add_tokens(tokens)
    ids = tokenizer.convert_tokens_to_ids(tokens)
    if model.get_input_embeddings().num_embeddings < len(tokenizer):
        model.resize_token_embeddings(len(tokenizer))
    return ids


def require_4bit() -> None:
    if not torch.cuda.is_available() or importlib.util.find_spec("bitsandbytes") is None:
        raise MotionGPTError("--load-in-4bit needs a CUDA GPU and bitsandbytes (pip install bitsandbytes)")


def nf4_config(compute_dtype: torch.dtype):
    """QLoRA's 4-bit NormalFloat with double quantisation (about 0.52 bytes per linear weight)."""
    from transformers import BitsAndBytesConfig

    return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                              bnb_4bit_compute_dtype=compute_dtype)
