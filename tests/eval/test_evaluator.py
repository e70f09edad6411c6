import json
import os
import signal
from dataclasses import replace

import numpy as np
import pytest
import torch

from motiongpt.cli import main
from motiongpt.data import layout
from motiongpt.errors import MotionGPTError
from motiongpt.eval import evaluator
from motiongpt.eval.evaluator import TextMotionEvaluator, TrainSettings, load_batch, open_split, train

ACTIONS = ["a person walks forward", "someone jumps up and down", "a man waves his right hand",
           "a person spins in a circle"]
TINY = {"movement_hidden": 16, "movement_latent": 16, "motion_hidden": 16, "embed_dim": 16}
DIM = 12


def write_dataset(root, per_action=(10, 2, 9), dim=DIM, seed=0):
    """Motions whose channels oscillate at an action-specific frequency, captioned with that action."""
    rng = np.random.default_rng(seed)
    (root / "new_joint_vecs").mkdir(parents=True)
    (root / "texts").mkdir()
    splits = {"train": [], "val": [], "test": []}
    for split, count in zip(splits, per_action):
        for a, action in enumerate(ACTIONS):
            for k in range(count):
                motion_id = f"{split}{a}{k:02d}"
                frames = int(rng.integers(40, 70))
                t = np.arange(frames)[:, None]
                phase = rng.uniform(0, 2 * np.pi, size=dim)
                features = np.sin(0.15 * (a + 1) * t + phase) * (1 + a) + 0.1 * rng.normal(size=(frames, dim))
                np.save(root / "new_joint_vecs" / f"{motion_id}.npy", features.astype(np.float32))
                lines = [layout.format_caption_line(layout.Caption(f"{action}{end}", [], 0.0, 0.0))
                         for end in ("", ".")]
                (root / "texts" / f"{motion_id}.txt").write_text("\n".join(lines) + "\n")
                splits[split].append(motion_id)
    for split, ids in splits.items():
        (root / f"{split}.txt").write_text("\n".join(ids) + "\n")
    np.save(root / "Mean.npy", np.zeros(dim, np.float32))
    np.save(root / "Std.npy", np.full(dim, 2.0, np.float32))
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    return write_dataset(tmp_path_factory.mktemp("data") / "synthetic")


def settings(steps, **kw):
    return TrainSettings(steps=steps, batch_size=16, lr=3e-3, seed=0, save_every=1000, val_every=1000, **kw)


def full_loss(model, batch):
    text = torch.from_numpy(model.embed_text(batch["captions"]))
    motion = torch.from_numpy(model.embed_motion(batch["features"], batch["lengths"]))
    ids = torch.tensor([ACTIONS.index(caption) for caption in batch["captions"]])
    with torch.no_grad():
        return model.contrastive_loss(text, motion, ids).item()


def test_training_lowers_the_contrastive_loss_and_round_trips(dataset, tmp_path):
    train_set = open_split(dataset, "train", DIM, random_crop=False)
    batch = load_batch(train_set, range(len(train_set)))
    untrained = train(dataset, tmp_path / "untrained", settings(0), TINY).model
    model = train(dataset, tmp_path / "model", settings(40), TINY).model
    assert full_loss(model, batch) < 0.8 * full_loss(untrained, batch)

    loaded = TextMotionEvaluator.from_pretrained(tmp_path / "model")
    features, lengths = batch["features"], batch["lengths"]
    assert np.array_equal(loaded.embed_motion(features, lengths), model.embed_motion(features, lengths))
    assert np.array_equal(loaded.embed_text(ACTIONS), model.embed_text(ACTIONS))
    assert loaded.embed_text(ACTIONS).shape == (4, 16)
    assert np.allclose(np.linalg.norm(loaded.embed_text(ACTIONS), axis=1), 1.0, atol=1e-5)
    assert (tmp_path / "model" / "Mean.npy").is_file() and (tmp_path / "model" / "config.json").is_file()


def test_resuming_gives_the_same_weights_as_one_run(dataset, tmp_path):
    one = train(dataset, tmp_path / "one", settings(6), TINY).model
    train(dataset, tmp_path / "two", settings(3), TINY)
    two = train(dataset, tmp_path / "two", settings(6), TINY).model
    for key, value in one.state_dict().items():
        assert torch.equal(value, two.state_dict()[key]), key


def test_ctrl_c_checkpoints_and_resumes_exactly_and_changed_settings_are_refused(dataset, tmp_path, monkeypatch):
    one = train(dataset, tmp_path / "one", settings(6), TINY).model

    def load_batch_then_ctrl_c(dataset, indices, epoch=0):
        if epoch == 2:  # Ctrl-C while step 3 runs: it finishes, is saved, and training stops
            os.kill(os.getpid(), signal.SIGINT)
        return load_batch(dataset, indices, epoch)

    monkeypatch.setattr(evaluator, "load_batch", load_batch_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        train(dataset, tmp_path / "two", settings(6), TINY)
    monkeypatch.undo()
    assert json.loads((tmp_path / "two" / "checkpoint" / "state.json").read_text())["step"] == 3
    with pytest.raises(MotionGPTError, match="cannot resume: setting lr was 0.003, now 0.001"):
        train(dataset, tmp_path / "two", replace(settings(6), lr=1e-3), TINY)
    with pytest.raises(MotionGPTError, match="cannot resume: setting model.embed_dim was 16, now 8"):
        train(dataset, tmp_path / "two", settings(6), {**TINY, "embed_dim": 8})
    two = train(dataset, tmp_path / "two", replace(settings(6), save_every=2), TINY).model  # schedules may change
    for key, value in one.state_dict().items():
        assert torch.equal(value, two.state_dict()[key]), key


def test_score_cli_real_and_mismatched_captions(dataset, tmp_path, capsys):
    train(dataset, tmp_path / "model", settings(40), TINY)
    out = tmp_path / "score.json"
    args = ["evaluator", "score", "--data", str(dataset), "--evaluator", str(tmp_path / "model"), "--repeats", "3"]
    assert main(args + ["--json", str(out)]) == 0
    real = json.loads(out.read_text())["metrics"]
    assert main(args + ["--json", str(out), "--mismatched"]) == 0
    mismatched = json.loads(out.read_text())["metrics"]
    assert real["top1"]["mean"] > mismatched["top1"]["mean"]
    assert real["mm_dist"]["mean"] < mismatched["mm_dist"]["mean"]
    assert "top3" in capsys.readouterr().out


def test_feature_width_mismatch_and_empty_split_are_one_line_errors(dataset, tmp_path, capsys):
    model = train(dataset, tmp_path / "model", settings(1), TINY).model
    other = write_dataset(tmp_path / "wide", dim=DIM + 3)
    capsys.readouterr()
    code = main(["evaluator", "score", "--data", str(other), "--evaluator", str(tmp_path / "model")])
    err = capsys.readouterr().err
    assert code == 2 and "features are 15-d, the evaluator expects 12" in err and err.count("\n") == 1
    with pytest.raises(MotionGPTError, match=r"expects \(B, T, 12\)"):
        model.embed_motion(np.zeros((1, 20, 15), np.float32), [20])

    (other / "train.txt").write_text("")
    code = main(["evaluator", "train", "--data", str(other), "--out", str(tmp_path / "m2"), "--steps", "1"])
    err = capsys.readouterr().err
    assert code == 2 and "train.txt: no captioned motions of 40..199 frames" in err and err.count("\n") == 1
