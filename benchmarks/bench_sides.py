"""Left/right: does a model answer with the side its description asks for? The 46 sided descriptions of
eval/sides.tsv, generated with several seeds and judged in joint space (eval/sides.py).

Usage: python benchmarks/bench_sides.py [--model DIR] [--seeds 0 1 2] [--no-match] [--no-side-check]
       [--check-retries N] [--guidance G] [--name NAME]
Prints and writes benchmarks/results/sides[-NAME].json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from motiongpt.eval.sides import side_accuracy
from motiongpt.generation.models import DEFAULT_MODEL
from motiongpt.generation.pipeline import MotionGPT
from motiongpt.generation.settings import GenerationSettings
from motiongpt.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", help="model dir (default: the bundled model)")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--no-match", action="store_true", help="give the LLM the descriptions as written")
    parser.add_argument("--no-side-check", action="store_true",
                        help="keep every first sample (no new sample when the joints use the other side)")
    parser.add_argument("--check-retries", type=int, default=GenerationSettings().check_retries,
                        help="new samples at most when a motion fails its side check")
    parser.add_argument("--guidance", type=float, help="classifier-free guidance (default: the model's own)")
    parser.add_argument("--name", default="")
    args = parser.parse_args()
    model = MotionGPT.from_pretrained(args.model)
    retries = 0 if args.no_side_check else args.check_retries
    result = {"model": args.model or DEFAULT_MODEL, "seeds": args.seeds, "match_captions": not args.no_match,
              "check_retries": retries, "guidance": model.sized(GenerationSettings(guidance=args.guidance)).guidance,
              **side_accuracy(model, seeds=tuple(args.seeds), match_captions=not args.no_match, check_retries=retries,
                              guidance=args.guidance)}
    print(json.dumps(result, indent=2))
    write_json(Path(__file__).resolve().parent / "results" / f"sides{'-' + args.name if args.name else ''}.json",
               result)


if __name__ == "__main__":
    main()
