"""evaluate_generation on an untrained tiny world: a HumanML3D-layout dataset of random-walk skeletons, a tiny
VQ-VAE + tiny LLaMA (MotionGPT) and an untrained tiny text-motion evaluator. The builders here are also used by
test_eval_cli.py."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongpt.data import layout
from motiongpt.errors import MotionGPTError
from motiongpt.eval.control import control_metrics, local_joints
from motiongpt.eval.evaluator import DEFAULT_CONFIG, TextMotionEvaluator, load_batch, open_split
from motiongpt.eval.metrics import fid, matching_metrics
from motiongpt.eval.protocol import EvalSettings, _draw, evaluate_generation, summarise
from motiongpt.generation.pipeline import MotionGPT
from motiongpt.llm.base import build_base
from motiongpt.llm.formats import build_prompt, format_codes
from motiongpt.generation.settings import GenerationSettings
from motiongpt.llm.tasks import Task
from motiongpt.motion.features import joints_to_features
from motiongpt.motion.skeleton import T2M
from motiongpt.tokenizer import VQVAE, VQVAEConfig

CAPTIONS = ["a person walks forward.", "someone turns to the left while walking.", "a man walks slowly in a curve.",
            "the person strolls ahead and sways."]
TEST_MOTIONS = 36
CODEBOOK = 64
SMALL = dict(repeats=2, mm_texts=2, mm_samples=10, generation=GenerationSettings(max_codes=6), batch_size=32)


def rest_pose() -> np.ndarray:
    pose = np.zeros((T2M.num_joints, 3))
    for j, parent in enumerate(T2M.parents):
        if parent >= 0:
            pose[j] = pose[parent] + T2M.target_offsets[j]
    return pose - [0, pose[:, 1].min(), 0]


def random_walk(frames: int, rng: np.random.Generator) -> np.ndarray:
    """A skeleton walking along a random curve with smoothly wobbling joints, (frames, 22, 3) metres."""
    heading = np.cumsum(rng.normal(0, 0.02, frames))
    step = rng.uniform(0.02, 0.06) * np.stack([np.sin(heading), np.zeros(frames), np.cos(heading)], 1)
    wobble = np.cumsum(rng.normal(0, 0.004, (frames, T2M.num_joints, 3)), axis=0)
    wobble[:, 0] = 0
    return (rest_pose()[None] + wobble + np.cumsum(step, 0)[:, None]).astype(np.float32)


def write_dataset(root: Path, test_motions: int = TEST_MOTIONS, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    for sub in ("new_joint_vecs", "new_joints", "texts"):
        (root / sub).mkdir(parents=True)
    ids = {"train": [f"t{i:03d}" for i in range(4)], "test": [f"{i:06d}" for i in range(test_motions)]}
    features = []
    for motion_id in ids["train"] + ids["test"]:
        joints = random_walk(int(rng.integers(48, 90)), rng)
        feats = np.asarray(joints_to_features(joints.astype(np.float64)), np.float32)
        features.append(feats)
        captions = [layout.Caption(c, [], 0.0, 0.0) for c in rng.choice(CAPTIONS, 2, replace=False)]
        np.save(root / "new_joints" / f"{motion_id}.npy", joints)
        np.save(root / "new_joint_vecs" / f"{motion_id}.npy", feats)
        (root / "texts" / f"{motion_id}.txt").write_text("".join(layout.format_caption_line(c) + "\n"
                                                                 for c in captions))
    for split, split_ids in ids.items():
        (root / f"{split}.txt").write_text("\n".join(split_ids) + "\n")
    (root / "val.txt").write_text("")
    stacked = np.concatenate(features)
    np.save(root / "Mean.npy", stacked.mean(0))
    np.save(root / "Std.npy", stacked.std(0) + 1e-2)
    return root


def tiny_model(data: Path) -> MotionGPT:
    torch.manual_seed(0)
    vq = VQVAE(VQVAEConfig(codebook_size=CODEBOOK, code_dim=16, width=24, depth=2), *layout.load_mean_std(data))
    rng = np.random.default_rng(0)
    texts = [build_prompt(task.instruction, caption, None if task == Task.TEXT else [5, 17], "text") +
             format_codes(rng.integers(0, CODEBOOK, 8).tolist(), "text")
             for caption in CAPTIONS for task in Task]
    llm, tokenizer = build_base("tiny", texts, seed=0)
    return MotionGPT(vq.eval(), llm, tokenizer, "text")


def tiny_evaluator(data: Path) -> TextMotionEvaluator:
    torch.manual_seed(0)
    mean, std = layout.load_mean_std(data)
    config = {**DEFAULT_CONFIG, "movement_hidden": 16, "movement_latent": 16, "motion_hidden": 16,
              "embed_dim": 16, "feature_dim": int(mean.shape[0])}
    return TextMotionEvaluator(config, mean, std).eval()


def build_world(root: Path) -> dict[str, Path]:
    """data/, model/ (a MotionGPT model dir) and evaluator/ (an evaluator model dir) under root."""
    data = write_dataset(root / "data")
    tiny_model(data).save_pretrained(root / "model")
    tiny_evaluator(data).save_pretrained(root / "evaluator")
    return {"data": data, "model": root / "model", "evaluator": root / "evaluator"}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world")
    paths = build_world(root)
    return {**paths, "model_obj": MotionGPT.from_pretrained(paths["model"]),
            "evaluator_obj": TextMotionEvaluator.from_pretrained(paths["evaluator"]),
            "dataset": open_split(paths["data"], "test", 263)}


def test_draw_codes_and_positions_come_from_the_real_crops(world):
    model, dataset = world["model_obj"], world["dataset"]
    order = list(range(len(dataset)))[::-1]
    draw = _draw(dataset, order, 7, model, [0, 3])
    batch = load_batch(dataset, order, 7)
    assert [c.text for c in draw.captions] == batch["captions"]
    for i in (0, 5, len(order) - 1):
        crop = batch["features"][i, :batch["lengths"][i]].numpy()
        assert np.array_equal(draw.codes[i], model.vq.encode_motion(crop))
        assert len(draw.codes[i]) * 4 == len(crop) == len(draw.local[i])
        assert draw.positions["init"][i] == [0] and draw.positions["last"][i] == [len(draw.codes[i]) - 1]
        keys = draw.positions["key"][i]
        assert 3 <= len(keys) <= 5 and keys == sorted(set(keys))
    again = _draw(dataset, order, 7, model, [0, 3])
    other = _draw(dataset, order, 7, model, [0, 4])
    assert again.positions == draw.positions and other.positions["key"] != draw.positions["key"]


def test_evaluate_generation_matches_metrics_computed_by_hand_and_resumes(world, tmp_path):
    model, evaluator, dataset = world["model_obj"], world["evaluator_obj"], world["dataset"]
    settings = EvalSettings(tasks=("text", "key"), **{**SMALL, "repeats": 1}, mm_per_repeat=False)
    results = evaluate_generation(model, evaluator, dataset, tmp_path, settings, identity={"split": "test"},
                                  progress=False)
    saved = json.loads((tmp_path / "repeats" / "r00.json").read_text())
    assert set(saved) == {"real", "text", "key"}
    assert results["rows"]["key"]["satisfied"]["mean"] == 1.0  # constrained decoding always meets the controls

    # The repeat's draw and the text task's generations, redone by hand with the documented seeds.
    rng = np.random.default_rng([0, 0])
    order = rng.permutation(len(dataset)).tolist()
    epoch, second_epoch, base_seed = (int(v) for v in rng.integers(2**30, size=3))
    draw = _draw(dataset, order, epoch, model, [0, 0])
    text = evaluator.embed_captions(draw.captions)
    real = evaluator.embed_motion(draw.features, draw.lengths)
    second = load_batch(dataset, order, second_epoch)
    assert saved["real"]["fid"] == pytest.approx(fid(real, evaluator.embed_motion(second["features"],
                                                                                   second["lengths"])))
    assert saved["real"]["top1"] == pytest.approx(matching_metrics(text, real)["top1"])
    motions = model.generate([c.text for c in draw.captions], seed=base_seed, max_codes=6)
    lengths = [len(m.features) for m in motions]
    padded = np.zeros((len(motions), max(lengths), 263), np.float32)
    for i, m in enumerate(motions):
        padded[i, :len(m.features)] = m.features
    generated = evaluator.embed_motion(padded, lengths)
    assert saved["text"]["fid"] == pytest.approx(fid(real, generated), rel=1e-3)  # float32 embeddings
    assert saved["text"]["mm_dist"] == pytest.approx(matching_metrics(text, generated)["mm_dist"], rel=1e-5)
    recon = [control_metrics("init", m.codes, local_joints(m.features), draw.codes[i], draw.local[i], [0],
                             model.spec.fps)["recon"] for i, m in enumerate(motions)]
    assert saved["text"]["init_recon"] == pytest.approx(np.mean(recon), rel=1e-6)
    assert "multimodality" in results["rows"]["text"] and results["rows"]["text"]["multimodality"]["conf95"] is None

    # A rerun reads everything back; another seed into the same dir is refused.
    (tmp_path / "cache").rename(tmp_path / "moved")
    assert evaluate_generation(model, evaluator, dataset, tmp_path, settings, identity={"split": "test"},
                               progress=False) == results
    assert not (tmp_path / "cache").exists()  # nothing was recomputed
    with pytest.raises(MotionGPTError, match="another run .*seed"):
        evaluate_generation(model, evaluator, dataset, tmp_path, EvalSettings(**{**SMALL, "seed": 1}),
                            progress=False)


def test_summarise_gives_mean_and_interval_over_repeats():
    settings = EvalSettings(tasks=("init",), repeats=3)
    per_repeat = [{"real": {"fid": v}, "init": {"fid": 2 * v, "vel": w}}
                  for v, w in ((1.0, 0.5), (2.0, float("nan")), (4.0, 1.5))]
    rows = summarise(per_repeat, settings, {"init": 0.7}, 40, {})["rows"]
    values = np.array([1.0, 2.0, 4.0])
    assert rows["real"]["fid"]["mean"] == pytest.approx(values.mean())
    assert rows["real"]["fid"]["conf95"] == pytest.approx(1.96 * values.std() / np.sqrt(3))
    assert rows["init"]["fid"]["mean"] == pytest.approx(2 * values.mean())
    assert rows["init"]["vel"]["mean"] == pytest.approx(1.0)  # the NaN repeat is left out
    assert rows["init"]["multimodality"] == {"mean": 0.7, "conf95": None}


@pytest.mark.parametrize("kwargs, message", [
    ({"tasks": ("text", "pose")}, "expected one of text,init,last,key"),
    ({"limit": 10}, "at least 32 motions"),
    ({"mm_samples": 5}, "at least 10 samples"),
    ({"repeats": 0}, "repeats 0: must be at least 1"),
])
def test_bad_settings_are_refused(kwargs, message):
    with pytest.raises(MotionGPTError, match=message):
        EvalSettings(**kwargs).check()
