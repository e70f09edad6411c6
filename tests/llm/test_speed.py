"""The CPU training tactics compute the same loss and adapter gradients as the plain loop, with less work."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from motiongpt.llm.base import add_code_tokens, build_base
from motiongpt.llm.finetune import collate, encode_records, token_losses
from motiongpt.llm.instructions import load_instructions
from motiongpt.llm.speed import answer_losses, length_grouped_batches, padding_share, upper_layers


def lora_model(instructions_dir, codebook: int, layers: list[int] | None = None):
    from peft import LoraConfig, get_peft_model

    train, _, _ = load_instructions(instructions_dir)
    model, tokenizer = build_base("tiny", [r["input"] + r["output"] for r in train], seed=0)
    model.config.tie_word_embeddings = True  # as SmolLM2: the head shares the embedding rows
    model.tie_weights()
    new_ids = add_code_tokens(model, tokenizer, codebook)
    config = LoraConfig(r=4, lora_alpha=16, lora_dropout=0.0, target_modules=["q_proj", "v_proj"],
                        layers_to_transform=layers, trainable_token_indices={"embed_tokens": new_ids})
    torch.manual_seed(0)
    model = get_peft_model(model, config)
    for name, p in model.named_parameters():  # LoRA B starts at zero: give the adapters a real effect
        if "lora_B" in name:
            torch.nn.init.normal_(p, std=0.1)
    examples, _ = encode_records(train[:6], tokenizer, "vocab", 512)
    return model, collate(examples, tokenizer.pad_token_id, False)


def grads(model) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad and "lora" in n}


def test_answer_only_logits_give_the_plain_loss_and_gradients(instructions_dir, codebook):
    model, batch = lora_model(instructions_dir, codebook)
    plain = token_losses(model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"]).logits,
                         batch["labels"])
    plain[0].backward()
    expected = grads(model)
    model.zero_grad()
    fast = answer_losses(model, batch["input_ids"], batch["attention_mask"], batch["labels"])
    fast[0].backward()
    torch.testing.assert_close(fast[0], plain[0], rtol=1e-5, atol=1e-4)
    assert fast[1] == plain[1] and fast[2] == plain[2]
    for name, grad in grads(model).items():
        torch.testing.assert_close(grad, expected[name], rtol=1e-4, atol=1e-6)


def test_upper_layer_lora_with_detached_inputs_stops_backward_there(instructions_dir, codebook):
    model, batch = lora_model(instructions_dir, codebook, layers=[1])
    assert upper_layers(model, 1) == [1]
    reached = []
    layers = model.get_base_model().model.layers
    layers[0].register_full_backward_hook(lambda *args: reached.append(0))
    answer_losses(model, batch["input_ids"], batch["attention_mask"], batch["labels"], detach_inputs=True)[0].backward()
    assert not reached and all(g.abs().sum() > 0 for g in grads(model).values())
    answer_losses(model, batch["input_ids"], batch["attention_mask"], batch["labels"])[0].backward()
    assert reached  # without detaching, the code rows' input side pulls backward down to layer 0


def test_length_grouped_batches_cover_the_epoch_with_less_padding():
    lengths = np.random.default_rng(0).integers(20, 140, size=1000).tolist()
    batches = length_grouped_batches(lengths, 16, seed=0)
    assert sorted(i for b in batches for i in b) == list(range(1000))
    assert length_grouped_batches(lengths, 16, seed=0) == batches != length_grouped_batches(lengths, 16, seed=1)
    plain = [list(range(i, min(i + 16, 1000))) for i in range(0, 1000, 16)]
    assert padding_share(lengths, batches) < 0.05 < 0.3 < padding_share(lengths, plain)


def tactics(instructions_dir, out, **kw):
    from motiongpt.llm.finetune import FinetuneConfig

    settings = dict(instructions=str(instructions_dir), base="tiny", out=str(out), format="vocab", steps=16,
                    grad_accum=1, micro_batch=4, warmup=2, val_every=8, val_batches=4, lr=3e-3, quiet=True,
                    answer_logits=True, length_groups=True, lora_layers=1, prompt="compact")
    settings.update(kw)
    return FinetuneConfig(**settings)


def test_finetune_with_every_tactic_learns_resumes_exactly_and_records_the_prompt(instructions_dir, tmp_path):
    import json

    from safetensors.torch import load_file

    from motiongpt.llm.finetune import finetune

    straight = finetune(tactics(instructions_dir, tmp_path / "a"))
    logs = [json.loads(line) for line in (straight.out / "log.jsonl").read_text().splitlines()]
    val = [log["val_loss"] for log in logs if "val_loss" in log]
    assert val[-1] < val[0] - 0.1
    meta = json.loads((straight.out / "motiongpt.json").read_text())
    assert meta["prompt"] == "compact" and meta["config"]["lora_layers"] == 1
    finetune(tactics(instructions_dir, tmp_path / "b", stop_after=5))
    resumed = finetune(tactics(instructions_dir, tmp_path / "b"))
    a, b = (load_file(str(r.out / "adapter_model.safetensors")) for r in (straight, resumed))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not any(".layers.0." in k for k in a)  # LoRA on the top layer only


def test_a_bad_layer_count_is_one_line(instructions_dir, tmp_path):
    from motiongpt.errors import MotionGPTError
    from motiongpt.llm.finetune import finetune

    with pytest.raises(MotionGPTError, match="--lora-layers 0"):
        finetune(tactics(instructions_dir, tmp_path / "a", lora_layers=0))
