"""The plain-torch LLaMA, tokenizer and sentence encoder against the transformers models they stand in for."""

from __future__ import annotations

import json

import numpy as np
import torch

from motiongpt.generation.decoding import TopK, TopP, sampling_warpers
from motiongpt.generation.models import BUNDLED_MODEL
from motiongpt.generation.pipeline import MotionGPT
from motiongpt.llm.finetuned import encode_prompt, load_finetuned
from motiongpt.llm.lite import LiteLlama, load_lite
from motiongpt.sentences import embed_sentences, encoder_dir


def test_the_bundled_model_loads_without_transformers_and_gives_its_logits():
    lite, lite_tok, _ = load_lite(BUNDLED_MODEL / "llm", torch.device("cpu"))
    full, full_tok, _ = load_finetuned(BUNDLED_MODEL / "llm")
    assert isinstance(lite, LiteLlama)
    prompts = ["Below is an instruction. ### Input: a person walks forward. ### Response:", "someone jogs 12,7"]
    ids = [encode_prompt(lite_tok, p) for p in prompts]
    assert ids == [encode_prompt(full_tok, p) for p in prompts]
    assert len(lite_tok) == len(full_tok) and lite_tok.eos_token_id == full_tok.eos_token_id
    assert lite_tok.pad_token_id == full_tok.pad_token_id and lite_tok.bos_token_id == full_tok.bos_token_id
    width = max(map(len, ids))
    batch = torch.tensor([[full_tok.pad_token_id] * (width - len(i)) + i for i in ids])
    mask = torch.tensor([[0] * (width - len(i)) + [1] * len(i) for i in ids])
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        a = lite(batch, mask, positions).logits
        b = full(input_ids=batch, attention_mask=mask, position_ids=positions).logits
    real = mask.bool()
    assert torch.allclose(a[real], b[real], atol=1e-4, rtol=1e-4)
    assert lite_tok.decode(ids[1], skip_special_tokens=True) == full_tok.decode(ids[1], skip_special_tokens=True)


def test_lite_and_transformers_generate_the_same_codes(tmp_path):
    lite = MotionGPT.from_pretrained()
    assert isinstance(lite.llm, LiteLlama)
    full_llm, full_tok, _ = load_finetuned(BUNDLED_MODEL / "llm")
    full = MotionGPT(lite.vq, full_llm, full_tok, lite.fmt, lite.matcher, guidance=lite.guidance)
    assert lite.guidance != 1.0  # guided: each row's logits with and without its description, on both forwards
    texts = ["a person walks forward.", "someone jogs"]
    a = lite.generate(texts, seed=3, num_samples=2, key_tokens=[5, 9])
    b = full.generate(texts, seed=3, num_samples=2, key_tokens=[5, 9])
    assert [m.codes for m in a] == [m.codes for m in b]
    lite.save_pretrained(tmp_path / "copy")
    assert json.loads((tmp_path / "copy" / "llm" / "config.json").read_text())["model_type"] == "llama"
    copy = MotionGPT.from_pretrained(tmp_path / "copy")
    np.testing.assert_array_equal(copy.matcher.fidelity, lite.matcher.fidelity)  # the same LLM: its fidelity holds
    assert copy.matcher.fidelity_notes == lite.matcher.fidelity_notes and {"samples", "seed", "groups"} <= set(
        json.loads((tmp_path / "copy" / "caption_fidelity.json").read_text()))  # and how it was measured
    again = copy.generate(texts, seed=3, num_samples=2, key_tokens=[5, 9])
    assert [m.codes for m in again] == [m.codes for m in a]


def test_the_warpers_match_transformers():
    from transformers import TemperatureLogitsWarper, TopKLogitsWarper, TopPLogitsWarper

    scores = torch.randn(3, 50, generator=torch.Generator().manual_seed(0))
    scores[0, :5] = 2.0  # ties at the k-th score
    ids = torch.zeros(3, 1, dtype=torch.long)
    ours = sampling_warpers(0.7, 5, 0.9)
    theirs = [TemperatureLogitsWarper(0.7), TopKLogitsWarper(5), TopPLogitsWarper(0.9)]
    a, b = scores.clone(), scores.clone()
    for mine, reference in zip(ours, theirs):
        a, b = mine(ids, a), reference(ids, b)
        assert torch.equal(a, b)
    assert torch.equal(TopK(1000)(ids, scores), scores) and torch.equal(TopP(1.0)(ids, scores), scores)


