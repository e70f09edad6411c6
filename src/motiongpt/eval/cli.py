"""`motiongpt evaluator train|score`: train the text-motion evaluator, and score real motions with it."""

from __future__ import annotations

import argparse
import torch

from motiongpt.errors import MotionGPTError
from motiongpt.io import write_json


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("evaluator", help="train the text-motion evaluator, or score real motions with it")
    commands = parser.add_subparsers(dest="evaluator_command", required=True)

    train = commands.add_parser("train", help="contrastive training on a dataset in HumanML3D layout (resumable)")
    train.add_argument("--data", required=True, help="dataset folder in HumanML3D layout (uses train and val)")
    train.add_argument("--out", required=True, help="model dir to write; rerun the same command to resume")
    length = train.add_mutually_exclusive_group(required=True)
    length.add_argument("--steps", type=int, help="optimiser steps in total")
    length.add_argument("--epochs", type=float, help="passes over the training motions")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=2e-4)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--save-every", type=int, default=500, help="checkpoint interval in steps")
    train.add_argument("--eval-every", type=int, default=500, help="validation interval in steps")
    train.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    train.set_defaults(func=_train)

    score = commands.add_parser("score", help="R-Precision, MM-Dist and Diversity of the real motions of a split")
    score.add_argument("--data", required=True, help="dataset folder in HumanML3D layout")
    score.add_argument("--split", default="test")
    score.add_argument("--model", help="trained evaluator dir (from `motiongpt evaluator train`)")
    score.add_argument("--official", help="official text_mot_match/model/finest.tar instead of --model")
    score.add_argument("--glove", help="folder with our_vab_{data.npy,words.pkl,idx.pkl} (with --official)")
    score.add_argument("--meta", help="folder with the official evaluator's mean.npy/std.npy (with --official)")
    score.add_argument("--repeats", type=int, default=20)
    score.add_argument("--seed", type=int, default=0)
    score.add_argument("--mismatched", action="store_true",
                       help="pair every motion with another motion's caption (top-k must fall to chance)")
    score.add_argument("--json", help="also write the results to this JSON file")
    score.set_defaults(func=_score)


def _train(args: argparse.Namespace) -> int:
    from motiongpt.eval.evaluator import TrainSettings, train

    settings = TrainSettings(steps=args.steps, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                             seed=args.seed, save_every=args.save_every, eval_every=args.eval_every,
                             device=args.device)
    train(args.data, args.out, settings)
    print(f"saved evaluator to {args.out}")
    return 0


def _score(args: argparse.Namespace) -> int:
    from motiongpt.eval.evaluator import TextMotionEvaluator, open_split
    from motiongpt.eval.official import OfficialEvaluator
    from motiongpt.eval.protocol import score_real_motions

    if bool(args.model) == bool(args.official):
        raise MotionGPTError("give exactly one of --model DIR or --official finest.tar")
    if args.official:
        if not (args.glove and args.meta):
            raise MotionGPTError("--official needs --glove DIR and --meta DIR")
        evaluator = OfficialEvaluator.load(args.official, args.glove, args.meta)
    else:
        evaluator = TextMotionEvaluator.from_pretrained(args.model)
    dataset = open_split(args.data, args.split, evaluator.feature_dim)
    results = score_real_motions(evaluator, dataset, repeats=args.repeats, seed=args.seed,
                                 mismatched=args.mismatched)
    note = ", captions mismatched" if args.mismatched else ""
    print(f"{len(dataset)} motions of {args.split}, {args.repeats} repeats{note}")
    for name, (mean, conf) in results.items():
        print(f"{name:>10}: {mean:.4f} ± {conf:.4f}")
    if args.json:
        write_json(args.json, {"split": args.split, "motions": len(dataset), "repeats": args.repeats,
                               "mismatched": args.mismatched,
                               "metrics": {k: {"mean": m, "conf95": c} for k, (m, c) in results.items()}})
    return 0
