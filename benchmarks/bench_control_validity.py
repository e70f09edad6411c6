"""Parse rate and control satisfaction of constrained vs unconstrained decoding on validation instructions.

For each of the four tasks, N val records (seeded draw) are answered twice by the same model with the same seeds:
constrained (the default) and `constrained=False` (the original's free sampling, parsed as its evaluation does).
"Parsed" means the answer held at least one in-codebook code (the original falls back to a row of code 1 otherwise);
"satisfied" means the parsed codes also meet the record's control (first / last / key codes in order).

Usage: python benchmarks/bench_control_validity.py MODEL_DIR INSTRUCTIONS_DIR [--per-task 200] [--seed 0]
Prints and writes benchmarks/results/control_validity.json.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path

from motiongpt.generation.constraints import Controls
from motiongpt.generation.pipeline import GenerationSettings, MotionGPT
from motiongpt.llm.formats import parse_codes
from motiongpt.llm.instructions import load_instructions
from motiongpt.llm.prompts import split_input
from motiongpt.llm.tasks import Task

RESULTS = Path(__file__).resolve().parent / "results"


def record_controls(record: dict) -> tuple[str, Controls]:
    """The caption and the controls an instruction record asks for."""
    caption, control = split_input(record["input"])
    codes = parse_codes(control, "text", None) if control is not None else []
    task = Task.parse(record["task"])
    if task == Task.INIT:
        return caption, Controls(init=codes[0])
    if task == Task.LAST:
        return caption, Controls(last=codes[0])
    if task == Task.KEY:
        return caption, Controls(keys=tuple(codes))
    return caption, Controls()


def measure(model: MotionGPT, records: list[dict], constrained: bool, seed: int, batch: int) -> dict:
    settings = GenerationSettings(constrained=constrained)
    parsed = satisfied = codes = 0
    start = time.perf_counter()
    for i in range(0, len(records), batch):
        rows = [record_controls(r) for r in records[i:i + batch]]
        motions = model.generate_rows([c for c, _ in rows], [ctl for _, ctl in rows],
                                      [seed + i + j for j in range(len(rows))], settings)
        for motion, (_, ctl) in zip(motions, rows):
            parsed += not motion.fallback
            satisfied += (not motion.fallback) and ctl.satisfied_by(motion.codes)
            codes += len(motion.codes)
    n = len(records)
    return {"prompts": n, "parse_rate": parsed / n, "control_satisfaction": satisfied / n,
            "mean_codes": codes / n, "seconds": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("instructions")
    parser.add_argument("--per-task", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--batch", type=int, default=32)
    args = parser.parse_args()

    model = MotionGPT.from_pretrained(args.model)
    _, val, _ = load_instructions(args.instructions)
    rng = random.Random(args.seed)
    report = {"model": args.model, "format": model.fmt, "per_task": args.per_task, "tasks": {}}
    for task in Task:
        pool = [r for r in val if r["task"] == task]
        records = rng.sample(pool, min(args.per_task, len(pool)))
        report["tasks"][task] = {mode: measure(model, records, mode == "constrained", args.seed, args.batch)
                                 for mode in ("constrained", "unconstrained")}
        print(task, json.dumps(report["tasks"][task]))
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "control_validity.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
