"""`motiongpt instructions ...`, `motiongpt finetune` and `motiongpt convert ...`."""

from __future__ import annotations

import argparse
import os

from motiongpt.commands.options import add_dtype_option, dtype_of
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
    build.add_argument("--seed", type=int, default=1337,
                       help="seed of the caption and key-token draws (default: %(default)s)")
    build.add_argument("--codebook-size", type=int, help="number of VQ codes, to validate the codes")
    build.add_argument("--balance", type=float, default=0.0, metavar="POWER",
                       help="resample train records by Bandai content and style: 0 follows clip counts, 1 gives "
                            "every content an equal share and every style an equal share within it "
                            "(default: %(default)s)")
    build.add_argument("--fresh-captions", action="store_true",
                       help="with --balance: a record repeated for balance gets a caption composed anew for its "
                            "Bandai content and style after its first copy, instead of its clip's own")
    build.add_argument("--fresh-captions-below", type=int, metavar="CLIPS",
                       help="--fresh-captions for the contents with fewer train clips than this only (the common "
                            "contents keep their clips' own captions)")
    build.add_argument("--vq", help="VQ model dir; its config gives the codebook size")
    build.add_argument("--json", action="store_true", help="write train.json/val.json lists instead of JSON Lines")
    build.add_argument("--overwrite", action="store_true", help="replace an existing --out dir")
    build.set_defaults(func=run_instructions_build)

    ft = sub.add_parser("finetune", help="finetune a causal LM on instruction data (LoRA or full)",
                        description="Rerunning the same command resumes from <out>/checkpoint/; a finished run is "
                        "left as it is.")
    add_config_options(ft, FinetuneConfig)
    ft.set_defaults(func=run_finetune)

    conv = sub.add_parser("convert", help="the original MotionGPT's Lit-LLaMA weights as Hugging Face + PEFT dirs")
    kinds = conv.add_subparsers(dest="convert_command", required=True)
    lit = kinds.add_parser("lit-llama", help="a Lit-LLaMA base checkpoint (lit-llama.pth) -> LlamaForCausalLM dir",
                           description="Streams the checkpoint tensor by tensor into safetensors shards, so a 13B "
                                       "base never needs two copies in memory.")
    lit.add_argument("checkpoint", help="lit-llama.pth")
    lit.add_argument("--out", required=True, help="Hugging Face model dir to write")
    lit.add_argument("--tokenizer", help="LLaMA's SentencePiece tokenizer.model, saved with the model")
    add_dtype_option(lit, None, "weights dtype (default: the checkpoint's own)")
    lit.add_argument("--n-head", type=int, help="attention heads (default: width / 128, as every LLaMA v1 size)")
    lit.add_argument("--overwrite", action="store_true", help="replace an existing --out dir")
    lit.set_defaults(func=run_convert_base)
    lora = kinds.add_parser("lit-lora", help="a Lit-LLaMA LoRA checkpoint (pretrained.pth) -> PEFT adapter dir")
    lora.add_argument("checkpoint", help="the original's LoRA weights, e.g. pretrained.pth")
    lora.add_argument("--base", required=True, help="the converted base dir (same LLaMA size as the LoRA)")
    lora.add_argument("--out", required=True, help="adapter dir to write")
    lora.add_argument("--alpha", type=float, default=16.0, help="LoRA alpha (default 16, the paper's); r is read "
                      "from the shapes")
    lora.add_argument("--overwrite", action="store_true", help="replace an existing --out dir")
    lora.set_defaults(func=run_convert_lora)


def run_instructions_build(args: argparse.Namespace) -> int:
    from motiongpt.io import atomic_directory
    from motiongpt.llm.instructions import (build_instructions, codebook_size_from_vq, instructions_info,
                                            save_instructions)

    codebook_size = args.codebook_size or (codebook_size_from_vq(args.vq) if args.vq else None)
    fresh = args.fresh_captions or args.fresh_captions_below is not None
    if fresh and not args.balance:
        raise MotionGPTError("--fresh-captions needs --balance: only records repeated for balance get fresh captions")
    if args.fresh_captions_below is not None and args.fresh_captions_below < 1:
        raise MotionGPTError(f"--fresh-captions-below {args.fresh_captions_below}: give a number of clips >= 1")
    splits = build_instructions(args.data, one_caption=args.one_caption, seed=args.seed, codebook_size=codebook_size,
                                balance=args.balance, fresh_captions=fresh, fresh_below=args.fresh_captions_below)
    if not splits["train"]:
        raise MotionGPTError(f"{args.data}: no train motion has codes in VQVAE/ (run `motiongpt vq encode` first)")
    info = instructions_info(splits, args.data, codebook_size, args.seed, args.one_caption, args.vq, args.balance,
                             fresh, args.fresh_captions_below)
    with atomic_directory(args.out, overwrite=args.overwrite) as tmp:
        save_instructions(tmp, splits, info, as_json=args.json)
    print(f"{args.out}: {info['records']['train']} train and {info['records']['val']} val records "
          f"from {info['motions']['train']} + {info['motions']['val']} motions")
    return 0


def run_finetune(args: argparse.Namespace) -> int:
    from motiongpt.llm.finetune import FinetuneConfig, finetune
    from motiongpt.training import given_options

    config = FinetuneConfig(**given_options(args, FinetuneConfig))
    result = finetune(config)
    if int(os.environ.get("RANK", "0")) == 0:
        print(f"{result.out}: finetuned model written")
    return 0


def run_convert_base(args: argparse.Namespace) -> int:
    from motiongpt.llm.lit_llama import convert_base

    out = convert_base(args.checkpoint, args.out, tokenizer=args.tokenizer, n_head=args.n_head,
                       dtype=dtype_of(args), overwrite=args.overwrite)
    print(f"{out}: Hugging Face LLaMA dir" + ("" if args.tokenizer else " (no tokenizer: pass --tokenizer to add it)"))
    return 0


def run_convert_lora(args: argparse.Namespace) -> int:
    from motiongpt.llm.lit_llama import convert_lora

    out = convert_lora(args.checkpoint, args.base, args.out, alpha=args.alpha, overwrite=args.overwrite)
    print(f"{out}: PEFT LoRA adapter for {args.base}")
    return 0
