"""Options that several commands share, defined once so that they mean the same everywhere."""

from __future__ import annotations

import argparse


def official_arguments(parser: argparse.ArgumentParser, instead_of: str) -> None:
    """--official/--glove/--meta, read by `load_evaluator`."""
    parser.add_argument("--official", help=f"official text_mot_match/model/finest.tar instead of {instead_of}")
    parser.add_argument("--glove", help="folder with our_vab_{data.npy,words.pkl,idx.pkl} (with --official)")
    parser.add_argument("--meta", help="folder with the official evaluator's mean.npy/std.npy (with --official)")


def chosen_evaluator(args: argparse.Namespace) -> dict:
    """The keyword arguments of `motiongpt.eval.evaluators.load_evaluator` that a command line chose."""
    return {"evaluator": args.evaluator, "official": args.official, "glove": args.glove, "meta": args.meta}
