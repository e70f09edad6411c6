"""Synthetic instruction data for the llm tests: random codes and a few captions in the HumanML3D layout."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from motiongpt.llm.instructions import build_instructions, save_instructions

CAPTIONS = ["a person walks forward.", "a man jumps up and down happily.", "someone runs in a circle slowly",
            "a person waves with the right hand.", "the figure kicks with the left leg."]
CODEBOOK = 64


def make_dataset(root: Path, n_train: int = 24, n_val: int = 6, seed: int = 0, codebook: int = CODEBOOK) -> Path:
    """Motions whose codes depend on their caption, so that a model can learn something in a few steps."""
    rng = np.random.default_rng(seed)
    (root / "texts").mkdir(parents=True)
    (root / "VQVAE").mkdir()
    ids = {"train": [f"{i:06d}" for i in range(n_train)], "val": [f"{i:06d}" for i in range(n_train, n_train + n_val)]}
    for split, names in ids.items():
        (root / f"{split}.txt").write_text("\n".join(names) + "\n")
        for i, name in enumerate(names):
            c = (i + (split == "val")) % len(CAPTIONS)
            lines = [f"{CAPTIONS[c]}#a/DET person/NOUN#0.0#0.0", f"{CAPTIONS[(c + 1) % len(CAPTIONS)]}##0.0#0.0"]
            (root / "texts" / f"{name}.txt").write_text("\n".join(lines) + "\n")
            base = c * (codebook // len(CAPTIONS))
            codes = (base + rng.integers(0, 4, size=int(rng.integers(4, 12)))) % codebook
            np.save(root / "VQVAE" / f"{name}.npy", codes.astype(np.int64))
    return root


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return make_dataset(tmp_path / "data")


@pytest.fixture(scope="module")
def instructions_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("instr")
    data = make_dataset(root / "data")
    splits = build_instructions(data, codebook_size=CODEBOOK)
    save_instructions(root / "instructions", splits, {"codebook_size": CODEBOOK})
    return root / "instructions"


@pytest.fixture
def codebook() -> int:
    return CODEBOOK
