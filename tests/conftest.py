"""Shared test fixtures: the project's read-only data lies in ../shared beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch

torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MOTIONGPT_SHARED", REPO.parent / "shared"))


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"{path} is not available (set MOTIONGPT_SHARED to the shared/ folder)")
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _need(SHARED)


@pytest.fixture(scope="session")
def humanml3d_mini() -> Path:
    return _need(SHARED / "fixtures" / "humanml3d-mini")


@pytest.fixture(scope="session")
def bandai_dir() -> Path:
    return _need(SHARED / "data" / "bandai")


@pytest.fixture(scope="session")
def bandai_sample_bvh() -> Path:
    """Dataset-2's unpacked samples: one clip per content x style pair."""
    return _need(SHARED / "data" / "bandai" / "Bandai-Namco-Research-Motiondataset-2" / "data-sample")


@pytest.fixture(scope="session")
def hdm05_sample() -> Path:
    """The HDM05 samples: the five actors' ASF skeletons in asf/, one AMC clip of each class in amc/."""
    return _need(SHARED / "data" / "hdm05" / "sample")


def tiny_motiongpt(fmt: str, codebook: int, captions: list[str], control: list[int], answer_codes: int):
    """An untrained tiny MotionGPT: random VQ-VAE + a tiny LLaMA whose tokenizer saw the prompts of `captions`."""
    from motiongpt.generation.pipeline import MotionGPT
    from motiongpt.llm.base import add_code_tokens, build_base
    from motiongpt.llm.formats import build_prompt, format_codes
    from motiongpt.llm.tasks import Task
    from motiongpt.tokenizer import VQVAE, VQVAEConfig

    torch.manual_seed(0)
    vq = VQVAE(VQVAEConfig(codebook_size=codebook, code_dim=16, width=24, depth=2),
               mean=np.zeros(263, np.float32), std=np.full(263, 0.1, np.float32))
    rng = np.random.default_rng(0)
    texts = [build_prompt(task.instruction, caption, None if task == Task.TEXT else control, "text") +
             format_codes(rng.integers(0, codebook, answer_codes).tolist(), "text")
             for caption in captions for task in Task]
    llm, tokenizer = build_base("tiny", texts, seed=0)
    if fmt == "vocab":
        add_code_tokens(llm, tokenizer, codebook)
    return MotionGPT(vq.eval(), llm, tokenizer, fmt)


@pytest.fixture(scope="session")
def make_tiny_motiongpt():
    """The `tiny_motiongpt` builder, for the conftest files of the areas that need a whole model."""
    return tiny_motiongpt
