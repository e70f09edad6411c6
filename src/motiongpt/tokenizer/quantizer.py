"""Vector quantiser with an EMA codebook and dead-code reset (the T2M-GPT `ema_reset` quantiser).

The codebook is not trained by gradients: each training step moves every code towards the mean of the encoder
outputs assigned to it (exponential moving average, `mu`), and any code whose EMA usage count falls below 1 is
replaced by a random encoder output from the batch, so no code stays dead (its running sum moves with it). The codebook is initialised from the
first training batch. Gradients reach the encoder through the straight-through estimator.

Under multi-process training the per-step statistics are summed over processes and the random replacements come
from process 0, so every process holds the same codebook after every step.
"""

from __future__ import annotations

import math

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn


def _distributed() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def perplexity(code_counts: torch.Tensor) -> torch.Tensor:
    """exp(entropy) of the code-usage distribution: 1 when one code is used, `codebook_size` when all are used evenly."""
    prob = code_counts / code_counts.sum().clamp_min(1e-12)
    return torch.exp(-(prob * torch.log(prob + 1e-7)).sum())


class EMAResetQuantizer(nn.Module):
    def __init__(self, codebook_size: int, code_dim: int, mu: float = 0.99):
        super().__init__()
        self.codebook_size, self.code_dim, self.mu = codebook_size, code_dim, mu
        self.register_buffer("codebook", torch.zeros(codebook_size, code_dim))
        self.register_buffer("code_sum", torch.zeros(codebook_size, code_dim))
        self.register_buffer("code_count", torch.zeros(codebook_size))
        self.register_buffer("initialised", torch.tensor(False))

    def quantize(self, x: torch.Tensor) -> torch.Tensor:
        """(N, code_dim) -> (N,) index of the nearest code (squared Euclidean distance)."""
        distance = (x.pow(2).sum(-1, keepdim=True) - 2 * x @ self.codebook.t()
                    + self.codebook.pow(2).sum(-1)[None, :])
        return distance.argmin(dim=-1)

    def dequantize(self, code_idx: torch.Tensor) -> torch.Tensor:
        return F.embedding(code_idx, self.codebook)

    def _random_codes(self, x: torch.Tensor) -> torch.Tensor:
        """`codebook_size` random rows of x (tiled with small noise when the batch holds fewer vectors than codes)."""
        if x.shape[0] < self.codebook_size:
            repeats = math.ceil(self.codebook_size / x.shape[0])
            x = x.repeat(repeats, 1)
            x = x + torch.randn_like(x) * (0.01 / math.sqrt(self.code_dim))
        rows = x[torch.randperm(x.shape[0], device=x.device)[: self.codebook_size]].contiguous()
        if _distributed():
            dist.broadcast(rows, src=0)
        return rows

    @torch.no_grad()
    def _init_codebook(self, x: torch.Tensor) -> None:
        codes = self._random_codes(x)
        self.codebook.copy_(codes)
        self.code_sum.copy_(codes)
        self.code_count.fill_(1.0)
        self.initialised.fill_(True)

    @torch.no_grad()
    def _update_codebook(self, x: torch.Tensor, code_idx: torch.Tensor) -> torch.Tensor:
        onehot = F.one_hot(code_idx, self.codebook_size).to(x.dtype)  # (N, codebook_size)
        batch_sum = onehot.t() @ x
        batch_count = onehot.sum(0)
        if _distributed():
            dist.all_reduce(batch_sum)
            dist.all_reduce(batch_count)
        code_rand = self._random_codes(x)
        self.code_sum.mul_(self.mu).add_(batch_sum, alpha=1 - self.mu)
        self.code_count.mul_(self.mu).add_(batch_count, alpha=1 - self.mu)
        alive = (self.code_count >= 1.0)[:, None]
        # A revived code also restarts its running sum at its new place; otherwise (as in T2M-GPT) the old sum
        # pulls it back to where it died as soon as it is used again.
        self.code_sum.copy_(torch.where(alive, self.code_sum, code_rand * self.code_count[:, None]))
        ema_codes = self.code_sum / self.code_count[:, None].clamp_min(1e-12)
        self.codebook.copy_(torch.where(alive, ema_codes, code_rand))
        return perplexity(batch_count)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """x: (B, code_dim, T) -> quantised x (same shape, straight-through), commitment loss, perplexity."""
        b, c, t = x.shape
        flat = x.permute(0, 2, 1).reshape(-1, c)
        if self.training and not bool(self.initialised):
            self._init_codebook(flat.detach())
        code_idx = self.quantize(flat.detach())
        quantised = self.dequantize(code_idx)
        if self.training:
            ppl = self._update_codebook(flat.detach(), code_idx)
        else:
            ppl = perplexity(torch.bincount(code_idx, minlength=self.codebook_size).to(x.dtype))
        commit_loss = F.mse_loss(flat, quantised.detach())
        quantised = flat + (quantised - flat).detach()
        return quantised.view(b, t, c).permute(0, 2, 1), commit_loss, ppl
