"""Evaluator sanity check on Bandai: R-Precision with each test motion's own captions vs captions of another content.

The content is read from Bandai motion ids (`[M]dataset-N_<content>_<style>_<NNN>[_wKK]`). A useful evaluator keeps
a high top-1 with its own captions and falls to (or below) chance, 1/32, with another content's captions.

Usage: python benchmarks/evaluator_content_swap.py EVALUATOR_DIR DATA_DIR [--repeats 20]
Prints and writes benchmarks/results/evaluator_content_swap.json.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from motiongpt.eval.evaluator import TextMotionEvaluator, load_batch, open_split
from motiongpt.eval.metrics import matching_metrics, repeat

RESULTS = Path(__file__).resolve().parent / "results"


def content(motion_id: str) -> str:
    return motion_id.lstrip("M").split("_")[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluator")
    parser.add_argument("data")
    parser.add_argument("--split", default="test")
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    evaluator = TextMotionEvaluator.from_pretrained(args.evaluator)
    dataset = open_split(args.data, args.split, evaluator.feature_dim)
    contents = [content(s.motion_id) for s in dataset.samples]

    def once(rng, swap: bool) -> dict:
        order = rng.permutation(len(dataset)).tolist()
        batch = load_batch(dataset, order, epoch=int(rng.integers(2**31)))
        texts = list(batch["captions"])
        if swap:
            texts = []
            for i in order:
                others = [j for j in range(len(dataset)) if contents[j] != contents[i]]
                captions = dataset.samples[others[int(rng.integers(len(others)))]].captions
                texts.append(captions[int(rng.integers(len(captions)))].text)
        motion = evaluator.embed_motion(batch["features"], batch["lengths"])
        return matching_metrics(evaluator.embed_text(texts), motion)

    report = {"evaluator": args.evaluator, "data": args.data, "split": args.split, "repeats": args.repeats}
    for name, swap in (("own_captions", False), ("another_content", True)):
        result = repeat(lambda rng: once(rng, swap), args.repeats, 0)
        report[name] = {k: {"mean": m, "conf95": c} for k, (m, c) in result.items()}
        print(name, {k: f"{m:.3f} ± {c:.3f}" for k, (m, c) in result.items()})
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "evaluator_content_swap.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
