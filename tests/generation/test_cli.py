"""`motiongpt generate` end to end on a saved tiny model: files written, errors as one line with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest

from motiongpt.cli import main
from motiongpt.llm.tasks import Task


def test_writes_every_file(model_dir, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", "a person walks forward.", "-o", str(out), "--model", str(model_dir),
                 "--key-tokens", "12,250", "--last-token", "7", "--max-codes", "5", "--seed", "4"]) == 0
    assert sorted(p.name for p in out.iterdir()) == ["features.npy", "motion.bvh", "motion.gif", "motion.mp4",
                                                      "motion.npy", "tokens.json"]
    record = json.loads((out / "tokens.json").read_text())
    joints, features = np.load(out / "motion.npy"), np.load(out / "features.npy")
    assert joints.shape == (4 * len(record["codes"]), 22, 3) and features.shape == (len(joints), 263)
    assert record["codes"][-1] == 7 and record["seed"] == 4 and record["satisfies_controls"]
    assert record["settings"]["temperature"] == 0.8 and record["settings"]["top_k"] == 200
    assert "<Motion Token>12,250,7</Motion Token>" in record["prompt"]
    assert all((out / name).stat().st_size > 0 for name in ("motion.gif", "motion.mp4", "motion.bvh"))
    assert str(out) in capsys.readouterr().out


def test_several_texts_and_samples_get_their_own_dirs(model_dir, tmp_path):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("a man jumps.\n\nsomeone waves\n")
    out = tmp_path / "out"
    assert main(["generate", "a person walks forward.", "--from-file", str(prompts), "-o", str(out), "--model",
                 str(model_dir), "--num-samples", "2", "--max-codes", "3", "--formats", "npy", "--seed", "0"]) == 0
    dirs = sorted(p.name for p in out.iterdir())
    assert dirs == ["a_man_jumps_0", "a_man_jumps_1", "a_person_walks_forward_0", "a_person_walks_forward_1",
                    "someone_waves_0", "someone_waves_1"]
    seeds = {json.loads((out / d / "tokens.json").read_text())["seed"] for d in dirs}
    assert seeds == set(range(6))
    assert not (out / "someone_waves_0" / "motion.gif").exists()


def test_one_text_with_samples_and_the_original_demo_form(model_dir, tmp_path):
    out = tmp_path / "demo"
    assert main(["generate", "--prompt", Task.INIT.instruction, "--input",
                 "a person walks forward.<Motion Token>215</Motion Token>", "-o", str(out), "--model",
                 str(model_dir), "--num-samples", "2", "--max-codes", "3", "--formats", "npy"]) == 0
    for k in range(2):
        record = json.loads((out / f"sample_{k}" / "tokens.json").read_text())
        assert record["codes"][0] == 215 and record["task"] == "init"
        assert record["caption"] == "a person walks forward."


def test_unconstrained_runs(model_dir, tmp_path):
    out = tmp_path / "free"
    assert main(["generate", "a man jumps.", "-o", str(out), "--model", str(model_dir), "--unconstrained",
                 "--max-codes", "3", "--formats", "npy", "--seed", "1"]) == 0
    record = json.loads((out / "tokens.json").read_text())
    assert record["settings"]["constrained"] is False and 1 <= len(record["codes"]) <= 3


@pytest.mark.parametrize("args, message", [
    (["a man jumps.", "--init-token", "300"], "initial token 300: outside the codebook"),
    (["a man jumps.", "--key-tokens", "walk,run"], "expected comma-separated non-negative integers"),
    (["a man jumps.", "--last-token", "-3"], "expected comma-separated non-negative integers"),
    (["a man jumps.", "--init-token", "1,2"], "expected one code"),
    ([""], "expected a non-empty text"),
    ([], "no description given"),
    (["a man jumps.", "--init-pose", "{tmp}/bad.npy"], "expected joints"),
    (["a man jumps.", "--key-poses", "{tmp}/missing.npy:3"], "not found"),
    (["a man jumps.", "--formats", "npy,avi"], "--formats"),
    (["a man jumps.", "--temperature", "0"], "temperature"),
    (["a man jumps.", "--guidance", "20"], "guidance 20"),
    (["--prompt", "Make a motion.", "--input", "a man jumps."], "not one of the original's instructions"),
    (["--prompt", Task.INIT.instruction, "--input", "a man jumps.<Motion Token>315</Motion Token>"],
     "outside the codebook"),
    (["--prompt", Task.LAST.instruction, "--input", "a man jumps."], "needs codes"),
])
def test_invalid_input_gives_one_line_and_exit_2(model_dir, tmp_path, capsys, args, message):
    np.save(tmp_path / "bad.npy", np.zeros((10, 21, 3), np.float32))
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    code = main(["generate", *args, "-o", str(tmp_path / "out"), "--model", str(model_dir)])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists()


def test_assemble_command(model_dir, tmp_path, capsys):
    out = tmp_path / "assembled"
    assert main(["assemble", "--vq", str(model_dir / "vq"), "--llm", str(model_dir / "llm"), "-o", str(out)]) == 0
    assert (out / "pipeline.json").is_file() and (out / "vq" / "Mean.npy").is_file()
    assert main(["assemble", "--vq", str(model_dir / "vq"), "--llm", str(model_dir / "llm"), "-o", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err
    guided = tmp_path / "guided"
    assert main(["assemble", "--vq", str(model_dir / "vq"), "--llm", str(model_dir / "llm"), "-o", str(guided),
                 "--guidance", "2"]) == 0
    assert json.loads((guided / "llm" / "motiongpt.json").read_text())["guidance"] == 2.0


def test_existing_output_dir_is_refused_before_the_model_loads(tmp_path, capsys):
    out = tmp_path / "out"
    (out / "sample_1").mkdir(parents=True)
    (out / "sample_1" / "keep.txt").write_text("mine")
    code = main(["generate", "a man jumps.", "--num-samples", "2", "-o", str(out), "--model",
                 str(tmp_path / "no-model")])
    err = capsys.readouterr().err
    assert code == 2 and "sample_1: already exists" in err and err.count("\n") == 1, err
    assert (out / "sample_1" / "keep.txt").read_text() == "mine" and not (out / "sample_0").exists()
