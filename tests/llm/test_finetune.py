import json
import os
import signal
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from transformers import ResNetConfig

from motiongpt.cli import main
from motiongpt.errors import MotionGPTError
from motiongpt.llm.base import build_base
from motiongpt.llm.finetune import FinetuneConfig, finetune
from motiongpt.llm.finetuned import encode_prompt, load_finetuned
from motiongpt.llm.formats import build_prompt
from motiongpt.llm.tasks import Task


def quick(instructions_dir: Path, out: Path, **kw) -> FinetuneConfig:
    settings = dict(instructions=str(instructions_dir), base="tiny", out=str(out), steps=20, grad_accum=1,
                    micro_batch=4, warmup=2, val_every=20, val_batches=8)
    settings.update(kw)
    return FinetuneConfig(**settings)


def val_losses(out: Path) -> list[float]:
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    return [log["val_loss"] for log in logs if "val_loss" in log]


@pytest.mark.parametrize("fmt,full", [("text", False), ("vocab", False), ("text", True), ("vocab", True)])
def test_twenty_steps_lower_the_val_loss(instructions_dir, tmp_path, fmt, full):
    result = finetune(quick(instructions_dir, tmp_path / "run", format=fmt, full=full, lr=3e-3))
    first, last = val_losses(result.out)[0], val_losses(result.out)[-1]
    assert last < first - 0.1
    meta = json.loads((result.out / "motiongpt.json").read_text())
    assert meta["format"] == fmt and meta["kind"] == ("full" if full else "lora") and meta["steps"] == 20
    weights = "model.safetensors" if full else "adapter_model.safetensors"
    assert (result.out / weights).is_file()


def resumable(instructions_dir: Path, out: Path) -> FinetuneConfig:
    return quick(instructions_dir, out, format="vocab", steps=12, save_every=4, val_every=6)


@pytest.fixture(scope="module")
def straight(instructions_dir, tmp_path_factory):
    """An uninterrupted run that the resumed runs must match bit for bit."""
    return finetune(resumable(instructions_dir, tmp_path_factory.mktemp("straight") / "run"))


