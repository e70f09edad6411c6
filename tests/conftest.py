"""Shared test fixtures: the project's read-only data lies in ../shared beside the repo."""

from __future__ import annotations

import os
from pathlib import Path

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
