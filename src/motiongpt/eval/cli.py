"""`motiongpt evaluator ...`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("evaluator", help="train the text-motion evaluator")
    parser.add_subparsers(dest="evaluator_command", required=True)
