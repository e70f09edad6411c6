"""`motiongpt generate ...` (text and controls -> motion files) and `motiongpt assemble` (one model dir)."""

from __future__ import annotations

import argparse
from pathlib import Path

from motiongpt.commands.options import (add_device_option, add_dtype_option, add_int8_option, add_model_option,
                                       add_rig_options, add_sampling_options, device_of, dtype_of, quantize_of,
                                       sampling_settings)
from motiongpt.errors import MotionGPTError
from motiongpt.io import slug

OUTPUT_FORMATS = ("npy", "gif", "mp4", "bvh", "fbx", "glb")
DEFAULT_FORMATS = ("npy", "gif", "mp4", "bvh")


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "generate", help="generate motion from text (and pose controls)",
        description="Generate motions from descriptions, optionally with control tokens or poses. Each sample "
                    "writes motion.npy (T x 22 x 3 joints, metres, 20 fps), features.npy, tokens.json and the "
                    "chosen renderings into OUT (OUT/sample_K/ or OUT/<text>_K/ when there are several). Poses are "
                    ".npy joints (T x 22 x 3) or features (T x 263), or FILE.npy:FRAME for the 4 frames from FRAME.")
    parser.add_argument("texts", nargs="*", metavar="TEXT", help="motion descriptions")
    parser.add_argument("-o", "--out", required=True, help="output dir")
    add_model_option(parser)
    parser.add_argument("--from-file", type=Path, help="more descriptions, one per line")
    parser.add_argument("--prompt", help="the original demo's instruction (one of its four, verbatim)")
    parser.add_argument("--input", help="the original demo's input: TEXT or TEXT<Motion Token>a,b</Motion Token>")
    parser.add_argument("--init-token", help="code the motion starts with")
    parser.add_argument("--last-token", help="code the motion ends with")
    parser.add_argument("--key-tokens", help="comma-separated codes the motion passes through, in order")
    parser.add_argument("--init-pose", help="pose to start from (FILE.npy or FILE.npy:FRAME)")
    parser.add_argument("--last-pose", help="pose to end in (FILE.npy or FILE.npy:FRAME)")
    parser.add_argument("--key-poses", action="append",
                        help="poses to pass through, in order: comma-separated, or repeat the option")
    parser.add_argument("--num-samples", type=int, default=1, help="samples per description (default: 1)")
    parser.add_argument("--seed", type=int, default=None,
                        help="sample j (over descriptions, then samples) uses SEED + j (default: random, recorded "
                             "in tokens.json)")
    add_sampling_options(parser)
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--frames", type=int, default=None,
                        help="make every motion exactly N frames long (the codes that needs, through the "
                             "constrained decoder; default: the model ends the motion)")
    length.add_argument("--seconds", type=float, default=None, help="the same length in seconds (S x fps frames)")
    parser.add_argument("--no-cache", action="store_true", help="recompute the whole sequence at every step")
    parser.add_argument("--no-match", action="store_true",
                        help="give the LLM the description as written, not the nearest training caption (for "
                             "models with a caption list, such as the bundled ones)")
    parser.add_argument("--raw-joints", action="store_true",
                        help="keep the decoder's joints, whose bone lengths drift, instead of the rigid skeleton "
                             "fitted to them that motion.npy, the videos and the rig files otherwise share")
    parser.add_argument("--batch-size", type=int, default=32, help="rows decoded together (default: 32)")
    parser.add_argument("--formats", default=",".join(DEFAULT_FORMATS),
                        help=f"comma-separated among {','.join(OUTPUT_FORMATS)} (default: "
                             f"{','.join(DEFAULT_FORMATS)}); bvh, fbx (needs the blender extra) and glb carry a rigid "
                             "skeleton fitted to the motion; tokens.json is always written")
    add_rig_options(parser)
    add_device_option(parser)
    add_dtype_option(parser, "float32", "LLM weights dtype (default: float32; bfloat16 halves a LLaMA's memory on a GPU)")
    add_int8_option(parser)
    parser.add_argument("--load-in-4bit", action="store_true",
                        help="LLM linear layers in 4-bit NF4 on the GPU (CUDA + bitsandbytes)")
    parser.add_argument("--overwrite", action="store_true", help="replace existing output dirs")
    parser.set_defaults(func=run_generate)

    asm = sub.add_parser("assemble", help="put a VQ-VAE dir and a finetuned LLM dir into one model dir",
                         description="Copy a VQ-VAE model dir and a `motiongpt finetune` output dir (without its "
                                     "training checkpoint; with its LoRA base if that lies elsewhere), or the "
                                     "original release's weights converted by `motiongpt convert` (--base, "
                                     "--adapter, a t2m.pth with --stats), into one model dir for `motiongpt "
                                     "generate --model`.")
    asm.add_argument("--vq", required=True, type=Path, help="VQ-VAE model dir, or an original T2M-GPT .pth")
    asm.add_argument("--stats", type=Path, help="with a .pth VQ-VAE: the folder of the Mean/Std it was trained "
                     "with (Mean.npy/Std.npy, or a T2M-GPT meta/ folder's mean.npy/std.npy)")
    asm.add_argument("--llm", type=Path, help="finetuned LLM dir")
    asm.add_argument("--base", type=Path, help="instead of --llm: a LLaMA dir from `motiongpt convert lit-llama`")
    asm.add_argument("--adapter", type=Path, help="with --base: a LoRA dir from `motiongpt convert lit-lora`")
    asm.add_argument("-o", "--out", required=True, type=Path, help="model dir to write")
    asm.add_argument("--overwrite", action="store_true", help="replace an existing --out dir")
    asm.add_argument("--guidance", type=float, help="the classifier-free guidance the model samples with by default "
                                                    "(default: the one the LLM dir records, else off)")
    asm.add_argument("--captions", type=Path, metavar="DATA",
                     help="dataset the LLM was finetuned on: its train captions become the caption matcher")
    asm.add_argument("--half", action="store_true",
                     help="store the weights in float16 (half the size; generation still computes in float32)")
    asm.set_defaults(func=run_assemble)


