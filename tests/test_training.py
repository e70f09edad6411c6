"""The shared training harness: options generated from configs, run length, the log kept on resume."""

from __future__ import annotations

import argparse

import pytest

from motiongpt.cli import build_parser
from motiongpt.errors import MotionGPTError
from motiongpt.eval.evaluator import TrainSettings
from motiongpt.llm.finetune import FinetuneConfig
from motiongpt.tokenizer.train import TrainConfig
from motiongpt.training import DEFAULT_SEED, add_config_options, given_options, read_log, total_steps


def parse(config_cls: type, argv: list[str]) -> dict:
    parser = argparse.ArgumentParser()
    add_config_options(parser, config_cls)
    return given_options(parser.parse_args(argv), config_cls)


def test_options_come_from_the_config_fields():
    given = parse(FinetuneConfig, ["--instructions", "i", "--base", "tiny", "--out", "o", "--lora-targets",
                                   "q_proj, k_proj", "--no-bf16", "--full", "--steps", "5", "--max-grad-norm", "0"])
    config = FinetuneConfig(**given)
    assert config.lora_targets == ["q_proj", "k_proj"] and config.bf16 is False and config.full
    assert config.steps == 5 and config.max_grad_norm == 0 and config.seed == DEFAULT_SEED
    vq = TrainConfig.for_preset(**parse(TrainConfig, ["--data", "d", "--out", "o", "--preset", "tiny",
                                                      "--milestones", "10", "20", "--stop-after", "3"]))
    assert vq.milestones == [10, 20] and vq.stop_after == 3 and vq.batch_size == 8 and vq.max_grad_norm == 0
    assert TrainSettings(**parse(TrainSettings, ["--out", "o", "--val-every", "7"])).val_every == 7


def test_every_trainer_has_the_shared_options():
    sub = build_parser()._subparsers._group_actions[0]
    trainers = [sub.choices["vq"]._subparsers._group_actions[0].choices["train"], sub.choices["finetune"],
                sub.choices["evaluator"]._subparsers._group_actions[0].choices["train"]]
    for parser in trainers:
        flags = {flag for action in parser._actions for flag in action.option_strings}
        assert {"--out", "--seed", "--device", "--max-grad-norm", "--stop-after", "--val-every", "--save-every",
                "--steps", "--quiet"} <= flags
        assert "--eval-every" not in flags
        assert f"(default: {DEFAULT_SEED})" in parser.format_help()


def test_run_length_from_steps_or_epochs():
    assert total_steps(7, None, 100, 10) == 7
    assert total_steps(None, 1.5, 100, 10) == 15
    assert total_steps(None, None, 100, 10, default_samples=95) == 10
    with pytest.raises(MotionGPTError, match="not both"):
        total_steps(3, 1.0, 100, 10)
    with pytest.raises(MotionGPTError, match="--steps or --epochs"):
        total_steps(None, None, 100, 10)


def test_log_keeps_lines_up_to_the_step_and_drops_a_torn_last_line(tmp_path):
    log = tmp_path / "log.jsonl"
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3}\n{"step": 4, "loss": 0.')
    assert read_log(log, 2) == ['{"step": 1}', '{"step": 2}']
    log.write_text('{"step": 1}\n{"step": \n{"step": 3}\n')
    with pytest.raises(MotionGPTError, match="log.jsonl:2: invalid JSON"):
        read_log(log, 3)
