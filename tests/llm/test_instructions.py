import json

import numpy as np
import pytest

from motiongpt.cli import main
from motiongpt.data.layout import load_captions, split_ids
from motiongpt.errors import MotionGPTError
from motiongpt.llm.formats import parse_codes
from motiongpt.llm.instructions import build_instructions, drop_captions, read_records
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
    assert main(["instructions", "build", "--data", str(dataset), "--out", str(tmp_path / "c"), "--balance", "1",
                 "--fresh-captions", "--codebook-size", str(codebook)]) == 0
    assert read_records(tmp_path / "c" / "train.jsonl") == build_instructions(
        dataset, codebook_size=codebook, balance=1.0, fresh_captions=True)["train"]
    assert json.loads((tmp_path / "c" / "info.json").read_text())["fresh_captions"] is True


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


def bandai_records(counts: dict[tuple[str, str], int]) -> list[dict]:
    """Four task records per caption of motions with Bandai ids: `counts` clips per (content, style), each with
    its mirrored copy, as `motiongpt data bandai` names them."""
    import random

    from motiongpt.llm.instructions import motion_records

    records = []
    for (content, style), n in counts.items():
        for take in range(1, n + 1):
            for motion_id in (f"dataset-2_{content}_{style}_{take:03d}", f"Mdataset-2_{content}_{style}_{take:03d}_w01"):
                records.extend(motion_records(motion_id, [1, 2, 3, 4], ["a caption"], random.Random(motion_id)))
    return records


def test_motion_labels_read_every_real_bandai_sample(bandai_sample_bvh):
    from motiongpt.data.bandai import motion_labels

    names = [p.stem for p in bandai_sample_bvh.glob("*.bvh")]
    assert len(names) == 70
    for name in names:
        _, content, style, _ = name.split("_")
        assert motion_labels(name) == motion_labels(f"M{name}_w02") == (content, style)
    assert motion_labels("000123") is None and motion_labels("dataset-2_fly_normal_001") is None


def test_balanced_sampling_gives_rare_contents_and_styles_their_share():
    from motiongpt.llm.instructions import balance_records, group_counts

    counts = {("run", "normal"): 60, ("run", "elderly"): 20, ("kick", "normal"): 1, ("bow", "sad"): 3}
    records = bandai_records(counts)
    assert balance_records(records, 0.0) == records  # power 0: today's clip-count proportions
    before = group_counts(records)["contents"]
    assert before["run"] == 80 * before["kick"]
    balanced = balance_records(records, 1.0, seed=0)
    after = group_counts(balanced)
    assert abs(len(balanced) - len(records)) < 0.02 * len(records)
    share = {c: n / len(balanced) for c, n in after["contents"].items()}
    assert all(abs(s - 1 / 3) < 0.02 for s in share.values()), share  # every content a third
    run = [r for r in balanced if "_run_" in r["id"]]
    elderly = sum("_elderly_" in r["id"] for r in run) / len(run)
    assert abs(elderly - 0.5) < 0.03  # every style an equal share within its content
    half = group_counts(balance_records(records, 0.5, seed=0))["contents"]
    assert before["kick"] < half["kick"] < after["contents"]["kick"]  # in between
    assert balance_records(records, 1.0, seed=0) == balanced and balance_records(records, 1.0, seed=1) != balanced
    assert {r["id"] for r in balanced if "_kick_" in r["id"]} == {r["id"] for r in records if "_kick_" in r["id"]}
    with pytest.raises(MotionGPTError, match="balance power 2"):
        balance_records(records, 2.0)


