"""kill -9 of `motiongpt data from-bvh` mid-build: its workers die with it, and its temporary folder goes at the
next build of the same dataset (nothing is left on disk)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil

import motiongpt
from motiongpt.cli import main

SRC = str(Path(motiongpt.__file__).resolve().parents[1])


def gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def pool_workers(pid: int) -> list[psutil.Process]:
    """The worker processes of a build's pool (not the resource tracker that a spawned pool also starts)."""
    out = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            if any("spawn_main" in part for part in child.cmdline()):
                out.append(child)
        except psutil.NoSuchProcess:
            pass
    return out


def wait_for(condition, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def test_a_killed_build_leaves_no_worker_and_no_folder(bandai_sample_bvh, tmp_path):
    clips = sorted(bandai_sample_bvh.glob("*.bvh"))
    out = tmp_path / "data"
    env = {**os.environ, "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", "")}
    build = subprocess.Popen([sys.executable, "-m", "motiongpt", "data", "from-bvh", *map(str, clips), "--out",
                              str(out), "--workers", "2"], env=env, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    try:
        # as soon as its folder and both workers exist (a build of short clips may take well under a second)
        wait_for(lambda: build.poll() is not None or (any(tmp_path.glob(".data.*.tmp")) and
                                                      len(pool_workers(build.pid)) >= 2),
                 300, "the build's folder and workers")
        assert build.poll() is None, "the build finished before it could be killed"
        workers = psutil.Process(build.pid).children(recursive=True)  # the pool's workers and its helpers
        os.kill(build.pid, signal.SIGKILL)
        build.wait(30)
        wait_for(lambda: all(gone(w.pid) for w in workers), 30, "the workers to die with their parent")
    finally:
        if build.poll() is None:
            build.kill()
    assert list(tmp_path.glob(".data.*.tmp")), "the killed build's folder should still be there to sweep"
    assert main(["data", "from-bvh", *map(str, clips[:2]), "--out", str(out), "--workers", "1"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["data"]
