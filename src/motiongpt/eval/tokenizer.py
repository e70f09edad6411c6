"""A VQ-VAE judged by a text-motion evaluator: the T2M-GPT VQ metrics of reconstructions.

FID between the evaluator embeddings of real crops and of their reconstructions, and R-Precision top-1/2/3,
MM-Dist and Diversity of both. Crops follow the evaluation protocol (captioned motions of 40..199 frames, first 196
frames, whole codes, first caption), in one pass with a fixed shuffle (seed 0) for the R-Precision batches of 32;
T2M-GPT repeats with random crops instead.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motiongpt.errors import MotionGPTError
from motiongpt.eval.evaluator import load_batch, open_split
from motiongpt.eval.metrics import R_PRECISION_BATCH, fid, matching_metrics
from motiongpt.eval.protocol import batch_captions, sample_diversity
from motiongpt.tokenizer.model import VQVAE


@torch.no_grad()
def evaluator_metrics(model: VQVAE, evaluator, root: str | Path, split: str = "test",
                      max_motions: int | None = None) -> dict:
    """FID of reconstructions vs real motions and R-Precision/MM-Dist/Diversity of both (see the module doc)."""
    model.require_statistics()
    if evaluator.feature_dim != model.config.input_dim:
        raise MotionGPTError(f"the evaluator expects {evaluator.feature_dim}-d features, the VQ-VAE writes "
                             f"{model.config.input_dim}")
    dataset = open_split(root, split, evaluator.feature_dim, random_crop=False)
    dataset.samples = dataset.samples[:max_motions]
    if len(dataset) < 2:
        raise MotionGPTError(f"{Path(root) / f'{split}.txt'}: FID needs at least 2 captioned motions, "
                             f"got {len(dataset)}")
    batch = load_batch(dataset, np.random.default_rng(0).permutation(len(dataset)).tolist())
    real, lengths = batch["features"], batch["lengths"]
    recon = torch.zeros_like(real)
    for i, n in enumerate(lengths.tolist()):
        recon[i, :n] = torch.from_numpy(model.decode_codes(model.encode_motion(real[i, :n])))
    real_emb = evaluator.embed_motion(real, lengths)
    recon_emb = evaluator.embed_motion(recon, lengths)
    text_emb = evaluator.embed_captions(batch_captions(batch)) if len(dataset) >= R_PRECISION_BATCH else None
    out = {"motions": len(dataset), "fid": fid(real_emb, recon_emb)}
    for name, emb in (("real", real_emb), ("recon", recon_emb)):
        matching = matching_metrics(text_emb, emb) if text_emb is not None else {}
        out[name] = {**matching, "diversity": sample_diversity(emb, 0)}
    return out