def assert_same_run(straight, resumed):
    a = load_file(str(straight.out / "adapter_model.safetensors"))
    b = load_file(str(resumed.out / "adapter_model.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert (straight.out / "log.jsonl").read_text().count("\n") == (resumed.out / "log.jsonl").read_text().count("\n")
    assert val_losses(straight.out) == val_losses(resumed.out)


def stop_at(step_to_stop: int, how):
    def callback(step, logs):
        if step == step_to_stop:
            how()
    return callback


def killed():
    raise KeyboardInterrupt  # as when the process dies: nothing is saved beyond the periodic checkpoints


def test_killed_run_resumes_bit_identical_and_finished_run_stays_put(instructions_dir, tmp_path, straight):
    config = resumable(instructions_dir, tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        finetune(config, callback=stop_at(10, killed))
    assert json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())["step"] == 8
    with open(tmp_path / "b" / "log.jsonl", "a") as f:
        f.write('{"step": 11, "loss": 0.')  # torn by the kill
    state_path = tmp_path / "b" / "checkpoint" / "state.json"
    state = json.loads(state_path.read_text())
    del state["config"]["caption_dropout"]  # as a version before the setting wrote it: it ran at its default
    state_path.write_text(json.dumps(state))
    with pytest.raises(MotionGPTError, match="cannot resume: setting lr was None, now 0.01"):
        finetune(replace(config, lr=1e-2, steps=14))
    resumed = finetune(config)
    assert_same_run(straight, resumed)

    def files(out):
        return {p.name: (p.read_bytes(), p.stat().st_mtime_ns) for p in out.iterdir() if p.is_file()}

    before = files(resumed.out)
    again = finetune(config)  # finished: nothing is retrained or rewritten
    assert files(again.out) == before
    assert json.loads(before["motiongpt.json"][0])["val_loss"] == val_losses(straight.out)[-1]

    state = json.loads(state_path.read_text())
    state_path.write_text(json.dumps({**state, "run": {"num_processes": 2}}))
    with pytest.raises(MotionGPTError, match="cannot resume: setting num_processes was 2, now 1"):
        finetune(config)


def test_rerun_before_first_checkpoint_and_ctrl_c_resume_bit_identical(instructions_dir, tmp_path, straight):
    config = resumable(instructions_dir, tmp_path / "c")
    with pytest.raises(KeyboardInterrupt):
        finetune(config, callback=stop_at(2, killed))
    assert (tmp_path / "c" / "base").is_dir() and not (tmp_path / "c" / "checkpoint").exists()
    with pytest.raises(KeyboardInterrupt):  # Ctrl-C: the run stops after this step and checkpoints it
        finetune(config, callback=stop_at(6, lambda: os.kill(os.getpid(), signal.SIGINT)))
    assert json.loads((tmp_path / "c" / "checkpoint" / "state.json").read_text())["step"] == 6
    assert not (tmp_path / "c" / "motiongpt.json").exists()
    assert_same_run(straight, finetune(config))


@pytest.mark.parametrize("fmt", ["vocab", "text"])
def test_saved_adapter_reloads_to_the_same_logits(instructions_dir, tmp_path, fmt):
    result = finetune(quick(instructions_dir, tmp_path / "run", format=fmt, steps=6))
    prompt = build_prompt(Task.INIT.instruction, "a man jumps up and down happily.", [5], fmt)
    answer = "<motion_begin><motion_id_3><motion_id_9><motion_end>" if fmt == "vocab" else "3,9"
    ids = torch.tensor([encode_prompt(result.tokenizer, prompt) + result.tokenizer(answer, add_special_tokens=False)["input_ids"]])
    with torch.no_grad():
        trained = result.model(input_ids=ids).logits
        model, tokenizer, meta = load_finetuned(result.out)
        assert tokenizer.get_vocab() == result.tokenizer.get_vocab()
        torch.testing.assert_close(model(input_ids=ids).logits, trained, rtol=0, atol=1e-5)
        merged, _, _ = load_finetuned(result.out, merge=True)
        torch.testing.assert_close(merged(input_ids=ids).logits, trained, rtol=1e-4, atol=1e-4)
    assert meta["base"] == "base" and meta["codebook_size"] == 64


def test_hf_model_dir_loads_as_base(instructions_dir, tmp_path):
    model, tokenizer = build_base("tiny", ["a person walks forward. 1,2,3 ### Response:"] * 4)
    model.save_pretrained(tmp_path / "mybase")
    tokenizer.save_pretrained(tmp_path / "mybase")
    vq = tmp_path / "vq"
    vq.mkdir()
    (vq / "config.json").write_text(json.dumps({"codebook_size": 64}))
    result = finetune(quick(instructions_dir, tmp_path / "run", base=str(tmp_path / "mybase"), steps=3,
                            format="vocab", vq=str(vq)))
    _, _, meta = load_finetuned(result.out)
    assert Path(meta["base"]) == (tmp_path / "mybase").resolve()
    assert len(meta["vq"]["sha256"]) == 64
    assert not (result.out / "base").exists()


def test_bad_bases_and_records_are_one_line_errors(instructions_dir, tmp_path, capsys):
    resnet = tmp_path / "resnet"  # a transformers model dir that is not a causal LM
    ResNetConfig(embedding_size=8, hidden_sizes=[8], depths=[1]).save_pretrained(resnet)
    bad_records = tmp_path / "bad"
    bad_records.mkdir()
    (bad_records / "train.jsonl").write_text(json.dumps({"instruction": "x", "input": "y"}) + "\n")
    (bad_records / "val.jsonl").write_text("")
    cases = [
        (["--instructions", str(instructions_dir), "--base", str(resnet)], f"{resnet}: not a causal LM"),
        (["--instructions", str(instructions_dir), "--base", str(tmp_path)], str(tmp_path)),
        (["--instructions", str(bad_records), "--base", "tiny"], "train.jsonl: line 1"),
        (["--instructions", str(instructions_dir), "--base", "tiny", "--load-in-4bit", "--full"], "4-bit"),
        (["--instructions", str(instructions_dir), "--base", "tiny", "--caption-dropout", "1.5"],
         "--caption-dropout 1.5: expected a fraction in [0, 1)"),
    ]
    for args, where in cases:
        assert main(["finetune", *args, "--out", str(tmp_path / "o"), "--steps", "1"]) == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and where in err, err
