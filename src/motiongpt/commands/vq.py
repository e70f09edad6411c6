"""`motiongpt vq train|encode|eval`: the motion VQ-VAE from the command line."""

from __future__ import annotations

import argparse
import json
import os

from motiongpt.commands.options import chosen_evaluator, official_arguments
from motiongpt.io import write_json


def _train(args: argparse.Namespace) -> int:
    from motiongpt.tokenizer.train import TrainConfig, train

    cfg = TrainConfig.for_preset(args.data, args.out, args.preset, batch_size=args.batch_size, steps=args.steps,
                                 lr=args.lr, seed=args.seed, val_every=args.val_every, save_every=args.save_every,
                                 window=args.window, warmup=args.warmup, milestones=args.milestones,
                                 val_motions=args.val_motions)
    out = train(cfg, stop_after=args.stop_after, progress=not args.quiet)
    if os.environ.get("RANK", "0") == "0":
        print(f"VQ-VAE written to {out}/last (best by validation: {out}/best)")
    return 0


def _load(args: argparse.Namespace):
    from motiongpt.tokenizer.model import VQVAE

    return VQVAE.from_pretrained(args.model, dataset=args.stats)


def _encode(args: argparse.Namespace) -> int:
    from motiongpt.tokenizer.encode import encode_dataset

    model = _load(args)
    result = encode_dataset(model, args.data, progress=not args.quiet)
    print(f"{result['encoded']} motions encoded into {result['out']}"
          + (f"; {len(result['skipped_short'])} shorter than {model.config.frames_per_code} frames skipped"
             if result["skipped_short"] else ""))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from motiongpt.eval.evaluators import load_evaluator
    from motiongpt.eval.tokenizer import evaluator_metrics
    from motiongpt.tokenizer.reconstruction import reconstruction_metrics

    model = _load(args)
    metrics = {"model": str(args.model), "data": str(args.data), **reconstruction_metrics(model, args.data, args.split)}
    if args.evaluator or args.official:
        metrics["evaluator"] = evaluator_metrics(model, load_evaluator(**chosen_evaluator(args)), args.data, args.split)
    print(json.dumps(metrics, indent=2))
    if args.out:
        write_json(args.out, metrics)
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("vq", help="train, encode and evaluate the motion VQ-VAE")
    vq = parser.add_subparsers(dest="vq_command", required=True)

    p = vq.add_parser("train", help="train the VQ-VAE on a dataset in HumanML3D layout (rerun to resume)",
                      description="Train on random windows of the train split; validate on val. Rerunning the same "
                      "command resumes from <out>/checkpoint.pt. Multi-process (DDP; gloo on CPU): accelerate launch "
                      "--multi_gpu --num_processes N -m motiongpt vq train ... (batch size is per process).")
    p.add_argument("--data", required=True, help="dataset folder in HumanML3D layout")
    p.add_argument("--out", required=True, help="output folder (last/, best/, checkpoint.pt, log.jsonl)")
    p.add_argument("--preset", default="cpu", choices=["paper", "cpu", "tiny"],
                   help="model size and schedule: paper = MotionGPT/T2M-GPT, cpu = ~90 min on 2 CPU cores")
    p.add_argument("--batch-size", type=int, help="windows per step and process (preset default)")
    p.add_argument("--steps", type=int, help="total optimiser steps (preset default)")
    p.add_argument("--lr", type=float, help="peak learning rate (default 2e-4)")
    p.add_argument("--warmup", type=int, help="linear warm-up steps (preset default)")
    p.add_argument("--milestones", type=int, nargs="+", help="steps at which lr is multiplied by 0.05 "
                   "(default: the preset's, or 2/3 of --steps)")
    p.add_argument("--seed", type=int, help="random seed (default 1234)")
    p.add_argument("--window", type=int, help="frames per training window (default 64)")
    p.add_argument("--val-every", type=int, help="validate every N steps (preset default)")
    p.add_argument("--save-every", type=int, help="checkpoint every N steps (default: --val-every)")
    p.add_argument("--val-motions", type=int, help="validate on the first N val motions only (default: all)")
    p.add_argument("--stop-after", type=int, help="checkpoint and exit after N steps of this run (resume later)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_train)

    for name, func, text in (("encode", _encode, "write <data>/VQVAE/<id>.npy codes for every motion"),
                             ("eval", _eval, "reconstruction metrics of a VQ-VAE on one split, as JSON")):
        p = vq.add_parser(name, help=text)
        p.add_argument("--model", required=True, help="model dir from `vq train`, or an original T2M-GPT .pth")
        p.add_argument("--data", required=True, help="dataset folder in HumanML3D layout")
        p.add_argument("--stats", help="folder with Mean.npy/Std.npy for a .pth checkpoint (model dirs carry "
                       "their own)")
        if name == "encode":
            p.add_argument("--quiet", action="store_true", help="no progress bar")
        else:
            p.add_argument("--split", default="test", choices=["train", "val", "test"],
                           help="dataset split to reconstruct (default: %(default)s)")
            p.add_argument("--out", help="also write the JSON here")
            p.add_argument("--evaluator", help="text-motion evaluator dir: adds FID, R-Precision, MM-Dist and "
                           "Diversity of reconstructions vs real motions")
            official_arguments(p, "--evaluator")
        p.set_defaults(func=func)
