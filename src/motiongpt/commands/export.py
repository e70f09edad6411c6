"""`motiongpt render PATH...`: stick-figure GIF/MP4 (and BVH, FBX, glTF) of saved motions (.npy joints or
features)."""

from __future__ import annotations

import argparse
from pathlib import Path

from motiongpt.commands.options import add_rig_options
from motiongpt.errors import MotionGPTError


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "render", help="render .npy motions (joints or features) to stick-figure GIF/MP4",
        description="Render .npy motions -- joints (T x 22|21 x 3, metres, Y up) or features (T x 263|251) -- as "
                    "stick-figure videos. Several paths are drawn side by side, each titled by its file name.",
    )
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help=".npy joints or features")
    parser.add_argument("-o", "--out", type=Path, default=None,
                        help="output file (its .gif/.mp4 suffix is replaced per format); default: beside the "
                             "first input, named after the input(s)")
    parser.add_argument("--fps", type=float, default=None,
                        help="frames per second (default: the dataset's, 20 for HumanML3D, 12.5 for KIT-ML)")
    parser.add_argument("--format", default="gif",
                        help="comma-separated formats among gif,mp4,bvh,fbx,glb (default: gif); bvh, fbx (needs "
                             "the blender extra) and glb write one file per input, a rigid skeleton fitted to the "
                             "motion (22-joint motions only; BVH in centimetres, Y up)")
    parser.add_argument("--titles", nargs="*", default=None, metavar="TITLE",
                        help="draw titles: the given ones, or the file names when none are given "
                             "(several paths are always titled)")
    parser.add_argument("--size", type=int, default=320, help="panel size in pixels (default: 320)")
    parser.add_argument("--columns", type=int, default=4, help="panels per row when rendering several (default: 4)")
    add_rig_options(parser)
    parser.set_defaults(func=run_render)


def _output_base(args: argparse.Namespace) -> Path:
    from motiongpt.export.render import FORMATS

    if args.out is not None:
        out = args.out
        return out.with_suffix("") if out.suffix.lower().lstrip(".") in FORMATS else out
    stems = [p.stem for p in args.paths]
    name = stems[0] if len(stems) == 1 else "_vs_".join(stems[:3]) + ("_etc" if len(stems) > 3 else "")
    return args.paths[0].parent / name


def run_render(args: argparse.Namespace) -> int:
    from motiongpt.export.formats import RIG_FORMATS, check_formats, rig_choice, write_rig_files
    from motiongpt.export.render import FORMATS, checked_skeleton, load_joints, render_grid  # matplotlib: here only

    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    known = (*FORMATS, *RIG_FORMATS)
    if not formats or any(f not in known for f in formats):
        raise MotionGPTError(f"--format {args.format!r}: expected a comma-separated list of {', '.join(known)}")
    if args.fps is not None and not args.fps > 0:
        raise MotionGPTError(f"--fps {args.fps}: must be positive")
    motions = [load_joints(p) for p in args.paths]
    if args.titles:
        if len(args.titles) != len(args.paths):
            raise MotionGPTError(f"--titles: {len(args.titles)} titles for {len(args.paths)} paths")
        titles = list(args.titles)
    elif args.titles is not None or len(args.paths) > 1:
        titles = [p.stem for p in args.paths]
    else:
        titles = None
    fps = args.fps if args.fps is not None else checked_skeleton(motions[0], str(args.paths[0])).fps
    choice = rig_choice(formats, args.rig_template, args.map, args.rig)
    for path, joints in zip(args.paths, motions):
        try:
            check_formats(formats, joints.shape[1])
        except MotionGPTError as err:
            raise MotionGPTError(f"{path}: {err}") from None
    base = _output_base(args)
    for path, joints in zip(args.paths, motions):
        stem = base.name if len(motions) == 1 else path.stem
        for out in write_rig_files(joints, base.with_name(stem), formats, fps, choice):
            print(f"{out}: {len(joints)} frames at {fps:g} fps")
    for fmt in formats:
        if fmt in RIG_FORMATS:
            continue
        out = base.with_name(f"{base.name}.{fmt}")
        count = render_grid(motions, titles, out, fps=fps, size=args.size, columns=args.columns)
        print(f"{out}: {count} frames at {fps:g} fps")
    return 0
