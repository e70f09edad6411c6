"""Reconstruction quality of a VQ-VAE on a dataset split: joint error in mm, feature error, codebook use.

Each motion is cropped to a multiple of 4 frames, encoded to codes and decoded back; joints come from the
features with `features_to_joints`, so MPJPE measures what a user sees. Means are weighted by frames.

These are the tokenizer's own figures (its validation during training); the evaluator-based ones (FID,
R-Precision of reconstructions) live in `motiongpt.eval.tokenizer`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from motiongpt.data.layout import load_features, split_ids
from motiongpt.errors import MotionGPTError
from motiongpt.motion.skeleton import spec_for_dim
from motiongpt.tokenizer.model import VQVAE
from motiongpt.tokenizer.quantizer import perplexity

def crop_to_codes(features: np.ndarray, frames_per_code: int) -> np.ndarray:
    """Drop trailing frames so the motion is a whole number of codes."""
    return features[: len(features) // frames_per_code * frames_per_code]


@torch.no_grad()
def reconstruction_metrics(model: VQVAE, root: str | Path, split: str = "test", max_motions: int | None = None) -> dict:
    from motiongpt.motion.features import features_to_joints

    model.require_statistics()
    cfg = model.config
    spec = spec_for_dim(cfg.input_dim)
    ids = split_ids(root, split)[:max_motions]
    was_training = model.training
    model.eval()
    device = model.mean.device
    counts = torch.zeros(cfg.codebook_size, dtype=torch.float64)
    sums = dict(recon_loss=0.0, feature_l1=0.0, mpjpe_mm=0.0, mpjpe_root_aligned_mm=0.0)
    frames, used, skipped = 0, 0, 0
    for motion_id in ids:
        raw = crop_to_codes(load_features(root, motion_id), cfg.frames_per_code)
        if len(raw) < cfg.frames_per_code:
            skipped += 1
            continue
        if raw.shape[1] != cfg.input_dim:
            raise MotionGPTError(f"{root}/new_joint_vecs/{motion_id}.npy: width {raw.shape[1]}, "
                                 f"expected {cfg.input_dim} for this VQ-VAE")
        target = torch.from_numpy(raw).to(device)[None]
        normalised = model.normalise(target)
        codes = model.encode(normalised)
        recon = model.decode(codes)
        counts += torch.bincount(codes.flatten().cpu(), minlength=cfg.codebook_size).double()
        recon_raw = model.denormalise(recon)
        joints_true = features_to_joints(target[0].cpu(), spec=spec)
        joints_pred = features_to_joints(recon_raw[0].cpu(), spec=spec)
        err = (joints_pred - joints_true).norm(dim=-1)
        err_local = ((joints_pred - joints_pred[:, :1]) - (joints_true - joints_true[:, :1])).norm(dim=-1)
        n = len(raw)
        sums["recon_loss"] += F.smooth_l1_loss(recon, normalised).item() * n
        sums["feature_l1"] += (recon_raw - target).abs().mean().item() * n
        sums["mpjpe_mm"] += err.mean().item() * 1000 * n
        sums["mpjpe_root_aligned_mm"] += err_local.mean().item() * 1000 * n
        frames += n
        used += 1
    model.train(was_training)
    if used == 0:
        raise MotionGPTError(f"{root}/{split}.txt: no motion with at least {cfg.frames_per_code} frames to evaluate")
    return {
        "split": split,
        "motions": used,
        "skipped_short": skipped,
        "frames": frames,
        **{k: v / frames for k, v in sums.items()},
        "codes_used": int((counts > 0).sum()),
        "codebook_usage": float((counts > 0).double().mean()),
        "perplexity": float(perplexity(counts)),
    }
