"""Two processes on the CPU: `accelerate launch --multi_gpu` starts them with torchrun, DDP runs over gloo.

(`accelerate launch --cpu --num_processes 2` starts a single process unless MPI is set up, so it is not used.)
"""

import json
import os
import shutil
import socket
import subprocess
import sys

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(shutil.which("accelerate") is None and not os.path.exists(
    os.path.join(os.path.dirname(sys.executable), "accelerate")), reason="accelerate CLI not installed")
def test_two_process_run_on_cpu(instructions_dir, tmp_path):
    launcher = os.path.join(os.path.dirname(sys.executable), "accelerate")
    out = tmp_path / "ddp"
    cmd = [launcher if os.path.exists(launcher) else "accelerate", "launch", "--multi_gpu", "--num_processes", "2",
           "--num_machines", "1", "--mixed_precision", "no", "--dynamo_backend", "no",
           "--main_process_port", str(free_port()), "-m", "motiongpt", "finetune",
           "--instructions", str(instructions_dir), "--base", "tiny", "--out", str(out), "--format", "vocab",
           "--steps", "4", "--grad-accum", "2", "--warmup", "1", "--val-every", "4", "--val-batches", "4"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CUDA_VISIBLE_DEVICES": ""}
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert sorted(p.name for p in (out / "checkpoint").glob("rng-*.pt")) == ["rng-0.pt", "rng-1.pt"]
    logs = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [log["step"] for log in logs] == [0, 1, 2, 3, 4]
    assert logs[-1]["val_loss"] < logs[0]["val_loss"]
    assert json.loads((out / "motiongpt.json").read_text())["steps"] == 4