def _demo_controls(args: argparse.Namespace) -> tuple[str, dict]:
    """The original demo's --prompt/--input: (caption, control keyword arguments)."""
    from motiongpt.generation.controls import parse_code_list
    from motiongpt.llm.prompts import split_input
    from motiongpt.llm.tasks import Task

    if args.prompt is None or args.input is None:
        raise MotionGPTError("--prompt and --input go together (the original demo's form)")
    task = Task.from_instruction(args.prompt)
    if task is None:
        raise MotionGPTError(f"--prompt {args.prompt!r}: not one of the original's instructions: "
                             + " | ".join(t.instruction for t in Task))
    caption, control = split_input(args.input)
    if (control is None) != (task == Task.TEXT):
        raise MotionGPTError(f"--input {args.input!r}: the {task} instruction "
                             + ("takes no <Motion Token> codes" if task == Task.TEXT else
                                "needs codes in <Motion Token>...</Motion Token>"))
    if task == Task.TEXT:
        return caption, {}
    codes = parse_code_list(control, "--input codes")
    if task in (Task.INIT, Task.LAST) and len(codes) != 1:
        raise MotionGPTError(f"--input {args.input!r}: the {task} instruction takes one code, got {len(codes)}")
    key = {Task.INIT: "init_token", Task.LAST: "last_token"}.get(task, "key_tokens")
    return caption, {key: codes[0] if task != Task.KEY else codes}


def _texts(args: argparse.Namespace) -> list[str]:
    from motiongpt.io import read_text_file

    texts = list(args.texts)
    if args.from_file is not None:
        lines = read_text_file(args.from_file, "descriptions").splitlines()
        texts += [line.strip() for line in lines if line.strip()]
    return texts


def sample_dirs(out: Path, captions: list[str], num_samples: int) -> list[Path]:
    """OUT for a single sample, OUT/sample_K for one text, OUT/<slug>_K for several texts."""
    if len(captions) * num_samples == 1:
        return [out]
    if len(captions) == 1:
        return [out / f"sample_{k}" for k in range(num_samples)]
    slugs: list[str] = []
    for i, caption in enumerate(captions):
        name = slug(caption)
        slugs.append(name if name not in slugs else f"{name}-{i}")
    return [out / f"{name}_{k}" for name in slugs for k in range(num_samples)]


