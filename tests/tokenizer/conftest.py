"""A small dataset in HumanML3D layout with smooth random 263-d features, built fresh for each test module."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

WIDTH = 263


def build_dataset(root: Path, seed: int = 0) -> Path:
    """train: 10 motions, val: 3, test: 3 (+ one 3-frame motion), and mirrored M<id> files for two train ids."""
    rng = np.random.default_rng(seed)
    (root / "new_joint_vecs").mkdir(parents=True)
    splits = {"train": [f"{i:06d}" for i in range(10)], "val": ["000100", "000101", "000102"],
              "test": ["000200", "000201", "000202", "000203"]}
    lengths = {i: int(rng.integers(64, 100)) for ids in splits.values() for i in ids}
    lengths["000203"] = 3
    for mirrored in ("000000", "000001"):
        lengths[f"M{mirrored}"] = lengths[mirrored]
    all_feats = []
    for motion_id, n in lengths.items():
        walk = np.cumsum(rng.normal(0, 0.1, (n, WIDTH)), axis=0) + rng.normal(0, 1, WIDTH)
        feats = walk.astype(np.float32)
        np.save(root / "new_joint_vecs" / f"{motion_id}.npy", feats)
        all_feats.append(feats)
    stacked = np.concatenate(all_feats)
    np.save(root / "Mean.npy", stacked.mean(0).astype(np.float32))
    np.save(root / "Std.npy", (stacked.std(0) + 1e-3).astype(np.float32))
    for split, ids in splits.items():
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n")
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    return build_dataset(tmp_path_factory.mktemp("vqdata") / "data")
