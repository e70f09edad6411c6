"""Train the motion VQ-VAE on random fixed-length windows (T2M-GPT recipe), resumably and optionally with DDP.

Runs on the shared harness (`motiongpt.training`): rerunning the same command continues from `<out>/checkpoint/`
and ends bit-identical to an uninterrupted run; the windows of step s on process r are drawn from a generator
seeded by (seed, s, r), so data order needs no saved state at all.

Outputs in `<out>`: `last/` and `best/` (model dirs for `VQVAE.from_pretrained`; best = lowest validation
reconstruction loss, written when it is reached; last at the end), `checkpoint/` (training state) and `log.jsonl`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from motiongpt.data.bandai import balanced_shares, motion_group
from motiongpt.data.dataset import WindowDataset
from motiongpt.data.layout import load_mean_std, split_ids
from motiongpt.errors import MotionGPTError
from motiongpt.tokenizer.config import preset_config
from motiongpt.tokenizer.model import VQVAE, vqvae_loss
from motiongpt.tokenizer.reconstruction import reconstruction_metrics
from motiongpt import training
from motiongpt.training import Stage, TrainingConfig, TrainResult, option

# Training schedules per preset; `paper` is MotionGPT's (= T2M-GPT's README command).
RECIPES: dict[str, dict] = {
    "paper": dict(batch_size=256, steps=300_000, warmup=1000, milestones=[200_000], val_every=1000),
    "cpu": dict(batch_size=64, steps=15_000, warmup=500, milestones=[10_000], val_every=1000),
    "tiny": dict(batch_size=8, steps=40, warmup=4, milestones=[30], val_every=20),
}
PRESET = "the preset's"


@dataclass(kw_only=True)
class TrainConfig(TrainingConfig):
    data: str = option(help="dataset folder in HumanML3D layout")
    out: str = option("", "output folder (last/, best/, checkpoint/, log.jsonl)", required=True)
    preset: str = option("cpu", "model size and schedule: paper = MotionGPT/T2M-GPT, cpu = ~90 min on 2 CPU cores",
                         choices=sorted(RECIPES))
    batch_size: int = option(64, "windows per step and process", shown=PRESET)
    steps: int = option(15_000, "optimiser steps in total", shown=PRESET)
    lr: float = option(2e-4, "peak learning rate")
    weight_decay: float = option(0.0, "AdamW weight decay")
    warmup: int = option(500, "linear warm-up steps", shown=PRESET)
    milestones: list[int] = option([10_000], "steps at which lr is multiplied by --gamma",
                                   shown="the preset's, or 2/3 of --steps")
    gamma: float = option(0.05, "lr factor at each milestone")
    commit: float = option(0.02, "commitment loss weight")
    vel: float = option(0.5, "velocity loss weight")
    window: int = option(64, "frames per training window")
    val_every: int = option(1000, "validate every N optimiser steps (and at the last)", shown=PRESET)
    val_motions: int | None = option(None, "validate on the first N val motions only", shown="all")
    max_grad_norm: float = option(0.0, "clip the gradient norm to this; 0 turns clipping off")
    balance: float = option(0.0, "draw the windows' motions balanced by Bandai content and style: 0 = as the "
                                 "clips come, 1 = equal shares (motiongpt.data.bandai.balanced_shares)")
    init: str = option("", "start from the weights, codebook and Mean/Std of this VQ-VAE model dir (finetune it "
                           "rather than train from scratch)")

    resumable = TrainingConfig.resumable | {"val_motions"}

    @classmethod
    def for_preset(cls, data: str, out: str, preset: str = "cpu", **overrides) -> "TrainConfig":
        if preset not in RECIPES:
            raise MotionGPTError(f"unknown VQ-VAE preset {preset!r}; expected one of {sorted(RECIPES)}")
        settings = {**RECIPES[preset], **{k: v for k, v in overrides.items() if v is not None}}
        if overrides.get("steps") is not None and overrides.get("milestones") is None:
            settings["milestones"] = [round(settings["steps"] * 2 / 3)]
        return cls(data=str(data), out=str(out), preset=preset, **settings)


class WindowSampler:
    """Batches of random windows that are a pure function of (step, process): motions drawn without replacement,
    each cropped at an offset drawn by `WindowDataset` for that (step, process)."""

    def __init__(self, root: str | Path, mean: np.ndarray, std: np.ndarray, window: int, seed: int,
                 num_processes: int = 1, balance: float = 0.0):
        self.dataset = WindowDataset(root, "train", window, mean, std, seed)
        self.seed, self.num_processes = seed, num_processes
        self.shares = (balanced_shares([motion_group(i) for i in self.dataset.ids], balance) if balance
                       else None)
        width = self.dataset.motions[0].shape[1]
        if width != len(mean) or any(m.shape[1] != width for m in self.dataset.motions):
            widths = sorted({m.shape[1] for m in self.dataset.motions})
            raise MotionGPTError(f"{root}/new_joint_vecs: feature widths {widths}, expected {len(mean)} "
                                 "(the width of Mean.npy)")

    def batch(self, step: int, rank: int, batch_size: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, step, rank])
        n = len(self.dataset)
        if self.shares is None:
            picks = rng.choice(n, size=batch_size, replace=batch_size > n)
        else:  # rare groups repeat within a batch, so draw with replacement
            picks = rng.choice(n, size=batch_size, p=self.shares)
        self.dataset.set_epoch(step * self.num_processes + rank)
        return torch.stack([self.dataset[int(i)] for i in picks]).float()


def lr_factor(step: int, warmup: int, milestones: list[int], gamma: float) -> float:
    """Linear warm-up over `warmup` steps, then multiply by `gamma` at each milestone (MultiStepLR)."""
    ramp = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    return ramp * gamma ** sum(step >= m for m in milestones)


class VQStage(Stage):
    """The VQ-VAE's parts of the harness: AdamW with warm-up and milestones, windows of (seed, step, process)."""

    name = "vq train"
    best_key = "recon_loss"

    def __init__(self, cfg: TrainConfig, accelerator):
        self.cfg, self.accelerator, self.data = cfg, accelerator, Path(cfg.data)
        if cfg.init:
            self.model = VQVAE.from_pretrained(cfg.init)
            if not self.model.has_statistics:  # a dir saved without Mean/Std: the data's
                self.model.set_normalisation(*load_mean_std(self.data))
            mean, std = self.model.mean.numpy(), self.model.std.numpy()
        else:
            mean, std = load_mean_std(self.data)
            self.model = VQVAE(preset_config(cfg.preset, input_dim=len(mean)), mean, std)
        self.model.to(accelerator.device)
        self.sampler = WindowSampler(self.data, mean, std, cfg.window, cfg.seed, accelerator.num_processes,
                                     cfg.balance)
        split_ids(self.data, "val")  # fail now, not at the first validation
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=cfg.lr, betas=(0.9, 0.99),
                                           weight_decay=cfg.weight_decay)
        self.scheduler = torch.optim.lr_scheduler.LambdaLR(
            self.optimizer, lambda s: lr_factor(s, cfg.warmup, cfg.milestones, cfg.gamma))
        self.ddp_model = accelerator.prepare_model(self.model)
        self.total_steps = cfg.steps

    def train_step(self, step: int) -> dict[str, float]:
        x = self.sampler.batch(step, self.accelerator.process_index, self.cfg.batch_size).to(self.accelerator.device)
        recon, commit_loss, ppl = self.ddp_model(x)
        losses = vqvae_loss(recon, x, commit_loss, ppl, self.model.config.num_joints, self.cfg.commit, self.cfg.vel)
        self.accelerator.backward(losses["loss"])
        return {"loss": losses["loss"].item(), "recon": losses["recon"].item(),
                "perplexity": losses["perplexity"].item()}

    def validate(self) -> dict[str, float] | None:
        """Reconstruction of the val motions, on the main process only."""
        metrics = None
        if self.accelerator.is_main_process:
            metrics = reconstruction_metrics(self.model, self.data, "val", self.cfg.val_motions)
            self.model.train()
        self.accelerator.wait_for_everyone()
        return metrics

    def save_best(self) -> None:
        self.model.save_pretrained(Path(self.cfg.out) / "best")

    def finished(self) -> bool:
        return (Path(self.cfg.out) / "last").is_dir()

    def save_final(self, result: TrainResult) -> None:
        self.model.save_pretrained(Path(self.cfg.out) / "last")


def train(cfg: TrainConfig) -> TrainResult:
    """Train (or resume) to `cfg.steps`; with `cfg.stop_after`, checkpoint and return after that many steps."""
    accelerator = training.start(cfg)
    return training.train(cfg, VQStage(cfg, accelerator), accelerator)
