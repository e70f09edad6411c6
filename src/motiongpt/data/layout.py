"""The HumanML3D folder layout, read and written by every stage.

    DIR/new_joints/<id>.npy        (T-1) x J x 3 float32 joint positions (metres, Y up), recovered from the features
    DIR/new_joint_vecs/<id>.npy    (T-1) x D float32 features (D = 263 HumanML3D, 251 KIT-ML) of a T-frame clip
    DIR/texts/<id>.txt             one `caption#word/POS ...#start#end` line per caption
    DIR/Mean.npy, DIR/Std.npy      per-dimension normalisation statistics
    DIR/{train,val,test}.txt       one id per line
    DIR/VQVAE/<id>.npy             motion codes (written by `motiongpt vq encode`)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.io import load_npy

SPLITS = ("train", "val", "test")


MAX_FRAMES = 196  # HumanML3D's longest motion (frames at 20 fps); the original never generates longer
UNIT_LENGTH = 4  # frames per unit: one VQ code of the paper's VQ-VAE, one step of the evaluator's movement encoder

@dataclass(frozen=True)
class Caption:
    text: str
    tokens: list[str]  # `word/POS` tokens
    start: float  # seconds; 0.0 with end 0.0 means the whole motion
    end: float


def split_ids(root: str | Path, split: str) -> list[str]:
    path = Path(root) / f"{split}.txt"
    if not path.is_file():
        raise MotionGPTError(f"{path}: split file not found (is {root} a dataset in HumanML3D layout?)")
    return [line.strip() for line in path.read_text().splitlines() if line.strip()]


def load_features(root: str | Path, motion_id: str) -> np.ndarray:
    return load_npy(Path(root) / "new_joint_vecs" / f"{motion_id}.npy", "feature array").astype(np.float32)


def load_joints(root: str | Path, motion_id: str) -> np.ndarray:
    return load_npy(Path(root) / "new_joints" / f"{motion_id}.npy", "joint array").astype(np.float32)


def load_mean_std(root: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """A dataset's Mean.npy/Std.npy, or the mean.npy/std.npy of a T2M-GPT checkpoint's meta/ folder."""
    root = Path(root)
    names = ("mean.npy", "std.npy") if not (root / "Mean.npy").is_file() and (root / "mean.npy").is_file() \
        else ("Mean.npy", "Std.npy")
    mean = load_npy(root / names[0], "statistics array").astype(np.float32)
    return mean, load_npy(root / names[1], "statistics array").astype(np.float32)


def parse_caption_line(line: str, where: str = "") -> Caption:
    parts = line.rstrip("\n").split("#")
    if len(parts) < 4:
        raise MotionGPTError(f"{where}: expected `caption#tokens#start#end`, got {line.strip()!r}")
    try:
        start, end = float(parts[2] or 0.0), float(parts[3] or 0.0)
    except ValueError as err:
        raise MotionGPTError(f"{where}: bad start/end in {line.strip()!r}") from err
    start, end = (0.0 if np.isnan(start) else start), (0.0 if np.isnan(end) else end)
    return Caption(parts[0].strip(), parts[1].split(" ") if parts[1] else [], start, end)


def format_caption_line(caption: Caption) -> str:
    return f"{caption.text}#{' '.join(caption.tokens)}#{caption.start:.1f}#{caption.end:.1f}"


def load_captions(root: str | Path, motion_id: str) -> list[Caption]:
    path = Path(root) / "texts" / f"{motion_id}.txt"
    if not path.is_file():
        raise MotionGPTError(f"{path}: caption file not found")
    lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
    return [parse_caption_line(ln, f"{path}:{i + 1}") for i, ln in enumerate(lines)]
