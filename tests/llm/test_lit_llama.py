"""The original release's Lit-LLaMA weights as Hugging Face LLaMA + PEFT: same logits as the network they came from.

Tiny checkpoints are built here in Lit-LLaMA's layout, and `lit_logits` computes what that network computes,
written out from its description: fused q/k/v rows in Meta's rotary layout (each head rotates interleaved pairs),
RMSNorm eps 1e-5, a SwiGLU MLP, and the LoRA of a merged linear layer on q and v (a grouped product with 2 groups,
scaled by alpha / r).
"""

from __future__ import annotations

import io
import json
import math
import random
import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from motiongpt.cli import main
from motiongpt.errors import MotionGPTError
from motiongpt.generation.constraints import AnswerVocab
from motiongpt.llm.finetuned import encode_prompt
from motiongpt.llm.lit_llama import convert_base, convert_lora, describe_size
from motiongpt.llm.prompts import format_input, format_prompt
from motiongpt.llm.tasks import Task

ATOL = 1e-4
CAPTIONS = ["a person walks forward.", "a man jumps up and down happily.", "someone runs in a circle slowly",
            "a person waves with the right hand.", "the figure kicks with the left leg."]


# ------------------------------------------------------------------------------------------------ the reference


def lit_base(width=64, heads=4, layers=2, vocab=128, seed=0, dtype=torch.float32) -> dict[str, torch.Tensor]:
    """Random weights in Lit-LLaMA's layout; the MLP width is LLaMA's: 8d/3 rounded up to a multiple of 256."""
    g = torch.Generator().manual_seed(seed)
    hidden = -(-int(2 * 4 * width / 3) // 256) * 256

    def w(rows, cols):
        return torch.randn(rows, cols, generator=g) / math.sqrt(cols)

    def scale():
        return 1 + 0.2 * torch.randn(width, generator=g)

    sd = {"transformer.wte.weight": torch.randn(vocab, width, generator=g), "lm_head.weight": w(vocab, width),
          "transformer.ln_f.scale": scale()}
    for i in range(layers):
        p = f"transformer.h.{i}."
        sd.update({p + "rms_1.scale": scale(), p + "attn.c_attn.weight": w(3 * width, width),
                   p + "attn.c_proj.weight": w(width, width), p + "rms_2.scale": scale(),
                   p + "mlp.c_fc1.weight": w(hidden, width), p + "mlp.c_fc2.weight": w(hidden, width),
                   p + "mlp.c_proj.weight": w(width, hidden)})
    return {k: v.to(dtype) for k, v in sd.items()}


def lit_lora(width=64, layers=2, rank=4, seed=1) -> dict[str, torch.Tensor]:
    """A LoRA as the original saved it, with the unused projections it saved beside."""
    g = torch.Generator().manual_seed(seed)
    sd = {"llama_proj.weight": torch.randn(width, 512, generator=g), "llama_proj.bias": torch.zeros(width),
          "motion_proj.weight": torch.randn(512, width, generator=g), "motion_proj.bias": torch.zeros(512)}
    for i in range(layers):
        p = f"transformer.h.{i}.attn.c_attn."
        sd[p + "lora_A"] = torch.randn(2 * rank, width, generator=g) / math.sqrt(width)
        sd[p + "lora_B"] = torch.randn(2 * width, rank, generator=g) * 0.5
    return sd


def rms(x, scale):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5) * scale


def meta_rotary(x):
    """x (B, T, heads, head): pairs (2i, 2i+1) of each head rotate by position x 10000^(-2i/head)."""
    head = x.shape[-1]
    freqs = 10000.0 ** (-torch.arange(0, head, 2, dtype=torch.float64) / head)
    angles = torch.arange(x.shape[1], dtype=torch.float64)[:, None] * freqs
    cos, sin = angles.cos().float()[None, :, None], angles.sin().float()[None, :, None]
    a, b = x[..., 0::2], x[..., 1::2]
    return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)


