"""PyTorch datasets over any folder in the HumanML3D layout (our builds, official HumanML3D and KIT-ML).

`TextMotionDataset` follows the original text-to-motion training loader: motions shorter than `min_len` or of
`drop_len` frames and more are skipped; a caption tagged with start/end seconds becomes its own sample holding
`motion[int(start*fps):int(end*fps)]`; each item is a random caption of the motion, and the motion is cropped at a
random offset to a multiple of `unit_length` frames, one unit shorter with probability 1/3. `WindowDataset`
gives random fixed-length windows for VQ-VAE training. Features come out normalised by the dataset's Mean/Std.
Randomness is drawn from (seed, epoch, index), so results do not depend on DataLoader workers.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from motiongpt.data.layout import (MAX_FRAMES, UNIT_LENGTH, Caption, load_captions, load_features, load_joints,
                                  load_mean_std, split_ids)
from motiongpt.errors import MotionGPTError
from motiongpt.motion import skeleton


@dataclass(frozen=True)
class LengthLimits:
    """Frame rate and length rules of a dataset (HumanML3D: 20 fps, 40..196; KIT-ML: 12.5 fps, 24..196)."""

    fps: float = 20.0
    min_len: int = 40
    max_len: int = MAX_FRAMES
    drop_len: int = 200  # motions of this many frames or more are skipped, as the original loader did
    unit_length: int = UNIT_LENGTH


HUMANML3D = LengthLimits()
KIT = LengthLimits(fps=12.5, min_len=24)


def limits_for(feature_dim: int) -> LengthLimits:
    """KIT-ML limits for KIT-ML-wide (251-d) features, HumanML3D limits for any other width."""
    return KIT if feature_dim == skeleton.KIT.feature_dim else HUMANML3D


@dataclass
class _Sample:
    motion_id: str
    start: int  # frame range of the source motion
    end: int
    captions: list[Caption]


def _load_samples(root: Path, ids: list[str], limits: LengthLimits,
                  lengths: dict[str, int]) -> list[_Sample]:
    samples = []
    for motion_id in ids:
        n = lengths[motion_id]
        whole, parts = [], []
        for caption in load_captions(root, motion_id):
            if caption.start == 0.0 and caption.end == 0.0:
                whole.append(caption)
                continue
            start, end = int(caption.start * limits.fps), min(int(caption.end * limits.fps), n)
            if limits.min_len <= end - start < limits.drop_len:
                parts.append(_Sample(motion_id, start, end, [caption]))
        if whole and limits.min_len <= n < limits.drop_len:
            samples.append(_Sample(motion_id, 0, n, whole))
        samples += parts
    return samples


class TextMotionDataset(Dataset):
    """(normalised features, caption, tokens, length[, joints]) items of one split.

    `limits` default by feature size (263 -> HumanML3D, 251 -> KIT-ML). `mean`/`std` default to the folder's.
    """

    def __init__(self, root: str | Path, split: str = "train", limits: LengthLimits | None = None,
                 mean: np.ndarray | None = None, std: np.ndarray | None = None, return_joints: bool = False,
                 random_crop: bool = True, seed: int = 0):
        self.root = Path(root)
        ids = split_ids(self.root, split)
        if mean is None or std is None:
            mean, std = load_mean_std(self.root)
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.limits = limits or limits_for(self.mean.shape[0])
        self.features = {motion_id: load_features(self.root, motion_id) for motion_id in ids}
        dims = {f.shape[1] for f in self.features.values()}
        if dims and dims != {self.mean.shape[0]}:
            raise MotionGPTError(f"{self.root}: features of size {sorted(dims)} but Mean.npy has "
                                 f"{self.mean.shape[0]} dimensions")
        self.samples = _load_samples(self.root, ids, self.limits, {k: len(v) for k, v in self.features.items()})
        self.return_joints = return_joints
        self.random_crop = random_crop
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def crop_length(self, length: int, rng: np.random.Generator) -> int:
        """Length rounded down to a multiple of unit_length; one unit less with probability 1/3."""
        unit = self.limits.unit_length
        length = min(length, self.limits.max_len)
        units = length // unit
        if self.random_crop and unit < 10 and rng.integers(3) == 2 and units > 1:
            units -= 1
        return units * unit

    def __getitem__(self, index: int) -> dict:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        sample = self.samples[index]
        caption = sample.captions[int(rng.integers(len(sample.captions)))] if self.random_crop \
            else sample.captions[0]
        motion = self.features[sample.motion_id][sample.start:sample.end]
        length = self.crop_length(len(motion), rng)
        offset = int(rng.integers(len(motion) - length + 1)) if self.random_crop else 0
        motion = (motion[offset:offset + length] - self.mean) / self.std
        item = {"features": torch.from_numpy(motion), "caption": caption.text, "tokens": list(caption.tokens),
                "length": length, "motion_id": sample.motion_id}
        if self.return_joints:
            joints = load_joints(self.root, sample.motion_id)[sample.start:sample.end]
            item["joints"] = torch.from_numpy(joints[offset:offset + length])
        return item


def _pad(tensors: list[torch.Tensor], length: int) -> torch.Tensor:
    out = tensors[0].new_zeros((len(tensors), length) + tuple(tensors[0].shape[1:]))
    for i, t in enumerate(tensors):
        out[i, : len(t)] = t
    return out


def collate(batch: list[dict]) -> dict:
    """Stack items, zero-padding features (and joints) to the longest in the batch; `mask` marks real frames."""
    lengths = torch.tensor([item["length"] for item in batch], dtype=torch.long)
    max_len = int(lengths.max())
    out = {
        "features": _pad([item["features"] for item in batch], max_len),
        "lengths": lengths,
        "mask": torch.arange(max_len)[None, :] < lengths[:, None],
        "captions": [item["caption"] for item in batch],
        "tokens": [item["tokens"] for item in batch],
        "motion_ids": [item["motion_id"] for item in batch],
    }
    if "joints" in batch[0]:
        out["joints"] = _pad([item["joints"] for item in batch], max_len)
    return out


class WindowDataset(Dataset):
    """Random `window`-frame crops of normalised features, one per motion at least `window` frames long."""

    def __init__(self, root: str | Path, split: str = "train", window: int = 64, mean: np.ndarray | None = None,
                 std: np.ndarray | None = None, seed: int = 0):
        self.root = Path(root)
        if mean is None or std is None:
            mean, std = load_mean_std(self.root)
        self.mean, self.std = np.asarray(mean, np.float32), np.asarray(std, np.float32)
        self.window = window
        loaded = [(i, load_features(self.root, i)) for i in split_ids(self.root, split)]
        self.ids = [i for i, m in loaded if len(m) >= window]
        self.motions = [m for _, m in loaded if len(m) >= window]
        if not self.motions:
            raise MotionGPTError(f"{self.root}: no {split} motion has {window} frames or more")
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.motions)

    def __getitem__(self, index: int) -> torch.Tensor:
        rng = np.random.default_rng([self.seed, self.epoch, index])
        motion = self.motions[index]
        offset = int(rng.integers(len(motion) - self.window + 1))
        return torch.from_numpy((motion[offset:offset + self.window] - self.mean) / self.std)
