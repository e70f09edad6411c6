"""`motiongpt data ...`: build datasets in the HumanML3D layout."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="build datasets in the HumanML3D layout")
    parser.add_subparsers(dest="data_command", required=True)
