import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch

from motiongpt.cli import main
from motiongpt.errors import MotionGPTError
from motiongpt.tokenizer import VQVAE
from motiongpt.tokenizer.train import TrainConfig, WindowSampler, lr_factor, train
from .conftest import build_dataset
from motiongpt.training import weights_digest


def config(dataset, out, **kw) -> TrainConfig:
    settings = dict(steps=8, batch_size=4, val_every=4, warmup=2, milestones=[6], val_motions=2, quiet=True)
    return TrainConfig.for_preset(dataset, out, "tiny", **{**settings, **kw})


def test_training_writes_models_log_and_improves(dataset, tmp_path):
    out = train(config(dataset, tmp_path / "run", steps=24, val_every=12)).out
    assert {"last", "best", "checkpoint", "log.jsonl"} <= {p.name for p in out.iterdir()}
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    log = [entry for entry in log if "val_recon_loss" in entry]
    assert [entry["step"] for entry in log] == [12, 24]
    for key in ("recon_loss", "mpjpe_mm", "mpjpe_root_aligned_mm", "codebook_usage", "perplexity"):
        assert np.isfinite(log[-1][f"val_{key}"])
    model = VQVAE.from_pretrained(out / "last")
    assert model.config.codebook_size == 32 and bool(model.quantizer.initialised)
    assert log[-1]["val_recon_loss"] < log[0]["val_recon_loss"] * 1.5


def test_resumed_run_is_bit_identical(dataset, tmp_path):
    train(config(dataset, tmp_path / "whole"))
    train(config(dataset, tmp_path / "parts", stop_after=3))
    assert json.loads((tmp_path / "parts" / "checkpoint" / "state.json").read_text())["step"] == 3
    train(config(dataset, tmp_path / "parts"))
    whole = VQVAE.from_pretrained(tmp_path / "whole" / "last").state_dict()
    parts = VQVAE.from_pretrained(tmp_path / "parts" / "last").state_dict()
    assert whole.keys() == parts.keys()
    for key in whole:
        assert torch.equal(whole[key], parts[key]), key
    a = torch.load(tmp_path / "whole" / "checkpoint" / "optim.pt", weights_only=False)
    b = torch.load(tmp_path / "parts" / "checkpoint" / "optim.pt", weights_only=False)
    assert a["optimizer"]["state"][0]["exp_avg"].equal(b["optimizer"]["state"][0]["exp_avg"])
    assert (tmp_path / "whole" / "log.jsonl").read_text() == (tmp_path / "parts" / "log.jsonl").read_text()


def test_resume_with_other_settings_is_refused(dataset, tmp_path):
    train(config(dataset, tmp_path / "run", steps=4, stop_after=2))
    with pytest.raises(MotionGPTError, match="cannot resume: setting lr was 0.0002, now 0.001"):
        train(config(dataset, tmp_path / "run", steps=4, lr=1e-3))


def test_learning_rate_schedule():
    assert lr_factor(0, 10, [100], 0.05) == pytest.approx(0.1)
    assert lr_factor(9, 10, [100], 0.05) == 1.0
    assert lr_factor(99, 10, [100], 0.05) == 1.0
    assert lr_factor(100, 10, [100], 0.05) == pytest.approx(0.05)


def test_cli_train_rejects_wrong_width(dataset, tmp_path, capsys):
    bad = tmp_path / "bad"
    bad.mkdir()
    for name in ("train.txt", "val.txt", "test.txt"):
        (bad / name).write_text((dataset / name).read_text())
    (bad / "new_joint_vecs").symlink_to(dataset / "new_joint_vecs")
    np.save(bad / "Mean.npy", np.zeros(251, np.float32))
    np.save(bad / "Std.npy", np.ones(251, np.float32))
    assert main(["vq", "train", "--data", str(bad), "--out", str(tmp_path / "o"), "--preset", "tiny"]) == 2
    err = capsys.readouterr().err.strip()
    assert "expected 251" in err and "\n" not in err


