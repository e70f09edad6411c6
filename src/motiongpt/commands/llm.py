"""`motiongpt instructions ...` and `motiongpt finetune`."""

from __future__ import annotations

import argparse
import os

from motiongpt.errors import MotionGPTError


def register(sub: argparse._SubParsersAction) -> None:
    from motiongpt.llm.finetune import FinetuneConfig
    from motiongpt.training import add_config_options

    parser = sub.add_parser("instructions", help="build instruction data from motion codes")
    commands = parser.add_subparsers(dest="instructions_command", required=True)
    build = commands.add_parser("build", help="train/val instruction records from <data>/VQVAE codes and captions")
    build.add_argument("--data", required=True, help="dataset in HumanML3D layout with VQVAE/<id>.npy codes")
    build.add_argument("--out", required=True, help="output dir for train/val records and info.json")
    build.add_argument("--one-caption", action="store_true",
                       help="one random caption per motion, as the original (default: every caption)")
    build.add_argument("--seed", type=int, default=1337)
    build.add_argument("--codebook-size", type=int, help="number of VQ codes, to validate the codes")
    build.add_argument("--vq", help="VQ model dir; its config gives the codebook size")
    build.add_argument("--json", action="store_true", help="write train.json/val.json lists instead of JSON Lines")
    build.add_argument("--overwrite", action="store_true")
    build.set_defaults(func=run_instructions_build)

    ft = sub.add_parser("finetune", help="finetune a causal LM on instruction data (LoRA or full)",
                        description="Rerunning the same command resumes from <out>/checkpoint/; a finished run is "
                        "left as it is.")
    add_config_options(ft, FinetuneConfig)
    ft.set_defaults(func=run_finetune)


def run_instructions_build(args: argparse.Namespace) -> int:
    from motiongpt.io import atomic_directory
    from motiongpt.llm.instructions import (build_instructions, codebook_size_from_vq, instructions_info,
                                            save_instructions)

    codebook_size = args.codebook_size or (codebook_size_from_vq(args.vq) if args.vq else None)
    splits = build_instructions(args.data, one_caption=args.one_caption, seed=args.seed, codebook_size=codebook_size)
    if not splits["train"]:
        raise MotionGPTError(f"{args.data}: no train motion has codes in VQVAE/ (run `motiongpt vq encode` first)")
    info = instructions_info(splits, args.data, codebook_size, args.seed, args.one_caption, args.vq)
    with atomic_directory(args.out, overwrite=args.overwrite) as tmp:
        save_instructions(tmp, splits, info, as_json=args.json)
    print(f"{args.out}: {info['records']['train']} train and {info['records']['val']} val records "
          f"from {info['motions']['train']} + {info['motions']['val']} motions")
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    from transformers.utils import logging as hf_logging

    from motiongpt.llm.finetune import FinetuneConfig, finetune
    from motiongpt.training import given_options

    hf_logging.disable_progress_bar()  # our own bar shows training progress
    config = FinetuneConfig(**given_options(args, FinetuneConfig))
    result = finetune(config)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{result.out}: finetuned model written")
    return 0
