"""The whole Bandai recipe, `tiny` preset, on dataset-2's 70 real sample clips: every step's output, then resumption."""

from __future__ import annotations

import dataclasses
import json

import pytest

from motiongpt.cli import main
from motiongpt.data.bandai import dataset_jobs
from motiongpt.errors import MotionGPTError
from motiongpt.recipe import LOG_NAME, STATE_NAME, STEPS, SUMMARY_NAME, recipe_settings, run_recipe


@pytest.fixture(scope="module")
def jobs(bandai_sample_bvh):
    """The sample clips (one per content x style) as one split stratum, so that they give val motions too."""
    found = dataset_jobs(bandai_sample_bvh, bandai_sample_bvh.parent / "cfg", "dataset-2")
    return [dataclasses.replace(j, group="sample") for j in found]


def _outputs(out):
    return {
        "data": out / "data" / "dataset.json",
        "vq_train": out / "vq" / "best" / "model.safetensors",
        "vq_eval": out / "vq_eval.json",
        "vq_encode": out / "data" / "VQVAE",
        "instructions": out / "instructions" / "train.jsonl",
        "llm": out / "llm" / "motiongpt.json",
        "evaluator": out / "evaluator" / "model.safetensors",
        "assemble": out / "model" / "pipeline.json",
        "fidelity": out / "model" / "caption_fidelity.json",
        "eval": out / "eval" / "results.json",
    }


def test_tiny_recipe_runs_every_step_and_resumes(bandai_sample_bvh, jobs, tmp_path):
    out = tmp_path / "recipe"
    messages = []
    state = run_recipe(bandai_sample_bvh, out, preset="tiny", until="instructions", jobs=jobs, progress=False,
                       echo=messages.append)
    first = STEPS[:STEPS.index("instructions") + 1]
    assert list(state["steps"]) == list(first)
    outputs = _outputs(out)
    assert all(outputs[s].exists() for s in first)
    assert not any(outputs[s].exists() for s in STEPS if s not in first)
    stamps = {s: outputs[s].stat().st_mtime_ns for s in first}

    state = run_recipe(bandai_sample_bvh, out, preset="tiny", jobs=jobs, progress=False, echo=messages.append)
    assert list(state["steps"]) == list(STEPS)
    assert all(outputs[s].exists() for s in STEPS)
    assert {s: outputs[s].stat().st_mtime_ns for s in first} == stamps  # finished steps were not redone
    assert all(f"{s}: finished earlier, skipped" in "\n".join(messages) for s in first)

    figures = {s: state["steps"][s]["figures"] for s in STEPS}
    assert figures["data"]["clips"] == len(jobs) and all(figures["data"]["split_motions"].values())
    info = json.loads((out / "instructions" / "info.json").read_text())
    assert info["fresh_captions"] is True and info["fresh_below"] == 100  # rare contents' repeats: fresh captions
    tuned = recipe_settings("tiny")["vq_train"]["balanced_finetune"]
    assert figures["vq_train"]["balanced"]["steps"] == tuned["steps"]  # the tokenizer, finetuned balanced
    assert json.loads((out / "vq_eval.json").read_text())["model"] == str(out / "vq-balanced" / "best")
    assert json.loads((out / "vq-balanced" / "checkpoint" / "state.json").read_text())["config"]["init"] == str(
        out / "vq" / "best")
    assert figures["vq_eval"]["mpjpe_mm"] > 0 and 0 < figures["vq_eval"]["codebook_usage"] <= 1
    assert figures["vq_encode"]["encoded"] == figures["data"]["motions"]
    assert figures["llm"]["steps"] == recipe_settings("tiny")["llm"]["steps"]
    assert figures["llm"]["val_loss"] > 0 and 0 <= figures["llm"]["val_acc"] <= 1
    fidelity = json.loads(outputs["fidelity"].read_text())  # every caption of the model's list, judged once
    assert figures["fidelity"]["captions"] == fidelity["captions"] == len((out / "model" / "captions" /
                                                                           "captions.txt").read_text().splitlines())
    assert figures["fidelity"]["judged"] > 0 and set(fidelity["fidelity"]) <= {0.0, 1.0, None}
    log = [json.loads(line) for line in (out / LOG_NAME).read_text().splitlines()]
    assert [r["step"] for r in log] == list(STEPS)
    assert json.loads((out / STATE_NAME).read_text()) == state
    summary = (out / SUMMARY_NAME).read_text()
    assert "MPJPE" in summary and "val loss" in summary

    assert main(["recipe", "bandai", "--shared-data", str(bandai_sample_bvh), "--out", str(out), "--preset", "tiny",
                 "--quiet"]) == 0  # everything finished: the command only reports
    assert [json.loads(line)["step"] for line in (out / LOG_NAME).read_text().splitlines()] == list(STEPS)
    assert {s: outputs[s].stat().st_mtime_ns for s in first} == stamps


