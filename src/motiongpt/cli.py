"""The `motiongpt` command. Each stage of the data flow registers its own sub-commands."""

from __future__ import annotations

import argparse
import importlib
import sys

from motiongpt.errors import MotionGPTError

# Each module exposes `register(subparsers)`; the handlers are set with `set_defaults(func=...)`.
COMMAND_MODULES = [
    "motiongpt.data.cli",
    "motiongpt.tokenizer.cli",
    "motiongpt.llm.cli",
    "motiongpt.eval.cli",
    "motiongpt.export.cli",
    "motiongpt.generation.cli",
    "motiongpt.app.cli",
    "motiongpt.recipe",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="motiongpt", description=__doc__)
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
    except KeyboardInterrupt:
        print("motiongpt: interrupted; rerun the same command to resume", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    sys.exit(main())
