"""The command line reads the same everywhere: --version, and every option of every command explains itself."""

from __future__ import annotations

import argparse

import pytest

from motiongpt import __version__
from motiongpt.cli import build_parser, main


def test_version(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0 and capsys.readouterr().out.strip() == f"motiongpt {__version__}"


def _parsers(parser: argparse.ArgumentParser, path: str = "motiongpt"):
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, f"{path} {name}")


def test_every_command_and_option_has_help():
    missing = [f"{path} {'/'.join(action.option_strings) or action.dest}"
               for path, parser in _parsers(build_parser()) for action in parser._actions
               if not isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)) and not action.help]
    assert not missing, missing


def test_shared_options_keep_one_meaning():
    """--out is where results go, --evaluator an evaluator, --model a MotionGPT or VQ-VAE dir, in every command."""
    for path, parser in _parsers(build_parser()):
        for action in parser._actions:
            if "--output" in action.option_strings:
                pytest.fail(f"{path}: --output; the option is --out everywhere")
            if "--model" in action.option_strings and path.startswith("motiongpt evaluator"):
                pytest.fail(f"{path}: --model names the evaluator; use --evaluator")


def test_each_command_builds_alone_from_its_module():
    """`main` builds only the given command's module (COMMANDS); the table must name every command's module."""
    from motiongpt.cli import COMMANDS

    full = build_parser()._subparsers._group_actions[0].choices
    assert set(full) == set(COMMANDS)
    for command in COMMANDS:
        alone = build_parser(command)._subparsers._group_actions[0].choices
        assert command in alone and set(alone) <= set(COMMANDS)


def test_a_command_whose_extra_is_missing_says_so(monkeypatch, capsys):
    import sys

    monkeypatch.setitem(sys.modules, "transformers", None)
    for name in [m for m in sys.modules if m.startswith(("motiongpt.llm.finetune", "motiongpt.llm.base",
                                                         "motiongpt.commands.llm"))]:
        monkeypatch.delitem(sys.modules, name)
    assert main(["finetune", "--instructions", "x", "--out", "y"]) == 2
    assert "needs the `train` extra (transformers is not installed)" in capsys.readouterr().err