def run_generate(args: argparse.Namespace) -> int:
    from motiongpt.generation.pipeline import MotionGPT, check_request
    from motiongpt.io import check_output_dir
    from motiongpt.limits import MAX_CLIP_SECONDS, check_number

    formats = [f.strip().lower() for f in args.formats.split(",") if f.strip()]
    if not formats or any(f not in OUTPUT_FORMATS for f in formats):
        raise MotionGPTError(f"--formats {args.formats!r}: expected a comma-separated list of "
                             f"{', '.join(OUTPUT_FORMATS)}")
    from motiongpt.export.formats import rig_choice
    from motiongpt.generation.controls import check_pose_spec, parse_code, parse_code_list

    rig = rig_choice(formats, args.rig_template, args.map, args.rig)
    controls = {"init_token": None if args.init_token is None else parse_code(args.init_token, "--init-token"),
                "last_token": None if args.last_token is None else parse_code(args.last_token, "--last-token"),
                "key_tokens": None, "init_pose": args.init_pose, "last_pose": args.last_pose,
                "key_poses": None if args.key_poses is None else
                [p.strip() for item in args.key_poses for p in item.split(",") if p.strip()]}
    if args.key_tokens is not None:
        controls["key_tokens"] = parse_code_list(args.key_tokens, "--key-tokens")
    texts = _texts(args)
    if args.prompt is not None or args.input is not None:
        if texts:
            raise MotionGPTError("give descriptions either as TEXT/--from-file or as the original's --input, "
                                 "not both")
        caption, demo = _demo_controls(args)
        clash = [k for k in demo if controls[k] is not None]
        if clash:
            raise MotionGPTError(f"--input already gives the {clash[0].replace('_', ' ')}; drop the option")
        controls.update(demo)
        texts = [caption]
    if not texts:
        raise MotionGPTError("no description given (TEXT, --from-file or --prompt/--input)")
    settings = sampling_settings(args, use_cache=not args.no_cache, frames=args.frames, rigid_bones=not args.raw_joints)
    if args.seconds is not None:
        check_number(args.seconds, "--seconds", 0.0, MAX_CLIP_SECONDS)
    check_request(texts, args.num_samples, args.batch_size, args.seed)
    for spec in [controls["init_pose"], controls["last_pose"], *(controls["key_poses"] or [])]:
        if spec is not None:
            check_pose_spec(spec)
    device = device_of(args)
    directories = sample_dirs(check_output_dir(args.out), [text.strip() for text in texts], args.num_samples)
    if not args.overwrite:
        for directory in directories:
            if directory.is_dir() and any(directory.iterdir()):
                raise MotionGPTError(f"{directory}: already exists and is not empty (pass --overwrite to replace it)")

    model = MotionGPT.from_pretrained(args.model, device=device, dtype=dtype_of(args), quantize=quantize_of(args),
                                      load_in_4bit=args.load_in_4bit)
    results = model.generate(texts, num_samples=args.num_samples, seed=args.seed, batch_size=args.batch_size,
                             settings=settings, match_captions=not args.no_match, seconds=args.seconds, **controls)
    if not args.no_match:
        from motiongpt.generation.domain import domain_warnings

        for warning in domain_warnings(model.matcher, [r.caption for r in results]).values():
            print(f"motiongpt: warning: {warning}")
    for result, directory in zip(results, directories):
        write_sample(result, directory, formats, args.overwrite, rig)
        note = " (nothing parsed: the original's fallback)" if result.fallback else ""
        if result.matched is not None:
            by = " by words; pip install 'motiongpt[matcher]' to read it by meaning" \
                if result.matched.method == "words" else ""
            note += f", read as {result.matched.caption!r} (similarity {result.matched.similarity:.2f}{by})"
        if result.check_note:
            note += f", {result.check_note}"
        print(f"{directory}: {len(result.codes)} codes, {len(result.joints)} frames{note}")
    return 0


def write_sample(result, directory: Path, formats: list[str], overwrite: bool, rig=None) -> None:
    """One sample's files, all or none (the dir appears when complete); `rig` (a RigChoice) shapes bvh/fbx/glb."""
    from motiongpt.export.formats import RigChoice, check_formats, write_rig_files
    from motiongpt.io import atomic_directory, save_npy, write_json

    if "gif" in formats or "mp4" in formats:
        from motiongpt.export.render import render_gif, render_mp4  # matplotlib: only when a video is asked for

    check_formats(formats, result.joints.shape[1])
    with atomic_directory(directory, overwrite=overwrite) as tmp:
        write_json(tmp / "tokens.json", result.record())
        if "npy" in formats:
            save_npy(tmp / "motion.npy", result.joints)
            save_npy(tmp / "features.npy", result.features)
        if "gif" in formats:
            render_gif(result.joints, tmp / "motion.gif", fps=result.fps, title=result.caption)
        if "mp4" in formats:
            render_mp4(result.joints, tmp / "motion.mp4", fps=result.fps, title=result.caption)
        write_rig_files(result.joints, tmp / "motion", formats, result.fps, rig or RigChoice(), fitted=result.rig)


def run_assemble(args: argparse.Namespace) -> int:
    from motiongpt.generation.pipeline import assemble

    out = assemble(args.vq, args.llm, args.out, overwrite=args.overwrite, half=args.half,
                   captions_from=args.captions, base=args.base, adapter=args.adapter, stats=args.stats,
                   guidance=args.guidance)
    print(f"{out}: model dir (use with `motiongpt generate --model {out}`)")
    return 0
