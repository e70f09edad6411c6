"""Shared pieces of the fuzz suite: the bundled model, real BVH files to mutate, and the checks every case gets.

Every generator is seeded, and every count is fixed, so a failure names a case that reproduces, and the suite's
length is bounded (it runs in about a minute on two cores).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from motiongpt.generation.pipeline import MotionGPT

SEED = 20240616


def leftovers(root: Path, keep: set[str] = frozenset()) -> list[str]:
    """Temporary files or folders under `root` (names `.X.<pid>.*.tmp`, `.X.old`), and top-level entries not in
    `keep`: what a failed or finished run must not leave."""
    stray = [str(p.relative_to(root)) for p in root.rglob(".*") if p.name.endswith((".tmp", ".old"))]
    return stray + sorted(p.name for p in root.iterdir() if p.name not in keep)


def one_line_error(text: str) -> bool:
    """stderr of a failed command: exactly one line, `motiongpt: error: ...`, no traceback (besides the closed
    progress bar of a long step and the warnings the tool itself prints)."""
    lines = [line for line in text.replace("\r", "\n").splitlines()
             if line.strip() and "it/s]" not in line and not line.startswith("motiongpt: warning: ")]
    return len(lines) == 1 and lines[0].startswith("motiongpt: error: ") and "Traceback" not in text


@pytest.fixture(scope="session")
def bundled() -> MotionGPT:
    return MotionGPT.from_pretrained()


@pytest.fixture(scope="session")
def exported_bvh(tmp_path_factory, bundled) -> Path:
    """A BVH the exporter writes for a motion of the bundled model (22 SMPL-named joints, cm, 20 fps)."""
    from motiongpt.export.bvh import save_bvh

    _, joints = bundled.decode([3, 14, 15, 92, 65, 35, 89, 79, 32, 38, 46, 26])
    path = tmp_path_factory.mktemp("bvh") / "exported.bvh"
    save_bvh(joints, path, fps=20.0)
    return path


@pytest.fixture(scope="session")
def bvh_sources(exported_bvh) -> list[Path]:
    """Real BVH files to mutate: the exporter's, and a Bandai capture (cut to 60 frames) when ../shared is here."""
    sources = [exported_bvh]
    shared = Path(os.environ.get("MOTIONGPT_SHARED", Path(__file__).resolve().parents[2].parent / "shared"))
    samples = shared / "data" / "bandai" / "Bandai-Namco-Research-Motiondataset-2" / "data-sample"
    clips = sorted(samples.glob("*.bvh")) if samples.is_dir() else []
    if clips:
        lines = clips[0].read_text().split("\n")
        motion = next(i for i, line in enumerate(lines) if line.strip() == "MOTION")
        frames = [line for line in lines[motion + 3:] if line.strip()][:60]
        cut = exported_bvh.parent / "bandai.bvh"
        cut.write_text("\n".join(lines[:motion + 1] + [f"Frames: {len(frames)}", lines[motion + 2]] + frames) + "\n")
        sources.append(cut)
    return sources


def finite(array: np.ndarray) -> bool:
    return bool(np.isfinite(np.asarray(array, dtype=np.float64)).all())
