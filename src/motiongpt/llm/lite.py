"""Generation without `transformers`: a LLaMA forward pass and a tokenizer in plain torch and `tokenizers`.

Why: importing `transformers` costs about 3 s on a 2-core CPU, more than loading and running the bundled model
(5 M weights) takes. A full (not LoRA) LLaMA-architecture dir with a `tokenizer.json`, which is what
`motiongpt finetune --full` and the bundled model are, needs only this: the same weights under the same names, the
same RMSNorm, rotary positions, attention and SwiGLU, so the logits equal those of `LlamaForCausalLM` to float
rounding (tests/generation/test_lite.py compares them). Anything else (LoRA adapters, other architectures, rope
scaling) loads through `transformers` as before (`load_lite` returns None).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

from motiongpt.errors import MotionGPTError
from motiongpt.io import read_json, skip_weight_init, small_model_threads

SUPPORTED = {"model_type": "llama", "hidden_act": "silu"}
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


@dataclass(frozen=True)
class LiteConfig:
    """The `config.json` fields a LLaMA forward pass reads."""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int
    rms_norm_eps: float
    rope_theta: float
    max_position_embeddings: int
    tie_word_embeddings: bool
    raw: dict

    @classmethod
    def from_dict(cls, config: dict) -> "LiteConfig | None":
        """The config, or None when it asks for something this forward pass does not do."""
        if any(config.get(k) != v for k, v in SUPPORTED.items()) or config.get("attention_bias") or \
                config.get("mlp_bias") or config.get("rope_scaling") or config.get("pretraining_tp", 1) != 1:
            return None
        rope = config.get("rope_parameters") or {}
        if rope.get("rope_type", "default") != "default":
            return None
        heads = config["num_attention_heads"]
        return cls(config["vocab_size"], config["hidden_size"], config["intermediate_size"],
                   config["num_hidden_layers"], heads, config.get("num_key_value_heads") or heads,
                   config.get("head_dim") or config["hidden_size"] // heads, config.get("rms_norm_eps", 1e-6),
                   rope.get("rope_theta", config.get("rope_theta", 10000.0)),
                   config.get("max_position_embeddings", 2048), bool(config.get("tie_word_embeddings", False)),
                   config)


class _Output:
    def __init__(self, logits: torch.Tensor):
        self.logits = logits


class LiteCache:
    """Keys and values per layer, (B, H, T, D), in buffers that grow by doubling: a decoding step writes one
    position in place instead of copying the whole cache (`torch.cat` each step copied it 30 times a token on
    SmolLM2). `batch_select_indices` keeps some rows, as DynamicCache's."""

    def __init__(self, layers: int):
        self.keys: list[torch.Tensor | None] = [None] * layers
        self.values: list[torch.Tensor | None] = [None] * layers
        self.lengths = [0] * layers

    def update(self, layer: int, key: torch.Tensor, value: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.lengths[layer], self.lengths[layer] + key.shape[2]
        buffer = self.keys[layer]
        if buffer is None or end > buffer.shape[2]:
            size = max(end, 2 * (buffer.shape[2] if buffer is not None else 0), 64)
            grown = [key.new_empty(key.shape[:2] + (size,) + key.shape[3:]) for _ in range(2)]
            if buffer is not None:
                grown[0][:, :, :start] = buffer[:, :, :start]
                grown[1][:, :, :start] = self.values[layer][:, :, :start]
            self.keys[layer], self.values[layer] = grown
        self.keys[layer][:, :, start:end] = key
        self.values[layer][:, :, start:end] = value
        self.lengths[layer] = end
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def batch_select_indices(self, index: torch.Tensor) -> None:
        self.keys = [None if k is None else k[index] for k in self.keys]
        self.values = [None if v is None else v[index] for v in self.values]


class _RMSNorm(torch.nn.Module):
    def __init__(self, size: int, eps: float):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dtype = x.dtype
        x = x.float()
        x = x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * x.to(dtype)


def _rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class _Attention(torch.nn.Module):
    def __init__(self, c: LiteConfig):
        super().__init__()
        self.heads, self.kv_heads, self.head_dim = c.num_attention_heads, c.num_key_value_heads, c.head_dim
        self.q_proj = torch.nn.Linear(c.hidden_size, self.heads * c.head_dim, bias=False)
        self.k_proj = torch.nn.Linear(c.hidden_size, self.kv_heads * c.head_dim, bias=False)
        self.v_proj = torch.nn.Linear(c.hidden_size, self.kv_heads * c.head_dim, bias=False)
        self.o_proj = torch.nn.Linear(self.heads * c.head_dim, c.hidden_size, bias=False)

    def forward(self, x, cos, sin, mask, cache: LiteCache | None, layer: int) -> torch.Tensor:
        b, t, _ = x.shape
        q = self.q_proj(x).view(b, t, self.heads, self.head_dim).transpose(1, 2)
        k = self.k_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(b, t, self.kv_heads, self.head_dim).transpose(1, 2)
        q, k = q * cos + _rotate_half(q) * sin, k * cos + _rotate_half(k) * sin
        if cache is not None:
            k, v = cache.update(layer, k, v)
        # grouped-query attention reads each key/value head for its group of query heads, with no copies
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, enable_gqa=self.kv_heads != self.heads)
        return self.o_proj(out.transpose(1, 2).reshape(b, t, -1))


