import json

import numpy as np
import pytest

from motiongpt.cli import main
from motiongpt.data.layout import load_captions, split_ids
from motiongpt.errors import MotionGPTError
from motiongpt.llm.formats import parse_codes
from motiongpt.llm.instructions import build_instructions, read_records
from motiongpt.llm.prompts import split_input
from motiongpt.llm.tasks import Task


def test_four_tasks_per_caption(dataset, codebook):
    splits = build_instructions(dataset, codebook_size=codebook)
    for split in ("train", "val"):
        ids = split_ids(dataset, split)
        n_captions = sum(len(load_captions(dataset, i)) for i in ids)
        assert len(splits[split]) == 4 * n_captions
    for record in splits["train"]:
        assert set(record) == {"instruction", "input", "output", "id", "task"}
        codes = np.load(dataset / "VQVAE" / f"{record['id']}.npy").tolist()
        assert record["output"] == ",".join(map(str, codes))
        assert record["instruction"] == Task.parse(record["task"]).instruction
        caption, control = split_input(record["input"])
        assert caption in [c.text for c in load_captions(dataset, record["id"])]
        if record["task"] == "text":
            assert control is None
        else:
            given = parse_codes(control, "text", None)
            if record["task"] == "init":
                assert given == codes[:1]
            elif record["task"] == "last":
                assert given == codes[-1:]
            else:
                assert min(3, len(codes)) <= len(given) <= 5
                it = iter(codes)
                assert all(any(c == g for c in it) for g in given)  # an ordered subsequence


def test_one_caption_and_seeding(dataset, codebook):
    one = build_instructions(dataset, one_caption=True, seed=3, codebook_size=codebook)
    assert len(one["train"]) == 4 * len(split_ids(dataset, "train"))
    assert [r["task"] for r in one["train"][:4]] == [t.value for t in Task]
    assert one == build_instructions(dataset, one_caption=True, seed=3, codebook_size=codebook)
    other = build_instructions(dataset, one_caption=True, seed=4, codebook_size=codebook)
    assert other != one


def test_cli_build_writes_jsonl_and_json(dataset, tmp_path, codebook):
    assert main(["instructions", "build", "--data", str(dataset), "--out", str(tmp_path / "a"),
                 "--codebook-size", str(codebook)]) == 0
    train = read_records(tmp_path / "a" / "train.jsonl")
    assert train == build_instructions(dataset, codebook_size=codebook)["train"]
    info = json.loads((tmp_path / "a" / "info.json").read_text())
    assert info["codebook_size"] == codebook and info["records"]["train"] == len(train)
    vq = tmp_path / "vq"
    vq.mkdir()
    (vq / "config.json").write_text(json.dumps({"codebook_size": codebook}))
    assert main(["instructions", "build", "--data", str(dataset), "--out", str(tmp_path / "b"), "--json",
                 "--one-caption", "--vq", str(vq)]) == 0
    assert len(json.loads((tmp_path / "b" / "train.json").read_text())) == 4 * len(split_ids(dataset, "train"))


def test_code_outside_codebook_is_a_one_line_error(dataset, tmp_path, capsys, codebook):
    bad = dataset / "VQVAE" / f"{split_ids(dataset, 'val')[1]}.npy"
    np.save(bad, np.array([1, 2, codebook + 5]))
    assert main(["instructions", "build", "--data", str(dataset), "--out", str(tmp_path / "o"),
                 "--codebook-size", str(codebook)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err and str(codebook + 5) in err
    assert not (tmp_path / "o").exists()


def test_missing_fields_name_the_line(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text(json.dumps({"instruction": "x", "input": "y", "output": "1,2"}) + "\n"
                    + json.dumps({"instruction": "x", "output": "1"}) + "\n")
    with pytest.raises(MotionGPTError, match=r"train\.jsonl: line 2: .*input"):
        read_records(path)
    path = tmp_path / "val.json"
    path.write_text(json.dumps([{"instruction": "x", "input": "", "output": 5}]))
    with pytest.raises(MotionGPTError, match=r"val\.json: record 0: .*output"):
        read_records(path)


def test_codebook_size_is_the_vq_configs_codebook_size(tmp_path):
    from motiongpt.llm.instructions import codebook_size_from_vq
    from motiongpt.tokenizer import VQVAE, preset_config

    VQVAE(preset_config("tiny")).save_pretrained(tmp_path / "vq")
    assert codebook_size_from_vq(tmp_path / "vq") == preset_config("tiny").codebook_size
    (tmp_path / "bad").mkdir()
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "config.json").write_text(json.dumps({"nb_code": 64}))  # T2M-GPT's name for it
    assert codebook_size_from_vq(tmp_path / "old") == 64
    (tmp_path / "bad" / "config.json").write_text(json.dumps({"codes": 64}))
    with pytest.raises(MotionGPTError, match="unknown fields"):
        codebook_size_from_vq(tmp_path / "bad")
