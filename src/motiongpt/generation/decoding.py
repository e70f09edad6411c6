"""Batched sampling from a causal LM with a KV cache, one random stream per row.

Prompts are left-padded with an attention mask and explicit position ids, so a row sees exactly what it would see
alone. Each row samples with its own `torch.Generator` (exponential race: argmax of p / Exp(1) noise, which draws
a token with probability p), so its tokens depend only on its seed and its logits: the same seed gives the same
answer whether the row runs alone or in a batch, with or without the cache. Rows leave the batch (and the cache)
as soon as they emit a stop token.

Classifier-free guidance (`guidance` g != 1 with `unconditional` prompts): each row also runs its prompt without
the description, and samples from the logits u + g (c - u) of the two (c: with it, u: without; Ho & Salimans'
rule as MoMask and T2M-GPT's successors apply it to motion tokens). Both copies of a row take the same token.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch

from motiongpt.generation.constraints import CodeConstraint
from motiongpt.limits import NO_GUIDANCE

# A logits processor: (input ids (B, T), scores (B, V)) -> scores, as transformers' LogitsProcessor is called.
Processor = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass
class Decoded:
    tokens: list[list[int]]  # generated ids per row, stop token included when one was emitted
    forward_passes: int


class Temperature:
    """Scores divided by the temperature (transformers' TemperatureLogitsWarper)."""

    def __init__(self, temperature: float):
        self.temperature = float(temperature)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        return scores / self.temperature


class TopK:
    """Only the `k` highest scores stay (transformers' TopKLogitsWarper, ties at the k-th kept)."""

    def __init__(self, k: int):
        self.k = max(int(k), 1)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        k = min(self.k, scores.size(-1))
        return scores.masked_fill(scores < torch.topk(scores, k)[0][..., -1, None], float("-inf"))


class TopP:
    """The smallest set of likeliest tokens whose probability reaches `p` (transformers' TopPLogitsWarper)."""

    def __init__(self, p: float):
        self.p = float(p)

    def __call__(self, input_ids: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        ordered, order = torch.sort(scores, descending=False)
        remove = ordered.softmax(dim=-1).cumsum(dim=-1) <= (1 - self.p)
        remove[..., -1:] = False
        return scores.masked_fill(remove.scatter(1, order, remove), float("-inf"))


def sampling_warpers(temperature: float, top_k: int | None, top_p: float | None) -> list[Processor]:
    """Temperature, then top-k, then top-p (the original: temperature 0.8 and top-k 200, no top-p)."""
    warpers: list[Processor] = [Temperature(temperature)]
    if top_k:
        warpers.append(TopK(top_k))
    if top_p is not None and top_p < 1.0:
        warpers.append(TopP(top_p))
    return warpers


def _new_cache(model: torch.nn.Module):
    """The model's own KV cache (LiteLlama), or transformers' DynamicCache."""
    if hasattr(model, "new_cache"):
        return model.new_cache()
    from transformers import DynamicCache

    return DynamicCache(config=model.config)


def _cache_keyword(model: torch.nn.Module) -> str:
    """The name a model's forward takes its cache by (transformers renamed `past_key_values` to `cache`)."""
    parameters = inspect.signature(model.forward).parameters
    return "cache" if "cache" in parameters and not hasattr(model, "new_cache") else "past_key_values"


def _left_pad(prompts: Sequence[Sequence[int]], pad_id: int, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(prompts), width), dtype=torch.long)
    for i, p in enumerate(prompts):
        ids[i, width - len(p):] = torch.tensor(p, dtype=torch.long)
        mask[i, width - len(p):] = 1
    return ids.to(device), mask.to(device)


@torch.no_grad()
def sample(model: torch.nn.Module, prompts: Sequence[Sequence[int]], seeds: Sequence[int], *,
           processors: Sequence[Processor], stop_ids: frozenset[int], pad_id: int, max_new_tokens: int,
           use_cache: bool = True, rows: Sequence[int] | None = None,
           unconditional: Sequence[Sequence[int]] | None = None, guidance: float = NO_GUIDANCE,
           finished: Callable[[int, list[int]], None] | None = None) -> Decoded:
    """Sample up to `max_new_tokens` tokens after each prompt; `processors` run in order on the logits (a
    `CodeConstraint` among them follows the rows as finished ones leave the batch). `rows`: the only tokens the
    processors can let through; a model that can (LiteLlama) computes just those logits, the rest are -inf.
    `unconditional` (one prompt per row) with `guidance` != 1: classifier-free guidance (module docstring).
    `finished(row, tokens)` is called as each row is done, so its motion can be made while the others decode."""
    device = next(model.parameters()).device
    head = {}
    if rows is not None and hasattr(model, "new_cache"):
        head = {"rows": torch.tensor(sorted(rows), dtype=torch.long, device=device)}
        vocab_size = model.config.vocab_size
    guided = unconditional is not None and guidance != NO_GUIDANCE
    if guided and len(unconditional) != len(prompts):
        raise ValueError(f"{len(unconditional)} unconditional prompts for {len(prompts)} prompts")
    ids, mask = _left_pad(list(prompts) + (list(unconditional) if guided else []), pad_id, device)
    positions = (mask.cumsum(-1) - 1).clamp(min=0)
    generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
    active = list(range(len(prompts)))
    out: list[list[int]] = [[] for _ in prompts]
    cache = _new_cache(model) if use_cache else None
    keyword = _cache_keyword(model)
    passes = 0
    for step in range(max_new_tokens):
        if use_cache:
            fresh = slice(None) if step == 0 else slice(-1, None)
            logits = model(input_ids=ids[:, fresh], attention_mask=mask, position_ids=positions[:, fresh],
                           use_cache=True, **{keyword: cache}, **head).logits[:, -1]
        else:
            logits = model(input_ids=ids, attention_mask=mask, position_ids=positions, use_cache=False,
                           **head).logits[:, -1]
        passes += 1
        scores = logits.float()
        if guided:  # raw logits: each half's log-softmax shift is one constant per row, which sampling ignores
            conditioned, plain = scores.chunk(2)
            scores = plain + guidance * (conditioned - plain)
        if head:
            scores = torch.full((len(active), vocab_size), float("-inf"), device=device).index_copy_(
                1, head["rows"], scores)
        for processor in processors:
            scores = processor(ids[:len(active)], scores)
        probs = torch.softmax(scores, dim=-1)
        noise = torch.stack([torch.empty(probs.shape[-1], device=device).exponential_(generator=g)
                             for g in generators])
        chosen = (probs / noise).argmax(-1)
        ids = torch.cat([ids, chosen.repeat(2 if guided else 1)[:, None]], dim=1)
        mask = torch.cat([mask, torch.ones_like(mask[:, :1])], dim=1)
        positions = torch.cat([positions, positions[:, -1:] + 1], dim=1)
        keep = []
        for i, (row, token) in enumerate(zip(active, chosen.tolist())):
            out[row].append(token)
            if token not in stop_ids:
                keep.append(i)
            elif finished is not None:
                finished(row, out[row])
        if not keep:
            active = []
            break
        if len(keep) < len(active):
            index = torch.tensor(keep + ([len(active) + i for i in keep] if guided else []), device=device)
            ids, mask, positions = ids[index], mask[index], positions[index]
            if cache is not None:
                cache.batch_select_indices(index)
            generators = [generators[i] for i in keep]
            active = [active[i] for i in keep]
            for p in processors:
                if isinstance(p, CodeConstraint):
                    p.select(keep)
    if finished is not None:
        for row in active:  # stopped by max_new_tokens
            finished(row, out[row])
    return Decoded(out, passes)