class _MLP(torch.nn.Module):
    def __init__(self, c: LiteConfig):
        super().__init__()
        self.gate_proj = torch.nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.up_proj = torch.nn.Linear(c.hidden_size, c.intermediate_size, bias=False)
        self.down_proj = torch.nn.Linear(c.intermediate_size, c.hidden_size, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class _Layer(torch.nn.Module):
    def __init__(self, c: LiteConfig):
        super().__init__()
        self.self_attn, self.mlp = _Attention(c), _MLP(c)
        self.input_layernorm = _RMSNorm(c.hidden_size, c.rms_norm_eps)
        self.post_attention_layernorm = _RMSNorm(c.hidden_size, c.rms_norm_eps)


class _Body(torch.nn.Module):
    def __init__(self, c: LiteConfig):
        super().__init__()
        self.embed_tokens = torch.nn.Embedding(c.vocab_size, c.hidden_size)
        self.layers = torch.nn.ModuleList(_Layer(c) for _ in range(c.num_hidden_layers))
        self.norm = _RMSNorm(c.hidden_size, c.rms_norm_eps)


class LiteLlama(torch.nn.Module):
    """LlamaForCausalLM's forward pass for generation: same parameter names, same call as `sample` makes."""

    def __init__(self, config: LiteConfig):
        super().__init__()
        self.config = config
        self.model = _Body(config)
        self.lm_head = torch.nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.register_buffer("inv_freq", _inv_freq(config), persistent=False)

    def new_cache(self) -> LiteCache:
        return LiteCache(self.config.num_hidden_layers)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor, position_ids: torch.Tensor,
                past_key_values: LiteCache | None = None, use_cache: bool = False,
                rows: torch.Tensor | None = None) -> _Output:
        """Logits (B, T, V) of `input_ids` (B, T); `attention_mask` (B, past + T) marks real tokens. With `rows`
        (token ids), only the last position's logits of those tokens, (B, 1, len(rows)): a decoder that can only
        write a few tokens skips the rest of the head (49k rows of a pretrained vocabulary)."""
        x = self.model.embed_tokens(input_ids)
        freqs = position_ids[:, :, None].float() * self.inv_freq[None, None, :]
        angles = torch.cat((freqs, freqs), dim=-1)
        cos, sin = angles.cos()[:, None].to(x.dtype), angles.sin()[:, None].to(x.dtype)
        total, t = attention_mask.shape[1], input_ids.shape[1]
        causal = torch.ones(t, total, dtype=torch.bool, device=x.device).tril(total - t)
        allowed = causal[None, None] & attention_mask[:, None, None, :].bool()
        mask = torch.zeros(allowed.shape, dtype=x.dtype, device=x.device).masked_fill(~allowed,
                                                                                       torch.finfo(x.dtype).min)
        cache = past_key_values if use_cache else None
        for index, layer in enumerate(self.model.layers):
            x = x + layer.self_attn(layer.input_layernorm(x), cos, sin, mask, cache, index)
            x = x + layer.mlp(layer.post_attention_layernorm(x))
        if rows is not None:
            return _Output(F.linear(self.model.norm(x[:, -1:]), self.lm_head.weight[rows]))
        return _Output(self.lm_head(self.model.norm(x)))

    def quantize_int8(self) -> "LiteLlama":
        """The layers' linear maps as dynamic int8 (weights int8, activations quantised per call): a quarter of the
        memory traffic per token. The embedding and head stay as they are (the head is read by rows)."""
        import warnings

        from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

        names = {name: default_dynamic_qconfig for name, module in self.model.layers.named_modules()
                 if isinstance(module, torch.nn.Linear)}
        with warnings.catch_warnings():  # torch announces a successor API for quantised modules; this one works
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.filterwarnings("ignore", message=".*deprecated.*")
            quantize_dynamic(self.model.layers, names, dtype=torch.qint8, inplace=True)
        return self

    def save_pretrained(self, directory: str | Path) -> None:
        from motiongpt.io import save_model_dir

        save_model_dir(directory, self.config.raw, self.state_dict())