def test_balanced_windows_give_a_rare_content_its_share(tmp_path):
    """20 walks and 2 kicks (Bandai ids): as the clips come a kick is 1 window in 11, balanced by content 1 in 2."""
    root = tmp_path / "data"
    (root / "new_joint_vecs").mkdir(parents=True)
    ids = [f"dataset-1_walk_normal_{i}" for i in range(20)] + [f"dataset-1_kick_normal_{i}" for i in range(2)]
    rng = np.random.default_rng(0)
    for motion_id in ids:  # feature 0 tells the contents apart in any window: +1 in kicks, -1 in walks
        features = rng.normal(0, 0.01, size=(70, 263)).astype(np.float32)
        features[:, 0] = 1.0 if "_kick_" in motion_id else -1.0
        np.save(root / "new_joint_vecs" / f"{motion_id}.npy", features)
    (root / "train.txt").write_text("\n".join(ids) + "\n")
    mean, std = np.zeros(263, np.float32), np.ones(263, np.float32)

    def kick_share(balance: float) -> float:
        sampler = WindowSampler(root, mean, std, window=64, seed=0, balance=balance)
        assert torch.equal(sampler.batch(7, 0, 8), sampler.batch(7, 0, 8))
        return float(torch.cat([sampler.batch(step, 0, 8)[:, 0, 0] > 0 for step in range(200)]).float().mean())

    assert kick_share(0.0) == pytest.approx(2 / 22, abs=0.03)
    assert kick_share(1.0) == pytest.approx(0.5, abs=0.05)
    assert 2 / 22 + 0.05 < kick_share(0.5) < 0.5 - 0.05


def test_finetuning_starts_from_the_given_model(dataset, tmp_path):
    """--init takes the model's config, weights and Mean/Std, whatever the preset and the dataset's statistics."""
    first = train(config(dataset, tmp_path / "first", steps=24, val_every=12, seed=7)).out / "last"
    other = build_dataset(tmp_path / "other", seed=1)  # other features, so other Mean/Std
    settings = dict(steps=2, batch_size=4, val_every=2, warmup=2, val_motions=2, quiet=True)
    tuned = train(TrainConfig.for_preset(other, tmp_path / "tuned", "cpu", init=str(first), **settings)).out
    fresh = train(config(other, tmp_path / "fresh", steps=2, val_every=2)).out
    start = VQVAE.from_pretrained(first)
    model = VQVAE.from_pretrained(tuned / "last")
    assert model.config == start.config and model.config.codebook_size == 32  # tiny, not cpu's 512
    assert torch.equal(model.mean, start.mean)
    assert not torch.equal(model.mean, VQVAE.from_pretrained(fresh / "last").mean)
    weights = {name: VQVAE.from_pretrained(out).state_dict() for name, out in
               (("start", first), ("tuned", tuned / "last"), ("fresh", fresh / "last"))}
    key = next(k for k in weights["start"] if k.startswith("encoder") and k.endswith("weight"))
    moved = (weights["tuned"][key] - weights["start"][key]).abs().max()
    assert moved < 0.01 < (weights["fresh"][key] - weights["start"][key]).abs().max()  # two steps at lr 2e-4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_two_process_cpu_training_keeps_processes_identical(dataset, tmp_path):
    out = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--multi_gpu", "--num_processes", "2",
           "--main_process_port", str(_free_port()), "-m", "motiongpt", "vq", "train", "--data", str(dataset),
           "--out", str(out), "--preset", "tiny", "--steps", "4", "--batch-size", "2", "--val-every", "4",
           "--val-motions", "1", "--quiet"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((out / "processes.json").read_text())
    assert report["num_processes"] == 2
    assert len(set(report["weights_sha256"])) == 1
    assert report["weights_sha256"][0] == weights_digest(VQVAE.from_pretrained(out / "last").state_dict())
