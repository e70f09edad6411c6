"""CPU training tactics for a pretrained base (SmolLM2-135M: 30 layers, a 49,152-row head), each measured in
tokens/s by `benchmarks/bench_cpu_tactics.py`:

- answer-only logits: the LM head runs only where the loss is (answer positions), not on the prompt;
- length-grouped batches: sequences of similar length share a batch, so little compute goes to padding;
- upper-layer LoRA: adapters only on the top layers and the input embeddings detached, so backward stops there;
- the compact prompt (`prompts.COMPACT`) beside the exact Alpaca template.

Each function is a drop-in for one step of the plain loop (`model(...).logits` then `token_losses`), with the
same loss on the same tokens.
"""

from __future__ import annotations

import random

import torch
import torch.nn.functional as F

IGNORE = -100


def _parts(model: torch.nn.Module) -> tuple[torch.nn.Module, torch.nn.Module, torch.nn.Module]:
    """(decoder body, input embeddings, LM head) of a causal LM, under a PEFT wrapper or not."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    return base.get_decoder(), model.get_input_embeddings(), model.get_output_embeddings()


def answer_losses(model: torch.nn.Module, input_ids: torch.Tensor, attention_mask: torch.Tensor,
                  labels: torch.Tensor, detach_inputs: bool = False) -> tuple[torch.Tensor, torch.Tensor,
                                                                                torch.Tensor]:
    """(summed next-token CE, labelled tokens, predicted right) with the head applied only at labelled positions.

    Equal to `token_losses(model(...).logits, labels)`; the 49k-way head costs 2 x hidden x vocab flops per
    position, about as much as 6 of SmolLM2's 30 layers, so skipping it on the prompt matters. `detach_inputs`
    cuts the graph below the first adapted layer: with LoRA on the upper layers only, backward then stops there
    (added code rows still learn through the head, which shares their weights when embeddings are tied).
    """
    body, embed, head = _parts(model)
    inputs = embed(input_ids)
    if detach_inputs:
        inputs = inputs.detach()
    hidden = body(inputs_embeds=inputs, attention_mask=attention_mask).last_hidden_state
    targets = labels[:, 1:]
    keep = targets != IGNORE
    logits = head(hidden[:, :-1][keep]).float()
    wanted = targets[keep]
    loss = F.cross_entropy(logits, wanted, reduction="sum")
    return loss, keep.sum(), (logits.argmax(-1) == wanted).sum()


def length_grouped_batches(lengths: list[int], batch_size: int, seed: int, window: int = 64) -> list[list[int]]:
    """One epoch of batches (indices into `lengths`) in which sequences of similar length go together.

    The epoch is shuffled, cut into windows of `window` batches, each window sorted by length and cut into
    batches, and the batches shuffled again: every sample once per epoch, order random at the batch level.
    """
    rng = random.Random(seed)
    order = list(range(len(lengths)))
    rng.shuffle(order)
    span = batch_size * window
    batches = []
    for start in range(0, len(order), span):
        chunk = sorted(order[start:start + span], key=lambda i: lengths[i])
        batches += [chunk[i:i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def padding_share(lengths: list[int], batches: list[list[int]]) -> float:
    """The share of a padded batch's positions that are padding, over all `batches`."""
    real = sum(lengths[i] for batch in batches for i in batch)
    padded = sum(len(batch) * max(lengths[i] for i in batch) for batch in batches)
    return 1.0 - real / max(padded, 1)


def upper_layers(model: torch.nn.Module, count: int) -> list[int]:
    """Indices of the top `count` decoder layers (for LoRA's `layers_to_transform`)."""
    total = model.config.num_hidden_layers
    return list(range(max(0, total - count), total))
