"""`motiongpt eval` end to end on the tiny world of test_protocol.py: tables, resume, one-line errors."""

from __future__ import annotations

import importlib.util
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from motiongpt.cli import main
from motiongpt.eval.official import POS_CLASSES, OfficialEvaluator, WordVectorizer
from motiongpt.eval.report import ROW_TITLES

_spec = importlib.util.spec_from_file_location("eval_world", Path(__file__).with_name("test_protocol.py"))
world_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(world_module)


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    return world_module.build_world(tmp_path_factory.mktemp("cli-world"))


def eval_args(world, out, *extra):
    return ["eval", "--model", str(world["model"]), "--data", str(world["data"]), "--evaluator",
            str(world["evaluator"]), "--split", "test", "--repeats", "2", "--mm-texts", "2", "--mm-samples", "10",
            "--max-codes", "6", "--out", str(out), "--quiet", *extra]


def test_eval_writes_json_and_markdown_for_all_tasks_and_a_rerun_skips_finished_repeats(world, tmp_path, capsys):
    out = tmp_path / "run"
    assert main(eval_args(world, out)) == 0
    results = json.loads((out / "results.json").read_text())
    assert list(results["rows"]) == ["real", "text", "init", "last", "key"] and results["repeats"] == 2
    for row in ("text", "init", "last", "key"):
        metrics = results["rows"][row]
        for name in ("top1", "top2", "top3", "fid", "mm_dist", "diversity"):
            assert np.isfinite(metrics[name]["mean"]) and metrics[name]["conf95"] >= 0
        assert metrics["multimodality"]["mean"] >= 0 and metrics["multimodality"]["conf95"] is None
    assert results["rows"]["real"]["fid"]["mean"] >= 0 and "multimodality" not in results["rows"]["real"]
    for task in ("init", "last", "key"):
        assert results["rows"][task]["satisfied"]["mean"] == 1.0
        assert results["rows"][task]["recon"]["mean"] > 0
        assert f"{task}_recon" in results["rows"]["text"]
    markdown = (out / "results.md").read_text()
    assert "| Real motion |" in markdown and all(f"| {ROW_TITLES[t]} |" in markdown for t in ROW_TITLES)
    assert "Recon (m) ↓ text-only" in markdown and " ± " in markdown
    assert "| Real motion |" in capsys.readouterr().out

    repeat_files = sorted((out / "repeats").glob("r*.json"))
    assert [p.name for p in repeat_files] == ["r00.json", "r01.json"]
    stamp = repeat_files[0].stat().st_mtime_ns
    second = json.loads(repeat_files[1].read_text())
    # As if interrupted before the key task of the second repeat.
    repeat_files[1].write_text(json.dumps({k: v for k, v in second.items() if k != "key"}))
    assert main(eval_args(world, out)) == 0
    assert repeat_files[0].stat().st_mtime_ns == stamp  # the finished repeat was skipped
    assert json.loads(repeat_files[1].read_text()) == second  # the missing task, redone with the same seeds
    assert json.loads((out / "results.json").read_text()) == results  # same seed, same numbers

    assert main(eval_args(world, out, "--seed", "3")) == 2
    assert "holds results of another run" in capsys.readouterr().err


def test_bad_inputs_are_one_line_errors(world, tmp_path, capsys):
    def error(args):
        capsys.readouterr()
        assert main(args) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1, err
        return err

    narrow = world_module.tiny_evaluator(world["data"])
    narrow.config["feature_dim"] = 12
    type(narrow)(narrow.config, np.zeros(12, np.float32), np.ones(12, np.float32)).save_pretrained(tmp_path / "ev12")
    args = eval_args(world, tmp_path / "a")
    args[args.index("--evaluator") + 1] = str(tmp_path / "ev12")
    assert "features are 263-d, the evaluator expects 12" in error(args)

    (world["data"] / "empty.txt").write_text("")
    args = eval_args(world, tmp_path / "b")
    args[args.index("--split") + 1] = "empty"
    assert "empty.txt: no captioned motions" in error(args)

    assert "at least 32 motions" in error(eval_args(world, tmp_path / "c", "--limit", "8"))
    assert "expected one of text,init,last,key" in error(eval_args(world, tmp_path / "d", "--tasks", "text,pose"))

    # The official evaluator, saved as finest.tar from a small instance, with one GloVe file missing.
    glove, meta = tmp_path / "glove", tmp_path / "meta"
    glove.mkdir()
    meta.mkdir()
    words = ["sos", "eos", "unk", "a", "person", "walks"]
    np.save(glove / "our_vab_data.npy", np.random.default_rng(0).normal(size=(len(words), 300)).astype(np.float32))
    for name, obj in (("words", words), ("idx", {w: i for i, w in enumerate(words)})):
        with open(glove / f"our_vab_{name}.pkl", "wb") as f:
            pickle.dump(obj, f)
    np.save(meta / "mean.npy", np.zeros(263, np.float32))
    np.save(meta / "std.npy", np.ones(263, np.float32))
    sizes = {"movement_input": 259, "movement_hidden": 8, "movement_latent": 8, "word_size": 300,
             "pos_size": len(POS_CLASSES), "text_hidden": 8, "motion_hidden": 8, "output": 8}
    official = OfficialEvaluator(sizes, np.zeros(263, np.float32), np.ones(263, np.float32), WordVectorizer(glove))
    torch.save({k: getattr(official, k).state_dict() for k in ("movement_encoder", "text_encoder", "motion_encoder")},
               tmp_path / "finest.tar")
    args = eval_args(world, tmp_path / "e")
    at = args.index("--evaluator")
    args[at:at + 2] = ["--official", str(tmp_path / "finest.tar"), "--glove", str(glove), "--meta", str(meta)]
    (glove / "our_vab_idx.pkl").unlink()
    assert "our_vab_idx.pkl: GloVe vocabulary file not found" in error(args)
    assert "--official needs --glove DIR and --meta DIR" in error(args[:at + 2] + args[at + 6:])


def test_the_bundled_model_with_the_bundled_evaluator_needs_no_paths(sample_set, tmp_path, capsys):
    out = tmp_path / "eval"
    assert main(["eval", "--data", str(sample_set), "--evaluator", "bundled", "--split", "train", "--limit", "32",
                 "--repeats", "1", "--no-mm", "--max-codes", "8", "--tasks", "text,key", "--out", str(out),
                 "--quiet"]) == 0
    results = json.loads((out / "results.json").read_text())
    identity = results["identity"]
    assert identity["model"].endswith("assets/model-balanced") and len(identity["model_sha256"]) == 64
    rows = results["rows"]
    assert rows["real"]["top3"]["mean"] > 0.5 and 0 < rows["text"]["top3"]["mean"] <= 1
    assert rows["key"]["satisfied"]["mean"] == 1.0
