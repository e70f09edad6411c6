"""Fixtures for the export tests: real HumanML3D joints with constant bone lengths."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def joints(humanml3d_mini) -> np.ndarray:
    """HumanML3D clip 012314 as joints (170, 22, 3), metres, Y up, 20 fps."""
    return np.load(humanml3d_mini / "new_joints" / "012314.npy")
