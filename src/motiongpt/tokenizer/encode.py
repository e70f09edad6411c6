"""Turn every motion of a dataset into codes: `<data>/VQVAE/<id>.npy`, int16, one code per 4 frames.

All split ids are encoded, and the mirrored `M<id>` motion of each id too when its features exist and the split
files do not already list it. Motions are cropped to a multiple of 4 frames from their first frame, so the same
model and data always give the same codes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from tqdm import tqdm

from motiongpt.data.layout import SPLITS, load_features, split_ids
from motiongpt.errors import MotionGPTError
from motiongpt.io import atomic_directory
from motiongpt.tokenizer.model import VQVAE

CODES_DIR = "VQVAE"


def dataset_ids(root: str | Path) -> list[str]:
    """Ids of every split (those whose split file exists), plus mirrored `M<id>` motions present on disk."""
    root = Path(root)
    ids: dict[str, None] = {}
    for split in SPLITS:
        if (root / f"{split}.txt").is_file():
            ids.update(dict.fromkeys(split_ids(root, split)))
    if not ids:
        raise MotionGPTError(f"{root}: no split files (expected train.txt, val.txt and/or test.txt)")
    for motion_id in list(ids):
        mirrored = f"M{motion_id}"
        if mirrored not in ids and (root / "new_joint_vecs" / f"{mirrored}.npy").is_file():
            ids[mirrored] = None
    return list(ids)


def encode_dataset(model: VQVAE, root: str | Path, progress: bool = True) -> dict:
    """Write the codes of every motion; returns counts of encoded and skipped (shorter than 4 frames) motions."""
    root = Path(root)
    if model.config.codebook_size > np.iinfo(np.int16).max + 1:
        raise MotionGPTError(f"codebook of {model.config.codebook_size} codes does not fit int16 code files")
    ids = dataset_ids(root)
    k = model.config.frames_per_code
    encoded, skipped = 0, []
    with atomic_directory(root / CODES_DIR, overwrite=True) as tmp:
        for motion_id in tqdm(ids, desc="vq encode", disable=not progress, dynamic_ncols=True):
            features = load_features(root, motion_id)
            if len(features) < k:
                skipped.append(motion_id)
                continue
            if features.ndim != 2 or features.shape[1] != model.config.input_dim:
                raise MotionGPTError(f"{root / 'new_joint_vecs' / motion_id}.npy: shape {features.shape}, expected "
                                     f"(frames, {model.config.input_dim}) for this VQ-VAE")
            np.save(tmp / f"{motion_id}.npy", model.encode_motion(features).astype(np.int16))
            encoded += 1
    return {"encoded": encoded, "skipped_short": skipped, "out": str(root / CODES_DIR)}
