import json
import shutil

import numpy as np
import pytest
import torch

from motiongpt.cli import main
from motiongpt.data.layout import load_features
from motiongpt.tokenizer.encode import dataset_ids
from motiongpt.tokenizer import VQVAE, preset_config


@pytest.fixture(scope="module")
def model_dir(dataset, tmp_path_factory):
    torch.manual_seed(0)
    from motiongpt.data.layout import load_mean_std

    model = VQVAE(preset_config("tiny"), *load_mean_std(dataset)).train()
    model(torch.randn(4, 32, 263))
    path = tmp_path_factory.mktemp("vqmodel") / "vq"
    model.save_pretrained(path)
    return path


def test_encode_writes_int16_codes_for_every_split_and_mirror(dataset, model_dir, capsys):
    assert main(["vq", "encode", "--model", str(model_dir), "--data", str(dataset), "--quiet"]) == 0
    assert "1 shorter than 4 frames skipped" in capsys.readouterr().out
    written = {p.stem for p in (dataset / "VQVAE").glob("*.npy")}
    assert written == set(dataset_ids(dataset)) - {"000203"}
    assert {"M000000", "M000001", "000100", "000200"} <= written
    model = VQVAE.from_pretrained(model_dir)
    for motion_id in ("000005", "M000001"):
        codes = np.load(dataset / "VQVAE" / f"{motion_id}.npy")
        raw = load_features(dataset, motion_id)
        assert codes.dtype == np.int16 and len(codes) == len(raw) // 4
        assert np.array_equal(codes, model.encode_motion(raw))


def test_eval_reports_json(dataset, model_dir, tmp_path, capsys):
    out = tmp_path / "metrics.json"
    assert main(["vq", "eval", "--model", str(model_dir), "--data", str(dataset), "--split", "test",
                 "--out", str(out)]) == 0
    printed = json.loads(capsys.readouterr().out)
    saved = json.loads(out.read_text())
    assert printed == saved
    assert saved["motions"] == 3 and saved["skipped_short"] == 1
    assert saved["frames"] == sum(len(load_features(dataset, i)) // 4 * 4 for i in ("000200", "000201", "000202"))
    assert saved["mpjpe_mm"] > 0 and saved["mpjpe_root_aligned_mm"] > 0 and saved["feature_l1"] > 0
    assert 0 < saved["codebook_usage"] <= 1 and 1 <= saved["perplexity"] <= 32


def test_eval_of_a_checkpoint_without_statistics_says_what_to_pass(dataset, model_dir, tmp_path, capsys):
    sd = {f"vqvae.{k}": v for k, v in VQVAE.from_pretrained(model_dir).state_dict().items()
          if not k.startswith(("quantizer.code_", "quantizer.initialised"))}
    torch.save({"net": sd}, tmp_path / "net.pth")
    assert main(["vq", "eval", "--model", str(tmp_path / "net.pth"), "--data", str(dataset)]) == 2
    assert "no Mean/Std" in capsys.readouterr().err
    assert main(["vq", "eval", "--model", str(tmp_path / "net.pth"), "--data", str(dataset),
                 "--stats", str(dataset)]) == 0


@pytest.mark.parametrize("command", ["encode", "eval"])
def test_corrupt_feature_file_is_one_line_and_exit_2(dataset, model_dir, tmp_path, capsys, command):
    data = tmp_path / "data"
    shutil.copytree(dataset, data, ignore=shutil.ignore_patterns("VQVAE"))
    (data / "new_joint_vecs" / "000200.npy").write_bytes(b"truncated")
    quiet = ["--quiet"] if command == "encode" else []
    assert main(["vq", command, "--model", str(model_dir), "--data", str(data), *quiet]) == 2
    err = capsys.readouterr().err
    assert "000200.npy: cannot read" in err and err.count("\n") == 1, err
