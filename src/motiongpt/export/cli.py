"""`motiongpt render ...`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("render", help="render motions to GIF/MP4")
    parser.add_subparsers(dest="render_command", required=True)
