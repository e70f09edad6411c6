"""Fixtures for the export tests: real HumanML3D joints with constant bone lengths."""

from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture(scope="session")
def joints(humanml3d_mini) -> np.ndarray:
    """HumanML3D clip 012314 as joints (170, 22, 3), metres, Y up, 20 fps."""
    return np.load(humanml3d_mini / "new_joints" / "012314.npy")


@pytest.fixture(scope="session")
def blender():
    """`motiongpt.export.blender`, where real Blender (bpy) is installed: the test extra installs it on Python 3.11,
    the only Python its wheels are built for."""
    pytest.importorskip("bpy", reason="Blender's bpy module is not installed (the blender/test extra, Python 3.11)")
    from motiongpt.export import blender as module

    return module