def test_budgets_and_bad_arguments(tmp_path, capsys):
    assert recipe_settings("cpu", minutes={"llm": 60})["llm"]["steps"] == 720
    assert recipe_settings("cpu", steps={"vq_train": 100})["vq_train"]["steps"] == 100
    with pytest.raises(MotionGPTError, match="not a training step"):
        recipe_settings("cpu", steps={"data": 3})
    with pytest.raises(MotionGPTError, match="no measured speeds"):
        recipe_settings("tiny", minutes={"llm": 1})
    assert main(["recipe", "bandai", "--shared-data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--steps", "llm"]) == 2
    assert "expected STEP=VALUE" in capsys.readouterr().err
    assert main(["recipe", "bandai", "--shared-data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "neither" in capsys.readouterr().err  # no Bandai folders there: one line, no traceback


def test_a_pretrained_base_swaps_the_llm_step_for_lora_on_balanced_instructions():
    settings = recipe_settings("cpu", base="smollm2-135m", minutes={"llm": 60})
    llm = settings["llm"]
    assert llm["base"] == "smollm2-135m" and not llm["full"] and llm["lr"] == 3e-3 and llm["prompt"] == "compact"
    assert llm["format"] == "vocab"  # at equal CPU time it learns as much as text answers, and decodes faster
    assert llm["steps"] == 600 and settings["instructions"]["balance"] == 0.5 and settings["eval"]["tasks"] == ["text"]
    assert recipe_settings("cpu", base="small") == recipe_settings("cpu")
    assert recipe_settings("cpu")["instructions"]["balance"] == 0.75  # the default model's: rare contents weigh more
    assert settings["instructions"]["fresh_below"] == recipe_settings("cpu")["instructions"]["fresh_below"] == 100


def test_reuse_takes_a_trained_model_instead_of_training_one(tmp_path, capsys):
    from motiongpt.eval.evaluator import BUNDLED_EVALUATOR
    from motiongpt.generation.pipeline import model_parts
    from motiongpt.recipe import RecipeRun

    settings = recipe_settings("cpu", reuse={"vq_train": "bundled", "evaluator": "bundled"})
    assert settings["vq_train"] == {"reuse": str(model_parts(None)["vq"])}
    assert settings["evaluator"] == {"reuse": str(BUNDLED_EVALUATOR)}
    run = RecipeRun(tmp_path, tmp_path / "out", "cpu", settings, tmp_path)
    assert run.vq_model == model_parts(None)["vq"] and run.evaluator == BUNDLED_EVALUATOR
    assert run.vq_model.joinpath("model.safetensors").is_file()
    with pytest.raises(MotionGPTError, match="only vq_train, evaluator"):
        recipe_settings("cpu", reuse={"llm": "bundled"})
    with pytest.raises(MotionGPTError, match="drop its --steps"):
        recipe_settings("cpu", steps={"vq_train": 10}, reuse={"vq_train": "bundled"})
    with pytest.raises(MotionGPTError, match="no config.json"):
        recipe_settings("cpu", reuse={"evaluator": str(tmp_path)})
    assert main(["recipe", "bandai", "--shared-data", str(tmp_path), "--out", str(tmp_path / "o"),
                 "--reuse", "vq_train"]) == 2
    assert "--reuse 'vq_train': expected STEP=VALUE, e.g. --reuse vq_train=bundled" in capsys.readouterr().err
