"""`motiongpt vq train|encode|eval`: the motion VQ-VAE from the command line."""

from __future__ import annotations

import argparse
import json
import os

from motiongpt.commands.options import chosen_evaluator, official_arguments
from motiongpt.io import write_json


def _train(args: argparse.Namespace) -> int:
    from motiongpt.tokenizer.train import TrainConfig, train
    from motiongpt.training import given_options

    result = train(TrainConfig.for_preset(**given_options(args, TrainConfig)))
    if os.environ.get("RANK", "0") == "0":
        print(f"VQ-VAE written to {result.out}/last (best by validation: {result.out}/best)")
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
    from motiongpt.tokenizer.train import TrainConfig
    from motiongpt.training import add_config_options

    parser = sub.add_parser("vq", help="train, encode and evaluate the motion VQ-VAE")
    vq = parser.add_subparsers(dest="vq_command", required=True)
    p = vq.add_parser("train", help="train the VQ-VAE on a dataset in HumanML3D layout (rerun to resume)",
                      description="Train on random windows of the train split; validate on val. Rerunning the same "
                      "command resumes from <out>/checkpoint/. Multi-process (DDP; gloo on CPU): accelerate launch "
                      "--multi_gpu --num_processes N -m motiongpt vq train ... (batch size is per process).")
    add_config_options(p, TrainConfig)
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
