"""An untrained tiny MotionGPT per answer format: random VQ-VAE (300 codes, 3-digit numbers) + tiny LLaMA."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from motiongpt.generation.pipeline import MotionGPT
from motiongpt.llm.base import add_code_tokens, build_base
from motiongpt.llm.formats import build_prompt, format_codes
from motiongpt.llm.prompts import INSTRUCTIONS
from motiongpt.tokenizer.model import VQVAE, VQVAEConfig

CODEBOOK = 300
CAPTIONS = ["a person walks forward.", "a man jumps up and down.", "someone waves with the right hand.",
            "the figure kicks with the left leg and turns around."]


def tiny_pipeline(fmt: str) -> MotionGPT:
    torch.manual_seed(0)
    vq = VQVAE(VQVAEConfig(nb_code=CODEBOOK, code_dim=16, width=24, depth=2),
               mean=np.zeros(263, np.float32), std=np.full(263, 0.1, np.float32))
    rng = np.random.default_rng(0)
    texts = [build_prompt(INSTRUCTIONS[task], caption, None if task == "t2m" else [5, 17], "text") +
             format_codes(rng.integers(0, CODEBOOK, 8).tolist(), "text")
             for caption in CAPTIONS for task in INSTRUCTIONS]
    llm, tokenizer = build_base("tiny", texts, seed=0)
    if fmt == "vocab":
        add_code_tokens(llm, tokenizer, CODEBOOK)
    return MotionGPT(vq.eval(), llm, tokenizer, fmt)


@pytest.fixture(scope="session", params=["text", "vocab"])
def pipeline(request) -> MotionGPT:
    return tiny_pipeline(request.param)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A saved text-format model dir, for the CLI."""
    out = tmp_path_factory.mktemp("model") / "tiny-text"
    tiny_pipeline("text").save_pretrained(out)
    return out
