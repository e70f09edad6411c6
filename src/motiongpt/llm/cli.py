"""`motiongpt instructions ...` and `motiongpt finetune`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("instructions", help="build instruction data from motion codes")
    parser.add_subparsers(dest="instructions_command", required=True)
