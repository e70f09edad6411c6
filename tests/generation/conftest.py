"""An untrained tiny MotionGPT per answer format: random VQ-VAE (300 codes, 3-digit numbers) + tiny LLaMA."""

from __future__ import annotations

from pathlib import Path

import pytest

from motiongpt.generation.pipeline import MotionGPT

CODEBOOK = 300
CAPTIONS = ["a person walks forward.", "a man jumps up and down.", "someone waves with the right hand.",
            "the figure kicks with the left leg and turns around."]


def tiny_pipeline(make_tiny_motiongpt, fmt: str) -> MotionGPT:
    return make_tiny_motiongpt(fmt, CODEBOOK, CAPTIONS, [5, 17], 8)


@pytest.fixture(scope="session", params=["text", "vocab"])
def pipeline(request, make_tiny_motiongpt) -> MotionGPT:
    return tiny_pipeline(make_tiny_motiongpt, request.param)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, make_tiny_motiongpt) -> Path:
    """A saved text-format model dir, for the CLI."""
    out = tmp_path_factory.mktemp("model") / "tiny-text"
    tiny_pipeline(make_tiny_motiongpt, "text").save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def text_pipeline(make_tiny_motiongpt) -> MotionGPT:
    """The text-format pipeline alone, for tests about that format's numbers or about files."""
    return tiny_pipeline(make_tiny_motiongpt, "text")
