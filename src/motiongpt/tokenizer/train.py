"""Train the motion VQ-VAE on random fixed-length windows (T2M-GPT recipe), resumably and optionally with DDP.

Rerunning the same command continues from `<out>/checkpoint.pt` and ends bit-identical to an uninterrupted run:
the checkpoint holds weights, EMA codebook state, optimiser, scheduler and RNG states, and the windows of step s
on process r are drawn from a generator seeded by (seed, s, r), so data order needs no saved state at all.

Outputs in `<out>`: `last/` and `best/` (model dirs for `VQVAE.from_pretrained`; best = lowest validation
reconstruction loss), `checkpoint.pt` (training state), `log.jsonl` (one line per validation), `train_config.json`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from motiongpt.data.dataset import WindowDataset
from motiongpt.data.layout import load_mean_std, split_ids
from motiongpt.errors import MotionGPTError
from motiongpt.io import (StopRequest, check_resume, rng_state, save_torch, seed_everything, set_rng_state,
                          write_json, write_text)
from motiongpt.tokenizer.reconstruction import reconstruction_metrics
from motiongpt.tokenizer.config import preset_config
from motiongpt.tokenizer.model import VQVAE, vqvae_loss

# Training schedules per preset; `paper` is MotionGPT's (= T2M-GPT's README command).
RECIPES: dict[str, dict] = {
    "paper": dict(batch_size=256, steps=300_000, warmup=1000, milestones=[200_000], val_every=1000),
    "cpu": dict(batch_size=64, steps=15_000, warmup=500, milestones=[10_000], val_every=1000),
    "tiny": dict(batch_size=8, steps=40, warmup=4, milestones=[30], val_every=20),
}
CHECKPOINT = "checkpoint.pt"
# Settings that may change between an interrupted run and its resumption without changing the result.
RESUMABLE_CHANGES = {"val_every", "save_every", "val_motions"}


@dataclass
class TrainConfig:
    data: str
    out: str
    preset: str = "cpu"
    batch_size: int = 64
    steps: int = 15_000
    lr: float = 2e-4
    weight_decay: float = 0.0
    warmup: int = 500
    milestones: list[int] = field(default_factory=lambda: [10_000])
    gamma: float = 0.05
    commit: float = 0.02
    vel: float = 0.5
    window: int = 64
    seed: int = 1234
    val_every: int = 1000
    save_every: int = 1000
    val_motions: int | None = None

    @classmethod
    def for_preset(cls, data: str, out: str, preset: str, **overrides) -> "TrainConfig":
        if preset not in RECIPES:
            raise MotionGPTError(f"unknown VQ-VAE preset {preset!r}; expected one of {sorted(RECIPES)}")
        settings = {**RECIPES[preset], **{k: v for k, v in overrides.items() if v is not None}}
        if overrides.get("steps") is not None and overrides.get("milestones") is None:
            settings["milestones"] = [round(settings["steps"] * 2 / 3)]
        settings.setdefault("save_every", settings["val_every"])
        return cls(data=str(data), out=str(out), preset=preset, **settings)


class WindowSampler:
    """Batches of random windows that are a pure function of (step, process): motions drawn without replacement,
    each cropped at an offset drawn by `WindowDataset` for that (step, process)."""

    def __init__(self, root: str | Path, mean: np.ndarray, std: np.ndarray, window: int, seed: int,
                 num_processes: int = 1):
        self.dataset = WindowDataset(root, "train", window, mean, std, seed)
        self.seed, self.num_processes = seed, num_processes
        width = self.dataset.motions[0].shape[1]
        if width != len(mean) or any(m.shape[1] != width for m in self.dataset.motions):
            widths = sorted({m.shape[1] for m in self.dataset.motions})
            raise MotionGPTError(f"{root}/new_joint_vecs: feature widths {widths}, expected {len(mean)} "
                                 "(the width of Mean.npy)")

    def batch(self, step: int, rank: int, batch_size: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, step, rank])
        n = len(self.dataset)
        picks = rng.choice(n, size=batch_size, replace=batch_size > n)
        self.dataset.set_epoch(step * self.num_processes + rank)
        return torch.stack([self.dataset[int(i)] for i in picks]).float()


def lr_factor(step: int, warmup: int, milestones: list[int], gamma: float) -> float:
    """Linear warm-up over `warmup` steps, then multiply by `gamma` at each milestone (MultiStepLR)."""
    ramp = min(1.0, (step + 1) / warmup) if warmup > 0 else 1.0
    return ramp * gamma ** sum(step >= m for m in milestones)


def train(cfg: TrainConfig, stop_after: int | None = None, progress: bool = True) -> Path:
    """Train (or resume) to `cfg.steps`; with `stop_after`, checkpoint and return after that many steps of this run."""
    from accelerate import Accelerator

    # cpu=True on CPU-only machines makes a multi-process launch use DDP over gloo (MULTI_CPU)
    accelerator = Accelerator(cpu=not torch.cuda.is_available())
    out = Path(cfg.out)
    data = Path(cfg.data)
    mean, std = load_mean_std(data)
    sampler = WindowSampler(data, mean, std, cfg.window, cfg.seed, accelerator.num_processes)
    split_ids(data, "val")  # fail now, not at the first validation

    seed_everything(cfg.seed)
    model = VQVAE(preset_config(cfg.preset, input_dim=len(mean)), mean, std)
    optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, betas=(0.9, 0.99), weight_decay=cfg.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: lr_factor(s, cfg.warmup, cfg.milestones, cfg.gamma))
    step, best = 0, float("inf")
    if (out / CHECKPOINT).is_file():
        ckpt = torch.load(out / CHECKPOINT, map_location="cpu", weights_only=False)
        # the process count sets the data order; checkpoints without it were single-process
        check_resume({"num_processes": 1, **ckpt["train_config"], **ckpt.get("run", {})},
                     {**asdict(cfg), "num_processes": accelerator.num_processes}, out / CHECKPOINT,
                     ignore=RESUMABLE_CHANGES | {"out"})
        model.load_state_dict(ckpt["model"])
        optimizer.load_state_dict(ckpt["optimizer"])
        scheduler.load_state_dict(ckpt["scheduler"])
        set_rng_state(ckpt["rng"])
        step, best = ckpt["step"], ckpt["best"]
    model.to(accelerator.device)
    model.train()
    ddp_model = accelerator.prepare_model(model)
    main = accelerator.is_main_process
    if main:
        write_json(out / "train_config.json", asdict(cfg))

    def save(with_best: dict | None = None) -> None:
        if not main:
            return
        model.save_pretrained(out / "last")
        if with_best is not None:
            model.save_pretrained(out / "best")
        save_torch(out / CHECKPOINT, {"step": step, "best": best, "train_config": asdict(cfg),
                                      "run": {"num_processes": accelerator.num_processes},
                                      "model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                      "scheduler": scheduler.state_dict(), "rng": rng_state()})

    log_path = out / "log.jsonl"
    log = [ln for ln in (log_path.read_text().splitlines() if log_path.is_file() else [])
           if json.loads(ln)["step"] <= step]
    start = step
    bar = tqdm(total=cfg.steps, initial=step, disable=not (main and progress), desc="vq train", dynamic_ncols=True)
    single = accelerator.num_processes == 1
    with StopRequest(enabled=single) as stop:
        while step < cfg.steps:
            x = sampler.batch(step, accelerator.process_index, cfg.batch_size).to(accelerator.device)
            recon, commit_loss, ppl = ddp_model(x)
            losses = vqvae_loss(recon, x, commit_loss, ppl, model.config.num_joints, cfg.commit, cfg.vel)
            optimizer.zero_grad(set_to_none=True)
            accelerator.backward(losses["loss"])
            optimizer.step()
            scheduler.step()
            step += 1
            bar.update(1)
            bar.set_postfix(loss=f"{losses['loss'].item():.4f}", recon=f"{losses['recon'].item():.4f}",
                            ppl=f"{losses['perplexity'].item():.0f}", lr=f"{scheduler.get_last_lr()[0]:.1e}")
            new_best = None
            if step % cfg.val_every == 0 or step == cfg.steps:
                if main:
                    metrics = reconstruction_metrics(model, data, "val", cfg.val_motions)
                    model.train()
                    log.append(json.dumps({"step": step, "train_loss": losses["loss"].item(), **metrics}))
                    write_text(log_path, "\n".join(log) + "\n")
                    bar.write(f"step {step}: val recon {metrics['recon_loss']:.4f}  "
                              f"MPJPE {metrics['mpjpe_mm']:.1f} mm  usage {metrics['codebook_usage']:.2f}  "
                              f"perplexity {metrics['perplexity']:.0f}")
                    if metrics["recon_loss"] < best:
                        best, new_best = metrics["recon_loss"], metrics
                accelerator.wait_for_everyone()
            done = step == cfg.steps or (stop_after is not None and step - start >= stop_after)
            if done or stop.requested or step % cfg.save_every == 0 or new_best is not None:
                save(new_best)
                accelerator.wait_for_everyone()
            if stop.requested:
                bar.close()
                raise KeyboardInterrupt
            if done:
                break
    bar.close()
    if not single:
        _check_processes_agree(model, accelerator, out)
        torch.distributed.destroy_process_group()  # gloo's threads must stop before the interpreter exits
    return out


def weights_digest(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for name, tensor in model.state_dict().items():
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _check_processes_agree(model: torch.nn.Module, accelerator, out: Path) -> None:
    """Every process must end with the same weights and codebook; written to `<out>/processes.json`."""
    import torch.distributed as dist

    digests: list = [None] * accelerator.num_processes
    dist.all_gather_object(digests, weights_digest(model))
    if accelerator.is_main_process:
        write_json(out / "processes.json", {"num_processes": accelerator.num_processes, "weights_sha256": digests})
    if len(set(digests)) != 1:
        raise MotionGPTError(f"training processes ended with different weights ({digests}); multi-process run is "
                             "not consistent")