class LiteTokenizer:
    """The parts of a Hugging Face fast tokenizer that generation uses, on `tokenizers` alone."""

    def __init__(self, directory: Path):
        from tokenizers import Tokenizer

        self.directory = directory
        self.backend = Tokenizer.from_file(str(directory / "tokenizer.json"))
        self.backend.no_padding()
        self.backend.no_truncation()
        config = read_json(directory / "tokenizer_config.json")
        names = {k: _token_text(config.get(f"{k}_token")) for k in ("bos", "eos", "pad", "unk")}
        ids = {k: None if v is None else self.backend.token_to_id(v) for k, v in names.items()}
        self.bos_token_id, self.eos_token_id, self.unk_token_id = ids["bos"], ids["eos"], ids["unk"]
        self.pad_token_id = ids["pad"] if ids["pad"] is not None else ids["eos"]

    def __len__(self) -> int:
        return self.backend.get_vocab_size(with_added_tokens=True)

    def __call__(self, text: str, add_special_tokens: bool = True) -> dict[str, list[int]]:
        return {"input_ids": self.backend.encode(text, add_special_tokens=add_special_tokens).ids}

    def decode(self, ids, skip_special_tokens: bool = False) -> str:
        return self.backend.decode(list(ids), skip_special_tokens=skip_special_tokens)

    def convert_tokens_to_ids(self, tokens):
        if isinstance(tokens, str):
            return self.backend.token_to_id(tokens)
        return [self.backend.token_to_id(t) for t in tokens]

    def save_pretrained(self, directory: str | Path) -> None:
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        for name in TOKENIZER_FILES:
            if (self.directory / name).is_file():
                shutil.copyfile(self.directory / name, directory / name)


def _token_text(token: object) -> str | None:
    return token.get("content") if isinstance(token, dict) else token  # type: ignore[return-value]


def load_lite(directory: str | Path, device: torch.device, dtype: torch.dtype | None = None):
    """(model, tokenizer, meta) of a full LLaMA finetune without `transformers`, or None when it needs it."""
    from safetensors.torch import load_file

    from motiongpt.llm.finetuned import META_NAME

    directory = Path(directory)
    meta = read_json(directory / META_NAME)
    if meta.get("kind") != "full" or not (directory / "tokenizer.json").is_file() or \
            not (directory / "model.safetensors").is_file() or not (directory / "config.json").is_file():
        return None
    try:
        config = LiteConfig.from_dict(json.loads((directory / "config.json").read_text()))
    except (KeyError, TypeError, ValueError):
        return None
    if config is None:
        return None
    try:
        model = _built(config, load_file(str(directory / "model.safetensors")))
    except RuntimeError as err:
        raise MotionGPTError(f"{directory}: weights do not fit its config.json ({str(err).splitlines()[0]})"
                             ) from None
    with small_model_threads(model):  # copies of a few MB: threads in step would cost more than they do
        model = model.to(device=device, dtype=dtype or torch.float32).eval()
    model.inv_freq = model.inv_freq.float()
    return model, LiteTokenizer(directory), meta


def _built(config: LiteConfig, state: dict[str, torch.Tensor]) -> LiteLlama:
    """A LiteLlama on the given tensors (assigned, not copied); tied embeddings give the head its weight."""
    if config.tie_word_embeddings and "lm_head.weight" not in state:
        state = {**state, "lm_head.weight": state["model.embed_tokens.weight"]}
    with skip_weight_init():
        model = LiteLlama(config)
    model.load_state_dict(state, strict=True, assign=True)
    model.inv_freq = model.inv_freq.float()  # rotary frequencies stay float32 whatever the weights' dtype
    return model


def lite_from_hf(model: torch.nn.Module) -> LiteLlama | None:
    """An HF LlamaForCausalLM (adapters merged) as a LiteLlama on the same tensors, or None when its config asks
    for what this forward pass does not do: the pretrained bases then decode with row-restricted logits too."""
    if type(model).__name__ != "LlamaForCausalLM":
        return None
    config = LiteConfig.from_dict(model.config.to_dict())
    if config is None:
        return None
    return _built(config, dict(model.state_dict())).to(next(model.parameters()).device).eval()


def _inv_freq(config: LiteConfig) -> torch.Tensor:
    """Rotary frequencies, float32 whatever the weights' dtype (as transformers keeps them)."""
    return 1.0 / (config.rope_theta ** (torch.arange(0, config.head_dim, 2, dtype=torch.int64).float()
                                        / config.head_dim))
