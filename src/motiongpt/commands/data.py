"""`motiongpt data ...`: build datasets in the HumanML3D layout."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("data", help="build datasets in the HumanML3D layout")
    commands = parser.add_subparsers(dest="data_command", required=True)

    p = commands.add_parser("from-bvh", help="BVH or ASF/AMC files (+ captions) -> a HumanML3D-layout dataset")
    p.add_argument("inputs", nargs="+", metavar="FILES_OR_DIRS",
                   help="BVH or AMC files (with their ASF skeletons) or folders searched recursively")
    p.add_argument("--out", required=True, help="dataset folder to write")
    p.add_argument("--map", dest="rig", default=None,
                   help="rig map: a JSON/YAML file or a built-in name (bandai, smpl, mixamo, cmu); default: detect")
    p.add_argument("--captions", default=None, help="TSV of `file-id<TAB>caption` lines, several per id allowed")
    p.add_argument("--scale", type=float, default=None,
                   help="multiplies file units to get metres (0.01 for cm); default: detect from body height "
                        "(BVH), or read the ASF's lengths as inches times its ':units length' (AMC)")
    p.add_argument("--up", choices=("y", "z"), default="y", help="the BVH files' up axis")
    p.add_argument("--asf", default=None,
                   help="the ASF skeleton of every AMC clip; default: the ASF whose name starts the clip's name, "
                        "among the inputs and beside the clip")
    p.add_argument("--amc-fps", type=float, default=120.0, help="frame rate of the AMC clips (not in the files)")
    _common(p)
    p.set_defaults(func=_from_bvh)

    for name, about, root, func in (
        ("bandai", "the Bandai Namco motion datasets -> the captioned training set",
         "folder holding Bandai-Namco-Research-Motiondataset-1 and -2", _bandai),
        ("hdm05", "the HDM05 ASF/AMC subset -> a captioned HumanML3D-layout set (CC BY-SA: never train it together "
         "with Bandai)", "folder holding HDM05-subset.tar.xz", _hdm05),
    ):
        p = commands.add_parser(name, help=about)
        p.add_argument("root", help=root)
        p.add_argument("--out", required=True, help="dataset folder to write")
        p.add_argument("--cache", default=None, help="where its archive is unpacked (default ~/.cache/motiongpt)")
        _common(p)
        p.set_defaults(func=func)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0, help="seed of the train/val/test split")
    p.add_argument("--workers", type=int, default=2, help="processes converting clips")
    p.add_argument("--overwrite", action="store_true", help="replace an existing dataset at --out")


def _report(summary: dict) -> int:
    keys = ("clips", "clips_kept", "windows", "motions", "captions", "splits", "build_seconds")
    print(json.dumps({k: summary[k] for k in keys}, indent=2))
    return 0


def _from_bvh(args: argparse.Namespace) -> int:
    from motiongpt.data.humanml3d import build_from_bvh

    return _report(build_from_bvh(args.inputs, args.out, rig=args.rig, captions=args.captions, scale=args.scale,
                                  up=args.up, seed=args.seed, workers=args.workers, overwrite=args.overwrite,
                                  asf=args.asf, amc_fps=args.amc_fps))


def _bandai(args: argparse.Namespace) -> int:
    from motiongpt.data.bandai import DEFAULT_CACHE, build_bandai

    return _report(build_bandai(args.root, args.out, cache=args.cache or DEFAULT_CACHE, seed=args.seed,
                                workers=args.workers, overwrite=args.overwrite))


def _hdm05(args: argparse.Namespace) -> int:
    from motiongpt.data.archive import DEFAULT_CACHE
    from motiongpt.data.hdm05 import build_hdm05

    return _report(build_hdm05(args.root, args.out, cache=args.cache or DEFAULT_CACHE, seed=args.seed,
                               workers=args.workers, overwrite=args.overwrite))
