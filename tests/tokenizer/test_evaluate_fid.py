"""`motiongpt vq eval --evaluator DIR`: FID and R-Precision of reconstructions vs real motions, computed by hand
with motiongpt.eval.metrics on the same crops."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from motiongpt.cli import main
from motiongpt.data import layout
from motiongpt.eval.evaluator import DEFAULT_CONFIG, TextMotionEvaluator
from motiongpt.eval.metrics import fid, matching_metrics
from motiongpt.tokenizer import VQVAE, preset_config

WIDTH = 263
CAPTIONS = ["a person walks forward", "someone jumps", "a man waves", "a person sits down"]


def write_captioned_dataset(root, motions=36, seed=0):
    """Smooth random 263-d features of 40..120 frames, each with a caption; all in the test split."""
    rng = np.random.default_rng(seed)
    for sub in ("new_joint_vecs", "texts"):
        (root / sub).mkdir(parents=True)
    ids = [f"{i:06d}" for i in range(motions)]
    for i, motion_id in enumerate(ids):
        frames = int(rng.integers(40, 120))
        walk = np.cumsum(rng.normal(0, 0.1, (frames, WIDTH)), axis=0) + rng.normal(0, 1, WIDTH)
        np.save(root / "new_joint_vecs" / f"{motion_id}.npy", walk.astype(np.float32))
        caption = layout.Caption(CAPTIONS[i % len(CAPTIONS)], [], 0.0, 0.0)
        (root / "texts" / f"{motion_id}.txt").write_text(layout.format_caption_line(caption) + "\n")
    (root / "test.txt").write_text("\n".join(ids) + "\n")
    np.save(root / "Mean.npy", np.zeros(WIDTH, np.float32))
    np.save(root / "Std.npy", np.ones(WIDTH, np.float32))
    return root


def save_evaluator(path, width):
    torch.manual_seed(0)
    config = {**DEFAULT_CONFIG, "movement_hidden": 16, "movement_latent": 16, "motion_hidden": 16, "embed_dim": 16,
              "feature_dim": width}
    TextMotionEvaluator(config, np.zeros(width, np.float32), np.ones(width, np.float32)).save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("vqfid")
    data = write_captioned_dataset(root / "data")
    torch.manual_seed(0)
    vq = VQVAE(preset_config("tiny"), *layout.load_mean_std(data)).train()
    vq(torch.randn(4, 32, WIDTH))  # initialise the codebook from a batch
    vq.save_pretrained(root / "vq")
    return {"data": data, "vq": root / "vq", "evaluator": save_evaluator(root / "evaluator", WIDTH), "root": root}


def test_vq_eval_with_an_evaluator_adds_fid_and_r_precision(world, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    assert main(["vq", "eval", "--model", str(world["vq"]), "--data", str(world["data"]), "--split", "test",
                 "--evaluator", str(world["evaluator"]), "--out", str(out)]) == 0
    result = json.loads(out.read_text())["evaluator"]
    assert result["motions"] == 36

    # By hand: the protocol crops (first 196 frames, whole codes), reconstructed by the VQ-VAE, embedded.
    vq = VQVAE.from_pretrained(world["vq"])
    evaluator = TextMotionEvaluator.from_pretrained(world["evaluator"])
    order = np.random.default_rng(0).permutation(36)
    ids = layout.split_ids(world["data"], "test")
    crops = [layout.load_features(world["data"], ids[i]) for i in order]
    crops = [c[: min(len(c), 196) // 4 * 4] for c in crops]
    lengths = [len(c) for c in crops]
    real = np.zeros((36, max(lengths), WIDTH), np.float32)
    recon = np.zeros_like(real)
    for i, crop in enumerate(crops):
        real[i, :len(crop)] = crop
        recon[i, :len(crop)] = vq.decode_codes(vq.encode_motion(crop))
    real_emb, recon_emb = evaluator.embed_motion(real, lengths), evaluator.embed_motion(recon, lengths)
    text_emb = evaluator.embed_text([layout.load_captions(world["data"], ids[i])[0].text for i in order])
    assert result["fid"] == pytest.approx(fid(real_emb, recon_emb), rel=1e-4)
    assert result["fid"] > 0
    for name, emb in (("real", real_emb), ("recon", recon_emb)):
        expected = matching_metrics(text_emb, emb)
        assert result[name]["top1"] == pytest.approx(expected["top1"])
        assert result[name]["mm_dist"] == pytest.approx(expected["mm_dist"], rel=1e-5)
        assert result[name]["diversity"] > 0


def test_an_evaluator_of_another_width_is_a_one_line_error(world, capsys):
    narrow = save_evaluator(world["root"] / "narrow", 12)
    assert main(["vq", "eval", "--model", str(world["vq"]), "--data", str(world["data"]), "--evaluator",
                 str(narrow)]) == 2
    err = capsys.readouterr().err
    assert "the evaluator expects 12-d features, the VQ-VAE writes 263" in err and err.count("\n") == 1
