"""The bundled model against the targets of the default model: load ≤ 3 s, one motion (text → joints, batch 1)
≤ 0.5 s median, 32 motions in one batch ≤ 3 s, peak resident memory ≤ 1 GB.

Each measurement runs in a fresh Python process (so load time and peak memory are those a user sees), three
times; the medians are reported. The same run times the model without caption matching, as the in-run baseline
of what the sentence encoder costs, and a fixed matrix-multiply workload, so that runs on machines of other
speeds can be compared by ratio.

    python benchmarks/bench_bundled_model.py [--model DIR] [--runs 3]

Prints a table and writes benchmarks/results/bundled_model.json.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

from motiongpt.generation.models import DEFAULT_MODEL
from motiongpt.io import write_json

TARGETS = {"load_s": 3.0, "one_motion_s": 0.5, "batch32_s": 3.0, "peak_rss_mb": 1024.0}
DESCRIPTIONS = ["a happy person waves with both hands", "someone jogs", "a person walks forward",
                "a tired person walks forward", "a person raises the right hand", "a person walks and turns left",
                "an old man waves the left hand", "a person sprints forward", "someone walks backwards",
                "a person raises both hands"]


def child(model: str | None, match: bool) -> dict:
    """One process: import, load, 10 single motions, 3 batches of 32; times in seconds, peak RSS in MB."""
    import resource

    began = time.perf_counter()
    import torch

    from motiongpt.generation.pipeline import MotionGPT

    imported = time.perf_counter()
    model = MotionGPT.from_pretrained(model)
    loaded = time.perf_counter()
    singles, frames = [], []
    for i, text in enumerate(DESCRIPTIONS):
        start = time.perf_counter()
        (motion,) = model.generate(text, seed=i, match_captions=match)
        singles.append(time.perf_counter() - start)
        frames.append(len(motion.joints))
    batch = [DESCRIPTIONS[i % len(DESCRIPTIONS)] for i in range(32)]
    batches = []
    for r in range(3):
        start = time.perf_counter()
        motions = model.generate(batch, seed=100 * r, batch_size=32, match_captions=match)
        batches.append(time.perf_counter() - start)
        assert len(motions) == 32
    return {"import_s": imported - began, "load_s": loaded - imported, "one_motion_s": statistics.median(singles),
            "one_motion_first_s": singles[0], "batch32_s": statistics.median(batches),
            "mean_frames": sum(frames) / len(frames), "torch_threads": torch.get_num_threads(),
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


def reference_workload() -> float:
    """Seconds for 200 float32 512×512 matrix products: the machine's speed, for comparing runs by ratio."""
    import torch

    a = torch.randn(512, 512, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    for _ in range(200):
        a = torch.tanh(a @ a)
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="model dir (default: the bundled model)")
    parser.add_argument("--runs", type=int, default=3, help="fresh processes per configuration (default: 3)")
    parser.add_argument("--child", choices=["matched", "raw"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.model, args.child == "matched")))
        return 0

    results = {}
    for mode in ("matched", "raw"):
        runs = []
        for _ in range(args.runs):
            command = [sys.executable, __file__, "--child", mode] + (["--model", args.model] if args.model else [])
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        results[mode] = {key: statistics.median(r[key] for r in runs) for key in runs[0]} | {"runs": runs}
    matched = results["matched"]
    report = {
        "model": args.model or DEFAULT_MODEL, "machine": platform.processor() or platform.machine(),
        "python": platform.python_version(), "reference_workload_s": reference_workload(),
        "targets": TARGETS, "results": results,
        "meets_targets": {k: matched[k] <= v for k, v in TARGETS.items()},
        "matching_cost_ratio": {k: matched[k] / results["raw"][k] for k in ("load_s", "one_motion_s", "batch32_s",
                                                                            "peak_rss_mb")},
    }
    print(f"{'':>22} {'matched':>10} {'raw':>10} {'target':>8}")
    for key in ("import_s", "load_s", "one_motion_first_s", "one_motion_s", "batch32_s", "peak_rss_mb"):
        target = TARGETS.get(key)
        print(f"{key:>22} {matched[key]:>10.3f} {results['raw'][key]:>10.3f} {'' if target is None else target:>8}")
    print(f"reference workload {report['reference_workload_s']:.3f} s; meets targets: {report['meets_targets']}")
    out = Path(__file__).resolve().parent / "results" / "bundled_model.json"
    write_json(out, report)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