def test_fresh_captions_give_repeats_new_wordings_of_their_content_style_and_side():
    from motiongpt.data.bandai import STYLES
    from motiongpt.llm.instructions import balance_records, split_input

    records = bandai_records({("run", "normal"): 60, ("guide", "angry"): 1})
    plain = balance_records(records, 1.0, seed=0)
    fresh = balance_records(records, 1.0, seed=0, fresh_captions=True)
    assert [r["id"] for r in fresh] == [r["id"] for r in plain]
    assert fresh == balance_records(records, 1.0, seed=0, fresh_captions=True)
    assert all(split_input(r["input"])[0] == "a caption" for r in fresh if "_run_" in r["id"])  # not repeated
    guide = [(r, *split_input(r["input"])) for r in fresh if "_guide_" in r["id"]]
    captions = [caption for _, caption, _ in guide]
    assert captions.count("a caption") == 8  # the first copy of each of the clip's 8 records keeps its caption
    assert len(set(captions)) > 0.5 * len(guide) > 20  # the repeats: many wordings, not one
    style_words = STYLES["angry"].adjectives + STYLES["angry"].adverbs
    assert sum(any(w in c for w in style_words) for c in captions) > 0.5 * len(guide)
    originals = {(r["id"], r["task"]): split_input(r["input"])[1] for r in records}
    for record, caption, control in guide:
        assert control == originals[record["id"], record["task"]]  # controls kept
        if caption != "a caption":
            assert "way" in caption or "guide" in caption
            assert ("left" in caption) == record["id"].startswith("M")  # the mirrored copy: the other arm


def test_fresh_captions_below_a_clip_count_leave_the_common_contents_as_they_were():
    from motiongpt.llm.instructions import balance_records, split_input

    records = bandai_records({("run", "normal"): 30, ("walk-back", "sad"): 2, ("guide", "angry"): 1})
    everywhere = balance_records(records, 1.0, seed=0, fresh_captions=True)
    below = balance_records(records, 1.0, seed=0, fresh_captions=True, fresh_below=3)  # walk-back 2, guide 1 clip
    assert [r["id"] for r in below] == [r["id"] for r in everywhere]
    for content, expected in (("run", balance_records(records, 1.0, seed=0)), ("walk-back", everywhere),
                              ("guide", everywhere)):
        assert [r for r in below if f"_{content}_" in r["id"]] == [r for r in expected if f"_{content}_" in r["id"]]
    assert len({split_input(r["input"])[0] for r in below if "_walk-back_" in r["id"]}) > 10
    only_guide = balance_records(records, 1.0, seed=0, fresh_captions=True, fresh_below=2)
    assert {split_input(r["input"])[0] for r in only_guide if "_walk-back_" in r["id"]} == {"a caption"}


def test_cli_fresh_captions_below_records_its_threshold_and_needs_balance(dataset, tmp_path, codebook, capsys):
    out = tmp_path / "fresh"
    assert main(["instructions", "build", "--data", str(dataset), "--out", str(out), "--balance", "1",
                 "--fresh-captions-below", "5", "--codebook-size", str(codebook)]) == 0
    assert read_records(out / "train.jsonl") == build_instructions(
        dataset, codebook_size=codebook, balance=1.0, fresh_captions=True, fresh_below=5)["train"]
    info = json.loads((out / "info.json").read_text())
    assert info["fresh_captions"] is True and info["fresh_below"] == 5
    capsys.readouterr()
    assert main(["instructions", "build", "--data", str(dataset), "--out", str(tmp_path / "x"),
                 "--fresh-captions-below", "5", "--codebook-size", str(codebook)]) == 2
    err = capsys.readouterr().err.strip()
    assert "--fresh-captions needs --balance" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_build_balances_train_only(dataset, codebook):
    plain = build_instructions(dataset, codebook_size=codebook)
    balanced = build_instructions(dataset, codebook_size=codebook, balance=1.0)
    assert balanced["val"] == plain["val"]
    assert {r["id"] for r in balanced["train"]} <= {r["id"] for r in plain["train"]}


def test_caption_dropout_leaves_out_a_seeded_tenth_of_the_descriptions_and_keeps_controls(dataset, codebook):
    records = build_instructions(dataset, codebook_size=codebook)["train"]
    dropped = drop_captions(records, 0.1, seed=5)
    changed = [(a, b) for a, b in zip(records, dropped) if a != b]
    assert len(changed) == round(0.1 * len(records)) and len(dropped) == len(records)
    for before, after in changed:
        assert split_input(after["input"]) == ("", split_input(before["input"])[1])
        assert {k: v for k, v in after.items() if k != "input"} == {k: v for k, v in before.items() if k != "input"}
    assert drop_captions(records, 0.1, seed=5) == dropped and drop_captions(records, 0.1, seed=6) != dropped
    assert drop_captions(records, 0.0, seed=5) == records
