"""Options that several commands share, defined once so that they mean the same everywhere."""

from __future__ import annotations

import argparse
from pathlib import Path


def official_arguments(parser: argparse.ArgumentParser, instead_of: str) -> None:
    """--official/--glove/--meta, read by `load_evaluator`."""
    parser.add_argument("--official", help=f"official text_mot_match/model/finest.tar instead of {instead_of}")
    parser.add_argument("--glove", help="folder with our_vab_{data.npy,words.pkl,idx.pkl} (with --official)")
    parser.add_argument("--meta", help="folder with the official evaluator's mean.npy/std.npy (with --official)")


def chosen_evaluator(args: argparse.Namespace) -> dict:
    """The keyword arguments of `motiongpt.eval.evaluators.load_evaluator` that a command line chose."""
    return {"evaluator": args.evaluator, "official": args.official, "glove": args.glove, "meta": args.meta}


def add_sampling_options(parser: argparse.ArgumentParser) -> None:
    """--temperature/--top-k/--top-p/--guidance/--max-codes/--unconstrained, with `GenerationSettings`' defaults."""
    from motiongpt.generation.settings import GenerationSettings

    default = GenerationSettings()
    parser.add_argument("--temperature", type=float, default=default.temperature,
                        help="sampling temperature (default: %(default)s, the original's)")
    parser.add_argument("--top-k", type=int, default=default.top_k,
                        help="sample among the K likeliest tokens; 0 turns it off (default: %(default)s)")
    parser.add_argument("--top-p", type=float, default=default.top_p, help="nucleus sampling (default: off)")
    parser.add_argument("--guidance", type=float, default=default.guidance,
                        help="classifier-free guidance: how far the description pushes the codes from those the "
                             "model writes without it; 1 turns it off (default: the model's own)")
    parser.add_argument("--max-codes", type=int, default=default.max_codes,
                        help="at most this many codes, 4 frames each (default: %(default)s = 196 frames)")
    parser.add_argument("--unconstrained", action="store_true",
                        help="sample freely and parse as the original (controls may be missed, the answer may not "
                             "be codes)")


def sampling_settings(args: argparse.Namespace, **changes: object):
    """The checked `GenerationSettings` of the sampling options."""
    from motiongpt.generation.settings import GenerationSettings

    return GenerationSettings().updated(temperature=args.temperature, top_k=args.top_k or None, top_p=args.top_p,
                                        guidance=args.guidance, max_codes=args.max_codes,
                                        constrained=not args.unconstrained, **changes)


DTYPE_NAMES = ("float32", "bfloat16", "float16")


def add_dtype_option(parser: argparse.ArgumentParser, default: str | None, help: str) -> None:
    parser.add_argument("--dtype", choices=DTYPE_NAMES, default=default, help=help)


def dtype_of(args: argparse.Namespace):
    """The torch dtype that --dtype names (None where it was left out)."""
    import torch

    return None if args.dtype is None else getattr(torch, args.dtype)


def add_model_option(parser: argparse.ArgumentParser) -> None:
    """--model: a MotionGPT model dir or the name of one the package ships."""
    from motiongpt.generation.models import DEFAULT_MODEL, NAMED_MODELS

    parser.add_argument("--model", default=None,
                        help="model dir (pipeline.json, vq/, llm/) or a shipped model's name "
                             f"({', '.join(NAMED_MODELS)}); default: {DEFAULT_MODEL}")


def add_int8_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--int8", action="store_true",
                        help="the LLM's layers as dynamic int8 on the CPU (a LLaMA-architecture LLM): faster decoding "
                             "of a pretrained base; see benchmarks/bench_pretrained_inference.py")


def quantize_of(args: argparse.Namespace) -> str | None:
    """`MotionGPT.from_pretrained`'s quantize argument that --int8 asks for."""
    return "int8" if getattr(args, "int8", False) else None


def add_device_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")


def device_of(args: argparse.Namespace) -> str:
    """The checked --device (cuda when available, else cpu), before any model loads."""
    from motiongpt.io import check_device

    return str(check_device(args.device))


def add_rig_options(parser: argparse.ArgumentParser) -> None:
    """--rig-template / --map / --rig: the skeleton that BVH, FBX and glTF files carry."""
    parser.add_argument("--rig-template", type=Path, metavar="FILE.bvh",
                        help="retarget bvh/fbx/glb onto this rig: its joint names, hierarchy, rest offsets, "
                             "channels and size; joints the map leaves out (fingers, twist bones) stay at rest")
    parser.add_argument("--map", metavar="MAP",
                        help="rig map for --rig-template: a JSON/YAML file or a built-in name (bandai, smpl, mixamo, "
                             "smpl-native); default: the built-in map that fits the template's joint names")
    parser.add_argument("--rig", metavar="NAME",
                        help="name the joints of bvh/fbx/glb by a built-in map: mixamo (mixamorig:Hips, ... for the "
                             "Mixamo/Blender retargeting workflow), smpl (Hips, LeftUpLeg, ...) or smpl-native "
                             "(the default names)")
