"""kill -9 of VQ-VAE training while it saves a checkpoint at every step: no process outlives it, the next run
resumes, and when it ends no temporary checkpoint file or folder is left in the run dir."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

import motiongpt

from .conftest import build_dataset

SRC = str(Path(motiongpt.__file__).resolve().parents[1])
KILLS = 3


def test_killed_training_resumes_and_leaves_nothing(tmp_path):
    data = build_dataset(tmp_path / "data")
    out = tmp_path / "run"
    command = [sys.executable, "-m", "motiongpt", "vq", "train", "--data", str(data), "--preset", "tiny",
               "--out", str(out), "--steps", "16", "--save-every", "1", "--quiet"]
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    rng = random.Random(16)
    for _ in range(KILLS):
        run = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while not (out / "checkpoint").is_dir() and run.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(rng.uniform(0.0, 0.5))
        children = psutil.Process(run.pid).children(recursive=True) if run.poll() is None else []
        run.send_signal(signal.SIGKILL)
        run.wait(30)
        for child in children:
            assert not child.is_running() or child.status() == psutil.STATUS_ZOMBIE
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    stray = [str(p.relative_to(out)) for p in out.rglob(".*") if p.name.endswith((".tmp", ".old"))]
    assert stray == []
    assert (out / "checkpoint").is_dir()
