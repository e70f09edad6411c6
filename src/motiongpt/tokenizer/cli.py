"""`motiongpt vq ...`."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("vq", help="train, encode and evaluate the motion VQ-VAE")
    parser.add_subparsers(dest="vq_command", required=True)