def lit_logits(sd, idx, heads, lora=None, alpha=16.0):
    sd = {k: v.float() for k, v in sd.items()}
    x = sd["transformer.wte.weight"][idx]
    batch, length, width = x.shape
    head = width // heads
    causal = torch.ones(length, length, dtype=torch.bool).tril()
    layers = 1 + max(int(k.split(".")[2]) for k in sd if k.startswith("transformer.h."))
    for i in range(layers):
        p = f"transformer.h.{i}."
        h = rms(x, sd[p + "rms_1.scale"])
        qkv = h @ sd[p + "attn.c_attn.weight"].T
        if lora is not None:
            a, b = lora[p + "attn.c_attn.lora_A"], lora[p + "attn.c_attn.lora_B"]
            after_a = h @ a.T
            after_b = F.conv1d(after_a.transpose(1, 2), b.unsqueeze(-1), groups=2).transpose(1, 2)
            update = torch.zeros_like(qkv)
            update[..., :width], update[..., 2 * width:] = after_b[..., :width], after_b[..., width:]
            qkv = qkv + update * (alpha / (a.shape[0] // 2))
        q, k, v = (t.reshape(batch, length, heads, head) for t in qkv.split(width, dim=-1))
        q, k = meta_rotary(q), meta_rotary(k)
        att = torch.einsum("bqhd,bkhd->bhqk", q, k) / math.sqrt(head)
        att = att.masked_fill(~causal, float("-inf")).softmax(-1)
        x = x + torch.einsum("bhqk,bkhd->bqhd", att, v).reshape(batch, length, width) @ sd[p + "attn.c_proj.weight"].T
        h = rms(x, sd[p + "rms_2.scale"])
        gated = F.silu(h @ sd[p + "mlp.c_fc1.weight"].T) * (h @ sd[p + "mlp.c_fc2.weight"].T)
        x = x + gated @ sd[p + "mlp.c_proj.weight"].T
    return rms(x, sd["transformer.ln_f.scale"]) @ sd["lm_head.weight"].T


def hf_logits(model_dir, idx, adapter=None):
    from transformers import LlamaForCausalLM

    model = LlamaForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    if adapter is not None:
        from peft import PeftModel
        model = PeftModel.from_pretrained(model, str(adapter))
    with torch.no_grad():
        return model.eval()(idx).logits


def tokens(vocab=128, length=12, seed=3):
    return torch.randint(0, vocab, (2, length), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------------------------ base and LoRA


def test_converted_base_gives_the_reference_logits(tmp_path):
    sd = lit_base()
    torch.save(sd, tmp_path / "lit-llama.pth")
    convert_base(tmp_path / "lit-llama.pth", tmp_path / "hf", n_head=4)
    config = json.loads((tmp_path / "hf" / "config.json").read_text())
    assert (config["rms_norm_eps"], config["hidden_size"], config["intermediate_size"], config["num_hidden_layers"],
            config["num_attention_heads"], config["vocab_size"]) == (1e-5, 64, 256, 2, 4, 128)
    idx = tokens()
    diff = (hf_logits(tmp_path / "hf", idx) - lit_logits(sd, idx, heads=4)).abs().max().item()
    assert diff <= ATOL


def test_base_plus_lora_gives_the_reference_logits(tmp_path):
    sd, lora = lit_base(), lit_lora(rank=4)
    torch.save(sd, tmp_path / "lit-llama.pth")
    torch.save(lora, tmp_path / "pretrained.pth")
    convert_base(tmp_path / "lit-llama.pth", tmp_path / "hf", n_head=4)
    convert_lora(tmp_path / "pretrained.pth", tmp_path / "hf", tmp_path / "adapter", alpha=16)
    config = json.loads((tmp_path / "adapter" / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"], sorted(config["target_modules"])) == (4, 16, ["q_proj", "v_proj"])
    idx = tokens()
    expected = lit_logits(sd, idx, heads=4, lora=lora, alpha=16)
    assert (expected - lit_logits(sd, idx, heads=4)).abs().max() > 0.1  # the LoRA matters for these logits
    diff = (hf_logits(tmp_path / "hf", idx, tmp_path / "adapter") - expected).abs().max().item()
    assert diff <= ATOL


def test_bf16_checkpoint_converts_in_blocks_into_shards(tmp_path):
    """Row blocks smaller than a head pair and shards smaller than a layer: the same network comes out."""
    sd = lit_base(dtype=torch.bfloat16)
    torch.save(sd, tmp_path / "lit-llama.pth")
    convert_base(tmp_path / "lit-llama.pth", tmp_path / "hf", n_head=4, max_shard_bytes=60_000, block_bytes=700)
    shards = sorted(p.name for p in (tmp_path / "hf").glob("model-*.safetensors"))
    assert len(shards) > 3 and (tmp_path / "hf" / "model.safetensors.index.json").is_file()
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["dtype"] == "bfloat16"
    idx = tokens()
    assert (hf_logits(tmp_path / "hf", idx) - lit_logits(sd, idx, heads=4)).abs().max().item() <= ATOL
    convert_base(tmp_path / "lit-llama.pth", tmp_path / "hf32", n_head=4, dtype=torch.float32)
    assert json.loads((tmp_path / "hf32" / "config.json").read_text())["dtype"] == "float32"


def test_head_count_defaults_to_llama_head_size(tmp_path):
    torch.save(lit_base(width=256, heads=2, layers=1), tmp_path / "w256.pth")
    convert_base(tmp_path / "w256.pth", tmp_path / "hf")
    assert json.loads((tmp_path / "hf" / "config.json").read_text())["num_attention_heads"] == 2
    torch.save(lit_base(), tmp_path / "w64.pth")
    with pytest.raises(MotionGPTError, match="width 64 is not a multiple of LLaMA's head size 128; pass .*--n-head"):
        convert_base(tmp_path / "w64.pth", tmp_path / "out")
    assert describe_size(40, 5120) == "LLaMA-13B (40 layers, width 5120)"


# ------------------------------------------------------------------------------------------------ bad input


def one_line_cli_error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("motiongpt: error: ") and "Traceback" not in err
    return err


def test_lora_for_another_llama_size_is_one_line_and_writes_nothing(tmp_path, capsys):
    """The 7B-vs-13B mistake: a 7B-shaped LoRA (r 1) against a 13B base config."""
    from transformers import LlamaConfig

    LlamaConfig(hidden_size=5120, num_hidden_layers=40, num_attention_heads=40, intermediate_size=13824) \
        .save_pretrained(str(tmp_path / "llama-13b"))
    torch.save(lit_lora(width=4096, layers=32, rank=1), tmp_path / "lora-7b.pth")
    err = one_line_cli_error(capsys, ["convert", "lit-lora", str(tmp_path / "lora-7b.pth"), "--base",
                                      str(tmp_path / "llama-13b"), "--out", str(tmp_path / "adapter")])
    assert "a LoRA for LLaMA-7B (32 layers, width 4096)" in err and "LLaMA-13B (40 layers, width 5120)" in err
    assert not (tmp_path / "adapter").exists()


@pytest.fixture(scope="module")
def converted_base(tmp_path_factory):
    root = tmp_path_factory.mktemp("base")
    torch.save(lit_base(), root / "lit-llama.pth")
    return convert_base(root / "lit-llama.pth", root / "hf", n_head=4)


@pytest.mark.parametrize("case", ["only_A", "only_B", "B_shape", "no_lora", "base_file"])
def test_bad_lora_names_the_key(tmp_path, converted_base, case):
    lora = lit_lora()
    key = "transformer.h.1.attn.c_attn.lora_"
    if case == "only_A":
        del lora[key + "B"]
        expected = f"{key}B missing \\(the file has {key}A: a LoRA needs both\\)"
    elif case == "only_B":
        lora = {k: v for k, v in lora.items() if not k.endswith("lora_A")}
        expected = "transformer.h.0.attn.c_attn.lora_A missing .*has transformer.h.0.attn.c_attn.lora_B"
    elif case == "B_shape":
        lora[key + "B"] = torch.zeros(64, 4)
        expected = rf"{key}B has shape \(64, 4\), expected \(128, 4\)"
    elif case == "no_lora":
        lora = {k: v for k, v in lora.items() if "proj" in k}
        expected = "no LoRA weights; expected a Lit-LLaMA LoRA checkpoint"
    else:
        lora = lit_base()
        expected = "holds base weights .*convert it with `convert lit-llama`"
    torch.save(lora, tmp_path / "lora.pth")
    with pytest.raises(MotionGPTError, match=expected):
        convert_lora(tmp_path / "lora.pth", converted_base, tmp_path / "adapter")
    assert not (tmp_path / "adapter").exists()


def test_bad_base_checkpoints_name_the_key_or_shape(tmp_path, capsys):
    hf_style = {"model.embed_tokens.weight": torch.zeros(8, 4),
                "model.layers.0.self_attn.q_proj.weight": torch.zeros(4, 4)}
    gpt2_style = {"transformer.wte.weight": torch.zeros(8, 4), "transformer.wpe.weight": torch.zeros(8, 4),
                  "transformer.h.0.mlp.c_fc.weight": torch.zeros(16, 4)}
    bad_shape = lit_base()
    bad_shape["transformer.h.1.attn.c_attn.weight"] = torch.zeros(64, 64)
    extra = {**lit_base(), "transformer.h.0.attn.bias": torch.zeros(64)}
    cases = {
        "hf.pth": (hf_style, "key 'transformer.wte.weight' missing \\(it looks like a Hugging Face LLaMA"),
        "gpt2.pth": (gpt2_style, "key 'transformer.h.0.mlp.c_fc1.weight' missing; expected a Lit-LLaMA base"),
        "shape.pth": (bad_shape, r"transformer.h.1.attn.c_attn.weight has shape \(64, 64\), expected \(192, 64\)"),
        "extra.pth": (extra, "unexpected key 'transformer.h.0.attn.bias'"),
        "lora.pth": (lit_lora(), "holds LoRA weights"),
        "list.pth": ([torch.zeros(3)], "holds a list; expected a state dict"),
        "object.pth": ({"net": torch.nn.Linear(2, 2)}, "holds a pickled torch.nn.modules.linear.Linear"),
    }
    for name, (obj, expected) in cases.items():
        torch.save(obj, tmp_path / name)
        with pytest.raises(MotionGPTError, match=expected):
            convert_base(tmp_path / name, tmp_path / "out", n_head=4)
    assert not (tmp_path / "out").exists()

    torch.save(lit_base(), tmp_path / "good.pth")
    data = (tmp_path / "good.pth").read_bytes()
    (tmp_path / "truncated.pth").write_bytes(data[: len(data) // 2])
    err = one_line_cli_error(capsys, ["convert", "lit-llama", str(tmp_path / "truncated.pth"), "--out",
                                      str(tmp_path / "out"), "--n-head", "4"])
    assert "truncated.pth: not a complete torch checkpoint" in err and not (tmp_path / "out").exists()
    damaged = bytearray(data)
    start = data.index(b"good/data/5") + 200  # inside an early weight record's bytes
    damaged[start:start + 64] = bytes(64)
    (tmp_path / "damaged.pth").write_bytes(bytes(damaged))
    with pytest.raises(MotionGPTError, match="fails its checksum"):
        convert_base(tmp_path / "damaged.pth", tmp_path / "out", n_head=4)
    assert not (tmp_path / "out").exists()


# ------------------------------------------------------------------------------------------------ tokenizer


@pytest.fixture(scope="module")
def sentencepiece_model(tmp_path_factory):
    """A tiny SentencePiece BPE trained with LLaMA's settings: digits split, byte fallback, no normalisation."""
    spm = pytest.importorskip("sentencepiece")
    pytest.importorskip("google.protobuf")
    rng = random.Random(0)
    texts = []
    for caption in CAPTIONS:
        for task, instruction in ((t, t.instruction) for t in Task):
            codes = [str(rng.randrange(512)) for _ in range(10)]
            texts.append(format_prompt(instruction, format_input(caption, None if task == Task.TEXT else
                                                                 ",".join(codes[:3]))) + ",".join(codes))
    buffer = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(texts * 10), model_writer=buffer, vocab_size=420, model_type="bpe",
        split_digits=True, byte_fallback=True, normalization_rule_name="identity", remove_extra_whitespaces=False,
        add_dummy_prefix=True, allow_whitespace_only_pieces=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        character_coverage=1.0, minloglevel=2)
    path = tmp_path_factory.mktemp("sp") / "tokenizer.model"
    path.write_bytes(buffer.getvalue())
    return path


def test_tokenizer_encodes_as_the_original(tmp_path, sentencepiece_model):
    """Prompts (with <Motion Token> markers) and whole training sequences get the ids Lit-LLaMA's tokenizer gave:
    BOS + SentencePiece pieces, digits one by one, and an answer whose first digit follows `### Response:` directly
    (the original tokenised prompt and answer as one string), which is how constrained decoding spells it."""
    import sentencepiece as spm
    from transformers import AutoTokenizer

    torch.save(lit_base(vocab=448), tmp_path / "lit-llama.pth")
    convert_base(tmp_path / "lit-llama.pth", tmp_path / "hf", tokenizer=sentencepiece_model, n_head=4)
    sp = spm.SentencePieceProcessor(model_file=str(sentencepiece_model))
    tokenizer = AutoTokenizer.from_pretrained(str(tmp_path / "hf"))
    vocab = AnswerVocab.from_tokenizer(tokenizer, "text", 512, answer_follows_prompt=True)
    assert vocab.lead_ids == () and [sp.id_to_piece(i) for i in vocab.digit_ids] == list("0123456789")
    assert AnswerVocab.from_tokenizer(tokenizer, "text", 512).lead_ids == (sp.piece_to_id("▁"),)
    answer = [315, 91, 406, 7]
    for task, instruction in ((t, t.instruction) for t in Task):
        prompt = format_prompt(instruction, format_input(CAPTIONS[0], None if task == Task.TEXT else "315,91,406"))
        prompt_ids = encode_prompt(tokenizer, prompt)
        assert prompt_ids == [sp.bos_id()] + sp.encode(prompt)
        spelled = [i for n, code in enumerate(answer)
                   for i in [vocab.digit_ids[int(c)] for c in str(code)] + ([vocab.comma_id] if n < 3 else [])]
        assert [sp.bos_id()] + sp.encode(prompt + "315,91,406,7") == prompt_ids + spelled
        assert tokenizer.decode(spelled) == "315,91,406,7"
    assert (tmp_path / "hf" / "tokenizer.model").read_bytes() == sentencepiece_model.read_bytes()


# ------------------------------------------------------------------------------------------------ end to end


def original_vq(path, stats):
    """A tiny T2M-GPT-style VQ-VAE saved as the original did, and its Mean/Std in a meta/ folder's lower-case names."""
    from motiongpt.tokenizer import VQVAE, VQVAEConfig

    torch.manual_seed(0)
    sd = {f"vqvae.{k}": v for k, v in VQVAE(VQVAEConfig(codebook_size=512, code_dim=16, width=24, depth=2)).state_dict()
          .items() if not k.startswith(("quantizer.code_", "quantizer.initialised"))}
    torch.save({"net": sd}, path)
    stats.mkdir()
    np.save(stats / "mean.npy", np.zeros(263, np.float32))
    np.save(stats / "std.npy", np.full(263, 0.1, np.float32))


def test_original_release_assembles_and_generates(tmp_path, sentencepiece_model, capsys):
    from motiongpt.generation.pipeline import MotionGPT

    torch.save(lit_base(vocab=448), tmp_path / "lit-llama.pth")
    torch.save(lit_lora(), tmp_path / "pretrained.pth")
    original_vq(tmp_path / "t2m.pth", tmp_path / "meta")
    hf, adapter, model = tmp_path / "llama", tmp_path / "lora", tmp_path / "model"
    assert main(["convert", "lit-llama", str(tmp_path / "lit-llama.pth"), "--out", str(hf), "--n-head", "4",
                 "--tokenizer", str(sentencepiece_model)]) == 0
    assert main(["convert", "lit-lora", str(tmp_path / "pretrained.pth"), "--base", str(hf), "--out",
                 str(adapter)]) == 0
    assert main(["assemble", "--vq", str(tmp_path / "t2m.pth"), "--stats", str(tmp_path / "meta"), "--base", str(hf),
                 "--adapter", str(adapter), "-o", str(model)]) == 0
    for argv, expected in ((["--stats", str(tmp_path / "meta"), "--base", str(hf), "--llm", str(adapter)], "not both"),
                           (["--base", str(hf), "--adapter", str(adapter)], "t2m.pth: no Mean.npy/Std.npy .*--stats"),
                           (["--stats", str(tmp_path / "meta"), "--base", str(tmp_path)], "no config.json")):
        capsys.readouterr()
        err = one_line_cli_error(capsys, ["assemble", "--vq", str(tmp_path / "t2m.pth"), *argv, "-o",
                                          str(tmp_path / "bad")])
        assert re.search(expected, err) and not (tmp_path / "bad").exists()
    loaded = MotionGPT.from_pretrained(model)
    assert loaded.fmt == "text" and loaded.answer_vocab.lead_ids == () and loaded.codebook_size == 512
    assert main(["assemble", "--vq", str(tmp_path / "t2m.pth"), "--stats", str(tmp_path / "meta"), "--base", str(hf),
                 "-o", str(tmp_path / "base-only")]) == 0  # the base alone, without the LoRA
    assert json.loads((tmp_path / "base-only" / "llm" / "motiongpt.json").read_text())["kind"] == "full"
    assert MotionGPT.from_pretrained(tmp_path / "base-only").answer_vocab.lead_ids == ()
    capsys.readouterr()

    key = Task.KEY.instruction
    runs = {"plain": ["a person walks forward."],
            "key": ["--prompt", key, "--input", "a person walks forward.<Motion Token>315,91,406</Motion Token>"],
            "free": ["a person walks forward.", "--unconstrained"]}
    for name, args in runs.items():
        assert main(["generate", *args, "-o", str(tmp_path / name), "--model", str(model), "--formats", "npy",
                     "--seed", "0", "--max-codes", "12"]) == 0
        record = json.loads((tmp_path / name / "tokens.json").read_text())
        joints = np.load(tmp_path / name / "motion.npy")
        assert joints.shape == (4 * len(record["codes"]), 22, 3) and all(0 <= c < 512 for c in record["codes"])
        if name != "free":
            assert record["satisfies_controls"] and not record["fallback"]
    record = json.loads((tmp_path / "key" / "tokens.json").read_text())
    assert record["task"] == "key" and record["prompt"].endswith(
        "### Input:\na person walks forward.<Motion Token>315,91,406</Motion Token>\n\n### Response:")
    if not torch.cuda.is_available():
        capsys.readouterr()
        err = one_line_cli_error(capsys, ["generate", "a person walks.", "-o", str(tmp_path / "4bit"), "--model",
                                          str(model), "--load-in-4bit"])
        assert "--load-in-4bit needs a CUDA GPU and bitsandbytes" in err and not (tmp_path / "4bit").exists()
