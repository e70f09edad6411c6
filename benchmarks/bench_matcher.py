"""The caption matcher: how often the caption it gives names the content the description asks for.

Usage: python benchmarks/bench_matcher.py [--model DIR] [--template-seeds N]   (default: the bundled model)
Prints and writes benchmarks/results/matcher.json.

The matcher's own `groups.txt` says which content each training caption names, so no dataset is needed. Asked:
the held-out wording (hand-written), the development wording (benchmarks/dev_wording.tsv: written later and apart
from it, to try matcher designs on without tuning to the held-out figures) and N draws of template captions (one
per held-out row, a style at random), each read by the same captions and vectors matched in one stage (nearest
caption) and in two (the group first).
No generation: this measures the matcher alone, not the motions (`motiongpt eval-wording` does that).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from motiongpt.errors import MotionGPTError
from motiongpt.eval.wording import load_heldout_wording, template_captions
from motiongpt.generation.matcher import CaptionMatcher
from motiongpt.generation.pipeline import model_parts
from motiongpt.io import write_json

DEV_WORDING = Path(__file__).resolve().parent / "dev_wording.tsv"


def content_accuracy(matcher: CaptionMatcher, names: dict[str, str], rows: list[tuple[str, str]]) -> dict:
    """The share of rows whose matched caption names the row's content, overall and per content."""
    hits: dict[str, list[bool]] = {}
    for match, (_, content) in zip(matcher.match([t for t, _ in rows]), rows):
        hits.setdefault(content, []).append(names.get(match.caption) == content)
    return {"accuracy": float(np.mean([h for v in hits.values() for h in v])),
            "per_content": {c: round(float(np.mean(v)), 3) for c, v in sorted(hits.items())}}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="model dir or shipped name (default: the default model)")
    parser.add_argument("--template-seeds", type=int, default=5, help="draws of template captions (default: 5)")
    args = parser.parse_args()
    grouped = CaptionMatcher.from_pretrained(model_parts(args.model)["captions"])
    if grouped.groups is None:
        raise MotionGPTError("the model's caption matcher has no groups.txt: nothing says what its captions name")
    one_stage = CaptionMatcher(grouped.captions, grouped.embeddings)
    names = dict(zip(grouped.captions, grouped.groups))
    known = set(grouped.groups)
    heldout = [(t, c) for t, c in load_heldout_wording() if c in known]
    dev = [(t, c) for t, c in load_heldout_wording(DEV_WORDING) if c in known]
    asked = {"heldout": heldout, "dev": dev,
             "template": [row for seed in range(args.template_seeds) for row in template_captions(heldout, seed)]}
    result = {"model": str(args.model), "captions": len(grouped.captions), "asked": {k: len(v) for k, v in asked.items()}}
    for mode, matcher in (("one_stage", one_stage), ("grouped", grouped)):
        result[mode] = {name: content_accuracy(matcher, names, rows) for name, rows in asked.items()}
        print(mode, json.dumps({name: round(v["accuracy"], 3) for name, v in result[mode].items()}))
    write_json(Path(__file__).resolve().parent / "results" / "matcher.json", result)


if __name__ == "__main__":
    main()
