"""What forcing a length costs: the text-to-motion protocol at free length and at each test motion's own length.

Usage: python benchmarks/length_quality.py --data DATA [--model DIR] [--evaluator bundled] [--repeats 3]
                                           [--limit N] [--out DIR]

Both runs use the same model, evaluator, test split, seeds and sampling settings (the text task, no
MultiModality). "forced" asks every row for exactly the length of the real motion it is scored against
(`GenerationSettings.frames`, met through the constrained decoder); "free" lets the model end the motion.
Prints a table and writes benchmarks/results/length_quality.json.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from motiongpt.eval import protocol
from motiongpt.eval.evaluator import open_split
from motiongpt.eval.evaluators import load_evaluator
from motiongpt.eval.protocol import EvalSettings, evaluate_generation
from motiongpt.generation.models import DEFAULT_MODEL
from motiongpt.generation.pipeline import MotionGPT
from motiongpt.llm.tasks import Task

RESULTS = Path(__file__).resolve().parent / "results"
METRICS = ("top1", "top3", "fid", "mm_dist", "diversity")


class ForcedLengthRun(protocol._Run):
    """The protocol's run with each row generated at the length of its real motion (rows grouped by length)."""

    def generate(self, task, draw, rows, base_seed, desc):
        size = self.settings.batch_size
        for start in range(0, len(rows), size):
            chunk = rows[start:start + size]
            motions = [None] * len(chunk)
            by_length = defaultdict(list)
            for j, i in enumerate(chunk):
                by_length[int(draw.lengths[i])].append(j)
            for frames, js in sorted(by_length.items()):
                made = self.model.generate_rows([draw.captions[chunk[j]].text for j in js],
                                                [protocol._row_controls(task, draw, chunk[j]) for j in js],
                                                [base_seed + start + j for j in js],
                                                self.generation.updated(frames=frames))
                for j, motion in zip(js, made):
                    motions[j] = motion
            yield chunk, motions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--model", default=None, help="model dir (default: the bundled model)")
    parser.add_argument("--evaluator", default="bundled")
    parser.add_argument("--split", default="test")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--out", default=str(RESULTS / "length_quality"))
    args = parser.parse_args()
    evaluator = load_evaluator(evaluator=args.evaluator)
    dataset = open_split(args.data, args.split, evaluator.feature_dim)
    model = MotionGPT.from_pretrained(args.model)
    settings = EvalSettings(tasks=(Task.TEXT,), repeats=args.repeats, limit=args.limit, mm_samples=0)
    table = {}
    free_run = protocol._Run
    for name, run in (("free", free_run), ("forced", ForcedLengthRun)):
        protocol._Run = run
        try:
            result = evaluate_generation(model, evaluator, dataset, Path(args.out) / name, settings,
                                         identity={"length": name}, progress=False)
        finally:
            protocol._Run = free_run
        rows = result["rows"]
        table[name] = {"generated": rows.get("text", rows.get(Task.TEXT.value)), "real": rows.get("real")}
    summary = {"data": args.data, "split": args.split, "repeats": args.repeats, "limit": args.limit,
               "evaluator": args.evaluator, "model": args.model or DEFAULT_MODEL, "table": table}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "length_quality.json").write_text(json.dumps(summary, indent=2) + "\n")
    print(f"| length | {' | '.join(METRICS)} |\n|---|{'---|' * len(METRICS)}")
    for name in ("free", "forced"):
        row = table[name]["generated"] or {}
        cells = [f"{row[m]['mean']:.3f} ± {row[m]['conf95']:.3f}" if m in row else "-" for m in METRICS]
        print(f"| {name} | {' | '.join(cells)} |")
    real = table["free"]["real"] or {}
    means = [f"{real[m]['mean']:.3f}" if m in real else "-" for m in METRICS]
    print(f"| real | {' | '.join(means)} |")


if __name__ == "__main__":
    main()
