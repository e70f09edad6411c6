"""Start-up time of the command and of the Python API, each in a fresh process, against a same-run baseline.

Usage: python benchmarks/bench_startup.py [--repeats 3] [--label after]

Measures, each `--repeats` times in a new interpreter (median reported):
  baseline   python -c "import torch"                         (what any torch program pays)
  generate   motiongpt generate TEXT -o DIR --formats npy,bvh  (the whole command, files written)
  load       python -c "MotionGPT.from_pretrained()"           (timed inside: with the imports, torch's included)
  load_call  the from_pretrained() call alone, after the imports
  import     python -c "import motiongpt.generation.pipeline"  (the imports the load needs)
Targets on a 2-core CPU: generate <= 3 s, load <= 2 s. Prints and writes benchmarks/results/startup_<label>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"
TEXT = "a happy person waves with both hands"
LOAD = ("import time; t = time.perf_counter(); from motiongpt import MotionGPT; m = time.perf_counter(); "
        "MotionGPT.from_pretrained(); print(time.perf_counter() - t, time.perf_counter() - m)")


def wall(command: list[str]) -> tuple[float, str, str]:
    """Seconds a command takes from start to exit, its stdout and its stderr; a failure stops the benchmark."""
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "PYTHONWARNINGS": "default"})
    elapsed = time.perf_counter() - start
    if done.returncode:
        sys.exit(f"{' '.join(command)} failed:\n{done.stderr}")
    return elapsed, done.stdout, done.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--label", default="after", help="names the JSON file (e.g. before, after)")
    args = parser.parse_args()
    python = sys.executable
    runs: dict[str, list[float]] = {"baseline": [], "generate": [], "load": [], "load_call": [], "load_process": [],
                                    "import": []}
    output, noise = "", ""
    with tempfile.TemporaryDirectory() as tmp:
        for k in range(args.repeats):
            runs["baseline"].append(wall([python, "-c", "import torch"])[0])
            seconds, output, noise = wall([python, "-m", "motiongpt", "generate", TEXT, "-o", f"{tmp}/out{k}",
                                    "--formats", "npy,bvh", "--seed", "0"])
            runs["generate"].append(seconds)
            seconds, text, _ = wall([python, "-c", LOAD])
            runs["load_process"].append(seconds)
            runs["load"].append(float(text.split()[-2]))
            runs["load_call"].append(float(text.split()[-1]))
            runs["import"].append(wall([python, "-c", "import motiongpt.generation.pipeline"])[0])
    median = {name: round(statistics.median(values), 3) for name, values in runs.items()}
    result = {"label": args.label, "repeats": args.repeats, "cpus": os.cpu_count(), "median_s": median,
              "over_baseline_s": {k: round(v - median["baseline"], 3) for k, v in median.items() if k != "baseline"},
              "targets_s": {"generate": 3.0, "load": 2.0},
              "met": {"generate": median["generate"] <= 3.0, "load": median["load"] <= 2.0},
              "runs_s": {k: [round(v, 3) for v in values] for k, values in runs.items()},
              "generate_output": output.strip().splitlines(), "generate_stderr": noise.strip().splitlines()}
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"startup_{args.label}.json"
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
