"""The out-of-domain warning: how often it fires on out-of-domain and held-out in-domain descriptions, per threshold.

Usage: python benchmarks/bench_domain_warning.py [--model DIR]   (default: the bundled model)
Prints and writes benchmarks/results/domain_warning.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from motiongpt.eval.domain import warning_rates
from motiongpt.generation.domain import DomainGuard
from motiongpt.generation.matcher import CaptionMatcher
from motiongpt.generation.pipeline import model_parts
from motiongpt.io import write_json


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default=None, help="model dir or shipped name (default: the default model)")
    args = parser.parse_args()
    matcher = CaptionMatcher.from_pretrained(model_parts(args.model)["captions"])
    rows = [warning_rates(DomainGuard(matcher, threshold=t / 100)) for t in range(40, 66, 3)]
    for row in rows:
        print(json.dumps(row))
    write_json(Path(__file__).resolve().parent / "results" / "domain_warning.json", {"model": str(args.model),
                                                                                     "thresholds": rows})


if __name__ == "__main__":
    main()
