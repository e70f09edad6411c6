"""A small real Bandai set for the tests that run the bundled model and evaluator."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def sample_set(bandai_sample_bvh, tmp_path_factory):
    """Dataset-2's 70 real sample clips built as a Bandai set (train and test splits by content)."""
    from motiongpt.data.bandai import build_bandai, dataset_jobs

    out = tmp_path_factory.mktemp("bandai-sample") / "bandai"
    build_bandai(bandai_sample_bvh, out, workers=1,
                 jobs=dataset_jobs(bandai_sample_bvh, bandai_sample_bvh.parent / "cfg", "dataset-2"))
    return out