def test_the_sentence_encoder_matches_transformers():
    from transformers import AutoModel, AutoTokenizer

    texts = ["a person walks forward.", "someone jogs", "walk " * 300, "🚶 un homme marche"]
    tokenizer, model = AutoTokenizer.from_pretrained(encoder_dir()), AutoModel.from_pretrained(encoder_dir())
    with torch.no_grad():
        batch = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        hidden = model.eval()(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    reference = torch.nn.functional.normalize((hidden * mask).sum(1) / mask.sum(1), dim=-1)
    assert np.allclose(embed_sentences(texts).numpy(), reference.numpy(), atol=1e-5)


def test_a_transformers_llama_as_lite_decodes_the_same_codes_from_the_answer_rows_alone(pipeline):
    from motiongpt.llm.lite import lite_from_hf

    lite = lite_from_hf(pipeline.llm)
    assert isinstance(lite, LiteLlama)
    fast = MotionGPT(pipeline.vq, lite, pipeline.tokenizer, pipeline.fmt)
    texts = ["a person walks forward.", "someone waves with the right hand."]
    slow = pipeline.generate(texts, seed=3, num_samples=2, key_tokens=[5, 9])
    assert [m.codes for m in fast.generate(texts, seed=3, num_samples=2, key_tokens=[5, 9])] == \
        [m.codes for m in slow]
    rows = torch.tensor(pipeline.answer_vocab.token_ids)
    assert len(rows) < len(pipeline.tokenizer) // 2  # decoding reads a small part of the head
    ids = torch.tensor([encode_prompt(pipeline.tokenizer, pipeline.prompt(texts[0]))])
    mask, positions = torch.ones_like(ids), torch.arange(ids.shape[1])[None]
    with torch.no_grad():
        full = pipeline.llm(input_ids=ids, attention_mask=mask, position_ids=positions).logits[:, -1]
        restricted = lite(ids, mask, positions, rows=rows).logits[:, -1]
        assert torch.allclose(restricted, full[:, rows], atol=1e-5)
        quantized = lite_from_hf(pipeline.llm).quantize_int8()
        assert any("quantized" in type(m).__module__ for m in quantized.modules())
        approx = quantized(ids, mask, positions, rows=rows).logits[:, -1]
    assert torch.corrcoef(torch.stack([approx[0], full[0, rows]]))[0, 1] > 0.99
    made = MotionGPT(pipeline.vq, quantized, pipeline.tokenizer, pipeline.fmt).generate(texts, seed=3,
                                                                                       key_tokens=[5, 9])
    assert all(not m.fallback and m.satisfies_controls for m in made)


def test_grouped_query_attention_and_the_growing_cache_match_transformers():
    from transformers import LlamaConfig, LlamaForCausalLM

    from motiongpt.llm.lite import lite_from_hf

    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=50, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                         tie_word_embeddings=True)
    hf = LlamaForCausalLM(config).eval()
    lite = lite_from_hf(hf)
    ids = torch.randint(0, 50, (3, 90))  # past the cache's first 64 positions, so it grows once
    mask = torch.ones_like(ids)
    mask[0, :7] = 0  # a left-padded row
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    with torch.no_grad():
        full = hf(input_ids=ids, attention_mask=mask, position_ids=positions).logits
        cache = lite.new_cache()
        steps = [lite(ids[:, :40], mask[:, :40], positions[:, :40], cache, use_cache=True).logits[:, -1]]
        for t in range(40, 90):
            steps.append(lite(ids[:, t:t + 1], mask[:, :t + 1], positions[:, t:t + 1], cache,
                              use_cache=True).logits[:, -1])
    assert torch.allclose(torch.stack(steps[1:], 1), full[:, 40:], atol=1e-4)
    assert torch.allclose(steps[0], full[:, 39], atol=1e-4)
