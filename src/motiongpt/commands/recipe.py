"""`motiongpt recipe bandai`: the whole pipeline in one resumable command (the steps live in motiongpt.recipe)."""

from __future__ import annotations

import argparse

from motiongpt.errors import MotionGPTError
from motiongpt.recipe import PRESETS, REUSABLE, STATE_NAME, STEPS, TRAINED_STEPS, run_recipe


def _assignments(items: list[str] | None, kind: type, option: str, example: str) -> dict:
    """`["llm=300", "vq_train=4000"]` -> {"llm": 300, "vq_train": 4000}."""
    out = {}
    for item in items or []:
        name, sep, value = item.partition("=")
        try:
            if not sep or not value.strip():
                raise ValueError
            out[name.strip()] = kind(value.strip())
        except ValueError:
            raise MotionGPTError(f"{option} {item!r}: expected STEP=VALUE, e.g. {option} {example}") from None
    return out


def _run(args: argparse.Namespace) -> int:
    run_recipe(args.shared_data, args.out, preset=args.preset, until=args.until,
               steps=_assignments(args.steps, int, "--steps", "llm=300"),
               minutes=_assignments(args.minutes, float, "--minutes", "llm=60"),
               cache=args.cache, progress=not args.quiet, base=args.base,
               reuse=_assignments(args.reuse, str, "--reuse", "vq_train=bundled"))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser("recipe", help="whole pipelines in one resumable command")
    recipes = parser.add_subparsers(dest="recipe_command", required=True)
    p = recipes.add_parser(
        "bandai", help="data -> VQ-VAE -> LLM -> evaluator -> model -> evaluation on the Bandai mocap",
        description="Runs every step with fixed seeds into OUT; rerun the same command to continue where it stopped "
                    f"(finished steps are recorded in OUT/{STATE_NAME}). Steps: {', '.join(STEPS)}.")
    p.add_argument("--shared-data", required=True,
                   help="folder holding Bandai-Namco-Research-Motiondataset-1 and -2")
    p.add_argument("--out", required=True, help="folder for every step's output")
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu",
                   help="cpu: about 2 h on a 2-core CPU (default); tiny: a few steps, for tests")
    p.add_argument("--until", choices=STEPS, help="stop after this step")
    p.add_argument("--base", help="the LLM's base: the preset's built-in one (default), or a pretrained base "
                                  "(smollm2-135m, FILE.gguf, an HF dir) finetuned with LoRA on balanced instructions")
    p.add_argument("--steps", action="append", metavar="STEP=N",
                   help=f"training steps of one of {', '.join(TRAINED_STEPS)} (repeat for several)")
    p.add_argument("--minutes", action="append", metavar="STEP=M",
                   help="a training budget in minutes, turned into steps with the preset's measured speeds")
    p.add_argument("--reuse", action="append", metavar="STEP=DIR",
                   help=f"use a trained model instead of training one, for {' or '.join(REUSABLE)}; DIR=bundled "
                        "takes the package's own (the bundled model's codes and evaluator), e.g. "
                        "--reuse vq_train=bundled")
    p.add_argument("--cache", help="where dataset-2's archive is unpacked (default ~/.cache/motiongpt)")
    p.add_argument("--quiet", action="store_true", help="no progress bars from the VQ-VAE and eval steps")
    p.set_defaults(func=_run)
